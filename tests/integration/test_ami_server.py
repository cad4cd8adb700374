"""The fake Asterisk AMI server and the capture parsers, checked with the real panoramisk.

Every test is synchronous and runs its own event loop (``run``), so no pytest plugin is
needed. Waits are on events with timeouts, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import panoramisk
import pytest

from tests.support.ami_fixtures import (
    FIXTURES,
    AmiMessage,
    load_agi_session,
    load_ami_actions,
    load_ami_stream,
    parse_ami_message,
)
from tests.support.ami_server import AmiServer, read_ami_message

FOUR_CALLERS = FIXTURES / "four-callers" / "ami_stream.txt"
ONE_CALLER = FIXTURES / "one-caller-four-calls" / "ami_stream.txt"
ACTIONS = FIXTURES / "ami-actions" / "ami_actions.txt"
AGI_SESSIONS = sorted(FIXTURES.glob("*/agi_session_*.txt"))

AGI_KEYS = [
    "agi_network",
    "agi_network_script",
    "agi_request",
    "agi_channel",
    "agi_language",
    "agi_type",
    "agi_uniqueid",
    "agi_version",
    "agi_callerid",
    "agi_calleridname",
    "agi_callingpres",
    "agi_callingani2",
    "agi_callington",
    "agi_callingtns",
    "agi_dnid",
    "agi_rdnis",
    "agi_context",
    "agi_extension",
    "agi_priority",
    "agi_enhanced",
    "agi_accountcode",
    "agi_threadid",
]


# --------------------------------------------------------------------------- helpers
def run(test: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Run one async test body in a fresh event loop, with an overall time limit."""

    async def guarded() -> Any:
        return await asyncio.wait_for(test(), timeout)

    return asyncio.run(guarded())


