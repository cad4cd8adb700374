"""A RouterOS API emulator that speaks the real wire protocol on loopback.

The hotspot code is tested with the real librouteros client, so what sits on the
other side of the socket has to behave like a router: length-prefixed words,
sentences ending with an empty word, ``!re``/``!done``/``!trap``/``!fatal``/``!empty``
replies, ``.tag`` echo, login, ``.proplist`` and query words, stateful menus that
keep their rows between connections, and the error texts RouterOS really sends.
It also breaks on demand (dropped connections, slow replies, refused logins,
trapped commands, ``!fatal``), because the driver's job is to survive exactly that.

Usage::

    with RouterOSEmulator(users={"api": "secret"}) as router:
        api = librouteros.connect("127.0.0.1", "api", "secret", port=router.port)

Everything is plain threads: one accept loop and one thread per connection, so the
tests need no event loop and a blocking client in the test thread is fine.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

# ---------------------------------------------------------------------------
# Wire codec
# ---------------------------------------------------------------------------

#: Largest length the 5-byte form can carry (0xF0 followed by a 32-bit length).
MAX_WORD_LENGTH = 0xFFFFFFFF

#: RouterOS moves bytes, not text; UTF-8 is what pulsa puts in them. Undecodable
#: bytes survive a round trip thanks to surrogateescape.
WIRE_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


class WireError(Exception):
    """Bytes on the wire that RouterOS itself would reject."""


def encode_length(length: int) -> bytes:
    """Encode a word length with RouterOS's 1 to 5 byte variable-length prefix."""
    if length < 0:
        raise WireError(f"negative length {length}")
    if length < 0x80:
        return bytes((length,))
    if length < 0x4000:
        return struct.pack(">H", length | 0x8000)
    if length < 0x200000:
        return struct.pack(">I", length | 0xC00000)[1:]
    if length < 0x10000000:
        return struct.pack(">I", length | 0xE0000000)
    if length <= MAX_WORD_LENGTH:
        return b"\xf0" + struct.pack(">I", length)
    raise WireError(f"length {length} does not fit in a RouterOS word")


def prefix_size(first_byte: int) -> int:
    """How many bytes the length prefix starting with ``first_byte`` occupies."""
    if first_byte < 0x80:
        return 1
    if first_byte < 0xC0:
        return 2
    if first_byte < 0xE0:
        return 3
    if first_byte < 0xF0:
        return 4
    if first_byte == 0xF0:
        return 5
    # 0xF1..0xF7 are unassigned, 0xF8..0xFF are reserved control bytes.
    raise WireError(f"unsupported length control byte 0x{first_byte:02X}")


def decode_length(prefix: bytes) -> int:
    """Decode a complete length prefix (as produced by :func:`encode_length`)."""
    if not prefix:
        raise WireError("empty length prefix")
    size = prefix_size(prefix[0])
    if len(prefix) != size:
        raise WireError(f"length prefix needs {size} bytes, got {len(prefix)}")
    if size == 1:
        return prefix[0]
    if size == 2:
        return struct.unpack(">H", prefix)[0] & 0x3FFF
    if size == 3:
        return struct.unpack(">I", b"\x00" + prefix)[0] & 0x1FFFFF
    if size == 4:
        return struct.unpack(">I", prefix)[0] & 0x0FFFFFFF
    return struct.unpack(">I", prefix[1:])[0]


def _to_bytes(word: str | bytes) -> bytes:
    return word if isinstance(word, bytes) else word.encode(WIRE_ENCODING, _ERRORS)


def encode_word(word: str | bytes) -> bytes:
    """Length prefix followed by the word's bytes."""
    data = _to_bytes(word)
    return encode_length(len(data)) + data


def encode_sentence(words: Iterable[str | bytes]) -> bytes:
    """Words followed by the empty word that ends a sentence."""
    return b"".join(encode_word(word) for word in words) + b"\x00"


