"""With the listener's default settings every unit of credit can be talked: limits to the
millisecond where the Asterisk version takes them, and a safety margin that comes from
what is measured (Setvar round trips, the event delay) instead of a fixed second.

Generated calls on a manual clock (tests/ami_listener/pbx.py enforces TIMEOUT(absolute)
and checks at every Setvar that what it would now allow is paid for); every scenario ends
with invariants 1 to 4 and 6 checked (checks.py) and the audit clean."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from ami_listener.config import ListenerConfig
from ami_listener.link import Delays, limit_precision_for
from ami_listener.listener import Listener, measured_safety_ms
from tests.ami_listener.checks import charged, check_invariants
from tests.ami_listener.harness import UNIT, Scenario, make_caller, make_plan, run
from tests.conftest import unique_key
from wallet import ledger
from wallet.calls import OK, CallPolicy

RATES = "prefix,price_per_minute,connection_fee,initial_block,increment,grace\n1,60,0,1,1,0\n"


@pytest.fixture(scope="module")
def plan(db):
    return make_plan(db, RATES)


def test_the_defaults_choose_the_precision_and_measure_the_margin():
    config = ListenerConfig()
    assert config.safety_ms is None and config.limit_precision_ms is None


@pytest.mark.parametrize(
    ("asterisk", "greeting", "precision"),
    [
        ("20.21.0", "9.0.0", 1),
        ("18.9-cert4", "7.0.3", 1),
        ("certified/18.9-cert4", "7.0.3", 1),
        ("1.8.32.3", "1.1", 1),
        ("1.6.2.24", "1.1", 1),
        ("1.6.1.0", "1.1", 1),
        ("1.6.0.28", "1.1", 1000),  # TIMEOUT(absolute) read whole seconds before 1.6.1
        ("1.4.44", "1.0", 1000),
        ("SVN-branch-1.4-r12345", "1.0", 1000),
        ("", "9.0.0", 1),  # CoreSettings refused: the AMI version of Asterisk 20
        ("GIT-master-0a1b2c3", "11.0.0", 1),
        ("", "1.1", 1000),  # 1.6.0 or later: not known to read fractions
        ("", "", 1000),
    ],
)
def test_the_limit_precision_follows_the_asterisk_version(asterisk, greeting, precision):
    assert limit_precision_for(asterisk, greeting) == precision


@pytest.mark.parametrize(
    ("round_trip_ms", "event_delay_ms", "margin_ms"),
    [
        (None, None, 0),  # nothing measured yet: a local Asterisk answers in a few ms
        (2, None, 0),
        (200, 150, 0),  # still well inside the second Asterisk rounds away
        (450, None, 200),  # no event timestamps: the event delay is taken as a round trip
        (600, 700, 600),
        (3000, 3000, 5300),
    ],
)
def test_the_safety_margin_grows_only_when_what_is_measured_nears_a_second(
    round_trip_ms, event_delay_ms, margin_ms
):
    assert measured_safety_ms(round_trip_ms, event_delay_ms) == margin_ms


@pytest.mark.parametrize(("slice_s", "most_ms"), [(60, 9000), (5, 1500)])
def test_a_measured_margin_never_keeps_a_renewal_from_coming_first(slice_s, most_ms):
    """Round trips of half a minute (the listener far behind its events) would call for a
    margin longer than a slice: calls the wallet pays for would be cut. It stops a second
    short of the renewal margin, as a margin set by hand must."""
    listener = Listener(ListenerConfig(), None, CallPolicy(slice_seconds=slice_s))
    link = SimpleNamespace(delays=Delays())
    for _ in range(3):
        link.delays.round_trips.append(30_000)
    assert listener.safety_ms_for(link) == most_ms
    link.delays.round_trips.clear()
    assert listener.safety_ms_for(link) == 0


async def _four_calls_a_second_apart(s: Scenario, number: str, offset_s: float) -> None:
    """Four calls started a little over a second apart, answered at once (the fractions of
    a second are what whole-second limits lose)."""
    await s.step(offset_s)
    for second in range(4):
        call = await s.pbx.start_call(number, "15550100")
        assert call.status == OK
        await s.pbx.answer(call)
        await s.quiet()
        if second < 3:
            await s.step(1.0 + offset_s)


@pytest.mark.parametrize("offset_s", [0.37, 0.81])
def test_four_calls_on_one_hundred_units_use_at_least_99_with_the_defaults(db, plan, offset_s):
    """The seed case: with the default settings Asterisk 20 charged 92 of 100 (the safety
    second and whole-second limits). Now at least 99 and never more than 100."""

    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 100)
            await _four_calls_a_second_apart(s, number, offset_s)
            await s.run_until_over(step_s=0.25)
            assert all(c.cut for c in s.pbx.calls)
            total = charged(db, account)
            assert 99 * UNIT <= total <= 100 * UNIT, total / UNIT
            assert any("." in value for _, _, value in s.pbx.setvars)  # fractions were sent
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())

    run(body)


def test_one_call_with_a_top_up_in_the_middle_talks_all_80_units(db, plan):
    """40 units, a top-up of 40 after 20.3 s of talk: the call ends at 80 s of 80."""

    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 40)
            await s.step(0.42)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(81):
                await s.step(0.25)
            db.run(lambda ses: ledger.top_up(ses, account, 40 * UNIT, key=unique_key("top")))
            await s.run_until_over(step_s=0.25)
            assert call.cut
            talk = (call.ended_at - call.answered_at).total_seconds()
            assert 80.0 <= talk < 81.0, talk
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].billsec == 80
            assert charged(db, account) == 80 * UNIT
            assert not s.pbx.violations

    run(body)


def test_a_slow_asterisk_gets_a_margin_and_never_a_second_that_is_not_paid(db, plan):
    """Every action takes 0.6 s to reach Asterisk and the answer is seen 0.7 s late: with
    no margin the call would run 1.3 s past its hold, into a second nobody paid for. The
    margin measured from those delays keeps it inside."""

    async def body():
        slow = {"setvar_delay_s": 0.6, "answer_seen_late_s": 0.7, "timestamp_events": True}
        async with Scenario(db, slice_seconds=20, pbx_options=slow) as s:
            account, number = make_caller(db, plan, 50)
            await s.step(0.3)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.run_until_over(step_s=0.25)
            assert call.cut
            assert not s.pbx.violations
            records = check_invariants(db, [account], s.call_ids())
            assert 48 <= records[call.call_id].billsec <= 50
            assert s.listener.safety_ms_for(call_link(s)) >= 500

    run(body)


def call_link(s: Scenario):
    (link,) = s.listener.links.values()
    return link


def test_an_old_asterisk_gets_whole_seconds(db, plan):
    """Asterisk 1.4 reads TIMEOUT(absolute) with atoi(): "0.500" would be 0, no limit at
    all. CoreSettings says 1.4: every limit is sent in whole seconds."""

    async def body():
        old = {"asterisk_version": "1.4.44", "ami_version": "1.0"}
        async with Scenario(db, slice_seconds=10, **old) as s:
            account, number = make_caller(db, plan, 30)
            await s.step(0.3)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.run_until_over(step_s=0.35)  # renewals at fractions of a second
            sent = [(at - call.answered_at).total_seconds() for at, _, _ in s.pbx.setvars]
            assert any(seconds % 1 for seconds in sent)
            values = [value for _, _, value in s.pbx.setvars]
            assert values and not any("." in value for value in values)
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())

    run(body)


def test_a_call_asterisk_ended_while_no_listener_ran_ends_on_its_cdr_when_asterisk_did(db, plan):
    """Asterisk cut the call at its 20 s limit while no listener ran; the next listener
    started 4 s later. Its CDR ends 20 s after answer (the limit Asterisk enforced), not
    when the call was found gone, and says that its end was estimated."""

    async def body():
        async with Scenario(db, slice_seconds=20, send_cdr=False, cdr_wait_s=1) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.step(1)
            await s.listener.stop()
            for _ in range(23):
                s.clock.advance(1)
                await s.pbx.tick()
            assert call.cut and call.ended_at == call.answered_at + timedelta(seconds=20)
            s.ami.delivered = 0  # counted per listener: the next one starts from none
            s.listener = Listener(s.config(), s.listener_db, s.policy, clock=s.clock)
            await s.listener.start()
            await s.until(lambda: s.listener.connected)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            record = records[call.call_id]
            assert (record.billsec, record.source, record.end_estimated) == (
                20,
                "estimated",
                True,
            )
            assert record.end_at - record.answer_at == timedelta(seconds=20)

    run(body)


def test_a_call_whose_hangup_was_seen_has_no_estimated_end(db, plan):
    async def body():
        async with Scenario(db, slice_seconds=20) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(5):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            record = check_invariants(db, [account], s.call_ids())[call.call_id]
            assert (record.billsec, record.source, record.end_estimated) == (5, "cdr", False)

    run(body)


def test_a_user_that_may_not_ask_the_version_gets_it_from_the_greeting(db, plan):
    """CoreSettings refused (an AMI user without `reporting` or `system`): the greeting's
    AMI version 9.0.0 is Asterisk 20, which takes fractions of a second."""

    async def body():
        async with Scenario(db, slice_seconds=10, asterisk_version=None) as s:
            account, number = make_caller(db, plan, 30)
            await s.step(0.3)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.run_until_over(step_s=0.35)  # renewals at fractions of a second
            assert any("." in value for _, _, value in s.pbx.setvars)
            assert call_link(s).asterisk_version == ""
            assert not s.pbx.violations
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].billsec == 30

    run(body)
