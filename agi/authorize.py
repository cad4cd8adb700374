"""The authorize and settle routines that the FastAGI server and the classic script share.

From the AGI environment this module finds who is calling (account code, SIP peer, caller
ID, in the order of PULSA_IDENTIFY_BY) and what was dialled (agi/numbers.py), asks
`wallet.calls.authorize_call` in one transaction, and turns the answer into the channel
variables the dialplan reads. It never writes money itself: holds, charges and CDRs are
made by `wallet.calls`.

Fail closed, in bounded time: the database work runs in a worker thread and the caller
waits at most PULSA_AGI_TIMEOUT_MS for it. When the time is up the answer is ERROR and the
work is abandoned: it rolls back if it has not committed yet, and an authorization that
committed too late is settled at zero at once, so a refused call never keeps a hold.

This module is imported by the classic AGI script, which must start fast: it imports no
asyncio, no web or CLI framework, no migration tool.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TypeVar

from agi.numbers import NotANumber, normalize_number
from rating.money import micro_to_decimal
from wallet.calls import (
    ERROR,
    NOCREDIT,
    NORATE,
    OK,
    Authorization,
    CallPolicy,
    CallPolicyCache,
    CallRequest,
    TariffCache,
    authorize_call,
    settle_call,
)
from wallet.db import Database
from wallet.site_settings import REFRESH_SECONDS

T = TypeVar("T")
log = logging.getLogger("pulsa.agi")

#: The variables `authorize` sets, in the order they are sent. PULSA_STATUS comes last so
#: that a dialplan never sees OK before everything else is in place.
VARIABLES = (
    "PULSA_CALL",
    "PULSA_SLICE_MS",
    "PULSA_SLICE_S",
    "PULSA_MAX_MS",
    "PULSA_RATE",
    "PULSA_CREDIT",
    "PULSA_STATUS",
)
SETTLED = "PULSA_SETTLED"

# Dial's DIALSTATUS -> the CDR disposition settle_call charges by.
DISPOSITIONS = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
}
_PEER_TECHNOLOGIES = ("SIP", "PJSIP", "IAX2")
_NO_CALLER_ID = ("", "unknown", "anonymous", "<unknown>")
_DB_TIMEOUT_PARAMETERS = {
    "postgresql": ("connect_timeout",),
    "mysql": ("connect_timeout", "read_timeout", "write_timeout"),
    "mariadb": ("connect_timeout", "read_timeout", "write_timeout"),
}


_CALL_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
# Whole seconds, perhaps with a fraction (dropped); never an exponent, which Decimal would
# take and int() expand to millions of digits.
_BILLSEC = re.compile(r"([0-9]{1,9})(?:\.[0-9]{0,9})?", re.ASCII)


def call_id_of(text: str) -> int | None:
    """A PULSA_CALL value as a call id: digits 0 to 9 that a BIGINT holds, else None."""
    text = (text or "").strip()
    return int(text) if _CALL_ID.fullmatch(text) and int(text) > 0 else None


def billable_seconds(text: str) -> int | None:
    """Dial's ANSWEREDTIME/billsec as whole seconds ("" is 0), or None when unreadable."""
    match = _BILLSEC.fullmatch((text or "").strip() or "0")
    return int(match.group(1)) if match else None


class AgiError(Exception):
    """Asterisk went away or answered something that is not AGI."""


def peer_from_channel(channel: str) -> str:
    """The SIP/PJSIP/IAX2 peer a channel belongs to: `PJSIP/alice-00000001` -> `alice`.

    Local, DAHDI and other channels have no peer: "".
    """
    technology, slash, rest = (channel or "").partition("/")
    if not slash or technology.upper() not in _PEER_TECHNOLOGIES:
        return ""
    name, dash, sequence = rest.rpartition("-")
    if not dash or not name or not sequence.isalnum():
        return ""
    return name


