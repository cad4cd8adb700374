"""An AMI server for tests that answers like the recorded Asterisk 20.

It listens on 127.0.0.1 (ephemeral port), greets with ``Asterisk Call Manager/9.0.0`` and
answers the actions an AMI client of pulsa uses with the byte layout of the capture in
``shared/fixtures/asterisk-20/ami-actions`` and of Asterisk 20's ``main/manager.c``:

- ``Login`` (``Username``/``Secret``; ``Events: on|off|class,class``): ``Authentication
  accepted`` then the ``FullyBooted`` event, or ``Authentication failed`` and the connection
  closed (Asterisk waits 1 s first: ``auth_failure_delay``); a second Login on a logged-in
  session gets ``Response: Success`` / ``Already authenticated``.
- ``CoreSettings``: ``AMIversion`` (the greeting's) and ``AsteriskVersion``
  (``asterisk_version``, Asterisk 20.21 by default; None: refused, as for a user without
  the ``system`` or ``reporting`` write class), laid out as ``action_coresettings``.
- ``Ping``, ``Logoff`` (``Goodbye`` / ``Thanks for all the fish.``, then closed), ``Events``.
- ``CoreShowChannels`` and ``Status`` (event lists) built from the channel table.
- ``Setvar`` / ``Getvar`` / ``Hangup`` (by name, by uniqueid or by ``/regex/``), with
  ``No such channel`` errors as recorded. Every ``Setvar`` that Asterisk would accept is
  kept in ``server.setvars`` with its time; a plain variable (not a function such as
  ``TIMEOUT(absolute)``) set on a channel also emits ``VarSet``. ``Hangup`` answers, then
  emits ``SoftHangupRequest`` and ``Hangup`` for the channel; the other half of a Local
  channel and the ``Cdr`` are NOT generated (feed them with ``send_event`` if needed).
  ``Getvar`` of ``TIMEOUT(absolute)`` gives ``0`` or the seconds left (``%.3f``).
- Anything else: ``Response: Error`` / ``Message: Invalid/unknown command: <Action>. Use
  Action: ListCommands to show available commands.``; before login: ``Permission denied``.
  ``register_action()`` adds more (``Originate``...).
- The ``ActionID`` of a request is echoed on every reply (right after ``Response:``, on
  list events, at the end of ``Status`` events, exactly where Asterisk puts it).

Events: ``replay(messages, speed=None)`` sends recorded messages, raw bytes as captured,
to every logged-in client whose event mask wants them, as fast as possible or keeping
their relative timing divided by ``speed``; ``send_event(headers)`` sends a generated
one. The channel table follows what was sent: ``Newchannel`` adds a channel, ``Hangup``
removes it, snapshot headers (``Newstate``, ``NewCallerid``, ``Newexten``, ``VarSet``,
``BridgeEnter``...) update it, so ``CoreShowChannels`` lists the calls "live" at that point
of a replay. Faults: ``drop_clients()``, ``refuse_connections(seconds)`` /
``accept_connections()``, ``duplicate_events = True``. With ``enforce_timeouts=True`` a
``Setvar`` of ``TIMEOUT(absolute)=N`` on a live channel hangs it up N seconds later, as
Asterisk does.

Two ways to run it::

    # in the test's event loop
    async with AmiServer() as ami:
        manager = panoramisk.Manager(**ami.manager_config(), ping_delay=60)
        ...
        await ami.replay(load_ami_stream(path))

    # in a background thread (own event loop), from synchronous code
    with AmiServer() as ami:              # or ami = AmiServer().start(); ...; ami.stop()
        ami.call(ami.replay(events))      # run any method in the server's loop
        ami.call(ami.wait_for_logins, 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.ami_fixtures import AmiMessage, format_ami_message, parse_ami_message

__all__ = [
    "SNAPSHOT_FIELDS",
    "AmiServer",
    "LiveChannel",
    "ReceivedAction",
    "SetvarRecord",
    "read_ami_message",
]

log = logging.getLogger(__name__)

#: Headers of an Asterisk channel snapshot, in the order Asterisk writes them.
SNAPSHOT_FIELDS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)

#: ``ast_cause2str`` texts for the causes seen in the captures and a few more.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    31: "Normal, unspecified",
}

_FALSE_WORDS = {"off", "no", "false", "0", "n", "f"}
_TRUE_WORDS = {"on", "yes", "true", "y", "t", "all", "-1"}

Headers = Mapping[str, Any] | Iterable[tuple[str, Any]]
ActionHandler = Callable[[AmiMessage], Iterable[Headers] | Awaitable[Iterable[Headers]]]


@dataclass
class LiveChannel:
    """A channel of the server's table, as Asterisk's channel snapshot would show it."""

    name: str
    snapshot: dict[str, str]
    chanvars: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""
    created: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` at which TIMEOUT(absolute) ends the call, or None.
    timeout_at: float | None = None
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def uniqueid(self) -> str:
        return self.snapshot.get("Uniqueid", "")

    def snapshot_pairs(self) -> list[tuple[str, str]]:
        pairs = [(key, self.snapshot.get(key, "")) for key in SNAPSHOT_FIELDS]
        pairs[0] = ("Channel", self.name)
        pairs.extend(("ChanVariable", item) for item in self.chanvars)
        return pairs


@dataclass(frozen=True)
class SetvarRecord:
    """A ``Setvar`` the server accepted (``channel`` is "" for a global variable)."""

    channel: str
    variable: str
    value: str
    at: float  # time.monotonic()
    wall: float  # time.time()
    uniqueid: str = ""


@dataclass(frozen=True)
class ReceivedAction:
    """An action some client sent, in arrival order."""

    client: int
    message: AmiMessage
    at: float

    @property
    def action(self) -> str:
        return self.message.get("Action", "")


async def read_ami_message(reader: asyncio.StreamReader) -> AmiMessage | None:
    """Read one AMI message (lines up to an empty line); ``None`` at end of stream.

    Empty lines before a message are skipped; CRLF or LF line ends are accepted.
    """
    lines: list[bytes] = []
    while True:
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if lines:
                lines.append(line)
                return parse_ami_message(b"".join(lines))
            continue
        lines.append(line)


def _to_message(item: AmiMessage | Headers | bytes) -> AmiMessage:
    if isinstance(item, AmiMessage):
        return item
    if isinstance(item, (bytes, bytearray)):
        raw = bytes(item)
        if not raw.endswith(b"\r\n\r\n"):
            raise ValueError("raw AMI message must end with an empty line (\\r\\n\\r\\n)")
        return parse_ami_message(raw)
    pairs = list(item.items()) if isinstance(item, Mapping) else list(item)
    flat: list[tuple[str, str]] = []
    for key, value in pairs:
        values = value if isinstance(value, (list, tuple)) else (value,)
        flat.extend((key, "" if v is None else str(v)) for v in values)
    return AmiMessage(flat)


def _event_classes(message: AmiMessage) -> set[str] | None:
    privilege = message.get("Privilege")
    if privilege is None:
        return None
    return {p.strip().lower() for p in privilege.split(",") if p.strip()} - {"all"}


def _events_mask(value: str | None) -> set[str] | None:
    """None means every event, an empty set none (Asterisk's ``Events:`` header)."""
    if value is None or value.strip().lower() in _TRUE_WORDS:
        return None
    if value.strip().lower() in _FALSE_WORDS:
        return set()
    return {p.strip().lower() for p in value.split(",") if p.strip()}


class _Client:
    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.id = number
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username: str | None = None
        self.events: set[str] | None = None
        self.task: asyncio.Task[Any] | None = None

    @property
    def open(self) -> bool:
        return not self.writer.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.open:
            self.writer.write(data)

    def wants(self, message: AmiMessage) -> bool:
        if not (self.authenticated and self.open):
            return False
        if self.events is None:
            return True
        if not self.events:
            return False
        classes = _event_classes(message)
        return classes is None or bool(classes & self.events)


class AmiServer:
    """Fake Asterisk 20 AMI endpoint (see the module docstring)."""

    def __init__(
        self,
        *,
        username: str = "pulsa",
        secret: str = "pulsa-secret",
        users: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = "9.0.0",
        asterisk_version: str | None = "20.21.0",
        auth_failure_delay: float = 0.0,
        enforce_timeouts: bool = False,
    ) -> None:
        self.users: dict[str, str] = dict(users) if users is not None else {username: secret}
        self.username = username
        self.secret = secret
        self.host = host
        self.version = version
        self.asterisk_version = asterisk_version
        self.auth_failure_delay = auth_failure_delay
        self.enforce_timeouts = enforce_timeouts
        #: Send every event twice in a row (replay / idempotency tests).
        self.duplicate_events = False

        self.channels: dict[str, LiveChannel] = {}
        self.global_variables: dict[str, str] = {}
        self.setvars: list[SetvarRecord] = []
        self.actions: list[ReceivedAction] = []
        self.sent_events: list[AmiMessage] = []
        self.connections = 0  # TCP connections accepted
        self.logins = 0  # successful logins
        self.failed_logins = 0

        self._port = port
        self._server: asyncio.Server | None = None
        self._clients: dict[int, _Client] = {}
        self._next_client = 1
        self._handlers: dict[str, ActionHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._changed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reopen: asyncio.TimerHandle | None = None
        self._started = time.monotonic()

    # ------------------------------------------------------------------ lifecycle (loop)
    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def accepting(self) -> bool:
        return self._server is not None

    def manager_config(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``panoramisk.Manager``: host, port, username, secret."""
        config: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "secret": self.secret,
        }
        config.update(extra)
        return config

    async def start_serving(self) -> AmiServer:
        """Listen in the running event loop; returns self."""
        if self._loop is not None and self._server is not None:
            raise RuntimeError("already serving")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._changed = asyncio.Event()
        self._started = time.monotonic()
        await self._listen()
        return self

    async def aclose(self) -> None:
        """Stop listening, close every client, cancel timers."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for channel in self.channels.values():
            if channel._timer is not None:
                channel._timer.cancel()
        # Abort the connections and let each handler see the end of its stream: cancelling
        # a handler task makes asyncio's StreamReaderProtocol log an error.
        handlers = []
        for client in list(self._clients.values()):
            client.writer.transport.abort()
            if client.task is not None and client.task is not asyncio.current_task():
                handlers.append(client.task)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=2.0)
            for task in pending:
                task.cancel()
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        self._clients.clear()

    async def __aenter__(self) -> AmiServer:
        return await self.start_serving()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle_client, self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    # ---------------------------------------------------------------- lifecycle (thread)
    def start(self, timeout: float = 10.0) -> AmiServer:
        """Serve from a daemon thread running its own event loop; returns self."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_serving())
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-ami", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the AMI server thread did not start")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread started by ``start()``."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = None

    def __enter__(self) -> AmiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, what: Any, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
        """Run ``what`` in the server's loop from another thread and return its result.

        ``what`` is a coroutine object (``ami.call(ami.replay(events))``) or a callable
        (sync or async) called with ``args``/``kwargs``.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the server is not started")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("call() is for other threads; await the method directly")

        async def invoke() -> Any:
            result = what(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        coro = what if inspect.iscoroutine(what) else invoke()
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def _in_loop(self) -> None:
        if self._loop is None:
            raise RuntimeError("the server is not started")
        if threading.get_ident() != self._loop_thread:
            raise RuntimeError(
                "this runs in the server's event loop: use server.call(...) from another thread"
            )

    # ------------------------------------------------------------------------ waiting
    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(
        self, predicate: Callable[[], object], timeout: float = 5.0, what: str = ""
    ) -> None:
        """Wait until ``predicate()`` is true; it is checked after every state change."""
        self._in_loop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            assert changed is not None
            if predicate():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_logins(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` successful logins happened since the server started."""
        await self.wait_for(lambda: self.logins >= count, timeout, f"{count} logins")

    async def wait_for_clients(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` clients are connected and logged in."""
        await self.wait_for(lambda: self.client_count >= count, timeout, f"{count} clients")

    async def wait_for_action(
        self, action: str, count: int = 1, timeout: float = 5.0
    ) -> list[ReceivedAction]:
        """Wait until ``count`` actions named ``action`` arrived; returns them all."""
        await self.wait_for(
            lambda: len(self.actions_named(action)) >= count, timeout, f"{count} {action}"
        )
        return self.actions_named(action)

    @property
    def client_count(self) -> int:
        """Clients connected and logged in."""
        return sum(1 for c in self._clients.values() if c.authenticated and c.open)

    @property
    def connected_count(self) -> int:
        """Open TCP connections, logged in or not."""
        return sum(1 for c in self._clients.values() if c.open)

    def actions_named(self, action: str) -> list[ReceivedAction]:
        return [a for a in self.actions if a.action.lower() == action.lower()]

    def setvars_for(self, channel: str, variable: str | None = None) -> list[SetvarRecord]:
        """Accepted Setvars on ``channel`` (name, case-insensitive), optionally one variable."""
        return [
            r
            for r in self.setvars
            if r.channel.lower() == channel.lower()
            and (variable is None or r.variable.lower() == variable.lower())
        ]

    # ------------------------------------------------------------------------- events
    async def send_event(self, event: AmiMessage | Headers | bytes) -> AmiMessage:
        """Send one event to every logged-in client that wants it; returns it parsed.

        ``event`` is a mapping (a list value gives a repeated header), ``(key, value)``
        pairs, raw bytes or an :class:`AmiMessage`.
        """
        self._in_loop()
        message = _to_message(event)
        self._broadcast(message)
        await self._drain()
        return message

    async def replay(
        self,
        messages: Iterable[AmiMessage | Headers | bytes],
        speed: float | None = None,
        *,
        events_only: bool = True,
    ) -> int:
        """Send recorded messages in order; returns how many were sent.

        ``speed=None`` sends as fast as the clients read; ``speed=s`` keeps the messages'
        relative ``time`` divided by ``s`` (2.0 = twice as fast). Responses of the capture
        (its login reply) are skipped unless ``events_only=False``.
        """
        self._in_loop()
        loop = asyncio.get_running_loop()
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        start = loop.time()
        first: float | None = None
        sent = 0
        for item in messages:
            message = _to_message(item)
            if events_only and message.kind != "event":
                continue
            if speed is not None and message.time is not None:
                if first is None:
                    first = message.time
                delay = start + (message.time - first) / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._broadcast(message)
            sent += 1
            await self._drain()
        return sent

    def _broadcast(self, message: AmiMessage) -> None:
        self._apply_to_table(message)
        self.sent_events.append(message)
        data = message.raw * (2 if self.duplicate_events else 1)
        for client in list(self._clients.values()):
            if client.wants(message):
                client.write(data)
        self._notify()

    async def _drain(self, limit: int = 256 * 1024, timeout: float = 5.0) -> None:
        await asyncio.sleep(0)
        for client in list(self._clients.values()):
            transport = client.writer.transport
            if client.open and transport.get_write_buffer_size() > limit:
                try:
                    await asyncio.wait_for(client.writer.drain(), timeout)
                except (TimeoutError, ConnectionError):
                    log.warning("AMI client %s does not read its events", client.id)

    # ------------------------------------------------------------------ channel table
    def find_channel(self, name_or_uniqueid: str) -> LiveChannel | None:
        """Asterisk's lookup: exact name, then name ignoring case, then uniqueid."""
        if not name_or_uniqueid:
            return None
        channel = self.channels.get(name_or_uniqueid)
        if channel is not None:
            return channel
        lowered = name_or_uniqueid.lower()
        for channel in self.channels.values():
            if channel.name.lower() == lowered:
                return channel
        for channel in self.channels.values():
            if channel.uniqueid == name_or_uniqueid:
                return channel
        return None

    def live_channels(self) -> list[str]:
        return list(self.channels)

    def _apply_to_table(self, message: AmiMessage) -> None:
        if message.kind != "event":
            return
        exact: dict[str, str] = {}
        for key, value in message.headers:
            exact.setdefault(key, value)
        name = message.name
        if name == "Newchannel" and exact.get("Channel"):
            channel_name = exact["Channel"]
            snapshot = {key: exact.get(key, "") for key in SNAPSHOT_FIELDS}
            channel = LiveChannel(channel_name, snapshot)
            channel.chanvars = message.get_all("ChanVariable")
            self._learn_chanvars(channel)
            old = self.channels.pop(channel_name, None)
            if old is not None and old._timer is not None:
                old._timer.cancel()
            self.channels[channel_name] = channel
            return
        if name == "Hangup":
            channel = self.channels.get(exact.get("Channel", ""))
            if channel is not None and channel.uniqueid in ("", exact.get("Uniqueid", "")):
                self.channels.pop(channel.name)
                if channel._timer is not None:
                    channel._timer.cancel()
            return
        if name == "Rename":
            channel = self.channels.pop(exact.get("Channel", ""), None)
            if channel is not None:
                channel.name = exact.get("Newname", exact.get("NewName", channel.name))
                channel.snapshot["Channel"] = channel.name
                self.channels[channel.name] = channel
            return
        for key in exact:
            if not key.endswith("Channel"):
                continue
            prefix = key[: -len("Channel")]
            uniqueid = exact.get(prefix + "Uniqueid")
            channel = self.channels.get(exact[key])
            if uniqueid is None or channel is None or channel.uniqueid != uniqueid:
                continue
            for field_name in SNAPSHOT_FIELDS[1:]:
                if prefix + field_name in exact:
                    channel.snapshot[field_name] = exact[prefix + field_name]
            chanvars = [v for k, v in message.headers if k == prefix + "ChanVariable"]
            if chanvars:
                channel.chanvars = chanvars
                self._learn_chanvars(channel)
            if prefix:
                continue
            if name == "Newexten":
                channel.application = exact.get("Application", channel.application)
                channel.application_data = exact.get("AppData", channel.application_data)
            elif name == "BridgeEnter":
                channel.bridge_id = exact.get("BridgeUniqueid", "")
            elif name == "BridgeLeave":
                channel.bridge_id = ""
            elif name == "VarSet" and "Variable" in exact:
                channel.variables[exact["Variable"]] = exact.get("Value", "")

    @staticmethod
    def _learn_chanvars(channel: LiveChannel) -> None:
        for item in channel.chanvars:
            key, _, value = item.partition("=")
            channel.variables[key] = value

    async def hangup_channel(self, name: str, cause: int = 16) -> bool:
        """Hang a live channel up: ``SoftHangupRequest`` and ``Hangup`` events, like Asterisk."""
        self._in_loop()
        channel = self.find_channel(name)
        if channel is None:
            return False
        snapshot = channel.snapshot_pairs()
        await self.send_event(
            [("Event", "SoftHangupRequest"), ("Privilege", "call,all"), *snapshot, ("Cause", cause)]
        )
        await self.send_event(
            [
                ("Event", "Hangup"),
                ("Privilege", "call,all"),
                *snapshot,
                ("Cause", cause),
                ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
            ]
        )
        return True

    # ------------------------------------------------------------------------- faults
    def drop_clients(self, reset: bool = True) -> int:
        """Cut every client connection now (TCP RST when ``reset``); returns how many."""
        self._in_loop()
        dropped = 0
        for client in list(self._clients.values()):
            transport = client.writer.transport
            if transport.is_closing():
                continue
            sock = transport.get_extra_info("socket")
            if reset and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            dropped += 1
        self._notify()
        return dropped

    async def refuse_connections(self, seconds: float | None = None) -> None:
        """Close the listening socket: new connections get ECONNREFUSED.

        Clients already connected stay. With ``seconds``, listening resumes on the same
        port after that long; otherwise call ``accept_connections()``.
        """
        self._in_loop()
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._server is not None:
            self._server.close()
            self._server = None
        self._notify()
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._reopen = loop.call_later(seconds, lambda: self._spawn(self.accept_connections()))

    async def accept_connections(self) -> None:
        """Listen again on the same port."""
        self._in_loop()
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._server is None:
            await self._listen()
        self._notify()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------------ actions
    def register_action(self, action: str, handler: ActionHandler) -> None:
        """Answer ``action`` with ``handler(request)``: the reply messages (sync or async).

        ``server.response(request, ...)`` builds a reply with the right ActionID.
        """
        self._handlers[action.lower()] = handler

    @staticmethod
    def response(
        request: AmiMessage,
        status: str,
        message: str | None = None,
        *,
        eventlist: str | None = None,
        extra: Iterable[tuple[str, Any]] = (),
    ) -> list[tuple[str, str]]:
        """``Response``, ``ActionID`` (if the request had one), ``EventList``, ``Message``,
        then ``extra``: the layout of ``astman_send_response_full``."""
        pairs = [("Response", status)]
        action_id = request.get("ActionID", "")
        if action_id:
            pairs.append(("ActionID", action_id))
        if eventlist is not None:
            pairs.append(("EventList", eventlist))
        if message is not None:
            pairs.append(("Message", message))
        pairs.extend((k, str(v)) for k, v in extra)
        return pairs

    @staticmethod
    def _id_pairs(request: AmiMessage) -> list[tuple[str, str]]:
        action_id = request.get("ActionID", "")
        return [("ActionID", action_id)] if action_id else []

    def _list_complete(
        self, request: AmiMessage, event: str, count: int, extra: Iterable[tuple[str, Any]] = ()
    ) -> list[tuple[str, str]]:
        return [
            ("Event", event),
            *self._id_pairs(request),
            ("EventList", "Complete"),
            ("ListItems", str(count)),
            *((k, str(v)) for k, v in extra),
        ]

    async def _handle_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client = _Client(self._next_client, reader, writer)
        self._next_client += 1
        client.task = asyncio.current_task()
        self._clients[client.id] = client
        self.connections += 1
        self._notify()
        try:
            writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
            while True:
                request = await read_ami_message(reader)
                if request is None:
                    break
                self.actions.append(ReceivedAction(client.id, request, time.monotonic()))
                self._notify()
                if not await self._dispatch(client, request):
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.pop(client.id, None)
            if not writer.transport.is_closing():
                writer.close()
            self._notify()

    def _reply(self, client: _Client, *messages: Headers) -> None:
        for message in messages:
            client.write(format_ami_message(message))

    async def _dispatch(self, client: _Client, request: AmiMessage) -> bool:
        """Answer one action; False closes the session (like a -1 in manager.c)."""
        action = request.get("Action", "").strip()
        if not action:
            self._reply(client, self.response(request, "Error", "Missing action in request"))
            return True
        key = action.lower()
        # Asterisk lets these through before login (Challenge is not emulated here).
        if not client.authenticated and key not in ("login", "logoff", "challenge"):
            self._reply(client, self.response(request, "Error", "Permission denied"))
            return True
        builtin = {
            "login": self._action_login,
            "logoff": self._action_logoff,
            "ping": self._action_ping,
            "coresettings": self._action_coresettings,
            "events": self._action_events,
            "coreshowchannels": self._action_coreshowchannels,
            "status": self._action_status,
            "setvar": self._action_setvar,
            "getvar": self._action_getvar,
            "hangup": self._action_hangup,
        }
        if key in self._handlers:
            replies = self._handlers[key](request)
            if inspect.isawaitable(replies):
                replies = await replies
            self._reply(client, *replies)
            return True
        handler = builtin.get(key)
        if handler is None:
            text = (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
            self._reply(client, self.response(request, "Error", text))
            return True
        return await handler(client, request)

    async def _action_login(self, client: _Client, request: AmiMessage) -> bool:
        if client.authenticated:
            self._reply(client, self.response(request, "Success", "Already authenticated"))
            return True
        username = request.get("Username", "")
        expected = self.users.get(username)
        ok = expected is not None and request.get("Secret", "") == expected
        if not ok:
            self.failed_logins += 1
            if self.auth_failure_delay:
                await asyncio.sleep(self.auth_failure_delay)
            self._reply(client, self.response(request, "Error", "Authentication failed"))
            self._notify()
            return False
        client.authenticated = True
        client.username = username
        client.events = _events_mask(request.get("Events"))
        self.logins += 1
        self._reply(client, self.response(request, "Success", "Authentication accepted"))
        if client.events is None or "system" in client.events:
            uptime = int(time.monotonic() - self._started)
            self._reply(
                client,
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", uptime),
                    ("LastReload", uptime),
                    ("Status", "Fully Booted"),
                ],
            )
        self._notify()
        return True

    async def _action_logoff(self, client: _Client, request: AmiMessage) -> bool:
        self._reply(client, self.response(request, "Goodbye", "Thanks for all the fish."))
        return False

    async def _action_ping(self, client: _Client, request: AmiMessage) -> bool:
        now = time.time()
        stamp = f"{int(now)}.{int((now % 1) * 1_000_000):06d}"
        self._reply(
            client,
            self.response(request, "Success", extra=[("Ping", "Pong"), ("Timestamp", stamp)]),
        )
        return True

    def core_settings(self) -> list[tuple[str, str]] | None:
        """What CoreSettings answers after ``Response``/``ActionID`` (None: refused)."""
        if self.asterisk_version is None:
            return None
        return [
            ("AMIversion", self.version),
            ("AsteriskVersion", self.asterisk_version),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "0"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        ]

    def core_settings_reply(self, request: AmiMessage) -> list[tuple[str, str]]:
        settings = self.core_settings()
        if settings is None:
            return self.response(request, "Error", "Permission denied")
        return self.response(request, "Success", extra=settings)

    async def _action_coresettings(self, client: _Client, request: AmiMessage) -> bool:
        self._reply(client, self.core_settings_reply(request))
        return True

    async def _action_events(self, client: _Client, request: AmiMessage) -> bool:
        mask = request.get("EventMask", "")
        client.events = _events_mask(mask or "off")
        state = "Off" if client.events == set() else "On"
        self._reply(client, self.response(request, "Success", extra=[("Events", state)]))
        return True

    def _duration(self, channel: LiveChannel) -> int:
        return int(time.monotonic() - channel.created)

    async def _action_coreshowchannels(self, client: _Client, request: AmiMessage) -> bool:
        self._reply(
            client, self.response(request, "Success", "Channels will follow", eventlist="start")
        )
        count = 0
        for channel in list(self.channels.values()):
            seconds = self._duration(channel)
            hms = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
            self._reply(
                client,
                [
                    ("Event", "CoreShowChannel"),
                    *self._id_pairs(request),
                    *channel.snapshot_pairs(),
                    ("Application", channel.application),
                    ("ApplicationData", channel.application_data),
                    ("Duration", hms),
                    ("BridgeId", channel.bridge_id),
                ],
            )
            count += 1
        self._reply(client, self._list_complete(request, "CoreShowChannelsComplete", count))
        return True

    async def _action_status(self, client: _Client, request: AmiMessage) -> bool:
        name = request.get("Channel", "")
        if name:
            found = self.find_channel(name)
            if found is None:
                self._reply(client, self.response(request, "Error", "No such channel"))
                return True
            selected = [found]
        else:
            selected = list(self.channels.values())
        self._reply(
            client,
            self.response(request, "Success", "Channel status will follow", eventlist="start"),
        )
        wanted = [v.strip() for v in request.get("Variables", "").split(",") if v.strip()]
        for channel in selected:
            snapshot = channel.snapshot
            time_to_hangup = 0
            if channel.timeout_at is not None:
                time_to_hangup = int(time.time() + (channel.timeout_at - time.monotonic()))
            variables = [("Variable", f"{v}={self._read_variable(channel, v)}") for v in wanted]
            self._reply(
                client,
                [
                    ("Event", "Status"),
                    ("Privilege", "Call"),
                    *channel.snapshot_pairs(),
                    ("Type", channel.name.partition("/")[0]),
                    ("DNID", ""),
                    ("EffectiveConnectedLineNum", snapshot.get("ConnectedLineNum", "")),
                    ("EffectiveConnectedLineName", snapshot.get("ConnectedLineName", "")),
                    ("TimeToHangup", time_to_hangup),
                    ("BridgeID", channel.bridge_id),
                    ("Application", channel.application),
                    ("Data", channel.application_data),
                    ("Nativeformats", "(slin)"),
                    ("Readformat", "slin"),
                    ("Readtrans", ""),
                    ("Writeformat", "slin"),
                    ("Writetrans", ""),
                    ("Callgroup", 0),
                    ("Pickupgroup", 0),
                    ("Seconds", self._duration(channel)),
                    *variables,
                    *self._id_pairs(request),
                ],
            )
        self._reply(
            client,
            self._list_complete(
                request, "StatusComplete", len(selected), extra=[("Items", len(selected))]
            ),
        )
        return True

    def _read_variable(self, channel: LiveChannel | None, variable: str) -> str:
        if channel is None:
            return self.global_variables.get(variable, "")
        functions = {
            "CALLERID(NUM)": channel.snapshot.get("CallerIDNum", ""),
            "CALLERID(NAME)": channel.snapshot.get("CallerIDName", ""),
            "CHANNEL": channel.name,
            "CHANNEL(NAME)": channel.name,
            "UNIQUEID": channel.uniqueid,
            "CHANNEL(UNIQUEID)": channel.uniqueid,
            "CHANNEL(LINKEDID)": channel.snapshot.get("Linkedid", ""),
        }
        if variable.upper() in functions:
            return functions[variable.upper()]
        if variable.upper() == "TIMEOUT(ABSOLUTE)":  # func_timeout: "0" or seconds left
            if channel.timeout_at is None:
                return "0"
            return f"{max(channel.timeout_at - time.monotonic(), 0.0):.3f}"
        if variable in channel.variables:
            return channel.variables[variable]
        for key, value in channel.variables.items():
            if key.endswith(")") and key.lower() == variable.lower():
                return value
        return ""

    async def _action_setvar(self, client: _Client, request: AmiMessage) -> bool:
        variable = request.get("Variable", "")
        if not variable:
            self._reply(client, self.response(request, "Error", "No variable specified"))
            return True
        name = request.get("Channel", "")
        value = request.get("Value", "")
        channel = None
        if name:
            channel = self.find_channel(name)
            if channel is None:
                self._reply(client, self.response(request, "Error", "No such channel"))
                return True
        if channel is None:
            self.global_variables[variable] = value
        elif variable.upper() != "TIMEOUT(ABSOLUTE)":
            channel.variables[variable] = value
        self.setvars.append(
            SetvarRecord(
                channel.name if channel else "",
                variable,
                value,
                time.monotonic(),
                time.time(),
                channel.uniqueid if channel else "",
            )
        )
        self._reply(client, self.response(request, "Success", "Variable Set"))
        if channel is not None:
            if variable.upper() == "TIMEOUT(ABSOLUTE)":
                self._set_absolute_timeout(channel, value)
            elif not variable.endswith(")"):
                await self.send_event(
                    [
                        ("Event", "VarSet"),
                        ("Privilege", "dialplan,all"),
                        *channel.snapshot_pairs(),
                        ("Variable", variable),
                        ("Value", value),
                    ]
                )
        self._notify()
        return True

    def _set_absolute_timeout(self, channel: LiveChannel, value: str) -> None:
        try:
            seconds = float(value or "0")
        except ValueError:
            return
        if channel._timer is not None:
            channel._timer.cancel()
            channel._timer = None
        if seconds <= 0:
            channel.timeout_at = None
            return
        channel.timeout_at = time.monotonic() + seconds
        if self.enforce_timeouts:
            loop = asyncio.get_running_loop()
            channel._timer = loop.call_later(seconds, self._timeout_expired, channel)

    def _timeout_expired(self, channel: LiveChannel) -> None:
        channel._timer = None
        if self.channels.get(channel.name) is channel:
            self._spawn(self.hangup_channel(channel.name, 16))

    async def _action_getvar(self, client: _Client, request: AmiMessage) -> bool:
        variable = request.get("Variable", "")
        if not variable:
            self._reply(client, self.response(request, "Error", "No variable specified"))
            return True
        name = request.get("Channel", "")
        channel = None
        if name:
            channel = self.find_channel(name)
            if channel is None:
                self._reply(client, self.response(request, "Error", "No such channel"))
                return True
        value = self._read_variable(channel, variable)
        self._reply(
            client,
            self.response(request, "Success", extra=[("Variable", variable), ("Value", value)]),
        )
        return True

    async def _action_hangup(self, client: _Client, request: AmiMessage) -> bool:
        target = request.get("Channel", "")
        if not target:
            self._reply(client, self.response(request, "Error", "No channel specified"))
            return True
        try:
            cause = int(request.get("Cause", "") or "16")
        except ValueError:
            cause = 16
        if not 0 <= cause <= 127:
            cause = 16
        if not target.startswith("/"):
            channel = self.find_channel(target)
            if channel is None:
                self._reply(client, self.response(request, "Error", "No such channel"))
                return True
            self._reply(client, self.response(request, "Success", "Channel Hungup"))
            await self.hangup_channel(channel.name, cause)
            return True
        if len(target) < 2 or not target.endswith("/"):
            self._reply(
                client,
                self.response(
                    request, "Error", "Regex format invalid, Channel param should be /regex/"
                ),
            )
            return True
        try:
            pattern = re.compile(target[1:-1])
        except re.error:
            self._reply(
                client, self.response(request, "Error", f"Regex compile failed on: {target}")
            )
            return True
        self._reply(
            client,
            self.response(request, "Success", "Channels hung up will follow", eventlist="start"),
        )
        matched = [c.name for c in self.channels.values() if pattern.search(c.name)]
        for name in matched:
            self._reply(
                client, [("Event", "ChannelHungup"), ("Channel", name), *self._id_pairs(request)]
            )
        self._reply(
            client, self._list_complete(request, "ChannelsHungupListComplete", len(matched))
        )
        for name in matched:
            await self.hangup_channel(name, cause)
        return True
