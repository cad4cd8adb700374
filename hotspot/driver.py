"""The one place that talks to a MikroTik router, through the RouterOS API (librouteros).

Everything above this module (packages, vouchers, the reconciler, expiry) speaks in
hotspot terms: "make sure this user exists with these limits", "cut this user off".
This module turns that into RouterOS commands and turns RouterOS's failures into two
exceptions callers can act on:

- :class:`RouterUnreachable`: the router could not be talked to (refused, reset,
  timed out, ``!fatal``). Nothing is known to have changed; try again later.
- :class:`RouterError`: the router answered and said no (a ``!trap``). Retrying the
  same thing will get the same answer.

Facts about librouteros 4.x this module is built around:

- ``connect()`` logs in with the post-6.43 plain method (``/login =name= =password=``)
  and defaults to ASCII, which raises on non-ASCII input and silently drops
  non-ASCII bytes on output; pulsa uses UTF-8.
- Replies are parsed with ``parse_word``: ``"12345"`` becomes ``int`` 12345,
  ``"true"``/``"yes"`` become ``True`` (``"0812345"`` stays a string only because
  ``str(int(v)) != v``). A voucher code or phone-number username must come back as
  the string it was, so this driver installs an :class:`Api` subclass that keeps every
  value as the string RouterOS sent and converts the few fields it needs itself.
- ``Api.__call__`` is a generator: nothing is sent until it is iterated.
- The socket timeout given to ``connect()`` stays on the socket for every read.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

import librouteros
from librouteros.api import Api
from librouteros.exceptions import (
    ConnectionClosed,
    FatalError,
    MultiTrapError,
    ProtocolError,
    TrapError,
)
from librouteros.types import ReplyDict

__all__ = [
    "API_PORT",
    "API_SSL_PORT",
    "ActiveSession",
    "EnsureResult",
    "HotspotUser",
    "InterfaceInfo",
    "PingReply",
    "PingResult",
    "RouterAuthError",
    "RouterDriver",
    "RouterError",
    "RouterStatus",
    "RouterUnreachable",
    "UserNotFound",
    "format_duration",
    "parse_duration",
]

LOGGER = logging.getLogger(__name__)

API_PORT = 8728
API_SSL_PORT = 8729

USER_MENU = "/ip/hotspot/user"
PROFILE_MENU = "/ip/hotspot/user/profile"
ACTIVE_MENU = "/ip/hotspot/active"

EnsureResult = Literal["added", "updated", "unchanged"]
T = TypeVar("T")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class RouterError(Exception):
    """The router refused a command; ``message`` is RouterOS's own text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RouterUnreachable(RouterError):
    """No usable connection: retrying later may work, nothing is known to have changed."""


class RouterAuthError(RouterError):
    """Login refused: a configuration problem, so retrying in a loop will not help."""


class UserNotFound(RouterError):
    """The hotspot user the caller wanted to act on does not exist on the router."""


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Digits 0 to 9 only (re.ASCII: `\d` would take any script's digits), few enough that
# a duration stays far inside 64 bits: RouterOS counts in weeks at most.
_TOKEN = re.compile(r"([0-9]{1,9})(ms|us|w|d|h|m|s)", re.ASCII)
_CLOCK = re.compile(
    r"(?:([0-9]{1,9})d)?([0-9]{1,9}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?", re.ASCII
)
_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)
#: Longest RouterOS time value read; a longer one is not a duration.
MAX_DURATION_TEXT = 64
#: Largest whole number read from a RouterOS reply (its counters are unsigned 64-bit).
MAX_COUNTER = 2**64 - 1


