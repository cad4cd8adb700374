"""The classic AGI script as Asterisk runs it: `pulsa-agi authorize` in a subprocess, the
AGI environment on its stdin, one reply fed back for every command line it writes."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from messaging.models import Notice
from messaging.notifications import LOW_BALANCE
from pulsa.settings import load_settings
from tests.conftest import make_account
from tests.databases import selected_backends
from tests.support.fake_asterisk_agi import (
    PULSA_AGI,
    BlackHole,
    agi_environment,
    classic_session,
    fastagi_server,
)
from wallet.customers import add_identity
from wallet.db import Database
from wallet.models import Account, Call, CallRecord
from wallet.tariffs import ensure_plan, import_rates

UNIT = 1_000_000
_numbers = itertools.count(7000)
NAMES = [
    "PULSA_CALL",
    "PULSA_SLICE_MS",
    "PULSA_SLICE_S",
    "PULSA_MAX_MS",
    "PULSA_RATE",
    "PULSA_CREDIT",
    "PULSA_STATUS",
]


@pytest.fixture(scope="module")
def one_db(migrated_urls):
    """One backend for the cases whose database work the FastAGI tests already run on
    all three: a subprocess per case is slow enough."""
    database = Database(migrated_urls[selected_backends()[0]])
    yield database
    database.dispose()


def wallet(db, balance_units: int) -> tuple[str, int]:
    name, number = f"classic-{next(_numbers)}", f"62866{next(_numbers)}"
    account_id = make_account(db, balance_units * UNIT)

    def work(session):
        plan = ensure_plan(session, name, "Asia/Jakarta")
        import_rates(session, name, "prefix,price_per_minute,initial_block,increment\n62,60,1,1\n")
        session.execute(
            update(Account).where(Account.id == account_id).values(tariff_plan_id=plan.id)
        )
        add_identity(session, account_id, "callerid", number)

    db.run(work)
    return number, account_id


def call_env(callerid: str, *args: str) -> dict[str, str]:
    return agi_environment(
        extension="6221555",
        callerid=callerid,
        uniqueid=f"1795410450.{next(_numbers)}",
        args=args,
        network=False,
    )


def environ(db, **settings: str) -> dict[str, str]:
    # Live unless a test says otherwise: the site these tests stand for runs a listener.
    settings = {"call_mode": "live", **settings}
    return {"PULSA_DATABASE_URL": db.url, **{f"PULSA_{k.upper()}": v for k, v in settings.items()}}


def test_the_script_reads_the_environment_and_answers_with_set_variable_and_verbose(db):
    number, account_id = wallet(db, 100)
    env = call_env(number)
    t = classic_session(
        ["authorize"], env, environ=environ(db), variables={"CHANNEL(linkedid)": "1795410450.2"}
    )
    assert t.returncode == 0, t.stderr
    with db.transaction() as session:
        call = session.execute(
            select(Call).where(Call.uniqueid == env["agi_uniqueid"])
        ).scalar_one()
        assert (call.account_id, call.linkedid, call.dialled) == (
            account_id,
            "1795410450.2",
            "6221555",
        )
    assert t.commands[0] == 'GET VARIABLE "CHANNEL(linkedid)"'
    assert t.commands[1:8] == [
        f'SET VARIABLE "PULSA_CALL" "{call.id}"',
        'SET VARIABLE "PULSA_SLICE_MS" "60000"',
        'SET VARIABLE "PULSA_SLICE_S" "2"',  # the first limit: 100 units are no burst-proof wallet
        'SET VARIABLE "PULSA_MAX_MS" "100000"',
        'SET VARIABLE "PULSA_RATE" "60"',
        'SET VARIABLE "PULSA_CREDIT" "40"',
        'SET VARIABLE "PULSA_STATUS" "OK"',
    ]
    assert t.commands[8].startswith('VERBOSE "pulsa: authorize caller=') and len(t.commands) == 9
    assert "status=OK" in t.commands[8] and f"call={call.id}" in t.commands[8]
    assert "status=OK" in t.stderr and "Traceback" not in t.stderr


def test_the_number_given_as_an_argument_wins_over_the_extension(one_db):
    number, _ = wallet(one_db, 100)
    env = call_env(number)
    env["agi_extension"] = "s"
    t = classic_session(["authorize", "+62 21 555"], env, environ=environ(one_db))
    assert t["PULSA_STATUS"] == "OK"


def test_an_unknown_caller_and_an_empty_wallet_are_refused(one_db):
    number, _ = wallet(one_db, 0)
    unknown = classic_session(["authorize"], call_env("0000"), environ=environ(one_db))
    empty = classic_session(["authorize"], call_env(number), environ=environ(one_db))
    assert (unknown["PULSA_STATUS"], empty["PULSA_STATUS"]) == ("UNKNOWN", "NOCREDIT")
    assert [name for name, _ in empty.sets()] == NAMES
    assert (empty["PULSA_CALL"], empty["PULSA_CREDIT"]) == ("", "0")


def test_static_mode_then_settle_from_the_hangup_handler_charges_once(db):
    number, account_id = wallet(db, 100)
    env = call_env(number)
    static = environ(db, call_mode="static")
    t = classic_session(["authorize"], env, environ=static)
    assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"]) == ("OK", "100000")
    hangup = dict(env, agi_extension="h")
    settled = [
        classic_session(["settle", t["PULSA_CALL"], "ANSWER", "12"], hangup, environ=static)
        for _ in range(2)
    ]
    assert [s.sets() for s in settled] == [[("PULSA_SETTLED", "OK")]] * 2
    with db.transaction() as session:
        account = session.get(Account, account_id)
        assert (account.balance, account.held) == (88 * UNIT, 0)
        records = session.execute(
            select(CallRecord).where(CallRecord.uniqueid == env["agi_uniqueid"])
        ).scalars()
        assert [(r.billsec, r.cost) for r in records] == [(12, 12 * UNIT)]


def test_a_settlement_by_the_script_crossing_the_threshold_writes_the_low_balance_notice(
    db, admin_settings
):
    admin_settings(low_balance_threshold=50 * UNIT)
    number, account_id = wallet(db, 100)
    env = call_env(number)
    static = environ(db, call_mode="static")
    t = classic_session(["authorize"], env, environ=static)
    hangup = dict(env, agi_extension="h")
    settled = classic_session(["settle", t["PULSA_CALL"], "ANSWER", "70"], hangup, environ=static)
    assert settled.sets() == [("PULSA_SETTLED", "OK")]
    with db.transaction() as session:
        customer_id = session.get(Account, account_id).customer_id
        kinds = session.execute(
            select(Notice.kind).where(Notice.recipient == f"customer:{customer_id}")
        ).scalars()
        assert list(kinds) == [LOW_BALANCE]


def test_a_database_that_never_answers_is_error_within_the_timeout_and_the_script_exits():
    hole = BlackHole()
    try:
        t = classic_session(
            ["authorize"],
            call_env("6281234"),
            environ={
                "PULSA_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{hole.port}/x",
                "PULSA_AGI_TIMEOUT_MS": "300",
            },
            timeout=20,
        )
    finally:
        hole.close()
    assert t.returncode == 0
    assert t["PULSA_STATUS"] == "ERROR" and t["PULSA_CALL"] == ""
    # from the question to Asterisk (after the imports) to the answer
    assert t.commands[0].startswith("GET VARIABLE") and t.times[1] - t.times[0] < 1.0
    assert "status=ERROR" in t.stderr and "within 300 ms" in t.stderr


def test_bad_settings_are_error_in_one_line(one_db):
    t = classic_session(
        ["authorize"], call_env("6281234"), environ=environ(one_db, call_mode="fast")
    )
    assert t.sets() == [("PULSA_STATUS", "ERROR")]
    lines = [line for line in t.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "PULSA_CALL_MODE" in lines[0]


def test_a_hangup_before_the_answer_releases_the_call(one_db):
    number, account_id = wallet(one_db, 100)
    env = call_env(number)
    t = classic_session(["authorize"], env, environ=environ(one_db), hang_up_after=2)
    assert t.returncode == 0, t.stderr
    assert "not delivered" in t.stderr and "released" in t.stderr
    with one_db.transaction() as session:
        account = session.get(Account, account_id)
        assert (account.balance, account.held) == (100 * UNIT, 0)
        record = session.execute(
            select(CallRecord).where(CallRecord.uniqueid == env["agi_uniqueid"])
        ).scalar_one()
        assert (record.disposition, record.cost) == ("FAILED", 0)


def test_without_an_agi_environment_the_script_says_so_and_fails():
    result = subprocess.run(
        [str(PULSA_AGI), "authorize"], input=b"", capture_output=True, timeout=30
    )
    assert result.returncode == 2 and result.stdout == b""
    assert b"no AGI environment" in result.stderr


def test_the_script_imports_no_web_cli_migration_or_fastagi_framework():
    code = (
        "import sys, agi.classic; agi.classic._authorizer({'PULSA_DATABASE_URL': 'sqlite://'})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'flask', 'click', 'alembic', 'panoramisk', 'waitress', 'jinja2', 'werkzeug'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.stdout.decode().strip() == "[]", result.stderr.decode()


def test_with_a_fastagi_server_running_the_script_relays_and_imports_no_database_code(db):
    number, account_id = wallet(db, 100)
    env = call_env(number)
    settings = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_CALL_MODE": "live"})
    with fastagi_server(settings, db) as server:
        t = classic_session(
            ["authorize"],
            env,
            environ={
                **environ(db),
                "PULSA_FASTAGI_PORT": str(server.address[1]),
                "PYTHONPROFILEIMPORTTIME": "1",
            },
            variables={"CHANNEL(linkedid)": "1795410450.3"},
        )
    assert t.returncode == 0, t.stderr
    with db.transaction() as session:
        call = session.execute(
            select(Call).where(Call.uniqueid == env["agi_uniqueid"])
        ).scalar_one()
        assert (call.account_id, call.linkedid) == (account_id, "1795410450.3")
    # The server quotes values its own way; compare without quotes.
    commands = [command.replace('"', "") for command in t.commands]
    assert commands[0] == "GET VARIABLE CHANNEL(linkedid)"
    assert f"SET VARIABLE PULSA_CALL {call.id}" in commands
    assert commands.index("SET VARIABLE PULSA_STATUS OK") > commands.index(
        "SET VARIABLE PULSA_SLICE_MS 60000"
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in t.stderr.splitlines()}
    assert "asterisk" in imported and "sqlalchemy" not in imported and "psycopg" not in imported


def test_the_script_deciding_alone_uses_the_call_slice_and_mode_saved_in_the_admin(
    db, admin_settings
):
    number, _ = wallet(db, 100)
    admin_settings(call_slice_seconds=30)
    t = classic_session(["authorize"], call_env(number), environ=environ(db))
    assert t.returncode == 0, t.stderr
    assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"]) == ("OK", "30000")
    admin_settings(call_mode="static")
    t = classic_session(["authorize"], call_env(number), environ=environ(db))
    assert (t["PULSA_STATUS"], t["PULSA_SLICE_MS"], t["PULSA_CREDIT"]) == ("OK", "70000", "0")
