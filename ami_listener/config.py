"""What the listener needs from pulsa's settings: the Asterisk servers and its timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

DEFAULT_AMI_PORT = 5038
#: Event classes the listener asks for at login (the AMI user's `read` must allow them):
#: call (channels, dials, bridges, hangups), cdr (the Cdr records), dialplan (VarSet) and
#: system (FullyBooted).
EVENT_CLASSES = "system,call,cdr,dialplan"


@dataclass(frozen=True)
class AmiServer:
    """One Asterisk Manager Interface endpoint."""

    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_ami_servers(text: str) -> tuple[AmiServer, ...]:
    """Parse `PULSA_AMI_SERVERS`: comma-separated `name=user:secret@host:port`.

    `name=` is optional (the name is then `host:port`), so is `:port` (5038). The secret may
    contain `:` and `@`; a comma, or anything else awkward, is written %-encoded (`%2C`), as
    may be the user. Raises ValueError with a message naming the bad entry.
    """
    servers: list[AmiServer] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, equals, rest = entry.partition("=")
        if not equals or "@" in name:
            name, rest = "", entry
        name = name.strip()
        userinfo, at, hostport = rest.rpartition("@")
        if not at:
            raise ValueError(f"{_shown(entry)}: expected user:secret@host:port")
        user, colon, secret = userinfo.partition(":")
        user, secret = unquote(user.strip()), unquote(secret)
        if not user or not colon:
            raise ValueError(f"{_shown(entry)}: expected user:secret before @")
        host, port = _host_port(entry, hostport.strip())
        if name and not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"{_shown(entry)}: a name may use letters, digits, - _ . only")
        servers.append(AmiServer(name or f"{host}:{port}", host, port, user, secret))
    names = [server.name for server in servers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two AMI servers are named {name!r}")
    return tuple(servers)


def _host_port(entry: str, hostport: str) -> tuple[str, int]:
    if hostport.startswith("["):  # [::1]:5038
        host, _, tail = hostport[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    if not host:
        raise ValueError(f"{_shown(entry)}: no host")
    if not port_text:
        return host, DEFAULT_AMI_PORT
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"{_shown(entry)}: bad port {port_text!r}")
    return host, int(port_text)


def _shown(entry: str) -> str:
    """The entry with its secret masked, for error messages."""
    name, equals, rest = entry.partition("=")
    if not equals or "@" in name:
        name, rest = "", entry
    userinfo, at, hostport = rest.rpartition("@")
    if not at:
        return repr(entry if ":" not in entry else entry.split(":", 1)[0] + ":***")
    user = userinfo.partition(":")[0]
    prefix = f"{name}=" if name else ""
    return repr(f"{prefix}{user}:***@{hostport}")


@dataclass(frozen=True)
class ListenerConfig:
    """Timings and servers of one listener process (see `from_settings` for the meaning)."""

    servers: tuple[AmiServer, ...] = ()
    renew_margin_s: float = 10.0
    #: How long before the paid end a limit ends; None: measured (see
    #: `listener.measured_safety_ms`), from the Setvar round trips and the event delay.
    safety_ms: int | None = None
    #: 1000: limits in whole seconds (rounded down); 1: milliseconds; None: from the
    #: Asterisk version (`link.limit_precision_for`).
    limit_precision_ms: int | None = None
    cdr_wait_s: float = 3.0
    recheck_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    action_timeout_s: float = 5.0
    ping_interval_s: float = 20.0
    db_workers: int = 8
    db_retry_max_s: float = 5.0
    hangup_poll_s: float = 1.0  # how often the staff's hang-up requests are read
    #: A hang-up request for a call no listener follows is closed after this long (the
    #: call is on a server nobody listens to, or its listener is down).
    hangup_give_up_s: float = 300.0
    events: str = EVENT_CLASSES
    #: Whether calls whose Call.asterisk_server is "" (the AGI does not name its server)
    #: are resynchronized by this listener (settled or expired when their channel is gone);
    #: None: yes when it listens to a single server. They are followed either way.
    claim_unnamed: bool | None = None

    @classmethod
    def from_settings(cls, settings) -> ListenerConfig:
        return cls(
            servers=parse_ami_servers(settings.ami_servers),
            renew_margin_s=float(settings.ami_renew_margin_seconds),
            safety_ms=_forced(settings.ami_safety_ms),
            limit_precision_ms=_forced(settings.ami_limit_precision_ms),
            cdr_wait_s=settings.ami_cdr_wait_ms / 1000,
            recheck_s=float(settings.ami_recheck_seconds),
            reconnect_max_s=float(settings.ami_reconnect_max_seconds),
            action_timeout_s=settings.ami_action_timeout_ms / 1000,
            db_workers=settings.ami_db_workers,
            hangup_poll_s=settings.ami_hangup_poll_ms / 1000,
        )


def _forced(value: int) -> int | None:
    """A setting whose -1 means "let the listener choose"."""
    return None if value < 0 else value
