"""Generated calls on a manual clock: the listener keeps each live call paid for slice
after slice, shares a wallet between its calls, and settles them exactly.

Asterisk is simulated (tests/ami_listener/pbx.py): it enforces TIMEOUT(absolute) in the
clock's time and checks at every Setvar that the seconds it would now allow are paid for.
Every scenario ends with invariants 1 to 4 checked (checks.py)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from ami_listener.clock import ManualClock, SystemClock
from ami_listener.listener import Listener
from pulsa.settings import load_settings
from tests.ami_listener.checks import charged, check_invariants
from tests.ami_listener.harness import START, UNIT, Scenario, make_caller, make_plan, run
from tests.conftest import unique_key
from wallet import ledger
from wallet.calls import NOCREDIT, OK, CallPolicyCache, TariffCache, apply_share
from wallet.models import Account, Call

RATES = (
    "prefix,price_per_minute,connection_fee,initial_block,increment,grace\n"
    "1,60,0,1,1,0\n"  # 1 unit a second, per-second billing
    "2,90,0,1,1,0\n"  # 1.5 units a second
    "3,120,0,30,6,0\n"  # 2 units a second, 30/6 billing
    "4,45,2,60,60,0\n"  # 0.75 a second, per-minute billing, 2 units to connect
    "7,60,0,1,1,5\n"  # 1 unit a second, calls under 5 s are free
)


@pytest.fixture(scope="module")
def plan(db):
    return make_plan(db, RATES)


def balance(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).balance


def ends(calls) -> list[datetime]:
    return sorted(c.ended_at for c in calls)


@pytest.mark.parametrize(
    ("safety_ms", "lost_per_call"), [(0, 0), (1000, 1)], ids=["no-safety", "safety-second"]
)
def test_four_calls_a_second_apart_on_one_hundred_units_all_get_in_and_end_together(
    db, plan, safety_ms, lost_per_call
):
    """The published Elastix test charged 101.75 of a credit of 100. Here all four calls
    are let in, they end together when the pool is empty, and the total charged is the
    credit, less (with a safety second forced, the former default) the last second of each
    call that Asterisk was told to end a second early: the seconds the safety keeps back
    are held but never used, and come back to the wallet when the calls settle."""

    async def body():
        async with Scenario(db, safety_ms=safety_ms) as s:
            account, number = make_caller(db, plan, 100)
            for second in range(4):
                call = await s.pbx.start_call(number, "15550100")
                assert call.status == OK
                await s.pbx.answer(call)
                await s.quiet()
                if second < 3:
                    await s.step(1)
            await s.run_until_over()
            assert [c.status for c in s.pbx.calls] == [OK] * 4
            assert all(c.cut for c in s.pbx.calls)
            times = ends(s.pbx.calls)
            assert (times[-1] - times[0]).total_seconds() <= 1
            total = charged(db, account)
            assert 100 * UNIT - 4 * lost_per_call * UNIT <= total <= 100 * UNIT
            if safety_ms == 0:
                assert total == 100 * UNIT
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())
            assert balance(db, account) == 100 * UNIT - total >= 0

    run(body)


@pytest.mark.parametrize("count", [1, 2, 10, 50])
def test_concurrent_calls_on_one_wallet_with_different_rates_never_spend_what_is_not_there(
    db, plan, count
):
    rng = random.Random(count)

    async def body():
        async with Scenario(db, slice_seconds=30) as s:
            credit = 60 * count
            account, number = make_caller(db, plan, credit)
            wanted: dict[int, float] = {}  # index -> seconds the caller stays
            for index in range(count):
                dialled = rng.choice(["1555", "2555", "3555", "4555"])
                call = await s.pbx.start_call(number, dialled)
                if call.status == NOCREDIT:
                    continue
                assert call.status == OK
                await s.pbx.answer(call)
                wanted[index] = rng.uniform(5, 150)
                if index % 5 == 4:
                    await s.step(1)
            await s.quiet()
            elapsed = 0.0
            while s.pbx.live_calls() or s.listener.calls:
                await s.step(1)
                elapsed += 1
                for index, call in enumerate(s.pbx.calls):
                    talked = s.clock.now() - (call.answered_at or s.clock.now())
                    if call.live and index in wanted and talked.total_seconds() >= wanted[index]:
                        await s.pbx.hangup(call)
                await s.quiet()
                assert elapsed < 1000
            assert not s.pbx.violations
            total = charged(db, account)
            assert total <= credit * UNIT
            check_invariants(db, [account], s.call_ids())
            assert balance(db, account) == credit * UNIT - total
            cut = [c.ended_at for c in s.pbx.calls if c.cut]
            if count >= 10:  # the wallet ran dry: the calls it cut ended together
                assert len(cut) >= 2
                assert (max(cut) - min(cut)).total_seconds() <= 60 + 1  # largest increment

    run(body, timeout=600)


def test_a_top_up_during_a_call_extends_its_limit(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 30)
            call = await s.pbx.start_call(number, "15550100")
            assert call.slice_ms == 30_000
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(22):
                await s.step(1)
            # A small wallet: Asterisk is told a few seconds ahead at a time (the rest of
            # the hold is room for another call), never past the 30 s paid.
            assert s.clock.now() < call.limit_at <= START + timedelta(seconds=30)
            db.run(lambda ses: ledger.top_up(ses, account, 100 * UNIT, key=unique_key("top")))
            for _ in range(8):
                await s.step(1)
            # Past the 30 s the first 30 units paid: the hold pays for a new slice.
            assert call.live and call.limit_at > START + timedelta(seconds=30)
            with db.transaction() as session:
                assert session.get(Call, call.call_id).paid_ms > 60_000
            for _ in range(40):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            assert call.billsec == 70 and not call.cut
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].cost == 70 * UNIT
            assert balance(db, account) == 60 * UNIT
            assert not s.pbx.violations

    run(body)


def test_a_slice_saved_in_the_admin_settings_sets_the_length_of_the_listener_s_renewals(
    db, plan, admin_settings
):
    policies = CallPolicyCache(load_settings({}), refresh_seconds=0)

    async def body():
        async with Scenario(db, policies=policies) as s:
            account, number = make_caller(db, plan, 1000)
            call = await s.pbx.start_call(number, "15550100")
            assert call.slice_ms == 60_000  # authorized before the admin's change
            admin_settings(call_slice_seconds=20)
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(51):
                await s.step(1)
            # Renewed 10 s before the end of the first slice, by a 20 s slice, not 60 s.
            assert START + timedelta(seconds=60) < call.limit_at <= START + timedelta(seconds=71)
            for _ in range(20):
                await s.step(1)
            assert call.limit_at <= START + timedelta(seconds=91)
            await s.pbx.hangup(call)
            await s.run_until_over()
            assert s.listener.policy.slice_seconds == 20
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].cost == 71 * UNIT
            assert not s.pbx.violations

    run(body)


def test_a_call_crossing_from_peak_into_off_peak_is_priced_per_segment(db):
    plan = make_plan(
        db,
        "prefix,band,price_per_minute,initial_block,increment\n1,peak,120,1,1\n1,offpeak,60,1,1\n",
        bands=(("peak", "mon-fri", "08:00", "18:00"), ("offpeak", "all", "00:00", "24:00")),
    )
    before_six = datetime(2026, 11, 23, 17, 59, 0)  # a Monday, in the plan's zone (UTC)

    async def body():
        async with Scenario(db, clock=ManualClock(before_six)) as s:
            account, number = make_caller(db, plan, 1000)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(150):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            # 60 s at 2 units, then 90 s at 1 unit
            assert records[call.call_id].cost == (120 + 90) * UNIT
            assert records[call.call_id].billsec == 150
            assert s.listener.stats.extended >= 2  # the limit moved twice on the way
            assert not s.pbx.violations

    run(body)


def test_after_a_long_ring_the_limit_counts_from_answer(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 1000)
            call = await s.pbx.start_call(number, "15550100")
            for _ in range(45):
                await s.step(1)
            assert not s.pbx.setvars
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(100):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            first_setvar = s.pbx.setvars[0][0]
            assert first_setvar == START + timedelta(seconds=45 + 50)  # 10 s before 60 s
            with db.transaction() as session:
                row = session.get(Call, call.call_id)
                assert row.answered_at == START + timedelta(seconds=45)
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].billsec == 100
            assert records[call.call_id].cost == 100 * UNIT
            assert not s.pbx.violations

    run(body)


def test_a_call_shorter_than_the_grace_period_costs_nothing(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 50)
            call = await s.pbx.start_call(number, "7555")
            await s.pbx.answer(call)
            for _ in range(3):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            assert (records[call.call_id].billsec, records[call.call_id].cost) == (3, 0)
            assert balance(db, account) == 50 * UNIT

    run(body)


@pytest.mark.parametrize("tech", ["PJSIP", "Local"])
def test_busy_and_unanswered_calls_are_recorded_at_zero_cost(db, plan, tech):
    async def body():
        async with Scenario(db, tech=tech) as s:
            account, number = make_caller(db, plan, 500)
            busy = await s.pbx.start_call(number, "15550101")
            unanswered = await s.pbx.start_call(number, "15550102")
            await s.step(1)
            await s.pbx.busy(busy)
            for _ in range(20):
                await s.step(1)
            await s.pbx.hangup(unanswered)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            assert (records[busy.call_id].disposition, records[busy.call_id].cost) == ("BUSY", 0)
            assert records[unanswered.call_id].disposition == "NO ANSWER"
            assert records[unanswered.call_id].cost == 0
            assert {r.source for r in records.values()} == {"cdr"}
            assert balance(db, account) == 500 * UNIT

    run(body)


def test_without_cdr_events_a_call_is_settled_from_its_hangup_and_marked_estimated(db, plan):
    async def body():
        async with Scenario(db, send_cdr=False, cdr_wait_s=3) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            for _ in range(75):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.quiet()
            assert s.listener.calls  # waiting for a Cdr that will not come
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            record = records[call.call_id]
            assert (record.billsec, record.cost, record.source) == (75, 75 * UNIT, "estimated")

    run(body)


@pytest.mark.parametrize("renewed", [False, True], ids=["first-slice", "after-a-renewal"])
def test_a_call_that_ended_while_no_listener_ran_is_charged_no_further_than_asterisk_let_it_run(
    db, plan, renewed
):
    """The listener died after growing a call's hold and before its Setvar reached
    Asterisk, which then cut the call at the limit it had (the first slice, or the one of
    an earlier renewal). The next listener never saw the end and estimates it, up to that
    limit, not up to what the hold paid."""

    async def body():
        async with Scenario(db, slice_seconds=10, send_cdr=False, cdr_wait_s=1) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            for _ in range(7 if renewed else 1):  # a renewal is due 5 s after answer
                await s.step(1)
            allowed = (call.limit_at - call.answered_at).total_seconds()
            assert allowed > 10 if renewed else allowed == 10  # renewed: more than the first
            await s.listener.stop()
            # What the dying listener had committed: the hold grown to pay for 60 s.
            grown = db.run(
                lambda session: apply_share(session, call.call_id, s.clock.now(), 60, TariffCache())
            )
            assert grown == 60_000
            for _ in range(70):
                s.clock.advance(1)
                await s.pbx.tick()
            assert call.cut and call.ended_at == call.answered_at + timedelta(seconds=allowed)
            s.ami.delivered = 0  # counted per listener: the next one starts from none
            s.listener = Listener(s.config(), s.listener_db, s.policy, clock=s.clock)
            await s.listener.start()
            await s.until(lambda: s.listener.connected)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            record = records[call.call_id]
            assert (record.billsec, record.source) == (allowed, "estimated")
            assert record.cost == allowed * UNIT
            assert balance(db, account) == 500 * UNIT - record.cost

    run(body)


@pytest.mark.parametrize("tech", ["PJSIP", "Local"])
def test_every_event_delivered_twice_changes_nothing(db, plan, tech):
    async def body():
        async with Scenario(db, tech=tech, slice_seconds=20) as s:
            s.ami.duplicate_events = True
            account, number = make_caller(db, plan, 200)
            calls = []
            for seconds in (15, 45, 90):
                call = await s.pbx.start_call(number, "15550100")
                await s.pbx.answer(call)
                calls.append((call, seconds))
            for second in range(1, 200):
                await s.step(1)
                for call, seconds in calls:
                    if call.live and second >= seconds:
                        await s.pbx.hangup(call)
                if not s.pbx.live_calls() and not s.listener.calls:
                    break
            records = check_invariants(db, [account], s.call_ids())
            total = sum(r.cost for r in records.values())
            assert total == charged(db, account) <= 200 * UNIT
            assert [records[c.call_id].billsec for c, _ in calls] == [c.billsec for c, _ in calls]
            assert not s.pbx.violations

    run(body)


def test_the_admin_sees_live_calls_and_their_time_left_in_the_calls_table(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            for _ in range(55):
                await s.step(1)
            with db.transaction() as session:
                row = session.execute(
                    select(Call).where(Call.account_id == account, Call.status == "answered")
                ).scalar_one()
                left = row.answered_at + timedelta(milliseconds=row.paid_ms) - s.clock.now()
                assert timedelta(seconds=40) <= left <= timedelta(seconds=65)
            await s.pbx.hangup(call)
            await s.run_until_over()
            check_invariants(db, [account], s.call_ids())

    run(body)


def test_with_the_sample_manager_conf_calls_are_followed_through_their_channel_variables(db, plan):
    """asterisk_conf/manager.conf grants `read = system,call,cdr`: no VarSet events, so a
    call is known by the ChanVariable(PULSA_CALL) on its Dial events."""

    async def body():
        async with Scenario(db, events="system,call,cdr", slice_seconds=20) as s:
            account, number = make_caller(db, plan, 500)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            for _ in range(50):
                await s.step(1)
            await s.pbx.hangup(call)
            await s.run_until_over()
            records = check_invariants(db, [account], s.call_ids())
            assert (records[call.call_id].billsec, records[call.call_id].source) == (50, "cdr")
            assert s.listener.stats.extended >= 2
            assert not s.pbx.violations

    run(body)


def test_four_calls_on_one_hundred_units_in_real_time_with_millisecond_limits_spend_it_all(
    db, plan
):
    """In real time the elapsed seconds have fractions: whole-second limits lose them.
    With PULSA_AMI_LIMIT_PRECISION_MS=1 and no safety margin, the credit is spent to the
    last unit, and Asterisk (which bills whole seconds, rounded down) still never bills a
    second that is not paid for."""

    async def body():
        clock = SystemClock()
        async with Scenario(db, clock=clock, safety_ms=0, limit_precision_ms=1) as s:
            s.start_ticker(0.005)
            account, number = make_caller(db, plan, 100)
            for second in range(4):
                call = await s.pbx.start_call(number, "15550100")
                assert call.status == OK
                await s.pbx.answer(call)
                if second < 3:
                    await asyncio.sleep(1.0)
            await s.until(lambda: not s.pbx.live_calls() and not s.listener.calls, timeout=60)
            assert all(c.cut for c in s.pbx.calls)
            assert any("." in value for _, _, value in s.pbx.setvars)  # fractions were sent
            assert charged(db, account) == 100 * UNIT
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())

    run(body, timeout=90)
