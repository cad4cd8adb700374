"""Parsers for the recorded Asterisk 20 traffic in ``shared/fixtures/asterisk-20``.

The files were looked at byte for byte; this is what they contain.

``*/ami_stream.txt`` (AMI as a client with ``Events: on`` received it)
    Pure AMI bytes, every line ends with CRLF (``\\r\\n``), nothing else. The file starts
    with the greeting line ``Asterisk Call Manager/9.0.0\\r\\n`` (9.0.0 is the AMI protocol
    version of Asterisk 20, not the Asterisk version; the greeting has no blank line after
    it), immediately followed by the login response, which carries no ``ActionID``
    (``Response: Success\\r\\nMessage: Authentication accepted\\r\\n\\r\\n``), then the
    ``FullyBooted`` event and one event after another. Each message is ``Key: Value\\r\\n``
    lines closed by an empty line, so the file is ``greeting + b"".join(raw of every
    message)`` and ends with ``\\r\\n\\r\\n``. Header order is Asterisk's (``Event`` first,
    ``Privilege`` second); headers repeat (``ChanVariable: PULSA_STATUS=OK`` and
    ``ChanVariable: PULSA_LIMIT_MS=5000`` on the same event, ``DestChanVariable`` on Dial
    events); empty values are written ``AccountCode: `` (colon, space, nothing). There are
    no ``Timestamp`` headers (``timestampevents`` was off): the only clocks are the
    ``Uniqueid`` (epoch seconds at channel creation, then ``.`` and a counter) and the
    ``Cdr`` wall-clock strings (``2026-11-23 05:07:30``, whole seconds, no zone).
    Beyond the calls the README lists, ``four-callers`` also holds other calls made on the
    same Asterisk (``Local/0855555@nolimit``, ``Local/0877000@nolimit`` ...) and ends with a
    ``Reload`` event; ``one-caller-four-calls`` starts while two of those calls are still
    up, so it has ``Hangup`` events for channels whose ``Newchannel`` it never saw.

``ami-actions/ami_actions.txt`` (one AMI session, ``Events: off``)
    The first line is the greeting (CRLF). Lines sent by the client are prefixed ``>> ``:
    the request bytes were split at ``\\n``, so each such line still ends with ``\\r`` before
    its ``\\n``, the empty line that closes the request is ``>> \\r\\n`` and a last ``>> \\n``
    (the empty piece after the final ``\\n``) marks the end of the request. Every other
    line is a reply, raw CRLF bytes. Replies do not follow their request: the answer to
    the second ``Login`` (``Already authenticated``, not an error, because the session was
    logged in) arrives after the two ``Originate`` requests, so pairs are made by
    ``ActionID``. List replies (``CoreShowChannels``, ``Status``, ``Hangup`` by regex) are
    ``Response: Success`` + ``EventList: start``, one event per item carrying the same
    ``ActionID`` and a ``...Complete`` event with ``EventList: Complete`` and
    ``ListItems``. There is no failed-login sample (the wrong secret was sent on a session
    already logged in) and no successful ``Setvar``/``Getvar``/``Hangup`` by name.

``*/agi_session_N.txt`` (one FastAGI session each)
    LF line endings only. ``<< `` lines came from Asterisk: the ``agi_*`` environment
    (``agi_key: value``; ``agi_accountcode: `` has an empty value), an empty ``<< `` line
    closing it, then one reply line per command; ``>> `` lines are the commands sent.
    Every session tries ``GET VARIABLE NOSUCHVAR`` (reply ``200 result=0``) and
    ``NOSUCHCOMMAND`` (reply ``510 Invalid or unknown command``).
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "FIXTURES",
    "AgiSession",
    "AmiActionLog",
    "AmiExchange",
    "AmiMessage",
    "AmiStream",
    "format_ami_message",
    "load_agi_session",
    "load_ami_actions",
    "load_ami_stream",
    "parse_ami_message",
    "split_ami_messages",
]

#: The folder of the Asterisk 20 recordings (``PULSA_ASTERISK_FIXTURES`` overrides it).
FIXTURES = Path(os.environ.get("PULSA_ASTERISK_FIXTURES", "/work/shared/fixtures/asterisk-20"))

GREETING_PREFIX = b"Asterisk Call Manager/"
CRLF = b"\r\n"
END = b"\r\n\r\n"


class AmiMessage(Mapping[str, str]):
    """One AMI message (event, response or action), read-only.

    ``headers`` keeps every ``(key, value)`` line in wire order, repeats included;
    ``raw`` is the exact bytes of the message including its closing empty line.
    As a mapping, keys are matched case-insensitively (like Asterisk and panoramisk) and
    give the FIRST value; ``get_all(key)`` gives every value of a repeated header.
    ``time`` is the moment the message was sent, in epoch seconds, when known or
    estimated (see ``load_ami_stream``), else ``None``.
    """

    __slots__ = ("_index", "body", "headers", "raw", "time")

    def __init__(
        self,
        headers: Iterable[tuple[str, str]],
        raw: bytes | None = None,
        *,
        body: Iterable[str] = (),
        time: float | None = None,
    ) -> None:
        self.headers: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in headers)
        self.body: tuple[str, ...] = tuple(body)
        self.raw: bytes = raw if raw is not None else format_ami_message(self.headers)
        self.time: float | None = time
        index: dict[str, list[str]] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), []).append(value)
        self._index = index

    # Mapping protocol -------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()][0]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self.headers:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AmiMessage):
            return self.headers == other.headers and self.body == other.body
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<AmiMessage {self.kind} {self.name!r} {len(self.headers)} headers>"

    # Helpers ------------------------------------------------------------------
    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in wire order (``[]`` when absent)."""
        return list(self._index.get(key.lower(), []))

    @property
    def kind(self) -> str:
        """``"event"``, ``"response"``, ``"action"`` or ``"unknown"`` (from the first header)."""
        if not self.headers:
            return "unknown"
        first = self.headers[0][0].lower()
        return first if first in ("event", "response", "action") else "unknown"

    @property
    def name(self) -> str:
        """The value of the first header: the event name, response status or action."""
        return self.headers[0][1] if self.headers else ""

    def as_dict(self) -> dict[str, str | list[str]]:
        """Headers as a dict, a repeated header as a list: the shape panoramisk builds."""
        result: dict[str, str | list[str]] = {}
        for key, value in self.headers:
            if key in result:
                previous = result[key]
                result[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                result[key] = value
        return result


def format_ami_message(
    headers: Mapping[str, object] | Iterable[tuple[str, object]],
) -> bytes:
    """Serialize headers as AMI does: ``Key: Value\\r\\n`` lines and an empty line.

    ``headers`` is a mapping (a list or tuple value gives one line per item, in order) or a
    sequence of ``(key, value)`` pairs.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out = bytearray()
    for key, value in pairs:
        values = value if isinstance(value, (list, tuple)) else (value,)
        for item in values:
            text = "" if item is None else str(item)
            if "\r" in text or "\n" in text or "\r" in key or "\n" in key:
                raise ValueError(f"AMI header {key!r} cannot hold a line break")
            out += f"{key}: {text}".encode() + CRLF
    out += CRLF
    return bytes(out)


def parse_ami_message(raw: bytes, *, time: float | None = None) -> AmiMessage:
    """Parse one message (its ``Key: Value`` lines, with or without the closing empty line).

    Lines end with CRLF; a bare LF is accepted too. The value is what follows the first
    ``:`` with leading blanks skipped (Asterisk's own rule), trailing spaces kept. Lines
    without a colon (the body of ``Response: Follows``) go to ``body``.
    """
    headers: list[tuple[str, str]] = []
    body: list[str] = []
    text = raw.decode("utf-8", "surrogateescape")
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key:
            headers.append((key, value.lstrip(" \t")))
        else:
            body.append(line)
    return AmiMessage(headers, raw, body=body, time=time)


def split_ami_messages(data: bytes) -> tuple[str | None, list[bytes]]:
    """Split raw AMI bytes into (greeting, raw messages each ending with ``\\r\\n\\r\\n``).

    ``greeting + b"".join(messages)`` gives ``data`` back exactly. A trailing fragment
    without its closing empty line is kept as the last message.
    """
    greeting = None
    rest = data
    if rest.startswith(GREETING_PREFIX):
        line, sep, rest = rest.partition(CRLF)
        greeting = line.decode("ascii") + sep.decode("ascii")
    messages: list[bytes] = []
    start = 0
    while start < len(rest):
        end = rest.find(END, start)
        if end < 0:
            messages.append(rest[start:])
            break
        messages.append(rest[start : end + len(END)])
        start = end + len(END)
    return greeting, messages


class AmiStream(list[AmiMessage]):
    """The messages of a capture, in order, plus the greeting line it began with."""

    greeting: str | None
    path: Path | None

    def __init__(
        self,
        messages: Iterable[AmiMessage] = (),
        greeting: str | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__(messages)
        self.greeting = greeting
        self.path = path

    @property
    def version(self) -> str | None:
        """The AMI version of the greeting (``"9.0.0"``)."""
        if self.greeting is None:
            return None
        return self.greeting.strip().partition("/")[2]

    @property
    def events(self) -> list[AmiMessage]:
        """Only the events (the login response of the capture left out)."""
        return [m for m in self if m.kind == "event"]

    def named(self, name: str) -> list[AmiMessage]:
        """The events called ``name`` (case-insensitive)."""
        return [m for m in self.events if m.name.lower() == name.lower()]


def load_ami_stream(path: str | Path) -> AmiStream:
    """Read an ``ami_stream.txt`` capture into an :class:`AmiStream` of :class:`AmiMessage`.

    Each message keeps its header order, repeated headers and exact raw bytes.
    ``time`` is set on every message from the best evidence in the stream: a ``Timestamp``
    header when Asterisk wrote one (exact), otherwise an estimate: the running maximum of
    the ``Newchannel`` ``Uniqueid`` seconds and the ``Cdr`` ``EndTime`` (wall clock turned
    into epoch with the offset between a ``Cdr``'s ``StartTime`` and its ``UniqueID``), so
    whole seconds only; messages before the first clue get the first clue's time.
    """
    path = Path(path)
    greeting, chunks = split_ami_messages(path.read_bytes())
    messages = [parse_ami_message(chunk) for chunk in chunks]
    for message, moment in zip(messages, _estimate_times(messages), strict=True):
        message.time = moment
    return AmiStream(messages, greeting, path)


_CDR_TIME = "%Y-%m-%d %H:%M:%S"


def _wall_to_naive_epoch(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text.strip(), _CDR_TIME)))
    except ValueError:
        return None


def _uniqueid_seconds(text: str) -> float | None:
    head = text.strip().partition(".")[0]
    return float(head) if head.isdigit() else None


def _estimate_times(messages: list[AmiMessage]) -> list[float | None]:
    # Offset of the Cdr wall clock: a Cdr's StartTime is its channel's creation second.
    offset = None
    for m in messages:
        if m.kind == "event" and m.name == "Cdr":
            start = _wall_to_naive_epoch(m.get("StartTime", ""))
            created = _uniqueid_seconds(m.get("UniqueID", ""))
            if start is not None and created is not None:
                offset = round((created - start) / 900.0) * 900.0  # zones are 15-min multiples
                break
    clues: list[float | None] = []
    for m in messages:
        clue = None
        if "Timestamp" in m:
            try:
                clue = float(m["Timestamp"])
            except ValueError:
                clue = None
        elif m.name == "Newchannel":
            clue = _uniqueid_seconds(m.get("Uniqueid", ""))
        elif m.name == "Cdr" and offset is not None:
            end = _wall_to_naive_epoch(m.get("EndTime", ""))
            clue = None if end is None else end + offset
        clues.append(clue)
    first = next((c for c in clues if c is not None), None)
    times: list[float | None] = []
    current = first
    for clue in clues:
        if clue is not None and (current is None or clue > current):
            current = clue
        times.append(current)
    return times


# ---------------------------------------------------------------------------------------
# ami_actions.txt


@dataclass
class AmiExchange:
    """One request of ``ami_actions.txt`` with every reply carrying its ``ActionID``."""

    request: AmiMessage
    replies: list[AmiMessage] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.request.get("Action", "")

    @property
    def action_id(self) -> str:
        return self.request.get("ActionID", "")

    @property
    def response(self) -> AmiMessage | None:
        """The ``Response:`` message (the first reply that is not an event)."""
        return next((r for r in self.replies if r.kind == "response"), None)

    @property
    def events(self) -> list[AmiMessage]:
        return [r for r in self.replies if r.kind == "event"]


class AmiActionLog(list[AmiExchange]):
    """Request/reply pairs of an AMI session, in request order."""

    greeting: str | None
    replies: list[AmiMessage]

    def __init__(
        self,
        exchanges: Iterable[AmiExchange] = (),
        greeting: str | None = None,
        replies: Iterable[AmiMessage] = (),
    ) -> None:
        super().__init__(exchanges)
        self.greeting = greeting
        self.replies = list(replies)

    def by_action_id(self, action_id: str) -> AmiExchange:
        for exchange in self:
            if exchange.action_id == action_id:
                return exchange
        raise KeyError(action_id)

    def by_action(self, action: str) -> list[AmiExchange]:
        return [e for e in self if e.action.lower() == action.lower()]


def load_ami_actions(path: str | Path) -> AmiActionLog:
    """Read ``ami_actions.txt`` into request/replies pairs (see the module docstring).

    ``request.raw`` is the exact bytes the client sent; ``replies`` keep their exact bytes.
    Replies without an ActionID, or with one no request used, stay in ``log.replies`` only.
    """
    data = Path(path).read_bytes()
    requests: list[AmiMessage] = []
    reply_bytes = bytearray()
    pending: list[bytes] = []
    greeting: str | None = None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the file ends with "\n"
    for number, line in enumerate(lines):
        if line.startswith(b">> "):
            piece = line[3:]
            pending.append(piece)
            if piece == b"":  # the empty piece after the request's final "\n"
                requests.append(parse_ami_message(b"\n".join(pending)))
                pending = []
            continue
        if number == 0 and line.startswith(GREETING_PREFIX):
            greeting = (line + b"\n").decode("ascii")
            continue
        reply_bytes += line + b"\n"
    if pending:
        raise ValueError(f"{path}: unterminated request at the end of the file")
    _, chunks = split_ami_messages(bytes(reply_bytes))
    replies = [parse_ami_message(chunk) for chunk in chunks]
    exchanges = [AmiExchange(request) for request in requests]
    by_id = {e.action_id: e for e in exchanges if e.action_id}
    for reply in replies:
        exchange = by_id.get(reply.get("ActionID", ""))
        if exchange is not None:
            exchange.replies.append(reply)
    return AmiActionLog(exchanges, greeting, replies)


# ---------------------------------------------------------------------------------------
# agi_session_N.txt


@dataclass
class AgiSession:
    """One FastAGI session: the ``agi_*`` environment and the (command, reply) pairs."""

    env: dict[str, str]
    commands: list[tuple[str, str]]
    path: Path | None = None

    def reply_to(self, command: str) -> str:
        """The reply to the first command equal to ``command``."""
        for sent, reply in self.commands:
            if sent == command:
                return reply
        raise KeyError(command)


_AGI_ENV_LINE = re.compile(r"^(agi_[A-Za-z0-9_]+): ?(.*)$")


def load_agi_session(path: str | Path) -> AgiSession:
    """Read an ``agi_session_N.txt`` file.

    ``env`` keeps the order Asterisk sent the variables in. Each command is paired with
    the ``<< `` lines that follow it up to the next command (joined with ``\\n``, so a
    multi-line ``520-`` usage reply stays whole; ``""`` if Asterisk never replied).
    """
    path = Path(path)
    env: dict[str, str] = {}
    commands: list[tuple[str, list[str]]] = []
    in_env = True
    for line in path.read_text("utf-8").split("\n"):
        if line == "":
            continue  # the final newline
        if line.startswith(">> "):
            in_env = False
            commands.append((line[3:], []))
        elif line.startswith("<< ") or line == "<<":
            text = line[3:]
            if in_env:
                if text == "":
                    in_env = False
                    continue
                match = _AGI_ENV_LINE.match(text)
                if match is None:
                    raise ValueError(f"{path}: not an agi_* line: {text!r}")
                env[match.group(1)] = match.group(2)
            elif commands:
                commands[-1][1].append(text)
            else:
                raise ValueError(f"{path}: reply before any command: {text!r}")
        else:
            raise ValueError(f"{path}: line without << or >> prefix: {line!r}")
    return AgiSession(env, [(sent, "\n".join(reply)) for sent, reply in commands], path)