class Recorder:
    """Collects the events panoramisk dispatches, in order."""

    def __init__(self, manager: panoramisk.Manager, pattern: str = "*") -> None:
        self.events: list[panoramisk.message.Message] = []
        self._changed = asyncio.Event()
        manager.register_event(pattern, self._on_event)

    def _on_event(self, manager: panoramisk.Manager, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def named(self, name: str) -> list[Any]:
        return [e for e in self.events if e.event == name]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def wait_for_count(self, count: int, timeout: float = 5.0) -> None:
        await self.wait_for(lambda: len(self.events) >= count, timeout)


@contextlib.asynccontextmanager
async def panoramisk_client(ami: AmiServer, **options: Any) -> AsyncIterator[panoramisk.Manager]:
    config = {"ping_delay": 60, "reconnect_timeout": 30, **options}
    manager = panoramisk.Manager(**ami.manager_config(**config))
    try:
        yield manager
    finally:
        manager.close()


async def login(manager: panoramisk.Manager, timeout: float = 5.0) -> Any:
    """Connect and return panoramisk's login response.

    ``connect()`` returns the connection task; its done-callback (``connection_made``) runs
    before this coroutine resumes, so ``authenticated_future`` exists by then.
    """
    await manager.connect()
    return await asyncio.wait_for(manager.authenticated_future, timeout)


def headers_of(event: Any) -> dict[str, Any]:
    """A panoramisk Message as a dict, without the ``content`` (body) entry it adds."""
    return {k: v for k, v in event.items() if k != "content"}


def expected_headers(message: AmiMessage) -> dict[str, str | list[str]]:
    """What panoramisk should rebuild from ``message``.

    panoramisk strips every message before splitting it into lines, so a LAST header with
    an empty value (``UserField: `` closing every Cdr) loses its ``": "`` and is dropped.
    """
    headers = list(message.headers)
    if headers and headers[-1][1] == "":
        headers.pop()
    return AmiMessage(headers).as_dict()


def seed_events_from_core_show_channel(event: AmiMessage) -> list[dict[str, str]]:
    """Newchannel/Newexten/BridgeEnter events that recreate a recorded CoreShowChannel."""
    snapshot = {
        key: event[key]
        for key in (
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
    }
    seeded = [
        {"Event": "Newchannel", "Privilege": "call,all", **snapshot},
        {
            "Event": "Newexten",
            "Privilege": "dialplan,all",
            **snapshot,
            "Extension": snapshot["Exten"],
            "Application": event["Application"],
            "AppData": event["ApplicationData"],
        },
    ]
    if event["BridgeId"]:
        seeded.append(
            {
                "Event": "BridgeEnter",
                "Privilege": "call,all",
                "BridgeUniqueid": event["BridgeId"],
                **snapshot,
            }
        )
    return seeded


class RawClient:
    """A bare AMI socket client, to compare reply bytes with the capture."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, ami: AmiServer) -> tuple[RawClient, bytes]:
        reader, writer = await asyncio.open_connection(*ami.address)
        greeting = await asyncio.wait_for(reader.readline(), 5)
        return cls(reader, writer), greeting

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def read(self, count: int = 1) -> list[AmiMessage]:
        messages = []
        for _ in range(count):
            message = await asyncio.wait_for(read_ami_message(self.reader), 5)
            assert message is not None, "connection closed"
            messages.append(message)
        return messages

    def close(self) -> None:
        self.writer.close()


def four_callers_events() -> list[AmiMessage]:
    return load_ami_stream(FOUR_CALLERS).events


# ------------------------------------------------------------------ parsers (no network)
def test_the_stream_parser_gives_back_every_byte_and_keeps_header_order_and_repeats() -> None:
    for path in (FOUR_CALLERS, ONE_CALLER):
        stream = load_ami_stream(path)
        assert stream.greeting == "Asterisk Call Manager/9.0.0\r\n"
        assert stream.version == "9.0.0"
        assert stream.greeting.encode() + b"".join(m.raw for m in stream) == path.read_bytes()
        login_reply = stream[0]
        assert login_reply.kind == "response"
        assert login_reply.headers == (
            ("Response", "Success"),
            ("Message", "Authentication accepted"),
        )
        assert stream.events[0].name == "FullyBooted"
        assert all(m.raw.endswith(b"\r\n\r\n") for m in stream)
        assert all(m.headers[0][0] == "Event" for m in stream.events)
        times = [m.time for m in stream]
        assert None not in times and times == sorted(times)

    four = load_ami_stream(FOUR_CALLERS)
    counts = Counter(m.name for m in four.events)
    assert counts["Cdr"] == 19
    assert counts["Newchannel"] == 28 and counts["Hangup"] == 24
    newchannel = four.named("Newchannel")[0]
    assert list(newchannel)[:3] == ["Event", "Privilege", "Channel"]
    assert newchannel["AccountCode"] == ""
    assert four.events[-1].name == "Reload"

    one = load_ami_stream(ONE_CALLER)
    for event in one.named("Newchannel"):
        assert event.get_all("ChanVariable") == ["PULSA_STATUS=", "PULSA_LIMIT_MS="]
    assert event["chanvariable"] == "PULSA_STATUS="  # first value, any case


def test_only_one_cdr_per_prepaid_call_has_last_application_dial_on_the_callers_half() -> None:
    cdrs = load_ami_stream(FOUR_CALLERS).named("Cdr")
    billable = [
        c
        for c in cdrs
        if c["LastApplication"] == "Dial"
        and c["Channel"].endswith(";2")
        and "@prepaid-outbound-" in c["Channel"]
    ]
    assert {c["Destination"]: c["BillableSeconds"] for c in billable} == {
        "0811111": "3",
        "0822222": "5",
        "9333": "0",
        "8444": "0",
    }
    assert {c["Destination"]: c["Disposition"] for c in billable} == {
        "0811111": "ANSWERED",
        "0822222": "ANSWERED",
        "9333": "BUSY",
        "8444": "NO ANSWER",
    }
    per_call = Counter(c["Channel"].rsplit("-", 1)[0] for c in cdrs)
    assert per_call["Local/0822222@prepaid-outbound"] == 2  # ;1 Wait and ;2 Dial


def test_the_action_log_pairs_every_request_with_the_replies_that_carry_its_action_id() -> None:
    log = load_ami_actions(ACTIONS)
    assert log.greeting == "Asterisk Call Manager/9.0.0\r\n"
    assert [e.action_id for e in log] == [
        "login",
        "badlogin",
        "orig0",
        "orig1",
        "csc",
        "st",
        "gv0",
        "gvbad",
        "svbad",
        "hbad",
        "hre",
        "ping",
        "bye",
    ]
    first = log.by_action_id("login")
    assert first.request.raw == (
        b"Action: Login\r\nUsername: pulsa\r\nSecret: pulsa-secret\r\n"
        b"Events: off\r\nActionID: login\r\n\r\n"
    )
    assert first.response is not None and first.response["Message"] == "Authentication accepted"
    assert log.by_action_id("badlogin").response["Message"] == "Already authenticated"
    csc = log.by_action_id("csc")
    assert [r.name for r in csc.replies] == ["Success"] + ["CoreShowChannel"] * 8 + [
        "CoreShowChannelsComplete"
    ]
    assert csc.replies[-1]["ListItems"] == "8"
    assert log.by_action_id("st").replies[-1]["Items"] == "8"
    for action_id in ("gv0", "gvbad", "svbad", "hbad"):
        reply = log.by_action_id(action_id).response
        assert reply is not None
        assert reply.headers == (
            ("Response", "Error"),
            ("ActionID", action_id),
            ("Message", "No such channel"),
        )
    assert sum(len(e.replies) for e in log) == len(log.replies)


def test_the_agi_parser_reads_all_eight_sessions_with_their_agi_environment_and_replies() -> None:
    assert len(AGI_SESSIONS) == 8
    for path in AGI_SESSIONS:
        session = load_agi_session(path)
        assert list(session.env) == AGI_KEYS
        assert session.env["agi_network"] == "yes"
        assert session.env["agi_version"] == "20.21.0-rc1"
        assert session.env["agi_accountcode"] == ""
        assert session.env["agi_request"] == "agi://127.0.0.1:4573/record"
        assert session.reply_to("GET VARIABLE NOSUCHVAR") == "200 result=0"
        assert session.reply_to("NOSUCHCOMMAND") == "510 Invalid or unknown command"
        assert session.reply_to("GET FULL VARIABLE ${CHANNEL}") == (
            f"200 result=1 ({session.env['agi_channel']})"
        )
        assert session.reply_to("GET VARIABLE CALLERID(num)") == (
            f"200 result=1 ({session.env['agi_callerid']})"
        )
        assert [command for command, _ in session.commands] == [
            "GET VARIABLE CALLERID(num)",
            "GET FULL VARIABLE ${CHANNEL}",
            "GET VARIABLE NOSUCHVAR",
            "SET VARIABLE PULSA_STATUS OK",
            "SET VARIABLE PULSA_LIMIT_MS 5000",
            'VERBOSE "pulsa authorize" 1',
            "NOSUCHCOMMAND",
        ]


# ------------------------------------------------------------------ server + panoramisk
def test_panoramisk_logs_in_gets_fully_booted_and_a_pong() -> None:
    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager)
            reply = await login(manager)
            assert reply.success and reply.message == "Authentication accepted"
            assert manager.authenticated
            await recorder.wait_for(lambda: recorder.named("FullyBooted"))
            booted = recorder.named("FullyBooted")[0]
            assert booted.status == "Fully Booted" and booted.privilege == "system,all"
            assert ami.logins == 1 and ami.client_count == 1
            pong = await manager.send_action({"Action": "Ping"})
            assert pong.ping == "Pong" and pong.actionid.startswith("action/")
            login_action = ami.actions_named("Login")[0].message
            assert login_action["Username"] == "pulsa" and login_action["Events"] == "on"

    run(body)


def test_a_wrong_secret_gets_authentication_failed_and_the_connection_closed() -> None:
    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami, secret="wrong") as manager:
            reply = await login(manager)
            assert not reply.success
            assert reply.response == "Error" and reply.message == "Authentication failed"
            assert manager.authenticated is False
            await ami.wait_for(lambda: ami.failed_logins == 1 and ami.connected_count == 0)
            assert ami.logins == 0

    run(body)


def test_panoramisk_receives_every_four_callers_event_in_order_with_the_recorded_headers() -> None:
    events = four_callers_events()

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager)
            await login(manager)
            await ami.wait_for_clients(1)
            assert await ami.replay(events) == len(events)
            await recorder.wait_for_count(1 + len(events))  # + FullyBooted of the login
            received = recorder.events[1:]
            assert len(received) == len(events)
            for sent, got in zip(events, received, strict=True):
                assert headers_of(got) == expected_headers(sent)
            assert Counter(e.event for e in received) == Counter(m.name for m in events)
            cdrs = [e for e in received if e.event == "Cdr"]
            assert len(cdrs) == 19
            dial_on_2 = [
                e.destination
                for e in cdrs
                if e.lastapplication == "Dial" and e.channel.endswith(";2")
            ]
            assert dial_on_2 == ["9333", "0811111", "0822222", "0855555", "8444", "0877001"]
            assert "UserField" not in cdrs[0]  # panoramisk drops a trailing empty header
            assert ami.channels  # 0877000 is still up when four-callers ends

    run(body)


def test_the_chan_variable_headers_of_one_caller_four_calls_reach_panoramisk_as_lists() -> None:
    events = load_ami_stream(ONE_CALLER).events

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager, "VarSet")
            await login(manager)
            await ami.wait_for_clients(1)
            await ami.replay(events)
            expected = [m for m in events if m.name == "VarSet"]
            await recorder.wait_for_count(len(expected))
            statuses = [e for e in recorder.events if e.variable == "PULSA_STATUS"]
            assert len(statuses) == 4 and {e.value for e in statuses} == {"OK"}
            # Channels created before the manager.conf reload (0877000, up since the
            # four-callers capture) carry ChanVariable on some of their events only.
            older = [e for e in recorder.events if e.channel.startswith("Local/0877000@")]
            assert any("ChanVariable" not in e for e in older)
            newer = [e for e in recorder.events if not e.channel.startswith("Local/0877000@")]
            for event in newer:
                assert isinstance(event.chanvariable, list)
                names = [item.split("=", 1)[0] for item in event.chanvariable]
                assert names == ["PULSA_STATUS", "PULSA_LIMIT_MS"]
            limits = {e.getdict("chanvariable")["PULSA_LIMIT_MS"] for e in newer}
            assert "5000" in limits
            assert not ami.channels  # every call of the capture ended

    run(body)


def live_after(events: list[AmiMessage]) -> dict[str, AmiMessage]:
    """Channel -> last snapshot event, following Newchannel/Hangup like a reader would."""
    live: dict[str, AmiMessage] = {}
    for event in events:
        channel = event.get("Channel", "")
        if event.name == "Newchannel":
            live[channel] = event
        elif event.name == "Hangup":
            live.pop(channel, None)
        elif channel in live and event.get("Uniqueid") == live[channel]["Uniqueid"]:
            live[channel] = event
    return live


def test_core_show_channels_lists_the_channels_live_at_that_point_of_a_replay() -> None:
    events = four_callers_events()
    # Up to the Cdr of 0811111's caller half: 9333 (busy) is gone, 8444 still rings,
    # 0811111 and 0822222 are bridged.
    cut = next(
        i
        for i, m in enumerate(events)
        if m.name == "Cdr" and m["Channel"] == "Local/0811111@prepaid-outbound-00000001;1"
    )
    expected = live_after(events[:cut])
    assert "Local/9333@prepaid-outbound-00000002;2" not in expected
    assert "Local/8444@prepaid-outbound-00000003;2" in expected

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            await login(manager)
            await ami.replay(events[:cut])
            replies = await manager.send_action({"Action": "CoreShowChannels"})
            assert isinstance(replies, list)
            head, items, tail = replies[0], replies[1:-1], replies[-1]
            assert head.response == "Success" and head.eventlist == "start"
            assert head.message == "Channels will follow"
            assert tail.event == "CoreShowChannelsComplete" and tail.eventlist == "Complete"
            assert int(tail.listitems) == len(items) == len(expected)
            assert {i.actionid for i in items} == {head.actionid}
            by_name = {i.channel: i for i in items}
            assert set(by_name) == set(expected)
            for name, last in expected.items():
                for key in ("ChannelState", "CallerIDNum", "ConnectedLineNum", "Linkedid"):
                    assert by_name[name][key] == last[key], (name, key)
            caller = by_name["Local/0822222@prepaid-outbound-00000000;2"]
            assert caller.application == "Dial"
            assert caller.applicationdata == "Local/0822222@pstn-sim,30,L(5000)"
            assert caller.bridgeid and caller.duration == "00:00:00"

            status = await manager.send_action({"Action": "Status"})
            assert status[0].message == "Channel status will follow"
            assert status[-1].event == "StatusComplete"
            assert int(status[-1]["Items"]) == len(expected)

    run(body)


def test_setvar_on_a_live_channel_is_recorded_with_its_time_and_on_an_unknown_one_fails() -> None:
    events = four_callers_events()
    cut = next(i for i, m in enumerate(events) if m.name == "BridgeEnter")
    channel = "Local/0822222@prepaid-outbound-00000000;2"
    unknown = load_ami_actions(ACTIONS).by_action_id("svbad").response

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            await login(manager)
            await ami.replay(events[:cut])
            before = time.monotonic()
            for value in ("60", "120"):
                reply = await manager.send_action(
                    {
                        "Action": "Setvar",
                        "Channel": channel,
                        "Variable": "TIMEOUT(absolute)",
                        "Value": value,
                    }
                )
                assert reply.response == "Success" and reply.message == "Variable Set"
            records = ami.setvars_for(channel, "TIMEOUT(absolute)")
            assert [r.value for r in records] == ["60", "120"]
            assert before <= records[0].at <= records[1].at <= time.monotonic()
            assert records[1].uniqueid == "1795410450.1"
            left = await manager.send_action(
                {"Action": "Getvar", "Channel": channel, "Variable": "TIMEOUT(absolute)"}
            )
            assert 119.0 < float(left.value) <= 120.0

            reply = await manager.send_action(
                {
                    "Action": "Setvar",
                    "Channel": "No/Such-Channel",
                    "Variable": "TIMEOUT(absolute)",
                    "Value": "3",
                }
            )
            assert reply.response == unknown["Response"] == "Error"
            assert reply.message == unknown["Message"] == "No such channel"
            assert len(ami.setvars) == 2

    run(body)


def test_hangup_by_name_sends_hangup_events_and_the_channel_leaves_core_show_channels() -> None:
    events = four_callers_events()
    cut = next(i for i, m in enumerate(events) if m.name == "BridgeEnter")
    channel = "Local/0811111@prepaid-outbound-00000001;2"

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager, "*Hangup*")
            await login(manager)
            await ami.replay(events[:cut])
            recorder.events.clear()
            reply = await manager.send_action(
                {"Action": "Hangup", "Channel": channel, "Cause": "16"}
            )
            assert reply.response == "Success" and reply.message == "Channel Hungup"
            await recorder.wait_for(lambda: recorder.named("Hangup"))
            assert [e.event for e in recorder.events] == ["SoftHangupRequest", "Hangup"]
            hangup = recorder.named("Hangup")[0]
            assert hangup.channel == channel and hangup.uniqueid == "1795410450.3"
            assert hangup.cause == "16" and hangup["Cause-txt"] == "Normal Clearing"
            assert channel not in ami.channels
            listed = await manager.send_action({"Action": "CoreShowChannels"})
            assert channel not in {m.channel for m in listed[1:-1]}

            missing = await manager.send_action({"Action": "Hangup", "Channel": channel})
            assert missing.response == "Error" and missing.message == "No such channel"

    run(body)


HUNG_BY_REGEX = "Local/0877001@nolimit-0000000b;2"


def test_replies_match_the_recorded_asterisk_byte_for_byte() -> None:
    log = load_ami_actions(ACTIONS)
    recorded_channels = log.by_action_id("csc").events[:-1]  # without the Complete event

    async def body() -> None:
        async with AmiServer() as ami:
            for event in recorded_channels:
                for seed in seed_events_from_core_show_channel(event):
                    await ami.send_event(seed)
            client, greeting = await RawClient.connect(ami)
            assert greeting.decode() == log.greeting
            try:
                for exchange in log:
                    if exchange.action == "Originate":
                        continue  # not emulated: the channels were seeded instead
                    await client.send(exchange.request.raw)
                    replies = await client.read(len(exchange.replies))
                    got = [r.headers for r in replies]
                    want = [r.headers for r in exchange.replies]
                    clock = {"csc": "Duration", "st": "Seconds", "ping": "Timestamp"}
                    if exchange.action_id in clock:  # identical but for the clocks
                        assert [[k for k, _ in h] for h in got] == [[k for k, _ in h] for h in want]
                        skip = clock[exchange.action_id]
                        assert [[(k, v) for k, v in h if k != skip] for h in got] == [
                            [(k, v) for k, v in h if k != skip] for h in want
                        ]
                    else:
                        assert [r.raw for r in replies] == [r.raw for r in exchange.replies]
                pong = log.by_action_id("ping").response
                assert pong is not None and pong["Ping"] == "Pong"
                assert await asyncio.wait_for(client.reader.read(), 5) == b""  # Logoff closed it
                assert ami.live_channels() == [
                    e["Channel"] for e in recorded_channels if e["Channel"] != HUNG_BY_REGEX
                ]
            finally:
                client.close()

    run(body)


def test_unknown_actions_and_actions_before_login_are_refused_like_asterisk() -> None:
    async def body() -> None:
        async with AmiServer() as ami:
            client, _ = await RawClient.connect(ami)
            try:
                await client.send(b"Action: Ping\r\nActionID: early\r\n\r\n")
                (denied,) = await client.read()
                assert denied.raw == (
                    b"Response: Error\r\nActionID: early\r\nMessage: Permission denied\r\n\r\n"
                )
                await client.send(b"ActionID: none\r\n\r\n")
                (missing,) = await client.read()
                assert missing["Message"] == "Missing action in request"
            finally:
                client.close()

            async with panoramisk_client(ami) as manager:
                await login(manager)
                reply = await manager.send_action({"Action": "NoSuchAction"})
                assert reply.response == "Error"
                assert reply.message == (
                    "Invalid/unknown command: NoSuchAction. "
                    "Use Action: ListCommands to show available commands."
                )

    run(body)


def test_register_action_lets_a_test_answer_originate_like_asterisk() -> None:
    recorded = next(
        m
        for m in four_callers_events()
        if m.name == "OriginateResponse" and m["ActionID"] == "call-1"
    )

    def originate(request: AmiMessage) -> list[Any]:
        event = [(k, request["ActionID"] if k == "ActionID" else v) for k, v in recorded.headers]
        return [AmiServer.response(request, "Success", "Originate successfully queued"), event]

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            ami.register_action("Originate", originate)
            await login(manager)
            replies = await manager.send_action(
                {
                    "Action": "Originate",
                    "Channel": "Local/0822222@prepaid-outbound",
                    "Application": "Wait",
                    "Data": "10",
                    "Async": "true",
                }
            )
            assert [r.response for r in replies] == ["Success", "Success"]
            assert replies[0].message == "Originate successfully queued"
            assert replies[1].event == "OriginateResponse"
            assert replies[1].channel == recorded["Channel"]

    run(body)


def test_panoramisk_reconnects_after_the_server_drops_it_and_gets_later_events() -> None:
    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami, reconnect_timeout=0) as manager:
            recorder = Recorder(manager, "UserEvent")
            lost = asyncio.Event()
            manager.on_disconnect = lambda manager, exc: lost.set()
            await login(manager)
            await ami.wait_for_clients(1)
            await ami.send_event({"Event": "UserEvent", "UserEvent": "before"})
            await recorder.wait_for_count(1)

            assert ami.drop_clients() == 1
            await asyncio.wait_for(lost.wait(), 5)
            await ami.wait_for_logins(2)
            await ami.wait_for_clients(1)
            await ami.send_event({"Event": "UserEvent", "UserEvent": "after"})
            await recorder.wait_for_count(2)
            assert [e.userevent for e in recorder.events] == ["before", "after"]
            assert ami.connections == 2

    run(body)


def test_refused_connections_make_panoramisk_retry_until_the_server_accepts_again() -> None:
    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami, reconnect_timeout=1) as manager:
            attempts: list[asyncio.Task[Any]] = []
            refused = asyncio.Event()
            original_connect = manager.connect

            def note_refusal(task: asyncio.Task[Any]) -> None:
                if not task.cancelled() and isinstance(task.exception(), ConnectionRefusedError):
                    refused.set()

            def counting_connect(*args: Any, **kwargs: Any) -> asyncio.Task[Any]:
                task = original_connect(*args, **kwargs)
                attempts.append(task)
                task.add_done_callback(note_refusal)
                return task

            manager.connect = counting_connect
            await login(manager)
            await ami.wait_for_clients(1)

            await ami.refuse_connections()
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*ami.address)
            ami.drop_clients()

            await asyncio.wait_for(refused.wait(), 5)  # panoramisk's first retry
            assert len(attempts) >= 2  # attempts[0] was the login
            await ami.accept_connections()
            await ami.wait_for_logins(2, timeout=5)
            assert manager.authenticated and len(attempts) >= 3

    run(body)


def test_duplicated_delivery_sends_each_event_twice() -> None:
    events = load_ami_stream(ONE_CALLER).events

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager)
            await login(manager)
            await recorder.wait_for_count(1)  # FullyBooted of the login
            ami.duplicate_events = True
            assert await ami.replay(events) == len(events)
            await recorder.wait_for_count(1 + 2 * len(events))
            received = recorder.events[1:]
            assert len(received) == 2 * len(events)
            for index, sent in enumerate(events):
                first, second = received[2 * index], received[2 * index + 1]
                assert headers_of(first) == headers_of(second) == expected_headers(sent)
            assert len(ami.sent_events) == len(events)  # the table saw each event once
            assert not ami.channels

    run(body)


def test_a_timed_replay_keeps_the_recorded_gaps_divided_by_speed() -> None:
    stream = load_ami_stream(ONE_CALLER)
    span = stream[-1].time - stream[0].time
    assert span == 5.0  # whole-second estimates from Uniqueid and Cdr times
    synthetic = [
        AmiMessage([("Event", "UserEvent"), ("UserEvent", str(n))], time=100.0 + 0.1 * n)
        for n in range(4)
    ]

    async def body() -> None:
        async with AmiServer() as ami, panoramisk_client(ami) as manager:
            recorder = Recorder(manager, "UserEvent")
            await login(manager)
            await ami.wait_for_clients(1)
            started = time.monotonic()
            await ami.replay(synthetic, speed=1.0)
            assert time.monotonic() - started >= 0.3 - 0.02
            await recorder.wait_for_count(4)
            assert [e.userevent for e in recorder.events] == ["0", "1", "2", "3"]

            started = time.monotonic()
            sent = await ami.replay(stream, speed=25.0)
            elapsed = time.monotonic() - started
            assert sent == len(stream.events)
            assert span / 25.0 - 0.02 <= elapsed < 3.0

    run(body)


def test_an_expired_timeout_absolute_hangs_the_channel_up_when_timeouts_are_enforced() -> None:
    recorded = load_ami_actions(ACTIONS).by_action_id("csc").events[0]
    channel = recorded["Channel"]

    async def body() -> None:
        async with (
            AmiServer(enforce_timeouts=True) as ami,
            panoramisk_client(ami) as manager,
        ):
            recorder = Recorder(manager, "Hangup")
            await login(manager)
            for seed in seed_events_from_core_show_channel(recorded):
                await ami.send_event(seed)
            setvar = {"Action": "Setvar", "Channel": channel, "Variable": "TIMEOUT(absolute)"}
            await manager.send_action({**setvar, "Value": "0.2"})
            await manager.send_action({**setvar, "Value": "0.5"})  # moved: the later one wins
            moved_at = ami.setvars[-1].at
            await recorder.wait_for_count(1, timeout=5)
            ended = time.monotonic()
            assert ended - moved_at >= 0.5 - 0.02
            assert recorder.events[0].channel == channel
            assert channel not in ami.channels and len(recorder.events) == 1

    run(body)


def test_the_server_also_runs_in_a_background_thread_for_synchronous_code() -> None:
    with AmiServer() as ami:
        with socket.create_connection(ami.address, timeout=5) as sock:
            stream = sock.makefile("rb")
            assert stream.readline() == b"Asterisk Call Manager/9.0.0\r\n"
            sock.sendall(
                b"Action: Login\r\nUsername: pulsa\r\nSecret: pulsa-secret\r\nActionID: 1\r\n\r\n"
            )

            def read_message() -> AmiMessage:
                lines = []
                while (line := stream.readline()) not in (b"\r\n", b""):
                    lines.append(line)
                return parse_ami_message(b"".join(lines))

            assert read_message()["Message"] == "Authentication accepted"
            assert read_message().name == "FullyBooted"
            ami.call(ami.wait_for_clients, 1)
            ami.call(ami.send_event({"Event": "UserEvent", "UserEvent": "threaded"}))
            assert read_message()["UserEvent"] == "threaded"
            with pytest.raises(RuntimeError):
                ami.drop_clients()  # loop-bound: must go through ami.call

        async def with_panoramisk() -> None:
            async with panoramisk_client(ami) as manager:
                reply = await login(manager)
                assert reply.success
                await asyncio.to_thread(ami.call, ami.wait_for_logins, 2)
                replies = await manager.send_action({"Action": "CoreShowChannels"})
                assert replies[-1].listitems == "0"

        run(with_panoramisk)
    assert not ami.accepting