def parse_duration(text: str) -> int:
    """Seconds in a RouterOS time value.

    RouterOS 7 prints ``1w2d3h4m5s``; RouterOS 6 also prints ``1d02:03:04`` and
    ``00:01:00``; bare digits are seconds. Sub-second parts are dropped because
    hotspot limits are whole seconds.
    """
    value = text.strip()
    if len(value) > MAX_DURATION_TEXT:
        raise ValueError(f"not a RouterOS time value: {text[:MAX_DURATION_TEXT]!r}...")
    if _SECONDS.fullmatch(value):
        return int(value)
    clock = _CLOCK.fullmatch(value)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    total, position = 0, 0
    for match in _TOKEN.finditer(value):
        if match.start() != position:
            break
        position = match.end()
        unit = match.group(2)
        if unit in _UNITS:
            total += int(match.group(1)) * _UNITS[unit]
    if not value or position != len(value):
        raise ValueError(f"not a RouterOS time value: {text!r}")
    return total


def format_duration(seconds: int) -> str:
    """The form RouterOS 7 prints back, so a value we set compares equal when read."""
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _to_int(value: str | None, default: int = 0) -> int:
    """A whole number of a RouterOS reply: digits 0 to 9, at most 64 bits."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 20:
        return default
    number = int(value)
    return number if number <= MAX_COUNTER else default


_RTT_TOKEN = re.compile(r"([0-9]{1,9})(ms|us|h|m|s)", re.ASCII)
_RTT_UNITS = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1000, "us": 1}
#: Most echoes one ping may ask for: each takes a second on the router.
MAX_PING_COUNT = 100


def parse_round_trip(value: str | None) -> int | None:
    """Microseconds in a RouterOS round trip time: ``11ms469us`` (RouterOS 7), ``11ms``
    (RouterOS 6), ``1s5ms``; None for anything else (empty, a status)."""
    if not value or len(value) > MAX_DURATION_TEXT:
        return None
    total, position = 0, 0
    for match in _RTT_TOKEN.finditer(value):
        if match.start() != position:
            return None
        position = match.end()
        total += int(match.group(1)) * _RTT_UNITS[match.group(2)]
    return total if position == len(value) else None


def _to_bool(value: str | None) -> bool:
    return value in ("true", "yes")


def _duration_or_none(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _api_bool(value: bool) -> str:
    return "yes" if value else "no"


@dataclass(frozen=True)
class RouterStatus:
    """What the admin's router page shows."""

    identity: str
    version: str
    board_name: str
    cpu_load: int
    free_memory: int
    total_memory: int
    uptime_seconds: int


@dataclass(frozen=True)
class PingReply:
    """One echo of a RouterOS ``/ping``: its sequence number and round trip time in
    microseconds, or None with RouterOS's status ("timeout", "host unreachable")."""

    seq: int
    rtt_us: int | None
    status: str = ""


