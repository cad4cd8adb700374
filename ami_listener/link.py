"""One Asterisk server: the AMI connection (panoramisk), the events of its calls, and the
resynchronization with `CoreShowChannels` after every login.

panoramisk is used with two changes of behaviour, both made here: reconnection is ours
(exponential backoff with jitter instead of a fixed delay), and no action is ever sent
again after a reconnect (panoramisk re-sends pending actions by default: a `Setvar
TIMEOUT(absolute)=N` computed before an outage and sent after it would give a call time
nobody paid for). Every action has a deadline instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import panoramisk
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from ami_listener.calls import FollowedCall
from ami_listener.config import AmiServer
from ami_listener.events import (
    PULSA_CALL,
    PULSA_STATUS,
    AmiEvent,
    CdrRecord,
    call_id_of,
    chanvars,
    hms_seconds,
    text,
)

if TYPE_CHECKING:
    from ami_listener.billing import CallInfo
    from ami_listener.listener import Listener

log = logging.getLogger("pulsa.ami")

#: Actions the listener sends. All are "forgettable" for panoramisk: never re-sent.
ACTIONS = (
    "login",
    "logoff",
    "ping",
    "setvar",
    "getvar",
    "coreshowchannels",
    "coresettings",
    "status",
    "hangup",
)
_DONE_MEMORY = 20_000  # caller uniqueids of settled calls remembered against late events


#: The events the listener reads. Every other event is dropped before panoramisk parses it
#: (most of Asterisk's traffic: Newexten, Newstate, the other VarSets, bridge and device
#: events ...), which saves most of the parsing.
_READ = frozenset(
    ("DialBegin", "DialEnd", "BridgeEnter", "Hangup", "Cdr", "Rename", "FullyBooted", "Shutdown")
)
_PULSA_CALL_SET = re.compile(r"PULSA_CALL=\d")
#: Parsed by the listener itself and handed to the link; the others (FullyBooted,
#: Shutdown) go through panoramisk, which acts on them.
_CALL_EVENTS = _READ - {"FullyBooted", "Shutdown"} | {"VarSet", "Newchannel"}


_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
#: TIMEOUT(absolute) reads fractions of a second from Asterisk 1.6.1 on (func_timeout.c
#: parses "%ld%lf" into a timeval); before, atoi() read whole seconds, and "0.500" was 0:
#: no limit at all.
_FRACTIONS_SINCE = (1, 6, 1)


def limit_precision_for(asterisk_version: str, ami_version: str = "") -> int:
    """The precision (ms) of the limits this Asterisk takes: 1 when its TIMEOUT(absolute)
    reads fractions of a second, else 1000. From `AsteriskVersion` (CoreSettings); when
    that is unknown or unreadable (a GIT build), from the AMI version of the greeting,
    2.0 and later being Asterisk 12 and later. Unknown: whole seconds, which is safe."""
    found = _VERSION.search(asterisk_version or "")
    if found:
        version = (int(found[1]), int(found[2]), int(found[3] or 0))
        return 1 if version >= _FRACTIONS_SINCE else 1000
    ami = _VERSION.match((ami_version or "").strip())
    if ami and int(ami[1]) >= 2:
        return 1
    return 1000


class Delays:
    """What it takes this server to hear the listener and to tell it things: the last
    round trips of actions (Setvar, Ping, CoreSettings), and the last delays of answer
    events when Asterisk stamps its events (manager.conf `timestampevents = yes`), in ms.
    The highest recent value of each is what the safety margin is made of."""

    KEPT = 32

    def __init__(self) -> None:
        self.round_trips: deque[int] = deque(maxlen=self.KEPT)
        self.event_delays: deque[int] = deque(maxlen=self.KEPT)

    def round_trip(self, sent: datetime, answered: datetime) -> None:
        self.round_trips.append(max(0, (answered - sent) // timedelta(milliseconds=1)))

    def event(self, stamp: str, seen: datetime) -> None:
        """An event stamped `stamp` (Asterisk's clock, seconds since the epoch) read at
        `seen`. A negative delay is a clock difference between the hosts: nothing learnt."""
        try:
            moment = datetime.fromtimestamp(float(stamp), UTC).replace(tzinfo=None)
        except (ValueError, OverflowError, OSError):
            return
        delay = (seen - moment) // timedelta(milliseconds=1)
        if delay >= 0:
            self.event_delays.append(delay)

    @property
    def round_trip_ms(self) -> int | None:
        return max(self.round_trips) if self.round_trips else None

    @property
    def event_delay_ms(self) -> int | None:
        return max(self.event_delays) if self.event_delays else None


def _wanted(name: str, message: str) -> bool:
    if name in _READ:
        return True
    if name == "VarSet":
        return "Variable: PULSA_" in message
    if name == "Newchannel":
        return _PULSA_CALL_SET.search(message) is not None
    return False


class _Protocol(AMIProtocol):
    """panoramisk's protocol, framing messages as it does, but dropping the events the
    listener does not read before they are parsed. Replies to actions are all kept."""

    def data_received(self, data: bytes) -> None:
        text = data.decode(getattr(self, "encoding", "utf-8"), "ignore")
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            self.version = text.partition("\r\n")[0].partition("/")[2].strip()
        if self.queue:
            text = self.queue.popleft() + text
        messages = text.split("\r\n\r\n")
        self.queue.append(messages.pop())
        link = getattr(self.factory, "_link", None)
        stats = link.listener.stats if link is not None else None
        for raw in messages:
            raw = raw.strip()
            event = raw.startswith("Event: ")
            if event and "\r\nActionID: " not in raw:
                if stats is not None:
                    stats.events += 1
                end = raw.find("\r\n")
                name = (raw[7:end] if end >= 0 else raw[7:]).strip()
                if not _wanted(name, raw):
                    continue
                if link is not None and name in _CALL_EVENTS:
                    link.event(AmiEvent.parse(raw))  # the listener's own, lighter parsing
                    continue
                event = False  # counted
            message = Message.from_line(raw)
            if message is None:
                continue
            if event and stats is not None:  # with an ActionID: an event unless it is a reply
                ids = (message.id, message.action_id)
                if not any(i is not None and i in self.responses for i in ids):
                    stats.events += 1
            self.handle_message(message)


class _Manager(panoramisk.Manager):
    """panoramisk's Manager, reporting connection failures and losses to its link instead
    of reconnecting by itself."""

    def __init__(self, link: ServerLink, **config: Any) -> None:
        super().__init__(**config)
        self._link = link

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled():
            self._link._connect_failed(TimeoutError("connect timed out"))
            return
        error = f.exception()
        if error is not None:
            self._link._connect_failed(error)
            return
        super().connection_made(f)
        if self.authenticated_future is not None:
            self.authenticated_future.add_done_callback(self._link._login_answered)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._connected = False
        self.authenticated = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self._link._connection_lost(exc)


class ServerLink:
    """The listener's view of one Asterisk server."""

    def __init__(self, listener: Listener, server: AmiServer, claims: tuple[str, ...]) -> None:
        self.listener = listener
        self.server = server
        self.name = server.name
        #: Values of Call.asterisk_server this server's calls may have: its name, or ""
        #: (the AGI does not name its server; uniqueids are unique enough to find a call).
        self.claims = tuple(dict.fromkeys((server.name, "")))
        #: The calls this server answers for when it resynchronizes: a call of another
        #: server must not be taken for one that ended here while nobody listened.
        self.owned = claims
        self.by_uniqueid: dict[str, FollowedCall] = {}  # callers' and called uniqueids
        self.by_name: dict[str, FollowedCall] = {}  # called channel names
        self.rejected: set[str] = set()  # dialling channels that are not pulsa calls
        self.done: OrderedDict[str, None] = OrderedDict()
        self.logged_in = False
        self.resyncing = False
        self.asterisk_version = ""  # from CoreSettings, at every login
        #: The precision of the limits this server takes (ms), once its version is known.
        self.precision_ms: int | None = None
        self.delays = Delays()
        self.buffer: list[tuple[Any, datetime]] = []
        self.logins = 0
        self.manager: _Manager | None = None
        self._attempt = 0
        self._stopped = True
        self._reconnect: asyncio.TimerHandle | None = None
        self._connect_timeout: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.Task[Any] | None = None
        self._resync: asyncio.Task[Any] | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any], datetime], None]] = {
            "Newchannel": self._on_newchannel,
            "VarSet": self._on_varset,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "BridgeEnter": self._on_bridgeenter,
            "Hangup": self._on_hangup,
            "Cdr": self._on_cdr,
            "Rename": self._on_rename,
        }

    # --- connection ----------------------------------------------------------------------
    def start(self) -> None:
        self._stopped = False
        self._connect()

    async def stop(self) -> None:
        self._stopped = True
        for handle in (self._reconnect, self._connect_timeout):
            if handle is not None:
                handle.cancel()
        self._reconnect = self._connect_timeout = None
        for task in (self._watchdog, self._resync):
            if task is not None and not task.done():
                task.cancel()
        if self.manager is not None:
            manager = self.manager
            if manager.protocol is not None and not manager.protocol.closed:
                with contextlib.suppress(Exception):  # leaving anyway
                    await asyncio.wait_for(manager.send_action({"Action": "Logoff"}), 1.0)
            manager.close()
        self.logged_in = False

    def _connect(self) -> None:
        self._reconnect = None
        if self._stopped:
            return
        config = self.listener.config
        manager = _Manager(
            self,
            host=self.server.host,
            port=self.server.port,
            username=self.server.username,
            secret=self.server.secret,
            events=config.events,
            ping_delay=10**6,  # the link pings (with a deadline) itself
            ping_interval=10**6,
            reconnect_timeout=10**6,
            forgetable_actions=ACTIONS,
            protocol_factory=_Protocol,
            loop=asyncio.get_running_loop(),
            log=logging.getLogger("pulsa.ami.panoramisk"),
            on_login=self._logged_in,
        )
        manager.register_event("*", self._on_event)
        self.manager = manager
        task = manager.connect()
        loop = asyncio.get_running_loop()
        self._connect_timeout = loop.call_later(max(config.action_timeout_s, 2.0), task.cancel)

    def _cancel_connect_timeout(self) -> None:
        if self._connect_timeout is not None:
            self._connect_timeout.cancel()
            self._connect_timeout = None

    def _schedule_reconnect(self) -> None:
        if self._stopped or self._reconnect is not None:
            return
        config = self.listener.config
        delay = min(config.reconnect_max_s, config.reconnect_min_s * 2 ** min(self._attempt, 16))
        delay *= random.uniform(0.75, 1.0)
        self._attempt += 1
        log.info("AMI %s: connecting again in %.1f s", self.name, delay)
        self._reconnect = asyncio.get_running_loop().call_later(delay, self._connect)

    def _connect_failed(self, error: BaseException) -> None:
        self._cancel_connect_timeout()
        if self._stopped:
            return
        log.warning("AMI %s: cannot connect to %s: %s", self.name, self.server.address, error)
        self._schedule_reconnect()

    def _login_answered(self, future: asyncio.Future[Any]) -> None:
        self._cancel_connect_timeout()
        if future.cancelled() or future.exception() is not None:
            return
        reply = future.result()
        if not getattr(reply, "success", False):
            log.error(
                "AMI %s: login as %r refused: %s",
                self.name,
                self.server.username,
                text(reply, "Message") or "no reason given",
            )

    def _logged_in(self, manager: panoramisk.Manager) -> None:
        if manager is not self.manager or self._stopped:
            return
        self._attempt = 0
        self.logged_in = True
        self.logins += 1
        self.listener.stats.logins += 1
        log.info("AMI %s: logged in to %s", self.name, self.server.address)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._keep_alive())
        self.resyncing = True
        self.buffer = []
        self._resync = asyncio.ensure_future(self._resynchronize())

    def _connection_lost(self, error: BaseException | None) -> None:
        self._cancel_connect_timeout()
        was = self.logged_in
        self.logged_in = False
        if self._stopped:
            return
        if was:
            self.listener.stats.disconnects += 1
            log.warning("AMI %s: connection lost (%s)", self.name, error or "closed")
        if self._resync is not None and not self._resync.done():
            self._resync.cancel()
        self._schedule_reconnect()

    async def _keep_alive(self) -> None:
        """Ping with a deadline; a silent connection is closed so that it is made again."""
        interval = self.listener.config.ping_interval_s
        while not self._stopped:
            await asyncio.sleep(interval)
            manager = self.manager
            if not self.logged_in or manager is None or manager.protocol is None:
                continue
            sent = self.listener.clock.now()
            reply = await self.action({"Action": "Ping"})
            if reply is not None:
                self.delays.round_trip(sent, self.listener.clock.now())
            if reply is None and self.logged_in and manager is self.manager:
                log.warning("AMI %s: no answer to Ping, reconnecting", self.name)
                transport = getattr(manager.protocol, "transport", None)
                if transport is not None:
                    transport.abort()

    async def action(self, fields: dict[str, str], timeout: float | None = None) -> Any:
        """Send an action; its reply (a list for event lists), or None when the server is
        not connected or does not answer in time."""
        manager = self.manager
        if not self.logged_in or manager is None or manager.protocol is None:
            return None
        if manager.protocol.closed:
            return None
        future = manager.send_action(dict(fields))
        deadline = timeout or self.listener.config.action_timeout_s
        done, _ = await asyncio.wait({future}, timeout=deadline)
        if not done or future.cancelled():
            future.cancel()
            return None
        return future.result()

    async def set_limit(self, call: FollowedCall, limit_ms: int) -> bool:
        """`Setvar TIMEOUT(absolute)` on the called channel, to end the call `limit_ms`
        from now; True once Asterisk answered Success. Never 0: for Asterisk 0 means no
        limit at all. Whole seconds are sent as such, others with three decimals
        (Asterisk 20's TIMEOUT reads fractions of a second)."""
        if limit_ms <= 0 or not call.called_channel:
            return False
        value = str(limit_ms // 1000)
        if limit_ms % 1000:
            value += f".{limit_ms % 1000:03d}"
        sent = self.listener.clock.now()
        reply = await self.action(
            {
                "Action": "Setvar",
                "Channel": call.called_channel,
                "Variable": "TIMEOUT(absolute)",
                "Value": value,
            }
        )
        stats = self.listener.stats
        if reply is not None:
            self.delays.round_trip(sent, self.listener.clock.now())
        if reply is not None and not isinstance(reply, list) and reply.success:
            stats.setvars += 1
            # Asterisk counts from when it got it, a little later than `sent`.
            call.asterisk_end = sent + timedelta(milliseconds=limit_ms)
            return True
        stats.setvar_failures += 1
        reason = "no answer" if reply is None else text(reply, "Message") or "refused"
        log.warning(
            "AMI %s: call %s: Setvar TIMEOUT(absolute)=%s on %s failed: %s",
            self.name,
            call.call_id,
            value,
            call.called_channel,
            reason,
        )
        return False

    async def hang_up(self, call: FollowedCall, cause: int = 16) -> str | None:
        """AMI `Hangup` of the call's calling channel (cause 16: normal clearing); None once
        Asterisk answered Success, else why not (Asterisk's message, or no answer). The
        call then ends as any other: its Hangup and Cdr events settle it."""
        reply = await self.action(
            {"Action": "Hangup", "Channel": call.caller_channel, "Cause": str(cause)}
        )
        if reply is None:
            return "Asterisk did not answer"
        if isinstance(reply, list):  # an event list: not what Hangup of one channel answers
            return "unexpected answer"
        if not reply.success:
            return text(reply, "Message") or "refused"
        return None

    # --- events ----------------------------------------------------------------------------
    def _on_event(self, manager: panoramisk.Manager, event: Any) -> None:
        if manager is self.manager:
            self.event(event)

    def event(self, event: Mapping[str, Any]) -> None:
        """One event of this server, in the order Asterisk sent them."""
        now = self.listener.clock.now()
        if self.resyncing:
            self.buffer.append((event, now))
            return
        self.handle(event, now)

    def handle(self, event: Mapping[str, Any], now: datetime) -> None:
        handler = self._handlers.get(text(event, "Event"))
        if handler is not None:
            handler(event, now)

    def _on_newchannel(self, event: Mapping[str, Any], now: datetime) -> None:
        if "ChanVariable" in event:
            call_id = call_id_of(chanvars(event).get(PULSA_CALL, ""))
            if call_id:
                self.follow(text(event, "Uniqueid"), text(event, "Channel"), call_id, "callvar")

    def _on_varset(self, event: Mapping[str, Any], now: datetime) -> None:
        variable = text(event, "Variable")
        if variable == PULSA_CALL:
            call_id = call_id_of(text(event, "Value"))
            if call_id:
                self.follow(text(event, "Uniqueid"), text(event, "Channel"), call_id, "callvar")
        elif variable == PULSA_STATUS and text(event, "Value") == "OK":
            self.follow(text(event, "Uniqueid"), text(event, "Channel"), None, "status")

    def _on_dialbegin(self, event: Mapping[str, Any], now: datetime) -> None:
        channel, uniqueid = text(event, "Channel"), text(event, "Uniqueid")
        if not channel or not uniqueid:
            return  # an Originate: no calling channel
        hint = None
        if "ChanVariable" in event:
            values = chanvars(event)
            hint = call_id_of(values.get(PULSA_CALL, ""))
            known = PULSA_CALL in values or PULSA_STATUS in values
            if known and hint is None and values.get(PULSA_STATUS) != "OK":
                return  # manager.conf shows pulsa's variables: this is not a pulsa call
        call = self.follow(uniqueid, channel, hint, "dial")
        if call is not None:
            self._note_called(call, text(event, "DestUniqueid"), text(event, "DestChannel"))

    def _on_dialend(self, event: Mapping[str, Any], now: datetime) -> None:
        uniqueid = text(event, "Uniqueid")
        call = self.by_uniqueid.get(uniqueid)
        if call is None or uniqueid != call.caller_uniqueid:
            return
        status = text(event, "DialStatus").upper()
        if status:
            call.dial_status = status
        if status == "ANSWER":
            self._note_event_delay(event, now)
            self._note_called(call, text(event, "DestUniqueid"), text(event, "DestChannel"))
            if call.note_answer(now):
                self.listener.poke(call)

    def _on_bridgeenter(self, event: Mapping[str, Any], now: datetime) -> None:
        call = self.by_uniqueid.get(text(event, "Uniqueid"))
        if call is not None and call.called_channel and call.note_answer(now):
            self._note_event_delay(event, now)
            self.listener.poke(call)

    def _note_event_delay(self, event: Mapping[str, Any], now: datetime) -> None:
        """How late an answer is seen: the listener counts a call from that moment."""
        stamp = text(event, "Timestamp")
        if stamp:
            self.delays.event(stamp, now)

    def _on_hangup(self, event: Mapping[str, Any], now: datetime) -> None:
        uniqueid = text(event, "Uniqueid")
        self.rejected.discard(uniqueid)
        call = self.by_uniqueid.get(uniqueid)
        if call is None:
            call = self.by_name.get(text(event, "Channel"))
            if call is None or call.called_uniqueid:
                return
            call.called_uniqueid = uniqueid
        if uniqueid == call.caller_uniqueid:
            changed = call.note_caller_hangup(now)
        else:
            changed = call.note_called_hangup(now)
        if changed:
            self.listener.poke(call)

    def _on_cdr(self, event: Mapping[str, Any], now: datetime) -> None:
        uniqueid = text(event, "UniqueID")
        call = self.by_uniqueid.get(uniqueid)
        if call is None or uniqueid != call.caller_uniqueid:
            return
        if call.note_cdr(CdrRecord.from_event(event)):
            self.listener.poke(call)

    def _on_rename(self, event: Mapping[str, Any], now: datetime) -> None:
        uniqueid = text(event, "Uniqueid")
        new_name = text(event, "Newname")
        call = self.by_uniqueid.get(uniqueid)
        if call is None or not new_name:
            return
        if uniqueid == call.caller_uniqueid:
            call.caller_channel = new_name
        elif uniqueid == call.called_uniqueid:
            self.by_name.pop(call.called_channel, None)
            call.called_channel = new_name
            self.by_name[new_name] = call

    # --- the calls of this server ----------------------------------------------------------
    def follow(
        self, uniqueid: str, channel: str, hint: int | None, trigger: str
    ) -> FollowedCall | None:
        """The call a dialling channel belongs to, followed from now on (None when it is
        not a pulsa call, or the channel is the called side of one)."""
        if not uniqueid:
            return None
        call = self.by_uniqueid.get(uniqueid)
        if call is not None:
            if call.caller_uniqueid != uniqueid:
                return None
            if hint and call.hint is None and call.call_id is None:
                if hint in self.listener.calls:
                    return call
                call.hint = call.call_id = hint
                self.listener.calls[hint] = call
            return call
        if uniqueid in self.done:
            return None
        if hint is None and uniqueid in self.rejected:
            return None
        if hint is not None and hint in self.listener.calls:
            return None  # already followed through another channel (inherited PULSA_CALL)
        call = FollowedCall(self, uniqueid, channel, hint=hint, trigger=trigger)
        self.by_uniqueid[uniqueid] = call
        self.listener.start_following(call)
        return call

    def _note_called(self, call: FollowedCall, uniqueid: str, channel: str) -> None:
        if call.called_channel and call.called_channel != channel and channel:
            self.by_name.pop(call.called_channel, None)
        old = call.called_uniqueid
        if old and uniqueid and old != uniqueid and self.by_uniqueid.get(old) is call:
            del self.by_uniqueid[old]
        call.note_called(uniqueid, channel)
        if call.called_uniqueid:
            self.by_uniqueid.setdefault(call.called_uniqueid, call)
        if call.called_channel:
            self.by_name[call.called_channel] = call

    def forget(self, call: FollowedCall, *, reject: bool = False) -> None:
        for uniqueid in (call.caller_uniqueid, call.called_uniqueid):
            if uniqueid and self.by_uniqueid.get(uniqueid) is call:
                del self.by_uniqueid[uniqueid]
        if call.called_channel and self.by_name.get(call.called_channel) is call:
            del self.by_name[call.called_channel]
        if reject:
            if not call.caller_gone:
                self.rejected.add(call.caller_uniqueid)
        elif call.call_id is not None:
            self.done[call.caller_uniqueid] = None
            while len(self.done) > _DONE_MEMORY:
                self.done.popitem(last=False)

    def calls(self) -> list[FollowedCall]:
        seen: dict[int, FollowedCall] = {}
        for call in self.by_uniqueid.values():
            seen.setdefault(id(call), call)
        return list(seen.values())

    # --- resynchronization -------------------------------------------------------------------
    async def _resynchronize(self) -> None:
        """After a login: compare the live calls in the database with the channels Asterisk
        has now. Events that arrive meanwhile are kept and handled afterwards, in order."""
        listener = self.listener
        try:
            await self._learn_version()
            while True:
                sequence = listener.sequence()
                from ami_listener import billing

                infos = await listener.db(billing.live_calls, self.owned, what="resync")
                reply = await self.action(
                    {"Action": "CoreShowChannels"}, timeout=listener.config.action_timeout_s * 4
                )
                if isinstance(reply, list):
                    break
                if not self.logged_in:
                    return
                log.warning("AMI %s: no answer to CoreShowChannels, asking again", self.name)
            channels = {
                text(item, "Uniqueid"): item
                for item in reply
                if text(item, "Event") == "CoreShowChannel" and text(item, "Uniqueid")
            }
            self._reconcile(infos, channels, sequence)
            listener.stats.resyncs += 1
        finally:
            buffered, self.buffer = self.buffer, []
            self.resyncing = False
            for event, at in buffered:
                self.handle(event, at)
            for call in self.calls():
                if call.answer_estimate is not None and not call.answered:
                    call.note_answer(call.answer_estimate)
                call.answer_estimate = None
                self.listener.poke(call)

    async def _learn_version(self) -> None:
        """Ask the Asterisk version (CoreSettings), for the precision of its limits. Not
        answered (an older user without the `reporting` class): the AMI version of the
        greeting decides, else whole seconds."""
        sent = self.listener.clock.now()
        reply = await self.action({"Action": "CoreSettings"})
        version = ""
        if reply is not None and not isinstance(reply, list):
            self.delays.round_trip(sent, self.listener.clock.now())
            if reply.success:
                version = text(reply, "AsteriskVersion")
        manager = self.manager
        protocol = manager.protocol if manager is not None else None
        greeting = str(getattr(protocol, "version", "") or "")
        self.asterisk_version = version
        self.precision_ms = limit_precision_for(version, greeting)
        log.info(
            "AMI %s: Asterisk %s (AMI %s): limits sent %s",
            self.name,
            version or "of unknown version",
            greeting or "?",
            "to the millisecond" if self.precision_ms == 1 else "in whole seconds",
        )

    def _reconcile(
        self, infos: list[CallInfo], channels: dict[str, Mapping[str, Any]], sequence: int
    ) -> None:
        listener = self.listener
        now = listener.clock.now()
        live_ids = set()
        for info in infos:
            live_ids.add(info.call_id)
            call = listener.calls.get(info.call_id) or self.by_uniqueid.get(info.uniqueid)
            if call is None or call.caller_uniqueid != info.uniqueid:
                if info.uniqueid in self.done:
                    continue
                call = FollowedCall(self, info.uniqueid, info.channel, info.call_id, "resync")
                self.by_uniqueid[info.uniqueid] = call
                listener.adopt(call, info)
                listener.start_following(call)
            if call.account_id is None:
                listener.adopt(call, info)  # followed, but its row was not read yet
            channel = channels.get(info.uniqueid)
            if channel is None:
                if not call.caller_gone:
                    call.note_caller_hangup(now)
                    call.gone_while_away = True
                continue
            call.caller_channel = text(channel, "Channel") or call.caller_channel
            bridge = text(channel, "BridgeId")
            if not call.called_channel and bridge:
                for uniqueid, other in channels.items():
                    if uniqueid != info.uniqueid and text(other, "BridgeId") == bridge:
                        self._note_called(call, uniqueid, text(other, "Channel"))
                        break
            if call.answered:
                call.needs_sync = True
            elif bridge:
                # Answered while nobody watched: count from the earliest moment it can have
                # been, so that the limits set from now on are never too long.
                peer = channels.get(call.called_uniqueid) if call.called_uniqueid else None
                ran = hms_seconds(text(peer if peer is not None else channel, "Duration"))
                call.answer_estimate = now - timedelta(seconds=ran + 1)
                call.needs_sync = True
        for call in self.calls():
            if (
                call.call_id is not None
                and call.call_id not in live_ids
                and call.resolved_seq < sequence
                and not call.settled
            ):
                log.info("AMI %s: call %s was closed elsewhere", self.name, call.call_id)
                call.settled = True
                listener.poke(call)
