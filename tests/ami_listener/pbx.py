"""A simulated Asterisk for the listener's tests and benchmark, on the loopback AMI server
of tests/support: pulsa calls with their channels, dial, answer, bridge, hangup and Cdr
events laid out as the Asterisk 20 recordings show them, the AGI's authorization done
through `wallet.calls.authorize_call` as the real AGI does it, and TIMEOUT(absolute)
enforced in the clock's time (the dialplan's `U()` sets the first slice at answer; every
later `Setvar` moves the end).

Two channel layouts: "PJSIP" (caller and trunk channel, one Cdr per call) and "Local"
(the four halves of the recordings: the billable Cdr is the Dial record of the caller's
`;2` half, beside two records that must not be billed).

Every Setvar of TIMEOUT(absolute) is checked against the Call row at that moment: the
billable seconds Asterisk would now allow must be paid for (invariant 6), and 0 (no limit
at all) is never acceptable.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.support.ami_fixtures import AmiMessage
from tests.support.ami_server import AmiServer
from wallet.calls import (
    OK,
    Authorization,
    CallPolicy,
    CallRequest,
    TariffCache,
    authorize_call,
)
from wallet.db import Database
from wallet.models import Call

STATE_TEXT = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_serial = itertools.count(1)


class CountingAmiServer(AmiServer):
    """The loopback AMI server, counting the events each client was sent (so a test can
    wait until the listener has read them all)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivered = 0  # events written to logged-in clients, FullyBooted included

    def _broadcast(self, message: AmiMessage) -> None:
        copies = 2 if self.duplicate_events else 1
        self.delivered += copies * sum(1 for c in self._clients.values() if c.wants(message))
        super()._broadcast(message)

    async def _action_login(self, client: Any, request: AmiMessage) -> bool:
        logins = self.logins
        result = await super()._action_login(client, request)
        if self.logins > logins and (client.events is None or "system" in client.events):
            self.delivered += 1  # FullyBooted
        return result


