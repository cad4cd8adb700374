"""The FastAGI server over TCP on loopback, driven by a fake Asterisk that speaks like the
recorded Asterisk 20 sessions: every status, a database that goes away, clients that hang
up or send garbage, static mode with settlement, many calls on one wallet at once."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from agi.authorize import AgiError, database_url, peer_from_channel
from messaging.models import Notice
from messaging.notifications import LOW_BALANCE
from messaging.outbox import notice_payload
from pulsa.settings import load_settings
from rating import CallPricing
from tests.conftest import make_account
from tests.databases import selected_backends
from tests.support.fake_asterisk_agi import (
    RECORDED,
    BlackHole,
    TcpProxy,
    agi_environment,
    agi_session,
    encode_environment,
    fastagi_server,
    raw_session,
)
from wallet.customers import add_identity
from wallet.db import Database
from wallet.models import Account, Call, CallRecord, Hold, TariffPlan
from wallet.tariffs import ensure_plan, import_rates, load_tariff

UNIT = 1_000_000
_numbers = itertools.count(5000)
SERVER_BACKENDS = [name for name in selected_backends() if name != "sqlite"]
ORDER = [
    "PULSA_CALL",
    "PULSA_SLICE_MS",
    "PULSA_SLICE_S",
    "PULSA_MAX_MS",
    "PULSA_RATE",
    "PULSA_CREDIT",
    "PULSA_STATUS",
]


def settings(**overrides):
    # Live unless a test says otherwise: the site these tests stand for runs a listener.
    values = {"agi_timeout_ms": 2000, "call_mode": "live", **overrides}
    return load_settings({}).with_overrides(**values)


@pytest.fixture
def plan(db):
    name = f"fastagi-{next(_numbers)}"

    def work(session):
        ensure_plan(session, name, "Asia/Jakarta")
        import_rates(
            session,
            name,
            "prefix,price_per_minute,initial_block,increment,grace\n"
            "62,60,1,1,0\n"  # 1 unit a second, billed by the second
            "44,120,60,60,0\n"  # 2 units a second, billed by the minute
            "112,0,1,1,0\n",
        )

    db.run(work)
    return name


def customer(db, plan, balance_units, *, kind="callerid", value=None, **account) -> tuple[str, int]:
    """A wallet on `plan` paid by an identity; returns (identity value, account id)."""
    value = value or f"62877{next(_numbers)}"
    account_id = make_account(db, balance_units * UNIT)

    def work(session):
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == plan)).scalar_one()
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(tariff_plan_id=plan_id, **account)
        )
        add_identity(session, account_id, kind, value)

    db.run(work)
    return value, account_id


def uniqueid() -> str:
    return f"1795410450.{next(_numbers)}"


def call_env(callerid, extension="6221555", **kwargs):
    return agi_environment(extension=extension, callerid=callerid, uniqueid=uniqueid(), **kwargs)


def calls_of(db, uid):
    with db.transaction() as session:
        return session.execute(select(Call).where(Call.uniqueid == uid)).scalars().all()


def account_state(db, account_id):
    with db.transaction() as session:
        account = session.get(Account, account_id)
        return account.balance, account.held


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- reading Asterisk -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "peer"),
    [
        ("PJSIP/alice-00000001", "alice"),
        ("SIP/my-office-0000001a", "my-office"),
        ("IAX2/branch-1234", "branch"),
        ("SIP/192.168.1.20-00000003", "192.168.1.20"),
        ("Local/8444@prepaid-outbound-00000003;2", ""),
        ("DAHDI/1-1", ""),
        ("PJSIP/alice", ""),
        ("", ""),
    ],
)
def test_the_sip_peer_is_read_from_the_channel_name(channel, peer):
    assert peer_from_channel(channel) == peer


def test_database_urls_get_bounded_connect_and_read_timeouts_unless_set():
    pg = database_url("postgresql+psycopg://u@h/db", 2500)
    my = database_url("mysql+pymysql://u@h/db?charset=utf8mb4&read_timeout=5", 100)
    assert make_url(pg).query == {"connect_timeout": "3"}
    assert make_url(my).query == {
        "charset": "utf8mb4",
        "read_timeout": "5",
        "connect_timeout": "2",
        "write_timeout": "30",
    }
    assert database_url("sqlite:///pulsa.db", 2000) == "sqlite:///pulsa.db"


# --- OK ---------------------------------------------------------------------------------


def test_a_caller_with_credit_gets_ok_and_every_variable_in_one_session(db, plan):
    number, account_id = customer(db, plan, 1000)
    env = call_env(number)
    linkedid = "1795410450.1"
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env, variables={"CHANNEL(linkedid)": linkedid})
    assert t.commands[0] == "GET VARIABLE CHANNEL(linkedid)"
    assert [name for name, _ in t.sets()] == ORDER
    assert t.closed_by_server
    (call,) = calls_of(db, env["agi_uniqueid"])
    assert t["PULSA_STATUS"] == "OK" and t["PULSA_CALL"] == str(call.id)
    assert (t["PULSA_SLICE_MS"], t["PULSA_SLICE_S"], t["PULSA_MAX_MS"]) == (
        "60000",
        "60",
        "1000000",
    )
    assert (t["PULSA_RATE"], t["PULSA_CREDIT"]) == ("60", "940")
    assert (call.linkedid, call.channel, call.caller, call.dialled, call.status) == (
        linkedid,
        env["agi_channel"],
        number,
        "6221555",
        "authorized",
    )
    with db.transaction() as session:
        assert session.get(Hold, call.hold_id).amount == 60 * UNIT
    assert account_state(db, account_id) == (1000 * UNIT, 60 * UNIT)


def test_the_recorded_environment_is_read_as_asterisk_sent_it(db, plan):
    """The recorded session, only the route and the caller changed: Local channel, empty
    agi_accountcode; the number comes from agi_extension."""
    number, _ = customer(db, plan, 100)
    env = dict(RECORDED.env, agi_network_script="authorize", agi_callerid=number)
    env["agi_uniqueid"] = uniqueid()
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env)
    assert t["PULSA_STATUS"] == "NORATE"  # 0811111 has no rate in this plan
    env["agi_extension"] = "6281111"
    env["agi_uniqueid"] = uniqueid()
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env)
    assert t["PULSA_STATUS"] == "OK" and t["PULSA_SLICE_MS"] == "60000"


def test_an_asterisk_that_refuses_the_linkedid_lookup_still_gets_an_answer(db, plan):
    number, _ = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(), db) as server:
        t = agi_session(
            server.address,
            env,
            replies={"GET VARIABLE CHANNEL(linkedid)": "510 Invalid or unknown command"},
        )
    assert t["PULSA_STATUS"] == "OK"
    assert calls_of(db, env["agi_uniqueid"])[0].linkedid is None


def test_the_number_is_normalized_and_the_peer_and_account_code_identify_the_caller(db, plan):
    peer, by_peer = customer(db, plan, 100, kind="peer", value=f"alice{next(_numbers)}")
    code, by_code = customer(db, plan, 100, kind="accountcode", value=f"acct{next(_numbers)}")
    rules = settings(outbound_prefix="9", country_code="62", identify_by="accountcode,peer")
    with fastagi_server(rules, db) as server:
        env = call_env("0", extension="90215551234", channel=f"PJSIP/{peer}-0000002a")
        first = agi_session(server.address, env)
        env2 = call_env("0", extension="+62 21 555", channel="SIP/nobody-0000001", args=["", code])
        second = agi_session(server.address, env2)
    assert first["PULSA_STATUS"] == second["PULSA_STATUS"] == "OK"
    one, two = calls_of(db, env["agi_uniqueid"])[0], calls_of(db, env2["agi_uniqueid"])[0]
    assert (one.account_id, one.dialled) == (by_peer, "62215551234")
    assert (two.account_id, two.dialled) == (by_code, "6221555")


def test_a_national_caller_id_finds_a_wallet_registered_in_international_form(db, plan):
    number, account_id = customer(db, plan, 100)  # 62877...
    env = call_env("0" + number[2:])
    with fastagi_server(settings(country_code="62"), db) as server:
        t = agi_session(server.address, env)
    assert t["PULSA_STATUS"] == "OK"
    assert calls_of(db, env["agi_uniqueid"])[0].account_id == account_id


def test_a_free_destination_needs_no_credit(db, plan):
    number, _ = customer(db, plan, 0)
    with fastagi_server(settings(free_destinations="112"), db) as server:
        t = agi_session(server.address, call_env(number, extension="112"))
    assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"], t["PULSA_RATE"]) == ("OK", "3600000", "0")


# --- the refusals -----------------------------------------------------------------------


def refused(t, status):
    assert t["PULSA_STATUS"] == status
    assert [name for name, _ in t.sets()] == ORDER
    assert (t["PULSA_CALL"], t["PULSA_SLICE_MS"], t["PULSA_SLICE_S"], t["PULSA_MAX_MS"]) == (
        "",
        "0",
        "0",
        "0",
    )


def test_an_empty_wallet_gets_nocredit_with_its_credit_and_no_call(db, plan):
    number, account_id = customer(db, plan, 0)
    env = call_env(number)
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env)
    refused(t, "NOCREDIT")
    assert (t["PULSA_CREDIT"], t["PULSA_RATE"]) == ("0", "60")
    assert calls_of(db, env["agi_uniqueid"]) == []
    assert account_state(db, account_id) == (0, 0)


def test_less_than_the_minimum_credit_is_nocredit(db, plan):
    number, _ = customer(db, plan, 10)
    with fastagi_server(settings(min_credit="11"), db) as server:
        t = agi_session(server.address, call_env(number))
    refused(t, "NOCREDIT")
    assert t["PULSA_CREDIT"] == "10"


def test_a_destination_without_a_rate_is_norate(db, plan):
    number, _ = customer(db, plan, 100)
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, call_env(number, extension="999"))
    refused(t, "NORATE")
    assert t["PULSA_RATE"] == t["PULSA_CREDIT"] == ""


def test_what_is_not_a_number_is_norate_without_touching_the_database(db, plan):
    number, _ = customer(db, plan, 100)
    env = call_env(number, extension="*98#")
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env)
    refused(t, "NORATE")
    assert calls_of(db, env["agi_uniqueid"]) == []


def test_a_blocked_account_is_blocked(db, plan):
    number, _ = customer(db, plan, 100, status="blocked")
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, call_env(number))
    refused(t, "BLOCKED")


def test_an_unknown_caller_is_unknown(db, plan):
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, call_env(f"999{next(_numbers)}"))
    refused(t, "UNKNOWN")
    assert t["PULSA_CREDIT"] == t["PULSA_RATE"] == ""


def test_a_call_beyond_the_simultaneous_call_limit_is_limit(db, plan):
    number, _ = customer(db, plan, 1000)
    with fastagi_server(settings(max_concurrent_calls=2), db) as server:
        statuses = [agi_session(server.address, call_env(number)) for _ in range(3)]
    assert [t["PULSA_STATUS"] for t in statuses] == ["OK", "OK", "LIMIT"]
    refused(statuses[2], "LIMIT")


# --- ERROR ------------------------------------------------------------------------------


def test_a_database_error_is_error_with_one_log_line(tmp_path, caplog):
    empty = Database(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    env = call_env("6281234")
    with caplog.at_level("INFO", logger="pulsa.agi"), fastagi_server(settings(), empty) as server:
        t = agi_session(server.address, env)
    empty.dispose()
    refused(t, "ERROR")
    lines = [r for r in caplog.records if r.getMessage().startswith("authorize ")]
    assert len(lines) == 1 and lines[0].levelname == "ERROR"
    assert "status=ERROR" in lines[0].getMessage() and "database:" in lines[0].getMessage()


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:{port}/x", "mysql+pymysql://root@127.0.0.1:{port}/x"],
)
def test_a_database_that_accepts_and_never_answers_is_error_within_the_timeout(url):
    hole = BlackHole()
    database = Database(url.format(port=hole.port))
    try:
        with fastagi_server(settings(agi_timeout_ms=300), database) as server:
            started = time.perf_counter()
            t = agi_session(server.address, call_env("6281234"))
            elapsed = time.perf_counter() - started
            again = agi_session(server.address, call_env("6281234"))  # the server still works
    finally:
        hole.close()
        database.dispose()
    refused(t, "ERROR")
    assert again["PULSA_STATUS"] == "ERROR"
    # the first SET (status ERROR comes last) leaves right after the 300 ms budget
    assert 0.25 < t.times[1] < 0.8 and elapsed < 2.0


@pytest.fixture(params=SERVER_BACKENDS)
def proxied(request, migrated_urls):
    """(database through a TcpProxy, the same database direct, the proxy)."""
    url = make_url(migrated_urls[request.param])
    proxy = TcpProxy((url.host, url.port))
    through = Database(url.set(port=proxy.port).render_as_string(hide_password=False))
    direct = Database(migrated_urls[request.param])
    yield through, direct, proxy
    proxy.close()
    through.dispose()
    direct.dispose()


def test_a_database_that_stops_answering_mid_session_is_error_and_keeps_no_hold(proxied):
    through, direct, proxy = proxied
    plan_name = f"fastagi-{next(_numbers)}"

    def work(session):
        ensure_plan(session, plan_name)
        import_rates(session, plan_name, "prefix,price_per_minute\n62,60\n")

    direct.run(work)
    number, account_id = customer(direct, plan_name, 1000)
    first_env, second_env = call_env(number), call_env(number)
    with fastagi_server(settings(agi_timeout_ms=400), through) as server:
        first = agi_session(server.address, first_env)
        proxy.freeze()
        started = time.perf_counter()
        second = agi_session(server.address, second_env)
        elapsed = time.perf_counter() - started
        proxy.thaw()
        # the abandoned work goes on once the database answers again, and rolls back
        assert wait_until(lambda: through.engine.pool.checkedout() == 0)
    assert first["PULSA_STATUS"] == "OK"
    refused(second, "ERROR")
    assert second.times[1] < 1.0 and elapsed < 2.0
    assert calls_of(direct, second_env["agi_uniqueid"]) == []
    assert account_state(direct, account_id) == (1000 * UNIT, 60 * UNIT)


def test_a_database_that_goes_away_is_error_at_once(proxied):
    through, _, proxy = proxied
    with fastagi_server(settings(agi_timeout_ms=3000), through) as server:
        agi_session(server.address, call_env("6281234"))  # a pooled connection exists
        proxy.cut()
        started = time.perf_counter()
        t = agi_session(server.address, call_env("6281234"))
        elapsed = time.perf_counter() - started
    refused(t, "ERROR")
    assert elapsed < 2.5


# --- clients that go away or talk nonsense ----------------------------------------------


@pytest.mark.parametrize("silent_at", [0, 3])  # GET VARIABLE, then the third SET VARIABLE
def test_an_asterisk_that_stops_answering_is_left_and_keeps_no_hold(db, plan, silent_at):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with (
        fastagi_server(settings(), db, command_timeout_s=0.3) as server,
        socket.create_connection(server.address, timeout=10) as sock,
    ):
        sock.sendall(encode_environment(env))
        commands = sock.makefile("rb")
        for _ in range(silent_at):
            commands.readline()
            sock.sendall(b"200 result=1\n")
        started = time.perf_counter()
        silent_on = commands.readline()
        assert commands.readline() == b""  # the server closes instead of waiting on
        waited = time.perf_counter() - started
        assert wait_until(lambda: account_state(db, account_id) == (100 * UNIT, 0))
        after = agi_session(server.address, call_env(number))  # the server carries on
    assert silent_on.startswith(b"SET VARIABLE PULSA_" if silent_at else b"GET VARIABLE ")
    assert 0.25 < waited < 2.0
    assert [c.status for c in calls_of(db, env["agi_uniqueid"])] == (
        ["settled"] if silent_at else []
    )
    assert after["PULSA_STATUS"] == "OK"


def test_a_caller_who_hangs_up_before_getting_the_answer_keeps_no_hold(db, plan):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env, hang_up_after=2)  # GET, then the first SET
        assert wait_until(
            lambda: [c.status for c in calls_of(db, env["agi_uniqueid"])] == ["settled"]
        )
        after = agi_session(server.address, call_env(number))  # the server carries on
    assert t.commands[1].startswith("SET VARIABLE PULSA_CALL ")
    assert after["PULSA_STATUS"] == "OK"
    (call,) = calls_of(db, env["agi_uniqueid"])
    with db.transaction() as session:
        record = session.execute(
            select(CallRecord).where(CallRecord.hold_id == call.hold_id)
        ).scalar_one()
        assert (record.disposition, record.cost) == ("FAILED", 0)
        assert session.get(Hold, call.hold_id).status == "settled"
    balance, held = account_state(db, account_id)
    assert balance == 100 * UNIT and held == int(after["PULSA_SLICE_MS"]) // 1000 * UNIT


def test_a_channel_hangup_notice_instead_of_a_reply_releases_the_call(db, plan):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(), db) as server:
        agi_session(server.address, env, replies={"SET VARIABLE PULSA_SLICE_MS 60000": "HANGUP"})
        assert wait_until(lambda: account_state(db, account_id) == (100 * UNIT, 0))
    assert [c.status for c in calls_of(db, env["agi_uniqueid"])] == ["settled"]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"agi_network: yes\nagi_network_script: authorize\n",  # gone before the empty line
        b"GET / HTTP/1.1\r\nHost: pulsa\r\n\r\n",
        b"\x00\xff\xfe garbage \x80\x81\n\n",
        b"x" * 200_000,
        b"\n",
        b"agi_network_script: record\nagi_extension: 1\n\n",  # a route that does not exist
    ],
    ids=["nothing", "half-environment", "http", "binary", "endless-line", "empty", "no-route"],
)
def test_garbage_is_closed_without_a_word_and_the_server_carries_on(db, plan, garbage):
    number, _ = customer(db, plan, 100)
    with fastagi_server(settings(), db) as server:
        assert raw_session(server.address, garbage) == b""
        assert agi_session(server.address, call_env(number))["PULSA_STATUS"] == "OK"


def test_an_environment_with_broken_utf8_is_still_read(db, plan):
    number, _ = customer(db, plan, 100)
    env = call_env(number)
    env["agi_calleridname"] = "Cust \udcff"
    with fastagi_server(settings(), db) as server:
        raw = "".join(f"{k}: {v}\n" for k, v in env.items()).encode("utf-8", "surrogateescape")
        t = raw_session(server.address, raw + b"\n")
    assert t.startswith(b"GET VARIABLE CHANNEL(linkedid)\n")


def test_an_environment_arriving_in_pieces_is_read_whole(db, plan):
    number, _ = customer(db, plan, 100)
    raw = encode_environment(call_env(number))
    with (
        fastagi_server(settings(), db) as server,
        socket.create_connection(server.address, timeout=10) as sock,
    ):
        for piece in (raw[:7], raw[7:200], raw[200:-1], raw[-1:]):  # the blank line last
            sock.sendall(piece)
            time.sleep(0.05)
        assert sock.makefile("rb").readline() == b"GET VARIABLE CHANNEL(linkedid)\n"


def test_an_environment_of_too_many_lines_is_refused():
    from agi.fastagi import MAX_ENVIRONMENT_LINES, read_environment

    async def read(data: bytes) -> dict[str, str]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_environment(reader)

    lines = [f"agi_arg_{n}: {n}\n" for n in range(MAX_ENVIRONMENT_LINES)]
    assert len(asyncio.run(read("".join(lines).encode() + b"\n"))) == MAX_ENVIRONMENT_LINES
    with pytest.raises(AgiError, match="more than 200 lines"):
        asyncio.run(read("".join([*lines, "agi_x: 1\n"]).encode() + b"\n"))


def test_garbage_instead_of_a_reply_ends_the_session_before_any_hold(db, plan):
    number, _ = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(), db) as server:
        t = agi_session(server.address, env, replies={"GET VARIABLE CHANNEL(linkedid)": "hello?"})
        after = agi_session(server.address, call_env(number))
    assert t.commands == ["GET VARIABLE CHANNEL(linkedid)"] and t.closed_by_server
    assert calls_of(db, env["agi_uniqueid"]) == []
    assert after["PULSA_STATUS"] == "OK"


def test_a_client_that_sends_nothing_is_dropped_after_the_environment_timeout(db, plan):
    with (
        fastagi_server(settings(), db, environment_timeout_s=0.2) as server,
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        sock.sendall(b"agi_network: yes\n")
        started = time.perf_counter()
        assert sock.recv(100) == b""
        assert time.perf_counter() - started < 2


# --- static mode and settlement ---------------------------------------------------------


def test_static_mode_holds_everything_and_the_settle_route_charges_once(db, plan):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(call_mode="static"), db) as server:
        t = agi_session(server.address, env)
        assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"], t["PULSA_CREDIT"]) == ("OK", "100000", "0")
        second = agi_session(server.address, call_env(number))
        hangup = agi_environment(
            "settle",
            extension="h",
            callerid=number,
            uniqueid=env["agi_uniqueid"],
            args=[t["PULSA_CALL"], "ANSWER", "37"],
        )
        settled = [agi_session(server.address, hangup) for _ in range(2)]
    assert second["PULSA_STATUS"] == "NOCREDIT"
    assert [s.sets() for s in settled] == [[("PULSA_SETTLED", "OK")]] * 2
    assert account_state(db, account_id) == (63 * UNIT, 0)
    (call,) = calls_of(db, env["agi_uniqueid"])
    with db.transaction() as session:
        records = (
            session.execute(select(CallRecord).where(CallRecord.hold_id == call.hold_id))
            .scalars()
            .all()
        )
    assert [(r.billsec, r.cost, r.disposition) for r in records] == [(37, 37 * UNIT, "ANSWERED")]


def test_a_static_settlement_crossing_the_threshold_writes_the_low_balance_notice(
    db, plan, admin_settings
):
    admin_settings(low_balance_threshold=50 * UNIT)
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    # The server opens its own database, as `pulsa fastagi` and each worker process do.
    static = settings(call_mode="static", database_url=db.url)
    with fastagi_server(static, None) as server:
        t = agi_session(server.address, env)
        hangup = agi_environment(
            "settle",
            extension="h",
            callerid=number,
            uniqueid=env["agi_uniqueid"],
            args=[t["PULSA_CALL"], "ANSWER", "60"],
        )
        assert agi_session(server.address, hangup).sets() == [("PULSA_SETTLED", "OK")]
    assert account_state(db, account_id)[0] == 40 * UNIT
    with db.transaction() as session:
        customer_id = session.get(Account, account_id).customer_id
        notices = session.execute(
            select(Notice).where(Notice.recipient == f"customer:{customer_id}")
        ).scalars()
        assert [(n.kind, notice_payload(n)["balance"]) for n in notices] == [
            (LOW_BALANCE, 40 * UNIT)
        ]


# --- the admin's call settings ------------------------------------------------------------


def test_slice_saved_in_admin_settings_is_used_by_next_authorization(db, plan, admin_settings):
    number, _ = customer(db, plan, 1000)
    with fastagi_server(settings(), db, settings_refresh_s=0.2) as server:
        before = agi_session(server.address, call_env(number))
        admin_settings(call_slice_seconds=30)
        time.sleep(0.3)  # the server re-reads the settings at most this often
        after = agi_session(server.address, call_env(number))
    assert (before["PULSA_STATUS"], before["PULSA_SLICE_MS"]) == ("OK", "60000")
    assert (after["PULSA_STATUS"], after["PULSA_SLICE_MS"]) == ("OK", "30000")
    with db.transaction() as session:
        call = session.get(Call, int(after["PULSA_CALL"]))
        assert session.get(Hold, call.hold_id).amount == 30 * UNIT


def test_static_mode_saved_in_admin_holds_whole_affordable_duration(db, plan, admin_settings):
    number, account_id = customer(db, plan, 100)
    admin_settings(call_mode="static")
    with fastagi_server(settings(call_mode="live"), db) as server:
        t = agi_session(server.address, call_env(number))
    assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"], t["PULSA_MAX_MS"]) == ("OK", "100000", "100000")
    assert t["PULSA_CREDIT"] == "0"
    with db.transaction() as session:
        assert session.get(Call, int(t["PULSA_CALL"])).mode == "static"
    assert account_state(db, account_id) == (100 * UNIT, 100 * UNIT)


def test_the_server_reads_the_admin_settings_once_per_interval_not_once_per_call(
    db, plan, admin_settings
):
    number, _ = customer(db, plan, 1000)
    with fastagi_server(settings(), db, settings_refresh_s=3600) as server:
        first = agi_session(server.address, call_env(number))
        admin_settings(call_slice_seconds=30)
        second = agi_session(server.address, call_env(number))
    assert first["PULSA_SLICE_MS"] == second["PULSA_SLICE_MS"] == "60000"


def test_the_settle_route_reads_the_channel_variables_when_not_given(db, plan):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(call_mode="static"), db) as server:
        t = agi_session(server.address, env)
        hangup = agi_environment(
            "settle", extension="h", callerid=number, uniqueid=env["agi_uniqueid"]
        )
        channel = {"PULSA_CALL": t["PULSA_CALL"], "DIALSTATUS": "BUSY", "ANSWEREDTIME": ""}
        s = agi_session(server.address, hangup, variables=channel)
    assert s.commands[:3] == [
        "GET VARIABLE PULSA_CALL",
        "GET VARIABLE DIALSTATUS",
        "GET VARIABLE ANSWEREDTIME",
    ]
    assert s["PULSA_SETTLED"] == "OK"
    assert account_state(db, account_id) == (100 * UNIT, 0)


def test_settling_from_another_channel_or_without_a_call_is_error(db, plan):
    number, account_id = customer(db, plan, 100)
    env = call_env(number)
    with fastagi_server(settings(call_mode="static"), db) as server:
        t = agi_session(server.address, env)
        other = agi_environment(
            "settle",
            extension="h",
            callerid=number,
            uniqueid="1.1",
            args=[t["PULSA_CALL"], "ANSWER", "5"],
        )
        nothing = agi_environment(
            "settle", extension="h", callerid=number, uniqueid="1.2", args=["", "NOANSWER", ""]
        )
        wrong, empty = agi_session(server.address, other), agi_session(server.address, nothing)
    assert wrong["PULSA_SETTLED"] == empty["PULSA_SETTLED"] == "ERROR"
    assert account_state(db, account_id) == (100 * UNIT, 100 * UNIT)  # still held, not charged


# --- many calls on one wallet at once ---------------------------------------------------


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
@pytest.mark.parametrize("mode", ["live", "static"])
def test_fifty_simultaneous_calls_on_one_wallet_never_hold_more_than_it_has(
    migrated_urls, backend, mode
):
    database = Database(migrated_urls[backend], pool_size=20)
    try:
        _fifty_at_once(database, mode)
    finally:
        database.dispose()


def _fifty_at_once(database, mode):
    plan_name = f"fastagi-{next(_numbers)}"

    def work(session):
        ensure_plan(session, plan_name, "Asia/Jakarta")
        # 0.75 a second, an initial block of 30 s, then 7 s increments: slices that do
        # not divide evenly, so "what the hold pays for" is worth checking
        import_rates(
            session, plan_name, "prefix,price_per_minute,initial_block,increment\n62,45,30,7\n"
        )

    database.run(work)
    number, account_id = customer(database, plan_name, 500)
    sessions = 50
    gate = threading.Barrier(sessions)

    def one(_):
        env = call_env(number)
        gate.wait()
        return env, agi_session(server.address, env)

    with (
        fastagi_server(
            settings(call_mode=mode, agi_timeout_ms=20_000), database, workers=16
        ) as server,
        ThreadPoolExecutor(sessions) as pool,
    ):
        results = list(pool.map(one, range(sessions)))

    statuses = [t["PULSA_STATUS"] for _, t in results]
    assert set(statuses) <= {"OK", "NOCREDIT"} and "OK" in statuses
    with database.transaction() as session:
        account = session.get(Account, account_id)
        tariff = load_tariff(session, account.tariff_plan_id)
        holds_total = 0
        for env, t in results:
            rows = (
                session.execute(select(Call).where(Call.uniqueid == env["agi_uniqueid"]))
                .scalars()
                .all()
            )
            if t["PULSA_STATUS"] != "OK":
                assert rows == []
                continue
            (call,) = rows
            hold = session.get(Hold, call.hold_id)
            holds_total += hold.amount
            pricing = CallPricing.for_call(
                tariff, call.dialled, call.authorized_at.replace(tzinfo=UTC)
            )
            # What the hold pays for, exactly; a later call on the wallet may have taken
            # part of it, never what pays for the first limit Asterisk gets (its bound).
            paid_ms = pricing.max_duration(hold.amount) * 1000
            assert int(t["PULSA_SLICE_MS"]) >= paid_ms == call.paid_ms
            assert int(t["PULSA_SLICE_S"]) * 1000 == call.bound_ms <= call.paid_ms
        assert holds_total == account.held <= account.balance == 500 * UNIT
    if mode == "static":
        assert statuses.count("OK") == 1


# --- the `pulsa fastagi` command --------------------------------------------------------


def test_the_server_runs_on_uvloop_and_on_asyncio_where_uvloop_is_missing(monkeypatch):
    import uvloop

    from agi.fastagi import new_event_loop, run_event_loop

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(run_event_loop(loop_type()), uvloop.Loop)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on a system without it
    fallback = new_event_loop()
    try:
        assert not isinstance(fallback, uvloop.Loop)
        assert isinstance(fallback, asyncio.AbstractEventLoop)
    finally:
        fallback.close()


def test_pulsa_fastagi_finishes_the_call_in_progress_on_sigterm_then_exits(migrated_urls):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    env["PULSA_DATABASE_URL"] = migrated_urls[selected_backends()[0]]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "pulsa"), "fastagi", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        announced = server.stdout.readline().decode()
        port = int(re.search(r"agi://127\.0\.0\.1:(\d+)/authorize", announced).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(encode_environment(call_env("6200000")))
            lines = sock.makefile("rb")
            assert lines.readline() == b"GET VARIABLE CHANNEL(linkedid)\n"
            server.send_signal(signal.SIGTERM)  # while Asterisk is still answering
            time.sleep(0.3)
            commands = []
            sock.sendall(b"200 result=0\n")
            while line := lines.readline():
                commands.append(line.decode().strip())
                sock.sendall(b"200 result=1\n")
        assert server.wait(15) == 0
    finally:
        server.kill()
        server.wait()
    assert commands[-1] == "SET VARIABLE PULSA_STATUS UNKNOWN" and len(commands) == 7
    log = server.stderr.read().decode()
    assert "status=UNKNOWN" in log and "pulsa fastagi stopped" in log


def test_pulsa_fastagi_refuses_a_database_that_is_not_set_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    env["PULSA_DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.db'}"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pulsa"), "fastagi", "--port", "0"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == [
        "error: the database is not set up yet: run `pulsa db upgrade` first"
    ]