def read_word(read_exact: Callable[[int], bytes]) -> bytes:
    """Read one word; ``b""`` is the end-of-sentence marker."""
    first = read_exact(1)
    size = prefix_size(first[0])
    prefix = first + read_exact(size - 1) if size > 1 else first
    length = decode_length(prefix)
    return read_exact(length) if length else b""


def read_sentence(read_exact: Callable[[int], bytes]) -> list[bytes]:
    """Read words up to the empty word; an empty list is an empty sentence."""
    words: list[bytes] = []
    while word := read_word(read_exact):
        words.append(word)
    return words


def decode_words(words: Iterable[bytes]) -> list[str]:
    return [word.decode(WIRE_ENCODING, _ERRORS) for word in words]


def stream_reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """Adapt a binary stream to the ``read_exact`` callable used above."""

    def read_exact(size: int) -> bytes:
        data = stream.read(size)
        if data is None or len(data) != size:
            raise EOFError("stream ended inside a word")
        return data

    return read_exact


# ---------------------------------------------------------------------------
# Value normalisation (what RouterOS prints back for what it was given)
# ---------------------------------------------------------------------------


class ValueRejected(Exception):
    """A value RouterOS refuses; the message is the trap text."""


_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_TOKEN = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_CLOCK = re.compile(r"^(?:(\d+)d)?(\d+):(\d{1,2}):(\d{1,2})$")


def parse_duration(text: str) -> int:
    """Seconds in a RouterOS time value: ``3600``, ``1h``, ``1d2h3m4s``, ``01:00:00``."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    clock = _CLOCK.match(value)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    position, total = 0, 0
    for match in _DURATION_TOKEN.finditer(value):
        if match.start() != position:
            break
        position = match.end()
        if match.group(2) != "ms":
            total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not value or position != len(value):
        raise ValueError(f"not a time interval: {text!r}")
    return total


def format_duration(seconds: int) -> str:
    """RouterOS 7 style: ``1w2d3h4m5s`` with zero parts left out, ``0s`` for zero."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _norm_time(argument: str) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        try:
            return format_duration(parse_duration(value))
        except ValueError:
            raise ValueRejected(f"value of {argument} must be time interval") from None

    return normalise


def _norm_time_or_none(argument: str) -> Callable[[str], str]:
    as_time = _norm_time(argument)

    def normalise(value: str) -> str:
        return "none" if value.strip() == "none" else as_time(value)

    return normalise


