"""The listener's pieces without a network or a database: settings, event reading, the
settlement rule of a followed call, the manual clock, and `pulsa ami` refusing to start
without an Asterisk server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from ami_listener.calls import Expire, FollowedCall, Settle, Wait
from ami_listener.clock import ManualClock
from ami_listener.config import ListenerConfig, parse_ami_servers
from ami_listener.events import CdrRecord, call_id_of, chanvars, hms_seconds
from ami_listener.listener import _Batcher
from pulsa.settings import SettingsError, load_settings

T0 = datetime(2026, 11, 23, 5, 0, 0)
WAIT = timedelta(seconds=3)


# --- settings -----------------------------------------------------------------------------
def test_ami_servers_are_read_with_their_name_user_secret_host_and_port():
    servers = parse_ami_servers(
        "pbx1=pulsa:s3cr:t@x@10.0.0.5:5039, admin:a%2Cb@pbx2.example, v6=u:p@[::1]:5038"
    )
    assert [(s.name, s.host, s.port, s.username) for s in servers] == [
        ("pbx1", "10.0.0.5", 5039, "pulsa"),
        ("pbx2.example:5038", "pbx2.example", 5038, "admin"),
        ("v6", "::1", 5038, "u"),
    ]
    assert servers[0].secret == "s3cr:t@x"
    assert servers[1].secret == "a,b"
    assert "s3cr" not in repr(servers[0])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pbx=pulsa@host", "expected user:secret before @"),
        ("pbx=pulsa:secret", "expected user:secret@host:port"),
        ("pbx=u:topsecret@host:70000", "bad port"),
        ("a=u:s@h1,a=u:s@h2", "two AMI servers are named 'a'"),
        ("p b=u:s@h", "letters, digits"),
    ],
)
def test_a_bad_ami_server_is_refused_without_showing_its_secret(value, message):
    with pytest.raises(SettingsError) as error:
        load_settings({"PULSA_AMI_SERVERS": value})
    assert message in str(error.value) and "PULSA_AMI_SERVERS" in str(error.value)
    assert "topsecret" not in str(error.value)


@pytest.mark.parametrize(
    "variables",
    [
        {"PULSA_AMI_RENEW_MARGIN_SECONDS": "1"},
        {"PULSA_AMI_SAFETY_MS": "-2"},
        {"PULSA_AMI_LIMIT_PRECISION_MS": "0"},
        {"PULSA_AMI_SAFETY_MS": "9500", "PULSA_AMI_RENEW_MARGIN_SECONDS": "10"},
        {"PULSA_AMI_CDR_WAIT_MS": "70000"},
        {"PULSA_AMI_RECHECK_SECONDS": "0"},
        {"PULSA_AMI_RECONNECT_MAX_SECONDS": "0"},
        {"PULSA_AMI_ACTION_TIMEOUT_MS": "50"},
        {"PULSA_AMI_DB_WORKERS": "0"},
        {"PULSA_AMI_HANGUP_POLL_MS": "50"},
        {"PULSA_AMI_HANGUP_POLL_MS": "120000"},
    ],
)
def test_listener_timings_out_of_range_are_refused(variables):
    with pytest.raises(SettingsError) as error:
        load_settings(variables)
    assert next(iter(variables)) in str(error.value) or "PULSA_AMI_" in str(error.value)


def test_listener_config_comes_from_the_settings():
    settings = load_settings(
        {
            "PULSA_AMI_SERVERS": "pbx=pulsa:secret@127.0.0.1:5038",
            "PULSA_AMI_CDR_WAIT_MS": "1500",
            "PULSA_AMI_ACTION_TIMEOUT_MS": "2500",
            "PULSA_AMI_HANGUP_POLL_MS": "250",
        }
    )
    config = ListenerConfig.from_settings(settings)
    assert [s.name for s in config.servers] == ["pbx"]
    assert (config.cdr_wait_s, config.action_timeout_s) == (1.5, 2.5)
    # Measured and from the Asterisk version unless forced.
    assert (config.safety_ms, config.limit_precision_ms) == (None, None)
    forced = load_settings({"PULSA_AMI_SAFETY_MS": "0", "PULSA_AMI_LIMIT_PRECISION_MS": "1000"})
    assert ListenerConfig.from_settings(forced).safety_ms == 0
    assert ListenerConfig.from_settings(forced).limit_precision_ms == 1000
    assert config.renew_margin_s == 10.0
    assert config.hangup_poll_s == 0.25
    assert ListenerConfig.from_settings(load_settings({})).hangup_poll_s == 1.0


# --- events -------------------------------------------------------------------------------
def test_channel_variables_single_or_repeated():
    assert chanvars({"ChanVariable": "PULSA_CALL=12"}) == {"PULSA_CALL": "12"}
    assert chanvars({"ChanVariable": ["PULSA_CALL=", "PULSA_STATUS=OK"]}) == {
        "PULSA_CALL": "",
        "PULSA_STATUS": "OK",
    }
    assert chanvars({}) == {}
    assert [call_id_of(v) for v in ("12", "", "0", "x1", " 7 ")] == [12, None, None, None, 7]
    assert hms_seconds("01:02:03") == 3723 and hms_seconds("bad") == 0


def test_a_cdr_event_is_read_as_panoramisk_gives_it():
    record = CdrRecord.from_event(
        {
            "Event": "Cdr",
            "UniqueID": "1795410450.3",
            "Channel": "Local/0811111@prepaid-outbound-00000001;2",
            "DestinationChannel": "Local/0811111@pstn-sim-00000007;1",
            "LastApplication": "Dial",
            "Disposition": "ANSWERED",
            "BillableSeconds": "3",
            "Duration": "3",
        }
    )
    assert record.of_dial and record.answered and record.billsec == 3


# --- the settlement rule ------------------------------------------------------------------
def followed(**facts) -> FollowedCall:
    call = FollowedCall(None, "1.1", "PJSIP/a-1", call_id=1, account_id=1, mode="live")
    for key, value in facts.items():
        setattr(call, key, value)
    return call


def cdr(disposition: str, billsec: int = 0, app: str = "Dial") -> CdrRecord:
    return CdrRecord("1.1", "PJSIP/a-1", "PJSIP/t-2", app, disposition, billsec, billsec)


def test_an_answered_dial_record_settles_at_once():
    call = followed(answered_at=T0)
    assert not call.note_cdr(cdr("ANSWERED", 9, app="Wait"))  # not the billable record
    assert call.note_cdr(cdr("ANSWERED", 9))
    assert call.decide(T0, WAIT) == Settle(9, "ANSWERED", "cdr")


def test_an_answered_call_without_a_record_waits_for_it_then_is_estimated_up_to_its_paid_time():
    call = followed(answered_at=T0, db_answered_at=T0, answer_recorded=True, paid_ms=60_000)
    assert call.decide(T0, WAIT) == Wait(None)
    call.note_called_hangup(T0 + timedelta(seconds=75))
    end = T0 + timedelta(seconds=75)
    assert call.decide(end, WAIT) == Wait(end + WAIT)
    assert call.decide(end + WAIT, WAIT) == Settle(60, "ANSWERED", "estimated")


def test_an_unanswered_call_settles_when_its_caller_hangs_up_with_the_dial_disposition():
    call = followed(dial_status="BUSY")
    assert call.decide(T0, WAIT) == Wait(None)
    call.note_cdr(cdr("BUSY"))
    assert call.decide(T0, WAIT) == Wait(None)  # the caller may still dial again
    call.note_caller_hangup(T0)
    assert call.decide(T0, WAIT) == Settle(0, "BUSY", "cdr")
    no_record = followed(dial_status="CHANUNAVAIL")
    no_record.note_caller_hangup(T0)
    assert no_record.decide(T0 + WAIT, WAIT) == Settle(0, "FAILED", "estimated")


def test_a_call_gone_while_nobody_watched_and_never_seen_answered_is_expired():
    call = followed(gone_while_away=True)
    call.note_caller_hangup(T0)
    assert call.decide(T0 + WAIT, WAIT) == Expire()


def test_an_answered_record_wins_over_an_earlier_busy_one():
    call = followed(answered_at=T0)
    call.note_cdr(cdr("BUSY"))
    call.note_cdr(cdr("ANSWERED", 4))
    assert call.cdr.billsec == 4
    assert not call.note_cdr(cdr("NO ANSWER"))


# --- the manual clock ---------------------------------------------------------------------
def test_the_manual_clock_wakes_sleepers_when_it_is_moved():
    async def body():
        clock = ManualClock(T0)
        woke = []

        async def sleeper(seconds):
            await clock.sleep_until(T0 + timedelta(seconds=seconds))
            woke.append(seconds)

        tasks = [asyncio.ensure_future(sleeper(s)) for s in (3, 1, 2)]
        await asyncio.sleep(0)
        assert clock.next_wakeup == T0 + timedelta(seconds=1)
        clock.advance(2)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert sorted(woke) == [1, 2]
        clock.advance(5)
        await asyncio.gather(*tasks)
        assert sorted(woke) == [1, 2, 3]
        with pytest.raises(ValueError):
            clock.set(T0)

    asyncio.run(body())


# --- the command --------------------------------------------------------------------------
def test_pulsa_ami_without_a_server_says_what_to_set(tmp_path, monkeypatch):
    from pulsa.cli import main

    for key in [k for k in os.environ if k.startswith("PULSA_") and not k.startswith("PULSA_TEST")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["ami"])
    assert exit_.value.code == 1
    assert "PULSA_AMI_SERVERS" in err.getvalue()


def test_a_batch_submitted_by_a_caller_the_last_drain_just_answered_is_still_written():
    """The drain answers its callers, then ends; its done-callback runs after they resume.
    A caller that submits again at once must get a drain of its own (this once hung the
    listener's answers until a test timed out)."""
    written: list[list[int]] = []

    async def db(work, items, *, what):
        await asyncio.sleep(0)
        written.append([item["n"] for item in items])
        return [item["n"] * 10 for item in items]

    async def body():
        batcher = _Batcher(SimpleNamespace(db=db), work=None, what="test", parallel=1)
        async with asyncio.timeout(2):  # in this task: wait_for would start a new one
            assert await batcher.submit(n=1) == 10
            assert await batcher.submit(n=2) == 20
            assert await batcher.submit(n=3) == 30

    asyncio.run(body())
    assert written == [[1], [2], [3]]


# --- the end of a call that ended while no listener followed it ---------------------------
ANSWER = datetime(2026, 11, 23, 5, 0, 0)


def gone_while_away(**values) -> FollowedCall:
    call = FollowedCall(None, "1.1", "PJSIP/a-1", **values)
    call.answer_recorded, call.db_answered_at = True, ANSWER
    call.note_caller_hangup(ANSWER + timedelta(seconds=24))  # found gone at resync
    call.gone_while_away = True
    return call


def test_a_call_found_gone_ends_at_the_limit_asterisk_enforced():
    call = gone_while_away(paid_ms=60_000, asterisk_end=ANSWER + timedelta(seconds=20))
    assert call.best_end(ANSWER + timedelta(seconds=30)) == (ANSWER + timedelta(seconds=20), True)


def test_a_call_found_gone_ends_on_asterisks_record_when_it_came():
    call = gone_while_away(paid_ms=60_000, asterisk_end=ANSWER + timedelta(seconds=20))
    call.note_cdr(CdrRecord("1.1", "PJSIP/a-1", "PJSIP/b-2", "Dial", "ANSWERED", 12, 15))
    assert call.best_end(ANSWER + timedelta(seconds=30)) == (ANSWER + timedelta(seconds=12), True)


def test_a_call_found_gone_never_ends_past_what_was_paid_nor_after_it_was_found():
    paid = gone_while_away(paid_ms=8_000)
    assert paid.best_end(ANSWER + timedelta(seconds=30)) == (ANSWER + timedelta(seconds=8), True)
    found = gone_while_away(paid_ms=60_000)
    assert found.best_end(ANSWER + timedelta(seconds=30)) == (ANSWER + timedelta(seconds=24), True)


def test_a_call_whose_hangup_was_seen_ends_then():
    call = FollowedCall(None, "1.1", "PJSIP/a-1", paid_ms=60_000)
    call.answer_recorded, call.db_answered_at = True, ANSWER
    call.note_caller_hangup(ANSWER + timedelta(seconds=7))
    assert call.best_end(ANSWER + timedelta(seconds=30)) == (ANSWER + timedelta(seconds=7), False)