@dataclass
class SimChannel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    number: str
    state: int = 0
    variables: dict[str, str] = field(default_factory=dict)

    def pairs(self, prefix: str = "", chanvars: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        p = prefix
        out = [
            (f"{p}Channel", self.name),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", STATE_TEXT.get(self.state, "Unknown")),
            (f"{p}CallerIDNum", self.number),
            (f"{p}CallerIDName", "Sim"),
            (f"{p}ConnectedLineNum", "<unknown>"),
            (f"{p}ConnectedLineName", "<unknown>"),
            (f"{p}Language", "en"),
            (f"{p}AccountCode", ""),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", "1"),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid),
        ]
        out.extend((f"{p}ChanVariable", f"{n}={self.variables.get(n, '')}") for n in chanvars)
        return out


@dataclass
class SimCall:
    number: str
    dialled: str
    caller: SimChannel  # the channel that runs the AGI and dials
    others: list[SimChannel]  # Local: the caller's ;1 half
    started_at: datetime
    status: str = ""
    call_id: int | None = None
    account_id: int | None = None
    slice_ms: int = 0
    limit_ms: int = 0  # what the dialplan's U() gives Asterisk at answer (PULSA_SLICE_S)
    called: SimChannel | None = None
    called_other: SimChannel | None = None  # Local: the far end's ;2 half
    answered_at: datetime | None = None
    limit_at: datetime | None = None
    ended_at: datetime | None = None
    billsec: int | None = None
    disposition: str | None = None
    cut: bool = False  # ended by its limit
    limits: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.ended_at is None and self.status == OK


class Pbx:
    def __init__(
        self,
        ami: AmiServer,
        clock: Any,
        database: Database,
        *,
        server: str,
        policy: CallPolicy | None = None,
        tech: str = "PJSIP",
        chanvars: tuple[str, ...] = ("PULSA_CALL", "PULSA_STATUS"),
        cdr_first: bool = False,
        send_cdr: bool = True,
        on_setvar: Callable[[SimCall, int], None] | None = None,
        check_paid: bool = True,
    ) -> None:
        self.ami = ami
        self.clock = clock
        self.db = database
        self.server = server
        self.policy = policy or CallPolicy()
        self.tariffs = TariffCache()
        self.tech = tech
        self.chanvars = chanvars
        self.cdr_first = cdr_first
        self.send_cdr = send_cdr
        self.on_setvar = on_setvar
        self.check_paid = check_paid
        self._live: set[int] = set()
        self.calls: list[SimCall] = []
        self.by_channel: dict[str, SimCall] = {}
        self.violations: list[str] = []
        self.setvars: list[tuple[datetime, str, str]] = []
        #: Every AMI Hangup action received: (when, Channel).
        self.hangups: list[tuple[datetime, str]] = []
        #: When set, Hangup actions are refused with this message, as Asterisk refuses an
        #: action the AMI user may not send ("Permission denied").
        self.refuse_hangups: str | None = None
        #: A slow Asterisk: every Setvar takes effect (and is answered) this long after it
        #: was sent (the clock moves meanwhile), and the answer happened this long before
        #: its events are sent.
        self.setvar_delay_s = 0.0
        self.answer_seen_late_s = 0.0
        #: manager.conf `timestampevents = yes`: a `Timestamp` header on every event.
        self.timestamp_events = False
        self._ids = itertools.count(1)
        self._prefix = f"{int(clock.now().timestamp())}"
        self._tag = next(_serial)
        ami.register_action("Setvar", self._setvar)
        ami.register_action("CoreSettings", self._core_settings)
        ami.register_action("Hangup", self._hangup_action)

    # --- channels ---------------------------------------------------------------------------
    def _uniqueid(self) -> str:
        return f"{self._prefix}.{self._tag}{next(self._ids):05d}"

    def _channel(self, name: str, linkedid: str | None, context: str, exten: str, number: str):
        uniqueid = self._uniqueid()
        return SimChannel(name, uniqueid, linkedid or uniqueid, context, exten, number)

    async def _event(
        self,
        name: str,
        *pairs: tuple[str, str],
        privilege: str = "call,all",
        at: datetime | None = None,
    ):
        stamp = []
        if self.timestamp_events:
            moment = (at or self.clock.now()).replace(tzinfo=UTC).timestamp()
            stamp = [("Timestamp", f"{moment:.6f}")]
        await self.ami.send_event([("Event", name), ("Privilege", privilege), *stamp, *pairs])

    async def _snapshot(self, name: str, channel: SimChannel, *extra: tuple[str, str], **kw):
        await self._event(name, *channel.pairs(chanvars=self.chanvars), *extra, **kw)

    async def _varset(self, channel: SimChannel, variable: str, value: str) -> None:
        channel.variables[variable] = value
        await self._snapshot(
            "VarSet", channel, ("Variable", variable), ("Value", value), privilege="dialplan,all"
        )

    # --- a call -----------------------------------------------------------------------------
    def prepare_call(self, number: str, dialled: str) -> SimCall:
        """The channels of a call about to start (nothing sent yet)."""
        serial = f"{next(self._ids):08x}"
        context = "prepaid-outbound"
        if self.tech == "Local":
            name = f"Local/{dialled}@{context}-{serial}"
            half1 = self._channel(f"{name};1", None, context, dialled, number)
            caller = self._channel(f"{name};2", half1.uniqueid, context, dialled, number)
            others = [half1]
        else:
            caller = self._channel(f"PJSIP/{number}-{serial}", None, context, dialled, number)
            others = []
        caller.state = 4
        return SimCall(number, dialled, caller, others, self.clock.now())

    def request_for(self, call: SimCall) -> CallRequest:
        """What the AGI asks the wallet for this call."""
        return CallRequest(
            identities=[("callerid", call.number)],
            dialled=call.dialled,
            at=self.clock.now().replace(tzinfo=UTC),
            uniqueid=call.caller.uniqueid,
            linkedid=call.caller.linkedid,
            channel=call.caller.name,
            caller=call.number,
            server=self.server,
        )

    async def start_call(
        self,
        number: str,
        dialled: str,
        *,
        prepared: SimCall | None = None,
        authorization: Authorization | None = None,
    ) -> SimCall:
        """A caller dials: its channel(s), the AGI (authorize_call, unless `authorization`
        was obtained beforehand for `prepared`), then Dial when OK."""
        call = prepared or self.prepare_call(number, dialled)
        call.started_at = self.clock.now()
        caller, others = call.caller, call.others
        self.calls.append(call)
        self._live.add(id(call))
        for channel in [*others, caller]:
            await self._snapshot("Newchannel", channel)
        await self._snapshot(
            "Newexten",
            caller,
            ("Extension", dialled),
            ("Application", "AGI"),
            ("AppData", "agi://127.0.0.1:4573/authorize"),
            privilege="dialplan,all",
        )
        result = authorization
        if result is None:
            request = self.request_for(call)
            result = await asyncio.to_thread(
                self.db.run, lambda s: authorize_call(s, request, self.policy, self.tariffs)
            )
        if self.check_paid:
            self.check_all_paid()  # the new call may have taken from live holds
        now = self.clock.now()
        serial = caller.name.rsplit("-", 1)[1].split(";")[0]
        call.status, call.call_id = result.status, result.call_id
        call.account_id = result.account_id
        call.slice_ms = result.slice_ms
        call.limit_ms = result.limit_ms or result.slice_ms
        values = {
            "PULSA_CALL": "" if result.call_id is None else str(result.call_id),
            "PULSA_SLICE_MS": str(result.slice_ms),
            "PULSA_SLICE_S": str(call.limit_ms // 1000),
            "PULSA_STATUS": result.status,
        }
        for variable, value in values.items():
            await self._varset(caller, variable, value)
        if result.status != OK:
            call.ended_at = now
            await self._hangup_channels([caller, *others], cause=21)
            return call
        await self._snapshot(
            "Newexten",
            caller,
            ("Extension", dialled),
            ("Application", "Dial"),
            ("AppData", "PJSIP/trunk/sip:x,60,U(pulsa-answer^${PULSA_SLICE_S})"),
            privilege="dialplan,all",
        )
        if self.tech == "Local":
            name = f"Local/{dialled}@pstn-sim-{serial}"
            called = self._channel(f"{name};1", caller.linkedid, "pstn-sim", dialled, dialled)
            far = self._channel(f"{name};2", caller.linkedid, "pstn-sim", dialled, dialled)
            call.called_other = far
            new = [called, far]
        else:
            called = self._channel(
                f"PJSIP/trunk-{serial}", caller.linkedid, "from-trunk", dialled, dialled
            )
            new = [called]
        call.called = called
        self.by_channel[called.name] = call
        for channel in new:
            await self._snapshot("Newchannel", channel)
        await self._event(
            "DialBegin",
            *caller.pairs(chanvars=self.chanvars),
            *called.pairs("Dest", self.chanvars),
            ("DialString", f"trunk/{dialled}"),
        )
        called.state = 5
        await self._snapshot("Newstate", called)
        return call

    async def answer(self, call: SimCall) -> None:
        """The far end answers: the U() subroutine sets TIMEOUT(absolute) = the first limit."""
        assert call.called is not None and call.live
        now = self.clock.now() - timedelta(seconds=self.answer_seen_late_s)
        call.answered_at = now
        call.called.state = 6
        await self._snapshot("Newstate", call.called)
        await self._event(
            "DialEnd",
            *call.caller.pairs(chanvars=self.chanvars),
            *call.called.pairs("Dest", self.chanvars),
            ("DialStatus", "ANSWER"),
            at=now,
        )
        call.caller.state = 6
        await self._snapshot("Newstate", call.caller)
        # [pulsa-answer]: Set(TIMEOUT(absolute)=${ARG1}), Set(PULSA_CALL=${ARG2})
        self._limit(call, now, call.limit_ms // 1000)
        await self._varset(call.called, "PULSA_CALL", str(call.call_id))
        bridge = f"bridge-{call.caller.uniqueid}"
        await self._event("BridgeCreate", ("BridgeUniqueid", bridge), ("BridgeType", "basic"))
        for channel in (call.called, call.caller):
            await self._event(
                "BridgeEnter",
                ("BridgeUniqueid", bridge),
                ("BridgeType", "basic"),
                ("BridgeNumChannels", "1"),
                *channel.pairs(chanvars=self.chanvars),
                at=now,
            )

    async def hangup(self, call: SimCall, at: datetime | None = None) -> None:
        """The call ends (either side hangs up, or its limit cut it at `at`)."""
        assert call.live
        end = at or self.clock.now()
        call.ended_at = end
        if call.answered_at is None:
            await self._end_unanswered(call, "NO ANSWER", "CANCEL", cause=16)
            return
        call.billsec = max(0, math.floor((end - call.answered_at).total_seconds()))
        call.disposition = "ANSWERED"
        bridge = f"bridge-{call.caller.uniqueid}"
        for channel in (call.caller, call.called):
            await self._event(
                "BridgeLeave",
                ("BridgeUniqueid", bridge),
                ("BridgeType", "basic"),
                *channel.pairs(chanvars=self.chanvars),
            )
        await self._event("BridgeDestroy", ("BridgeUniqueid", bridge))
        cdr = self._cdr(call, call.caller, "Dial", "ANSWERED", call.billsec, end)
        if self.tech == "Local":
            extra = [
                self._cdr(call, call.others[0], "Wait", "ANSWERED", call.billsec, end),
                self._cdr(call, call.called_other, "Wait", "ANSWERED", call.billsec, end),
            ]
        else:
            extra = []
        channels = [c for c in (call.called, call.called_other) if c is not None]
        if self.cdr_first:
            await self._cdrs([cdr, *extra])
            await self._hangup_channels([*channels, call.caller, *call.others])
        else:
            await self._hangup_channels([*channels, call.caller])
            await self._cdrs([*extra, cdr])
            await self._hangup_channels(call.others)

    async def busy(self, call: SimCall) -> None:
        assert call.live and call.answered_at is None
        call.ended_at = self.clock.now()
        await self._end_unanswered(call, "BUSY", "BUSY", cause=17)

    async def _end_unanswered(self, call: SimCall, disposition: str, status: str, cause: int):
        end = call.ended_at or self.clock.now()
        call.billsec, call.disposition = 0, disposition
        assert call.called is not None
        await self._event(
            "DialEnd",
            *call.caller.pairs(chanvars=self.chanvars),
            *call.called.pairs("Dest", self.chanvars),
            ("DialStatus", status),
        )
        channels = [c for c in (call.called, call.called_other) if c is not None]
        await self._hangup_channels(channels, cause=cause)
        await self._cdrs([self._cdr(call, call.caller, "Dial", disposition, 0, end)])
        if disposition == "BUSY":  # the dialplan goes on to Hangup(): a second record
            await self._cdrs([self._cdr(call, call.caller, "Hangup", "NO ANSWER", 0, end)])
        await self._hangup_channels([call.caller, *call.others], cause=cause)

    def _cdr(
        self,
        call: SimCall,
        channel: SimChannel | None,
        app: str,
        disposition: str,
        billsec: int,
        end: datetime,
    ) -> list[tuple[str, str]]:
        assert channel is not None
        answered = call.answered_at if disposition == "ANSWERED" else None
        dest = call.called.name if app == "Dial" and call.called else ""
        stamp = "%Y-%m-%d %H:%M:%S"
        return [
            ("Event", "Cdr"),
            ("Privilege", "cdr,all"),
            ("AccountCode", ""),
            ("Source", call.number),
            ("Destination", call.dialled),
            ("DestinationContext", channel.context),
            ("CallerID", f'"Sim" <{call.number}>'),
            ("Channel", channel.name),
            ("DestinationChannel", dest),
            ("LastApplication", app),
            ("LastData", "PJSIP/trunk" if app == "Dial" else "30"),
            ("StartTime", call.started_at.strftime(stamp)),
            ("AnswerTime", answered.strftime(stamp) if answered else ""),
            ("EndTime", end.strftime(stamp)),
            ("Duration", str(max(0, int((end - call.started_at).total_seconds())))),
            ("BillableSeconds", str(billsec)),
            ("Disposition", disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", channel.uniqueid),
            ("UserField", ""),
        ]

    async def _cdrs(self, records: list[list[tuple[str, str]]]) -> None:
        if self.send_cdr:
            for record in records:
                await self.ami.send_event(record)

    async def _hangup_channels(self, channels: list[SimChannel], cause: int = 16) -> None:
        for channel in channels:
            if channel.name not in self.ami.channels:
                continue
            await self._snapshot("HangupRequest", channel, ("Cause", str(cause)))
            await self._snapshot(
                "Hangup", channel, ("Cause", str(cause)), ("Cause-txt", "Normal Clearing")
            )

    # --- what Asterisk enforces ---------------------------------------------------------------
    def _limit(self, call: SimCall, now: datetime, seconds: float) -> None:
        if seconds <= 0:
            self.violations.append(f"call {call.call_id}: TIMEOUT(absolute)={seconds}: no limit")
            call.limit_at = None
            return
        call.limit_at = now + timedelta(seconds=seconds)
        call.limits.append((now, call.limit_at))

    def _setvar(self, request: AmiMessage) -> list[Any]:
        name = request.get("Channel", "")
        variable = request.get("Variable", "")
        value = request.get("Value", "")
        channel = self.ami.find_channel(name) if name else None
        if name and channel is None:
            return [AmiServer.response(request, "Error", "No such channel")]
        if self.setvar_delay_s:
            self.clock.advance(self.setvar_delay_s)
        now = self.clock.now()
        self.setvars.append((now, name, f"{variable}={value}"))
        call = self.by_channel.get(channel.name) if channel is not None else None
        if call is not None and variable.upper() == "TIMEOUT(ABSOLUTE)":
            try:
                seconds = float(value)
            except ValueError:
                seconds = 0.0
            if not call.live:
                # Hung up while its channels are still being torn down (their Hangup
                # events not all sent yet): Asterisk sets the variable on a dying channel
                # and nothing follows. A renewal racing a hangup is normal, not a fault.
                pass
            elif call.answered_at is None:
                self.violations.append(f"call {call.call_id}: limit set before answer")
            else:
                self._limit(call, now, seconds)
                if self.check_paid:
                    self._check_paid(call)
                if self.on_setvar is not None:
                    self.on_setvar(call, int(seconds))
        elif channel is not None:
            channel.variables[variable] = value
        return [AmiServer.response(request, "Success", "Variable Set")]

    def _core_settings(self, request: AmiMessage) -> list[Any]:
        if self.setvar_delay_s:  # a slow Asterisk is slow to answer every action
            self.clock.advance(self.setvar_delay_s)
        return [self.ami.core_settings_reply(request)]

    def _hangup_action(self, request: AmiMessage) -> list[Any]:
        """AMI `Hangup` of a channel by name, answered like Asterisk 20 (`action_hangup`).
        A channel of a simulated call ends the whole call the way `hangup` does (bridge
        left, channels hung up, Cdr), after the reply, as Asterisk's channel thread acts
        on the soft hangup after the manager answered."""
        name = request.get("Channel", "")
        if not name:
            return [AmiServer.response(request, "Error", "No channel specified")]
        self.hangups.append((self.clock.now(), name))
        if self.refuse_hangups is not None:
            return [AmiServer.response(request, "Error", self.refuse_hangups)]
        channel = self.ami.find_channel(name)
        if channel is None:
            return [AmiServer.response(request, "Error", "No such channel")]
        call = self._call_on(channel.name)
        if call is not None and call.live:
            self.ami._spawn(self.hangup(call))
        else:
            self.ami._spawn(self.ami.hangup_channel(channel.name, 16))
        return [AmiServer.response(request, "Success", "Channel Hungup")]

    def _call_on(self, name: str) -> SimCall | None:
        call = self.by_channel.get(name)
        if call is not None:
            return call
        for call in self.calls:
            channels = [call.caller, *call.others, call.called, call.called_other]
            if any(c is not None and c.name == name for c in channels):
                return call
        return None

    def _check_paid(self, call: SimCall) -> None:
        """Invariant 6: the billable seconds Asterisk now allows are paid for."""
        assert call.limit_at is not None and call.answered_at is not None
        with self.db.transaction() as session:
            paid_ms = session.execute(
                select(Call.paid_ms).where(Call.id == call.call_id)
            ).scalar_one()
        allowed = math.floor((call.limit_at - call.answered_at).total_seconds())
        if allowed * 1000 > paid_ms:
            self.violations.append(
                f"call {call.call_id}: Asterisk allows {allowed} s, the hold pays {paid_ms} ms"
            )

    def check_all_paid(self) -> None:
        """Invariant 6 at this moment for every call Asterisk lets run: the billable seconds
        it allows are paid for and within the call's bound (whatever shrank a hold since the
        last Setvar: a new call on the wallet, the listener)."""
        running = {
            c.call_id: c
            for c in self.calls
            if c.live and c.answered_at is not None and c.limit_at is not None
        }
        if not running:
            return
        with self.db.transaction() as session:
            rows = session.execute(
                select(Call.id, Call.paid_ms, Call.bound_ms).where(Call.id.in_(list(running)))
            ).all()
        for call_id, paid_ms, bound_ms in rows:
            call = running[call_id]
            allowed = math.floor((call.limit_at - call.answered_at).total_seconds()) * 1000
            if allowed > paid_ms or (bound_ms is not None and allowed > bound_ms):
                self.violations.append(
                    f"call {call_id}: Asterisk allows {allowed} ms, the hold pays {paid_ms} ms "
                    f"(bound {bound_ms} ms)"
                )

    async def tick(self) -> list[SimCall]:
        """End the calls whose limit has come (as Asterisk does): returns them."""
        if self.check_paid:
            self.check_all_paid()
        now = self.clock.now()
        cut = []
        if len(self._live) != len(self.calls):
            live = [c for c in self.calls if id(c) in self._live]
        else:
            live = list(self.calls)
        for call in live:
            if call.ended_at is not None:
                self._live.discard(id(call))
                continue
            if not call.live:
                continue  # still being set up
            if call.limit_at is not None and call.limit_at <= now:
                call.cut = True
                await self.hangup(call, at=call.limit_at)
                cut.append(call)
        return cut

    def live_calls(self) -> list[SimCall]:
        return [c for c in self.calls if c.live]