_BYTE_SUFFIX = {"": 1, "k": 1024, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _norm_bytes(argument: str) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        match = re.fullmatch(r"(\d+)([kKMGT]?)", value.strip())
        if not match:
            raise ValueRejected(f"value of {argument} must be integer")
        return str(int(match.group(1)) * _BYTE_SUFFIX[match.group(2)])

    return normalise


def _norm_bool(argument: str) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        lowered = value.strip().lower()
        if lowered in ("yes", "true"):
            return "true"
        if lowered in ("no", "false"):
            return "false"
        raise ValueRejected(f"value of {argument} must be yes or no")

    return normalise


def _norm_shared_users(value: str) -> str:
    stripped = value.strip()
    if stripped == "unlimited" or stripped.isdigit():
        return stripped if stripped == "unlimited" else str(int(stripped))
    raise ValueRejected("value of shared-users must be integer or unlimited")


# ---------------------------------------------------------------------------
# Menus
# ---------------------------------------------------------------------------

# RouterOS error texts. The first three are taken from what real routers answer
# (as seen by many public API clients); the rest are written the RouterOS way
# but were not checked against a router.
DUPLICATE_USER = "failure: already have user with this name for this server"
BAD_LOGIN = "invalid user name or password (6)"
NO_SUCH_PROFILE = "input does not match any value of profile"
NO_SUCH_ITEM = "no such item"
NO_SUCH_COMMAND = "no such command"
NO_SUCH_PREFIX = "no such command prefix"
UNKNOWN_PARAMETER = "unknown parameter"
DUPLICATE_PROFILE = "failure: already have profile with this name"
NOT_LOGGED_IN = "not logged in"
SESSION_TERMINATED = "session terminated on request"


class Trap(Exception):
    """Answer the current command with ``!trap`` (one per message) then ``!done``."""

    def __init__(self, *messages: str) -> None:
        super().__init__(", ".join(messages))
        self.messages = messages


Row = dict[str, str]
Reply = list[list[str]]


@dataclass
class Menu:
    """One RouterOS menu: its rows, which verbs it takes and how it checks values."""

    path: str
    verbs: frozenset[str]
    writable: frozenset[str] = frozenset()
    defaults: Row = field(default_factory=dict)
    normalisers: dict[str, Callable[[str], str]] = field(default_factory=dict)
    unique: str | None = None
    duplicate_message: str = ""
    rows: dict[str, Row] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> str:
        item_id = f"*{self.next_id:X}"
        self.next_id += 1
        return item_id


def _user_menu() -> Menu:
    times = {name: _norm_time(name) for name in ("limit-uptime",)}
    sizes = {
        name: _norm_bytes(name)
        for name in ("limit-bytes-total", "limit-bytes-in", "limit-bytes-out")
    }
    return Menu(
        path="/ip/hotspot/user",
        verbs=frozenset({"print", "getall", "add", "set", "unset", "remove", "enable", "disable"}),
        writable=frozenset(
            {
                "name",
                "password",
                "profile",
                "server",
                "comment",
                "disabled",
                "address",
                "mac-address",
                "email",
                "routes",
                "limit-uptime",
                "limit-bytes-total",
                "limit-bytes-in",
                "limit-bytes-out",
            }
        ),
        defaults={
            "server": "all",
            "profile": "default",
            "uptime": "0s",
            "bytes-in": "0",
            "bytes-out": "0",
            "packets-in": "0",
            "packets-out": "0",
            "dynamic": "false",
            "disabled": "false",
        },
        normalisers={**times, **sizes, "disabled": _norm_bool("disabled")},
        unique="name",
        duplicate_message=DUPLICATE_USER,
    )


def _profile_menu() -> Menu:
    menu = Menu(
        path="/ip/hotspot/user/profile",
        verbs=frozenset({"print", "getall", "add", "set", "unset", "remove"}),
        writable=frozenset(
            {
                "name",
                "rate-limit",
                "shared-users",
                "idle-timeout",
                "keepalive-timeout",
                "session-timeout",
                "status-autorefresh",
                "address-pool",
                "address-list",
                "add-mac-cookie",
                "mac-cookie-timeout",
                "transparent-proxy",
                "open-status-page",
                "parent-queue",
                "on-login",
                "on-logout",
            }
        ),
        defaults={
            "idle-timeout": "none",
            "keepalive-timeout": "2m",
            "status-autorefresh": "1m",
            "shared-users": "1",
            "add-mac-cookie": "true",
            "mac-cookie-timeout": "3d",
            "address-pool": "none",
            "transparent-proxy": "false",
            "open-status-page": "always",
            "default": "false",
        },
        normalisers={
            "shared-users": _norm_shared_users,
            "idle-timeout": _norm_time_or_none("idle-timeout"),
            "keepalive-timeout": _norm_time_or_none("keepalive-timeout"),
            "session-timeout": _norm_time("session-timeout"),
            "add-mac-cookie": _norm_bool("add-mac-cookie"),
            "transparent-proxy": _norm_bool("transparent-proxy"),
        },
        unique="name",
        duplicate_message=DUPLICATE_PROFILE,
        next_id=1,
    )
    menu.rows["*0"] = {".id": "*0", "name": "default", **menu.defaults, "default": "true"}
    return menu


def _active_menu() -> Menu:
    return Menu(
        path="/ip/hotspot/active",
        verbs=frozenset({"print", "getall", "remove", "login"}),
        normalisers={"radius": _norm_bool("radius")},
    )


def _resource_menu(version: str, board_name: str) -> Menu:
    menu = Menu(path="/system/resource", verbs=frozenset({"print", "getall"}))
    menu.rows["resource"] = {
        "uptime": "1w2d3h4m5s",
        "version": version,
        "build-time": "2025-01-01 10:00:00",
        "factory-software": "7.1",
        "free-memory": "123535360",
        "total-memory": "268435456",
        "cpu": "ARM",
        "cpu-count": "4",
        "cpu-frequency": "864",
        "cpu-load": "3",
        "free-hdd-space": "99999744",
        "total-hdd-space": "134217728",
        "architecture-name": "arm",
        "board-name": board_name,
        "platform": "MikroTik",
    }
    return menu


def _identity_menu(identity: str) -> Menu:
    menu = Menu(
        path="/system/identity",
        verbs=frozenset({"print", "getall", "set"}),
        writable=frozenset({"name"}),
    )
    menu.rows["identity"] = {"name": identity}
    return menu


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


class QueryError(Exception):
    pass


def _compare(left: str, right: str) -> int:
    if left.lstrip("-").isdigit() and right.lstrip("-").isdigit():
        a, b = int(left), int(right)
    else:
        a, b = left, right  # type: ignore[assignment]
    return (a > b) - (a < b)


def _stack_ops(ops: str, stack: list[bool]) -> None:
    """Apply a ``?#`` operation string the way the RouterOS manual describes it."""
    i = 0
    try:
        while i < len(ops):
            char = ops[i]
            if char.isdigit():
                end = i
                while end < len(ops) and ops[end].isdigit():
                    end += 1
                value = stack[-1 - int(ops[i:end])]
                if end == len(ops):
                    # An index at the end of the word replaces the whole stack.
                    stack[:] = [value]
                else:
                    stack.append(value)
                    if ops[end] == ".":
                        end += 1  # "." right after an index only ends the index
                i = end
                continue
            if char == "!":
                stack[-1] = not stack[-1]
            elif char == "&":
                right, left = stack.pop(), stack.pop()
                stack.append(left and right)
            elif char == "|":
                right, left = stack.pop(), stack.pop()
                stack.append(left or right)
            elif char == ".":
                stack.append(stack[-1])
            else:
                raise QueryError(f"unknown query operation {char!r}")
            i += 1
    except IndexError:
        raise QueryError("query stack underflow") from None


def row_matches(row: Row, queries: list[str], menu: Menu | None = None) -> bool:
    """Evaluate query words (without their leading ``?``) against one row."""
    stack: list[bool] = []
    for query in queries:
        if query.startswith("#"):
            _stack_ops(query[1:], stack)
            continue
        if query.startswith("-"):
            stack.append(query[1:] not in row)
            continue
        operator = "="
        body = query
        if query[:1] in ("=", "<", ">") and "=" in query[1:]:
            operator, body = query[0], query[1:]
        if "=" not in body:
            stack.append(body in row)
            continue
        key, value = body.split("=", 1)
        if menu is not None and key in menu.normalisers:
            with contextlib.suppress(ValueRejected):
                value = menu.normalisers[key](value)
        actual = row.get(key, "")
        if operator == "=":
            stack.append(actual == value)
        elif operator == "<":
            stack.append(key in row and _compare(actual, value) < 0)
        else:
            stack.append(key in row and _compare(actual, value) > 0)
    return all(stack)


# ---------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------


@dataclass
class CommandRecord:
    """What a client sent, for tests that check what went over the wire."""

    command: str
    attributes: dict[str, str]
    queries: list[str]
    tag: str | None


class RouterOSEmulator:
    """A fake RouterOS answering the API on 127.0.0.1 (ephemeral port).

    State (the menus) is shared by every connection and survives reconnects, like a
    real router's configuration. Fault switches are plain attributes or methods and
    take effect on the next command.
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        identity: str = "MikroTik",
        version: str = "7.18.2 (stable)",
        board_name: str = "hAP ac^2",
        empty_reply: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.credentials: dict[str, str] = dict(users if users is not None else {"admin": ""})
        #: RouterOS 7.18+ sends ``!empty`` before ``!done`` when a print has no rows.
        self.empty_reply = empty_reply
        self.ssl_context = ssl_context
        self.menus: dict[str, Menu] = {
            menu.path: menu
            for menu in (
                _user_menu(),
                _profile_menu(),
                _active_menu(),
                _resource_menu(version, board_name),
                _identity_menu(identity),
            )
        }
        self._directories = self._collect_directories()
        self.lock = threading.RLock()

        # Fault switches.
        self.reply_delay: float = 0.0
        self.refuse_logins = False
        self.blackhole = False
        self._fail_next: list[str] = []
        self._drop_next = 0

        # Observations.
        self.login_count = 0
        self.connection_count = 0
        self.commands: list[CommandRecord] = []

        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._sessions: set[_Session] = set()
        self._stopping = threading.Event()
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RouterOSEmulator:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"routeros-emulator:{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        sessions = self._snapshot_sessions()
        for session in sessions:
            session.abort()
        for session in sessions:
            session.thread.join(timeout=5)

    def __enter__(self) -> RouterOSEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -- fault injection -----------------------------------------------------

    def fail_next(self, count: int = 1, message: str = "failure: emulated fault") -> None:
        """Answer the next ``count`` commands (login excluded) with ``!trap``."""
        with self.lock:
            self._fail_next.extend([message] * count)

    def drop_next(self, count: int = 1) -> None:
        """Reset the connection instead of answering the next ``count`` commands."""
        with self.lock:
            self._drop_next += count

    def drop_connections(self) -> int:
        """Close every open connection abruptly (TCP reset, no goodbye)."""
        sessions = self._snapshot_sessions()
        for session in sessions:
            session.abort()
        return len(sessions)

    def disconnect_all(self, message: str = SESSION_TERMINATED) -> int:
        """Send ``!fatal`` with ``message`` on every connection, then close it."""
        sessions = self._snapshot_sessions()
        for session in sessions:
            session.fatal(message)
        return len(sessions)

    @property
    def open_connections(self) -> int:
        return len(self._snapshot_sessions())

    # -- state helpers for tests --------------------------------------------

    def rows(self, path: str) -> list[Row]:
        with self.lock:
            return [dict(row) for row in self.menus[path].rows.values()]

    def insert(self, path: str, **values: str) -> str:
        """Put a row straight into a menu (no validation), returning its ``.id``."""
        with self.lock:
            menu = self.menus[path]
            item_id = menu.new_id()
            menu.rows[item_id] = {".id": item_id, **menu.defaults, **values}
            return item_id

    def insert_many(self, path: str, rows: Iterable[Row]) -> None:
        with self.lock:
            for values in rows:
                self.insert(path, **values)

    def login_hotspot_user(
        self, user: str, address: str = "10.5.50.2", mac_address: str = "AA:BB:CC:00:00:01"
    ) -> str:
        """Play a customer logging in on the hotspot page: adds an active session."""
        with self.lock:
            return self._open_active_session(user, address, mac_address)

    def set_resource(self, **values: str) -> None:
        with self.lock:
            self.menus["/system/resource"].rows["resource"].update(values)

    # -- internals: connections ------------------------------------------------

    def _collect_directories(self) -> set[str]:
        directories = {""}
        for path in self.menus:
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                directories.add("/" + "/".join(parts[:depth]))
        return directories

    def _snapshot_sessions(self) -> list[_Session]:
        with self.lock:
            return list(self._sessions)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.connection_count += 1
                refuse = self.refuse_logins
            if refuse:
                _reset(sock)
                continue
            session = _Session(self, sock)
            with self.lock:
                self._sessions.add(session)
            session.thread.start()

    def _forget(self, session: _Session) -> None:
        with self.lock:
            self._sessions.discard(session)

    def _take_fault(self) -> tuple[str, str | None]:
        with self.lock:
            if self._drop_next:
                self._drop_next -= 1
                return "drop", None
            if self._fail_next:
                return "trap", self._fail_next.pop(0)
        return "none", None

    # -- internals: command handling ---------------------------------------------

    def execute(self, command: str, attributes: dict[str, str], queries: list[str]) -> Reply:
        """Run one command on the shared state and return the reply sentences."""
        parts = command.rstrip("/").split("/")
        menu_path, verb = "/".join(parts[:-1]), parts[-1]
        menu = self.menus.get(menu_path)
        if menu is None:
            if menu_path in self._directories and command in self._directories:
                raise Trap(NO_SUCH_COMMAND)
            raise Trap(self._missing_directory(command), NO_SUCH_PREFIX)
        if verb not in menu.verbs:
            raise Trap(NO_SUCH_COMMAND)
        with self.lock:
            if verb in ("print", "getall"):
                return self._print(menu, attributes, queries)
            if verb == "add":
                return self._add(menu, attributes)
            if verb == "set":
                return self._set(menu, attributes)
            if verb == "unset":
                return self._unset(menu, attributes)
            if verb == "remove":
                return self._remove(menu, attributes)
            if verb in ("enable", "disable"):
                attributes = {**attributes, "disabled": "true" if verb == "disable" else "false"}
                return self._set(menu, attributes)
            if verb == "login":
                return self._active_login(attributes)
        raise Trap(NO_SUCH_COMMAND)

    def _missing_directory(self, command: str) -> str:
        parts = command.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            if prefix not in self._directories:
                return f"no such command or directory ({parts[depth - 1]})"
        return f"no such command or directory ({parts[-1]})"

    def _print(self, menu: Menu, attributes: dict[str, str], queries: list[str]) -> Reply:
        try:
            rows = [row for row in menu.rows.values() if row_matches(row, queries, menu)]
        except QueryError as exc:
            raise Trap(f"failure: {exc}") from None
        if "count-only" in attributes:
            return [["!done", f"=ret={len(rows)}"]]
        proplist = attributes.get(".proplist")
        wanted = [name for name in proplist.split(",") if name] if proplist else None
        reply: Reply = []
        for row in rows:
            if wanted is None:
                items = list(row.items())
            else:
                items = [(name, row[name]) for name in wanted if name in row]
            reply.append(["!re", *(f"={key}={value}" for key, value in items)])
        if not reply and self.empty_reply:
            reply.append(["!empty"])
        reply.append(["!done"])
        return reply

    def _check_values(self, menu: Menu, values: dict[str, str]) -> dict[str, str]:
        clean: dict[str, str] = {}
        for key, value in values.items():
            if key not in menu.writable:
                raise Trap(UNKNOWN_PARAMETER)
            normalise = menu.normalisers.get(key)
            try:
                clean[key] = normalise(value) if normalise else value
            except ValueRejected as exc:
                raise Trap(str(exc)) from None
        if menu.path == "/ip/hotspot/user" and "profile" in clean:
            profiles = self.menus["/ip/hotspot/user/profile"].rows.values()
            if clean["profile"] not in {row["name"] for row in profiles}:
                raise Trap(NO_SUCH_PROFILE)
        return clean

    def _check_unique(self, menu: Menu, values: dict[str, str], own_id: str | None) -> None:
        if menu.unique is None or menu.unique not in values:
            return
        for item_id, row in menu.rows.items():
            if item_id != own_id and row.get(menu.unique) == values[menu.unique]:
                raise Trap(menu.duplicate_message)

    def _add(self, menu: Menu, attributes: dict[str, str]) -> Reply:
        values = self._check_values(menu, attributes)
        if menu.unique and not values.get(menu.unique):
            raise Trap(f"failure: {menu.unique} must be set")
        self._check_unique(menu, values, None)
        item_id = menu.new_id()
        menu.rows[item_id] = {".id": item_id, **menu.defaults, **values}
        return [["!done", f"=ret={item_id}"]]

    def _resolve_ids(self, menu: Menu, attributes: dict[str, str]) -> list[str]:
        if menu.path in ("/system/identity", "/system/resource"):
            return list(menu.rows)
        raw = attributes.get(".id", attributes.get("numbers"))
        if raw is None:
            raise Trap("missing value(s) of argument(s) .id")
        ids = []
        for ref in raw.split(","):
            if ref in menu.rows:
                ids.append(ref)
                continue
            # RouterOS also accepts an item's name where that is unambiguous.
            named = [
                i for i, row in menu.rows.items() if menu.unique and row.get(menu.unique) == ref
            ]
            if not named:
                raise Trap(NO_SUCH_ITEM)
            ids.extend(named)
        return ids

    def _set(self, menu: Menu, attributes: dict[str, str]) -> Reply:
        ids = self._resolve_ids(menu, attributes)
        changes = {k: v for k, v in attributes.items() if k not in (".id", "numbers")}
        values = self._check_values(menu, changes)
        for item_id in ids:
            self._check_unique(menu, values, item_id)
        for item_id in ids:
            menu.rows[item_id].update(values)
        return [["!done"]]

    def _unset(self, menu: Menu, attributes: dict[str, str]) -> Reply:
        ids = self._resolve_ids(menu, attributes)
        name = attributes.get("value-name")
        if not name or name not in menu.writable or name == menu.unique:
            raise Trap(UNKNOWN_PARAMETER)
        for item_id in ids:
            menu.rows[item_id].pop(name, None)
            if name in menu.defaults:
                menu.rows[item_id][name] = menu.defaults[name]
        return [["!done"]]

    def _remove(self, menu: Menu, attributes: dict[str, str]) -> Reply:
        ids = self._resolve_ids(menu, attributes)
        if any(menu.rows[item_id].get("default") == "true" for item_id in ids):
            raise Trap("failure: can not remove default profile")
        for item_id in ids:
            menu.rows.pop(item_id, None)
        return [["!done"]]

    def _active_login(self, attributes: dict[str, str]) -> Reply:
        user = attributes.get("user", "")
        users = self.menus["/ip/hotspot/user"].rows.values()
        match = [row for row in users if row.get("name") == user]
        if not match or match[0].get("password", "") != attributes.get("password", ""):
            raise Trap(BAD_LOGIN)
        if match[0].get("disabled") == "true":
            raise Trap("user disabled")
        self._open_active_session(
            user, attributes.get("ip", "10.5.50.2"), attributes.get("mac-address", "")
        )
        return [["!done"]]

    def _open_active_session(self, user: str, address: str, mac_address: str) -> str:
        menu = self.menus["/ip/hotspot/active"]
        item_id = menu.new_id()
        menu.rows[item_id] = {
            ".id": item_id,
            "server": "hotspot1",
            "user": user,
            "address": address,
            "mac-address": mac_address,
            "login-by": "http-chap",
            "uptime": "0s",
            "idle-time": "0s",
            "keepalive-timeout": "2m",
            "bytes-in": "0",
            "bytes-out": "0",
            "packets-in": "0",
            "packets-out": "0",
            "radius": "false",
        }
        return item_id

    def check_login(self, attributes: dict[str, str], challenge: bytes | None) -> bool:
        name = attributes.get("name")
        if name is None or name not in self.credentials:
            return False
        password = self.credentials[name]
        if "password" in attributes:
            return secrets.compare_digest(
                attributes["password"].encode(WIRE_ENCODING, _ERRORS),
                password.encode(WIRE_ENCODING, _ERRORS),
            )
        if "response" in attributes and challenge is not None:
            digest = hashlib.md5(b"\x00" + password.encode() + challenge, usedforsecurity=False)
            return secrets.compare_digest(attributes["response"], "00" + digest.hexdigest())
        return False


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, like a router that just went away."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Session:
    """One API connection: reads sentences, answers them, honours the fault switches."""

    def __init__(self, emulator: RouterOSEmulator, sock: socket.socket) -> None:
        self.emulator = emulator
        self.sock = sock
        self.write_lock = threading.Lock()
        self.logged_in = False
        self.challenge: bytes | None = None
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    # -- lifecycle -------------------------------------------------------------

    def abort(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            _reset(self.sock)

    def fatal(self, message: str) -> None:
        if self.closed.is_set():
            return
        with contextlib.suppress(OSError):
            self.send([["!fatal", message]])
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, sentences: Reply, tag: str | None = None) -> None:
        data = b"".join(
            encode_sentence([words[0], f".tag={tag}", *words[1:]] if tag is not None else words)
            for words in sentences
        )
        with self.write_lock:
            self.sock.sendall(data)

    def _run(self) -> None:
        try:
            if self.emulator.ssl_context is not None:
                self.sock = self.emulator.ssl_context.wrap_socket(self.sock, server_side=True)
            with self.sock.makefile("rb") as stream:
                read_exact = stream_reader(stream)
                while not self.closed.is_set():
                    words = decode_words(read_sentence(read_exact))
                    if words:
                        self._handle(words)
        except (OSError, EOFError, ValueError, WireError, ssl.SSLError):
            pass
        finally:
            self.abort()
            self.emulator._forget(self)

    # -- one sentence ------------------------------------------------------------

    def _handle(self, words: list[str]) -> None:
        emulator = self.emulator
        command, attributes, queries, tag = _split_sentence(words)
        with emulator.lock:
            emulator.commands.append(CommandRecord(command, dict(attributes), queries, tag))
            blackhole, delay = emulator.blackhole, emulator.reply_delay
        if blackhole:
            return
        if delay and emulator._stopping.wait(delay):
            return

        if command == "/login":
            self.send(self._login(attributes), tag)
            return
        if command == "/quit":
            self.fatal(SESSION_TERMINATED)
            return
        if not self.logged_in:
            self.fatal(NOT_LOGGED_IN)
            return
        fault, message = emulator._take_fault()
        if fault == "drop":
            self.abort()
            return
        if fault == "trap":
            self.send([["!trap", f"=message={message}"], ["!done"]], tag)
            return
        if command == "/cancel":
            self.send([["!done"]], tag)
            return
        try:
            reply = emulator.execute(command, attributes, queries)
        except Trap as trap:
            reply = [*(["!trap", f"=message={text}"] for text in trap.messages), ["!done"]]
        self.send(reply, tag)

    def _login(self, attributes: dict[str, str]) -> Reply:
        if not attributes:
            # Pre-6.43 challenge/response: hand out a challenge first.
            self.challenge = secrets.token_bytes(16)
            return [["!done", f"=ret={self.challenge.hex()}"]]
        if self.emulator.check_login(attributes, self.challenge):
            self.logged_in = True
            with self.emulator.lock:
                self.emulator.login_count += 1
            return [["!done"]]
        return [["!trap", f"=message={BAD_LOGIN}"], ["!done"]]


def _split_sentence(words: list[str]) -> tuple[str, dict[str, str], list[str], str | None]:
    command, attributes, queries, tag = words[0], {}, [], None
    for word in words[1:]:
        if word.startswith("="):
            key, _, value = word[1:].partition("=")
            attributes[key] = value
        elif word.startswith("?"):
            queries.append(word[1:])
        elif word.startswith(".tag="):
            tag = word[len(".tag=") :]
    return command, attributes, queries, tag


@contextlib.contextmanager
def running_emulator(**kwargs: object) -> Iterator[RouterOSEmulator]:
    """``with running_emulator(users=...) as router:`` for tests that build their own."""
    emulator = RouterOSEmulator(**kwargs)  # type: ignore[arg-type]
    with emulator:
        yield emulator