@dataclass(frozen=True)
class PingResult:
    """A ``/ping`` run on a router: what it sent and got back, round trips in
    microseconds (None when nothing came back)."""

    address: str
    sent: int
    received: int
    packet_loss: int  # percent
    min_rtt_us: int | None
    avg_rtt_us: int | None
    max_rtt_us: int | None
    replies: tuple[PingReply, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.received > 0


@dataclass(frozen=True)
class HotspotUser:
    """A row of ``/ip/hotspot/user``, with the limits pulsa manages typed."""

    id: str
    name: str
    profile: str
    comment: str
    disabled: bool
    limit_uptime: int | None
    limit_bytes_total: int | None
    uptime_seconds: int
    bytes_in: int
    bytes_out: int
    #: None when the API user may not read passwords (no ``sensitive`` policy).
    password: str | None = None
    #: The hotspot server the user may log in through ("all": any).
    server: str = "all"


@dataclass(frozen=True)
class InterfaceInfo:
    """A row of ``/interface`` with its byte counters, for the router page."""

    name: str
    type: str
    running: bool
    disabled: bool
    rx_bytes: int
    tx_bytes: int
    comment: str = ""


@dataclass(frozen=True)
class ActiveSession:
    """A row of ``/ip/hotspot/active``: someone online right now."""

    id: str
    user: str
    address: str
    mac_address: str
    server: str
    uptime_seconds: int
    bytes_in: int
    bytes_out: int


_USER_PROPS = (
    ".id",
    "name",
    "profile",
    "comment",
    "disabled",
    "limit-uptime",
    "limit-bytes-total",
    "uptime",
    "bytes-in",
    "bytes-out",
    "password",
    "server",
)
_ACTIVE_PROPS = (
    ".id",
    "user",
    "address",
    "mac-address",
    "server",
    "uptime",
    "bytes-in",
    "bytes-out",
)


def _user_from_row(row: dict[str, str]) -> HotspotUser:
    bytes_total = row.get("limit-bytes-total")
    return HotspotUser(
        id=row.get(".id", ""),
        name=row.get("name", ""),
        profile=row.get("profile", ""),
        comment=row.get("comment", ""),
        disabled=_to_bool(row.get("disabled")),
        limit_uptime=_duration_or_none(row.get("limit-uptime")),
        limit_bytes_total=_to_int(bytes_total) if bytes_total not in (None, "") else None,
        uptime_seconds=_duration_or_none(row.get("uptime")) or 0,
        bytes_in=_to_int(row.get("bytes-in")),
        bytes_out=_to_int(row.get("bytes-out")),
        password=row.get("password"),
        server=row.get("server") or "all",
    )


def _session_from_row(row: dict[str, str]) -> ActiveSession:
    return ActiveSession(
        id=row.get(".id", ""),
        user=row.get("user", ""),
        address=row.get("address", ""),
        mac_address=row.get("mac-address", ""),
        server=row.get("server", ""),
        uptime_seconds=_duration_or_none(row.get("uptime")) or 0,
        bytes_in=_to_int(row.get("bytes-in")),
        bytes_out=_to_int(row.get("bytes-out")),
    )


# ---------------------------------------------------------------------------
# librouteros glue
# ---------------------------------------------------------------------------


class _StringApi(Api):
    """librouteros ``Api`` that leaves every reply value as the string RouterOS sent.

    Without this a username ``12345`` would come back as ``int`` and ``"true"`` as a
    bool, and comparing desired with actual state would go wrong in quiet ways.
    """

    def readSentence(self) -> tuple[str, ReplyDict]:  # librouteros's method name
        try:
            reply_word, words = self.protocol.readSentence()
        except IndexError:
            # librouteros indexes an empty sentence (or a !fatal without its reason).
            raise ProtocolError("an empty sentence from the router") from None
        values: ReplyDict = {}
        for word in words:
            if word.startswith("="):
                key, _, value = word[1:].partition("=")
                values[key] = value
        return reply_word, values


def _strings(row: ReplyDict) -> dict[str, str]:
    return {key: str(value) for key, value in row.items()}


class _Session:
    """Commands on one logged-in connection, with string values both ways."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def run(self, command: str, *words: str) -> list[dict[str, str]]:
        # rawCmd is lazy: tuple() is what sends the sentence and waits for !done.
        return [_strings(row) for row in tuple(self.api.rawCmd(command, *words))]

    def call(self, command: str, **attributes: str) -> list[dict[str, str]]:
        words = [f"={key}={value}" for key, value in attributes.items()]
        return self.run(command, *words)

    def find(self, menu: str, props: Iterable[str], **equal: str) -> list[dict[str, str]]:
        words = [f"=.proplist={','.join(props)}"]
        words += [f"?={key}={value}" for key, value in equal.items()]
        return self.run(f"{menu}/print", *words)


def _trap_text(exc: TrapError | MultiTrapError) -> str:
    return str(exc)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


class RouterDriver:
    """One router, one API connection, hotspot operations that are safe to repeat.

    The connection is opened on first use and kept, because a RouterOS login costs
    more than most commands and routers limit API sessions. When it dies between
    commands (router reboot, NAT timeout, ``!fatal``) the driver reconnects once and
    re-runs the whole operation; operations find items by name before acting, so
    running one twice never adds a user twice. Calls are serialised with a lock so
    that two threads never interleave sentences on the socket.
    """

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        *,
        port: int | None = None,
        tls: bool | None = None,
        timeout: float = 5.0,
        encoding: str = "utf-8",
        tls_verify: bool = True,
        tls_ca_file: str | None = None,
    ) -> None:
        """``tls=None`` means "TLS when the port is 8729 (api-ssl)", the RouterOS default.

        Routers with no certificate on api-ssl only offer anonymous ciphers, which
        modern OpenSSL refuses; give the router a certificate and pass its CA in
        ``tls_ca_file`` (or ``tls_verify=False`` on a network you trust).
        """
        self.host = host
        self.username = username
        self._password = password
        self.tls = (port == API_SSL_PORT) if tls is None else tls
        self.port = port if port is not None else (API_SSL_PORT if self.tls else API_PORT)
        self.timeout = timeout
        self.encoding = encoding
        self._tls_verify = tls_verify
        self._tls_ca_file = tls_ca_file
        self._api: Api | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"RouterDriver({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"

    # -- connection ------------------------------------------------------------

    def _ssl_wrapper(self) -> Callable[..., ssl.SSLSocket]:
        if self._tls_verify:
            context = ssl.create_default_context(cafile=self._tls_ca_file)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return functools.partial(context.wrap_socket, server_hostname=self.host)

    def _connect(self) -> Api:
        where = f"{self.host}:{self.port}"
        try:
            api = librouteros.connect(
                self.host,
                self.username,
                self._password,
                port=self.port,
                timeout=self.timeout,
                encoding=self.encoding,
                subclass=_StringApi,
                ssl_wrapper=self._ssl_wrapper() if self.tls else None,
            )
        except (TrapError, MultiTrapError) as exc:
            raise RouterAuthError(f"login to {where} refused: {_trap_text(exc)}") from None
        except TimeoutError:
            raise RouterUnreachable(
                f"router {where} did not answer within {self.timeout:g}s"
            ) from None
        except (OSError, ConnectionClosed, ProtocolError, EOFError) as exc:
            raise RouterUnreachable(f"router {where} unreachable: {_describe(exc)}") from None
        LOGGER.debug("connected to %s as %s", where, self.username)
        return api

    def _discard(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except Exception:  # the socket is being thrown away; nothing to save
                LOGGER.debug("closing a dead connection failed", exc_info=True)

    def close(self) -> None:
        """Log out by closing the socket; the next call opens a new connection."""
        with self._lock:
            self._discard()

    def __enter__(self) -> RouterDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, operation: Callable[[_Session], T]) -> T:
        """Run ``operation`` on the kept connection, reconnecting once if it died.

        A timeout is not retried: the router is there but slow, and a second try
        would double the caller's wait and load a router that is already struggling.
        """
        where = f"{self.host}:{self.port}"
        with self._lock:
            for attempt in (1, 2):
                if self._api is None:
                    self._api = self._connect()
                try:
                    return operation(_Session(self._api))
                except (TrapError, MultiTrapError) as exc:
                    # A trap is followed by !done, so the connection is still in step.
                    raise RouterError(_trap_text(exc)) from None
                except TimeoutError:
                    self._discard()
                    raise RouterUnreachable(
                        f"router {where} did not answer within {self.timeout:g}s"
                    ) from None
                except (ConnectionClosed, FatalError, OSError, EOFError) as exc:
                    self._discard()
                    if attempt == 2:
                        raise RouterUnreachable(
                            f"router {where} dropped the connection: {_describe(exc)}"
                        ) from None
                    LOGGER.warning(
                        "connection to %s lost (%s); reconnecting once", where, _describe(exc)
                    )
                except ProtocolError as exc:
                    # Undecodable bytes: the stream is out of step, never reuse it.
                    self._discard()
                    raise RouterError(f"router {where} sent garbage: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- router ------------------------------------------------------------------

    def status(self) -> RouterStatus:
        """Identity, version, load, memory and uptime, for the admin's router page."""

        def read(session: _Session) -> RouterStatus:
            resource = next(iter(session.run("/system/resource/print")), {})
            identity = next(iter(session.run("/system/identity/print")), {})
            return RouterStatus(
                identity=identity.get("name", ""),
                version=resource.get("version", ""),
                board_name=resource.get("board-name", ""),
                cpu_load=_to_int(resource.get("cpu-load")),
                free_memory=_to_int(resource.get("free-memory")),
                total_memory=_to_int(resource.get("total-memory")),
                uptime_seconds=_duration_or_none(resource.get("uptime")) or 0,
            )

        return self._run(read)

    # -- profiles ----------------------------------------------------------------

    def ensure_profile(
        self, name: str, rate_limit: str | None, shared_users: int | None
    ) -> EnsureResult:
        """Make the hotspot user profile ``name`` carry this speed and session count.

        ``rate_limit`` is RouterOS's own text (``"2M/1M"``); ``None`` removes any
        limit. ``shared_users=None`` means unlimited.
        """
        shared = "unlimited" if shared_users is None else str(shared_users)

        def ensure(session: _Session) -> EnsureResult:
            rows = session.find(
                PROFILE_MENU, (".id", "name", "rate-limit", "shared-users"), name=name
            )
            if not rows:
                values = {"name": name, "shared-users": shared}
                if rate_limit is not None:
                    values["rate-limit"] = rate_limit
                session.call(f"{PROFILE_MENU}/add", **values)
                return "added"
            row = rows[0]
            changes: dict[str, str] = {}
            if row.get("shared-users") != shared:
                changes["shared-users"] = shared
            if rate_limit is not None and row.get("rate-limit") != rate_limit:
                changes["rate-limit"] = rate_limit
            unset_rate = rate_limit is None and row.get("rate-limit", "") != ""
            if changes:
                session.call(f"{PROFILE_MENU}/set", **{".id": row[".id"]}, **changes)
            if unset_rate:
                session.call(
                    f"{PROFILE_MENU}/unset", **{".id": row[".id"]}, **{"value-name": "rate-limit"}
                )
            return "updated" if changes or unset_rate else "unchanged"

        return self._run(ensure)

    # -- users -------------------------------------------------------------------

    def ensure_user(
        self,
        name: str,
        password: str,
        profile: str,
        limit_uptime: int | None = None,
        limit_bytes_total: int | None = None,
        comment: str = "",
        disabled: bool = False,
        server: str = "all",
    ) -> EnsureResult:
        """Bring hotspot user ``name`` to exactly this state, touching only what differs.

        The reconciler calls this for every subscription on every pass, so an
        unchanged user costs one ``print`` and no write. ``limit_uptime`` is seconds,
        ``limit_bytes_total`` bytes; ``None`` removes the limit. Values are compared
        the way RouterOS prints them (``3600`` and ``1h`` are the same), so a value
        set once does not look changed forever after. If the API user may not read
        passwords (no ``sensitive`` policy) the password is set every time, since
        there is no way to tell whether it differs.
        """
        desired: dict[str, str | None] = {
            "password": password,
            "profile": profile,
            "limit-uptime": None if limit_uptime is None else format_duration(limit_uptime),
            "limit-bytes-total": None if limit_bytes_total is None else str(limit_bytes_total),
            "comment": comment,
        }
        props = (
            ".id",
            "name",
            "password",
            "profile",
            "limit-uptime",
            "limit-bytes-total",
            "comment",
            "disabled",
            "server",
        )

        def ensure(session: _Session) -> EnsureResult:
            rows = session.find(USER_MENU, props, name=name)
            if not rows:
                values = {k: v for k, v in desired.items() if v is not None and v != ""}
                if server != "all":
                    values["server"] = server
                session.call(f"{USER_MENU}/add", name=name, **values, disabled=_api_bool(disabled))
                return "added"
            row = rows[0]
            changes: dict[str, str] = {}
            unset: list[str] = []
            for key, want in desired.items():
                have = row.get(key)
                if want is None:
                    if have not in (None, ""):
                        unset.append(key)
                elif not _same(key, have, want):
                    changes[key] = want
            if _to_bool(row.get("disabled")) != disabled:
                changes["disabled"] = _api_bool(disabled)
            if (row.get("server") or "all") != server:
                changes["server"] = server
            if changes:
                session.call(f"{USER_MENU}/set", **{".id": row[".id"]}, **changes)
            for key in unset:
                session.call(f"{USER_MENU}/unset", **{".id": row[".id"], "value-name": key})
            return "updated" if changes or unset else "unchanged"

        return self._run(ensure)

    def add_user(
        self,
        name: str,
        password: str,
        profile: str,
        limit_uptime: int | None = None,
        limit_bytes_total: int | None = None,
        comment: str = "",
        disabled: bool = False,
        server: str = "all",
    ) -> EnsureResult:
        """Add a user the caller has just seen missing (one command instead of
        :meth:`ensure_user`'s find and add).

        Still safe to repeat: when the user exists after all (this add went through
        before a dropped connection and is being re-run, or someone added it
        meanwhile), RouterOS refuses the duplicate and this falls back to
        :meth:`ensure_user`.
        """
        values = {
            "name": name,
            "password": password,
            "profile": profile,
            "disabled": _api_bool(disabled),
        }
        if limit_uptime is not None:
            values["limit-uptime"] = format_duration(limit_uptime)
        if limit_bytes_total is not None:
            values["limit-bytes-total"] = str(limit_bytes_total)
        if comment:
            values["comment"] = comment
        if server != "all":
            values["server"] = server

        def add(session: _Session) -> bool:
            try:
                session.call(f"{USER_MENU}/add", **values)
            except TrapError as exc:
                if "already have" not in str(exc):
                    raise
                return False
            return True

        if self._run(add):
            return "added"
        return self.ensure_user(
            name, password, profile, limit_uptime, limit_bytes_total, comment, disabled, server
        )

    def _user_ids(self, session: _Session, name: str) -> list[str]:
        return [row[".id"] for row in session.find(USER_MENU, (".id",), name=name)]

    def disable_user(self, name: str) -> bool:
        """Stop ``name`` from logging in again; ``False`` if there is no such user.

        A missing user is not an error here: expiry wants the user unable to log
        in, and a user that does not exist already is. Disabling does not end a
        session that is running; call :meth:`kick` for that.
        """

        def disable(session: _Session) -> bool:
            ids = self._user_ids(session, name)
            for item_id in ids:
                session.call(f"{USER_MENU}/disable", **{".id": item_id})
            return bool(ids)

        return self._run(disable)

    def enable_user(self, name: str) -> None:
        """Let ``name`` log in again; raises :class:`UserNotFound` if it is missing,
        because enabling nothing would leave a paying customer without access."""

        def enable(session: _Session) -> None:
            ids = self._user_ids(session, name)
            if not ids:
                raise UserNotFound(f"no hotspot user named {name!r}")
            for item_id in ids:
                session.call(f"{USER_MENU}/enable", **{".id": item_id})

        self._run(enable)

    def remove_user(self, name: str) -> bool:
        """Delete hotspot user ``name``; ``False`` if it was already gone."""

        def remove(session: _Session) -> bool:
            ids = self._user_ids(session, name)
            if ids:
                session.call(f"{USER_MENU}/remove", **{".id": ",".join(ids)})
            return bool(ids)

        return self._run(remove)

    def kick(self, name: str) -> int:
        """End every active session of ``name`` now; returns how many were ended.

        A session can end by itself between the print and the remove; that is the
        outcome we wanted, so RouterOS's "no such item" is not an error here.
        """

        def kick(session: _Session) -> int:
            kicked = 0
            for row in session.find(ACTIVE_MENU, (".id",), user=name):
                try:
                    session.call(f"{ACTIVE_MENU}/remove", **{".id": row[".id"]})
                    kicked += 1
                except TrapError as exc:
                    if "no such item" not in str(exc):
                        raise
            return kicked

        return self._run(kick)

    def list_users(self, comment_prefix: str | None = None) -> list[HotspotUser]:
        """Hotspot users, optionally only those whose comment starts with a prefix.

        RouterOS queries have no "starts with", so the prefix is applied here; the
        print asks only for the columns pulsa reads, to keep big routers cheap.
        """

        def list_(session: _Session) -> list[HotspotUser]:
            rows = session.find(USER_MENU, _USER_PROPS)
            users = [_user_from_row(row) for row in rows]
            if comment_prefix is None:
                return users
            return [user for user in users if user.comment.startswith(comment_prefix)]

        return self._run(list_)

    def reset_counters(self, name: str) -> bool:
        """Zero ``name``'s uptime and byte counters, which its ``limit-uptime`` and
        ``limit-bytes-total`` are measured against; ``False`` if there is no such user.

        A new subscription gets its whole quota this way instead of inheriting what
        the previous one used.
        """

        def reset(session: _Session) -> bool:
            ids = self._user_ids(session, name)
            if ids:
                session.call(f"{USER_MENU}/reset-counters", **{".id": ",".join(ids)})
            return bool(ids)

        return self._run(reset)

    def list_interfaces(self) -> list[InterfaceInfo]:
        """Interfaces with their byte counters; two reads a known time apart give the
        current traffic (RouterOS's monitor-traffic streams, which this driver avoids)."""
        props = ("name", "type", "running", "disabled", "rx-byte", "tx-byte", "comment")

        def read(session: _Session) -> list[InterfaceInfo]:
            return [
                InterfaceInfo(
                    name=row.get("name", ""),
                    type=row.get("type", ""),
                    running=_to_bool(row.get("running")),
                    disabled=_to_bool(row.get("disabled")),
                    rx_bytes=_to_int(row.get("rx-byte")),
                    tx_bytes=_to_int(row.get("tx-byte")),
                    comment=row.get("comment", ""),
                )
                for row in session.find("/interface", props)
            ]

        return self._run(read)

    def ping(self, address: str, count: int = 4, interval_ms: int | None = None) -> PingResult:
        """Ping ``address`` from the router (RouterOS ``/ping`` with a ``count``, one echo
        every ``interval_ms``, RouterOS's 1 s when None): the router answers one row per
        echo, the last one carrying the totals. An address the router cannot reach is a
        result with nothing received, not an error; an address RouterOS cannot read is a
        :class:`RouterError`."""
        if not 1 <= count <= MAX_PING_COUNT:
            raise ValueError(f"a ping sends 1 to {MAX_PING_COUNT} echoes")
        words = {"address": address, "count": str(count)}
        if interval_ms is not None:
            if not 10 <= interval_ms <= 5000:  # RouterOS takes 10 ms to 5 s
                raise ValueError("a ping's interval is 10 to 5000 ms")
            words["interval"] = f"{interval_ms}ms"
        rows = self._run(lambda session: session.call("/ping", **words))
        replies = tuple(
            PingReply(
                seq=_to_int(row.get("seq")),
                rtt_us=parse_round_trip(row.get("time")),
                status=row.get("status", ""),
            )
            for row in rows
        )
        times = [reply.rtt_us for reply in replies if reply.rtt_us is not None]
        last = rows[-1] if rows else {}
        sent = _to_int(last.get("sent"), len(replies))
        received = _to_int(last.get("received"), len(times))
        loss = _to_int(last.get("packet-loss"), 100 - 100 * received // sent if sent else 100)
        return PingResult(
            address=address,
            sent=sent,
            received=received,
            packet_loss=loss,
            min_rtt_us=parse_round_trip(last.get("min-rtt")) or (min(times) if times else None),
            avg_rtt_us=parse_round_trip(last.get("avg-rtt"))
            or (sum(times) // len(times) if times else None),
            max_rtt_us=parse_round_trip(last.get("max-rtt")) or (max(times) if times else None),
            replies=replies,
        )

    def list_active(self) -> list[ActiveSession]:
        """Who is online now, for the admin page and for metered billing."""
        return self._run(
            lambda session: [_session_from_row(r) for r in session.find(ACTIVE_MENU, _ACTIVE_PROPS)]
        )


def _same(key: str, have: str | None, want: str) -> bool:
    """Compare as RouterOS means it, so ``3600`` seconds and ``1h`` are equal."""
    if have is None:
        return want == "" and key == "comment"
    if key == "limit-uptime":
        return _duration_or_none(have) == _duration_or_none(want)
    if key == "limit-bytes-total":
        return _to_int(have, -1) == _to_int(want, -2)
    return have == want


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