@dataclass(frozen=True)
class AgiCall:
    """What Asterisk tells about a call about to be dialled."""

    dialled: str
    callerid: str = ""
    peer: str = ""
    accountcode: str = ""
    channel: str = ""
    uniqueid: str = ""
    linkedid: str | None = None

    @classmethod
    def from_agi(
        cls, env: Mapping[str, str], args: Sequence[str] = (), linkedid: str | None = None
    ) -> AgiCall:
        """`args` are the AGI arguments after the route: the number to authorize (default
        agi_extension) and an account code (default agi_accountcode)."""
        dialled = args[0].strip() if args and args[0].strip() else env.get("agi_extension", "")
        accountcode = args[1].strip() if len(args) > 1 and args[1].strip() else ""
        callerid = env.get("agi_callerid", "").strip()
        channel = env.get("agi_channel", "").strip()
        return cls(
            dialled=dialled.strip(),
            callerid="" if callerid.lower() in _NO_CALLER_ID else callerid,
            peer=peer_from_channel(channel),
            accountcode=accountcode or env.get("agi_accountcode", "").strip(),
            channel=channel,
            uniqueid=env.get("agi_uniqueid", "").strip(),
            linkedid=linkedid or None,
        )


@dataclass(frozen=True)
class Decision:
    """The outcome of one authorization, as the dialplan will see it."""

    status: str
    reason: str
    number: str = ""
    account_id: int | None = None
    call_id: int | None = None
    slice_ms: int = 0
    max_ms: int = 0
    limit_ms: int = 0  # the limit Asterisk gets at answer (PULSA_SLICE_S); 0: slice_ms
    rate: int | None = None  # price per minute, micro-units
    credit: int | None = None  # available after the hold, micro-units

    @classmethod
    def of(cls, result: Authorization, number: str) -> Decision:
        shows_money = result.status in (OK, NOCREDIT)
        rate = result.rate.price_per_minute if result.rate is not None else None
        if result.status == OK and rate is None:
            rate = 0  # a free destination
        return cls(
            status=result.status,
            reason=result.reason,
            number=number,
            account_id=result.account_id,
            call_id=result.call_id,
            slice_ms=result.slice_ms if result.status == OK else 0,
            max_ms=result.max_ms if result.status == OK else 0,
            limit_ms=result.limit_ms if result.status == OK else 0,
            rate=rate if shows_money else None,
            credit=result.credit_left if shows_money else None,
        )

    @classmethod
    def error(cls, reason: str, number: str = "") -> Decision:
        return cls(ERROR, reason, number)

    def variables(self, precision: int) -> list[tuple[str, str]]:
        """(name, value) pairs in the order to send them; PULSA_STATUS last."""
        values = {
            "PULSA_CALL": "" if self.call_id is None else str(self.call_id),
            "PULSA_SLICE_MS": str(self.slice_ms),
            # The first limit, set at answer by TIMEOUT(absolute), which takes seconds:
            # rounded down, never more than is paid (the listener extends it from there).
            "PULSA_SLICE_S": str((self.limit_ms or self.slice_ms) // 1000),
            "PULSA_MAX_MS": str(self.max_ms),
            "PULSA_RATE": "" if self.rate is None else plain_amount(self.rate),
            "PULSA_CREDIT": "" if self.credit is None else display_amount(self.credit, precision),
            "PULSA_STATUS": self.status,
        }
        return [(name, values[name]) for name in VARIABLES]


@dataclass(frozen=True)
class Settlement:
    status: str  # OK or ERROR
    reason: str
    call_id: int | None = None
    cost: int = 0


def plain_amount(micro: int) -> str:
    """Currency units as a plain decimal, exact: 60, 0.5, 1500.25 (no grouping)."""
    return format(micro_to_decimal(micro), "f")


def display_amount(micro: int, precision: int) -> str:
    """Currency units at the display precision, rounded down (never shows more credit
    than there is), without grouping so that SayNumber can read the whole part."""
    quantum = Decimal(1).scaleb(-precision)
    return format(micro_to_decimal(micro).quantize(quantum, rounding=ROUND_DOWN), "f")


def describe(error: BaseException) -> str:
    """One line about an unexpected error, database errors by their driver's message."""
    original = getattr(error, "orig", None)
    if original is not None:
        lines = str(original).strip().splitlines()
        return f"database: {lines[0] if lines else type(original).__name__}"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def database_url(url: str, timeout_ms: int) -> str:
    """The URL with connect (and, on MariaDB/MySQL, read and write) timeouts added where
    the operator has not set them, so a dead database cannot block a worker forever."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    names = _DB_TIMEOUT_PARAMETERS.get(parsed.get_backend_name(), ())
    seconds = str(max(2, -(-timeout_ms // 1000)))
    extra = {
        name: (seconds if name == "connect_timeout" else "30")
        for name in names
        if name not in parsed.query
    }
    if not extra:
        return url
    return parsed.update_query_dict(extra).render_as_string(hide_password=False)


class Attempt:
    """One piece of database work that the waiting side may give up on.

    The worker calls `deliver()` when it has a result; the waiter calls `abandon()` when
    its time is up. Exactly one of them wins, under a lock, so a result is either handed
    to Asterisk or undone, never both and never neither.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "running"

    @property
    def abandoned(self) -> bool:
        return self._state == "abandoned"

    def abandon(self) -> bool:
        with self._lock:
            if self._state == "delivered":
                return False
            self._state = "abandoned"
            return True

    def deliver(self) -> bool:
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "delivered"
            return True


class _Abandoned(Exception):
    """Raised inside the transaction so that it rolls back."""


class CallAuthorizer:
    """Settings, one Database, one TariffCache and one CallPolicyCache: everything both
    entry points share. The call slice, the call mode and the display precision are the
    admin's (Settings screen) where stored, re-read at most every `refresh_seconds`."""

    def __init__(
        self,
        settings,
        database: Database,
        *,
        tariffs: TariffCache | None = None,
        clock: Callable[[], datetime] | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.settings = settings
        self.database = database
        self.tariffs = tariffs or TariffCache()
        self.policies = CallPolicyCache(settings, refresh_seconds)
        self.order = settings.identity_order
        self.timeout_ms = settings.agi_timeout_ms
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def policy(self) -> CallPolicy:
        """The call policy as last read (the environment's until the first call)."""
        return self.policies.current

    @property
    def precision(self) -> int:
        """Decimals of PULSA_CREDIT: the admin's display precision as last read."""
        return self.policies.site.current.precision

    # --- authorize ----------------------------------------------------------------------

    def normalize(self, call: AgiCall, s=None) -> str:
        """The dialled number as it is rated, with `s` (the settings in effect: the
        country code may have been chosen in the admin), else the environment's."""
        s = s or self.settings
        return normalize_number(
            call.dialled,
            outbound_prefix=s.outbound_prefix,
            country_code=s.country_code,
            trunk_prefix=s.trunk_prefix,
        )

    def identities(self, call: AgiCall, s=None) -> list[tuple[str, str]]:
        """(kind, value) in the operator's order. A caller ID is tried as sent and, when
        different, in the international form of the dialled numbers (0812... -> 62812...)."""
        s = s or self.settings
        values: dict[str, list[str]] = {
            "accountcode": [call.accountcode],
            "peer": [call.peer],
            "callerid": [call.callerid],
        }
        if call.callerid:
            try:
                international = normalize_number(
                    call.callerid,
                    country_code=s.country_code,
                    trunk_prefix=s.trunk_prefix,
                )
            except NotANumber:
                international = ""
            if international and international != call.callerid:
                values["callerid"].append(international)
        return [(kind, value) for kind in self.order for value in values[kind] if value]

    def authorize(self, call: AgiCall, attempt: Attempt | None = None) -> Decision | None:
        """Blocking: the decision for `call`, or None when `attempt` was abandoned (then
        nothing stays held). Raises on database errors."""
        attempt = attempt or Attempt()
        if attempt.abandoned:
            return None
        at = self._clock()

        def work(session) -> tuple[str, Authorization]:
            if attempt.abandoned:  # Database.run may run this again after a lost connection
                raise _Abandoned
            policy = self.policies.get(session)  # a query only when the last read is old
            # The settings that policy came from: the country code chosen in the admin
            # applies to the number and the caller ID as it does to the mode.
            site = self.policies.site.current
            number = self.normalize(call, site)
            request = CallRequest(
                identities=self.identities(call, site),
                dialled=number,
                at=at,
                uniqueid=call.uniqueid,
                linkedid=call.linkedid,
                channel=call.channel,
                caller=call.callerid,
            )
            result = authorize_call(session, request, policy, self.tariffs)
            if attempt.abandoned:
                raise _Abandoned
            return number, result

        try:
            number, result = self.database.run(work)
        except _Abandoned:
            return None
        except NotANumber as error:
            return Decision(NORATE, str(error), call.dialled)
        decision = Decision.of(result, number)
        if attempt.deliver():
            return decision
        if decision.call_id is not None:
            self.cancel(decision.call_id)
        return None

    def cancel(self, call_id: int) -> None:
        """Undo an authorization Asterisk never received: settled at zero (a FAILED CDR),
        the hold released."""
        self.database.run(
            lambda session: settle_call(
                session,
                call_id,
                billsec=0,
                disposition="FAILED",
                tariffs=self.tariffs,
                source="agi",
            )
        )

    def decide(self, call: AgiCall, timeout_s: float) -> Decision:
        """Blocking with a deadline (the classic script): the decision, or ERROR when the
        database fails or does not answer in time."""
        attempt = Attempt()
        try:
            decision = run_with_deadline(lambda: self.authorize(call, attempt), attempt, timeout_s)
        except TimeoutError:
            return Decision.error(
                f"no answer from the database within {self.timeout_ms} ms", call.dialled
            )
        except Exception as error:
            return Decision.error(describe(error), call.dialled)
        return decision or Decision.error("abandoned", call.dialled)

    def log_decision(self, call: AgiCall, decision: Decision, elapsed_ms: float, note: str = ""):
        level = logging.ERROR if decision.status == ERROR else logging.INFO
        log.log(
            level,
            "authorize caller=%s peer=%s accountcode=%s dialled=%s number=%s status=%s "
            "call=%s slice=%ss max=%ss reason=%r%s (%.1f ms)",
            call.callerid or "-",
            call.peer or "-",
            call.accountcode or "-",
            call.dialled or "-",
            decision.number or "-",
            decision.status,
            decision.call_id if decision.call_id is not None else "-",
            decision.slice_ms // 1000,
            decision.max_ms // 1000,
            decision.reason,
            f"; {note}" if note else "",
            elapsed_ms,
        )

    # --- settle -------------------------------------------------------------------------

    def settle(
        self, call_text: str, dialstatus: str, billsec_text: str, uniqueid: str = ""
    ) -> Settlement:
        """Blocking: charge a finished static-mode call once (again: nothing more)."""
        call_id = call_id_of(call_text)
        if call_id is None:
            return Settlement(ERROR, f"no call to settle (PULSA_CALL={call_text[:40]!r})")
        billsec = billable_seconds(billsec_text)
        if billsec is None:
            return Settlement(
                ERROR, f"billable seconds {billsec_text[:40]!r} is not a number", call_id
            )
        disposition = DISPOSITIONS.get(dialstatus.strip().upper(), "FAILED")
        ended = self._clock().astimezone(UTC).replace(tzinfo=None)
        answered = ended - timedelta(seconds=billsec) if disposition == "ANSWERED" else None

        def work(session) -> Settlement:
            from wallet.models import Call

            call = session.get(Call, call_id)
            if call is None:
                return Settlement(ERROR, f"call {call_id} does not exist", call_id)
            if uniqueid and call.uniqueid and call.uniqueid != uniqueid:
                return Settlement(
                    ERROR,
                    f"call {call_id} was authorized on channel {call.uniqueid}, not {uniqueid}",
                    call_id,
                )
            record = settle_call(
                session,
                call_id,
                billsec=billsec,
                disposition=disposition,
                answered_at=answered,
                ended_at=ended,
                tariffs=self.tariffs,
                source="agi",
            )
            return Settlement(
                OK,
                f"{record.disposition} billsec {record.billsec} cost {plain_amount(record.cost)}",
                call_id,
                record.cost,
            )

        return self.database.run(work)

    def settle_within(
        self, call_text: str, dialstatus: str, billsec_text: str, uniqueid: str, timeout_s: float
    ) -> Settlement:
        try:
            return run_with_deadline(
                lambda: self.settle(call_text, dialstatus, billsec_text, uniqueid),
                None,
                timeout_s,
            )
        except TimeoutError:
            return Settlement(ERROR, f"no answer from the database within {self.timeout_ms} ms")
        except Exception as error:
            return Settlement(ERROR, describe(error))

    def log_settlement(self, call_text: str, dialstatus: str, billsec: str, result: Settlement):
        level = logging.ERROR if result.status == ERROR else logging.INFO
        log.log(
            level,
            "settle call=%s dialstatus=%s billsec=%s status=%s reason=%r",
            call_text or "-",
            dialstatus or "-",
            billsec or "-",
            result.status,
            result.reason,
        )


def run_with_deadline(work: Callable[[], T], attempt: Attempt | None, timeout_s: float) -> T:
    """Run `work` in a daemon thread (a hung database cannot keep the process alive) and
    wait at most `timeout_s`. On time-out the attempt is abandoned and TimeoutError raised,
    unless the work delivered at that very moment: then its result is returned."""
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def runner() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=runner, name="pulsa-agi-db", daemon=True).start()
    if not finished.wait(max(timeout_s, 0.0)) and (attempt is None or attempt.abandon()):
        raise TimeoutError
    finished.wait()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
