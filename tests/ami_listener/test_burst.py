"""A burst of calls on one wallet (issue 13): every call the wallet can pay a first limit
for gets in, none is refused while the money is only reserved, and they share it so that
all end together.

Generated streams on a manual clock (tests/ami_listener/pbx.py): the whole burst is
authorized at one instant, before Asterisk answers any of it and before the listener can
act, which is the hardest case for admission: the only room a new call can get is what
the wallet has not reserved and what live calls hold beyond the limit Asterisk will
enforce for them. Every scenario ends with invariants 1 to 4 and 6 checked."""

from __future__ import annotations

import pytest

from tests.ami_listener.checks import charged, check_invariants
from tests.ami_listener.harness import UNIT, Scenario, make_caller, make_plan, run
from wallet.calls import NOCREDIT, OK

RATES = "prefix,price_per_minute,connection_fee,initial_block,increment\n1,60,0,1,1\n"
FIRST_LIMIT_S = 2  # CallPolicy.limit_ahead_seconds, the default


@pytest.fixture(scope="module")
def plan(db):
    return make_plan(db, RATES)


async def burst(s: Scenario, number: str, count: int):
    calls = [await s.pbx.start_call(number, f"1555{index:04d}") for index in range(count)]
    for call in calls:
        if call.status == OK:
            await s.pbx.answer(call)
    await s.quiet()
    return calls


@pytest.mark.parametrize("slice_seconds", [60, 5])
def test_forty_calls_at_once_on_one_hundred_units_all_get_in_and_end_together(
    db, plan, slice_seconds
):
    """Before: 14 calls got in (first slices of 60, 20, 6, 3, 2, 1 s...), 26 were refused
    with the whole credit still on the wallet. Now all 40 get in: the first call's slice
    is no more than its fair share and the limit Asterisk gets at answer is short, so the
    part of its hold beyond that limit makes room for the next calls."""

    async def body():
        async with Scenario(db, slice_seconds=slice_seconds, safety_ms=0) as s:
            account, number = make_caller(db, plan, 100)
            calls = await burst(s, number, 40)
            assert [c.status for c in calls] == [OK] * 40
            await s.run_until_over()
            ends = [c.ended_at for c in calls]
            assert (max(ends) - min(ends)).total_seconds() <= 1  # all ended together
            assert all(c.cut for c in calls)  # by their limits, once the money was gone
            assert charged(db, account) == 100 * UNIT  # every unit talked
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())

    run(body)


def test_two_hundred_calls_at_once_on_one_hundred_units_fill_the_wallet_with_first_limits(db, plan):
    """A call is refused only when the wallet cannot pay even its first limit beside the
    limits already given: with 2 s first limits (never shorter than the time the listener
    needs to extend a call) 100 units let 50 calls in, in the order they came; the other
    150 are refused once every unit is promised to a call Asterisk already lets run."""

    async def body():
        async with Scenario(db, safety_ms=0) as s:
            account, number = make_caller(db, plan, 100)
            calls = await burst(s, number, 200)
            admitted = 100 // FIRST_LIMIT_S
            assert [c.status for c in calls] == [OK] * admitted + [NOCREDIT] * (200 - admitted)
            assert all(c.limits[0][1] - c.answered_at == _seconds(2) for c in calls[:admitted])
            await s.run_until_over()
            talked = [c.billsec for c in calls[:admitted]]
            assert talked == [FIRST_LIMIT_S] * admitted
            assert charged(db, account) == 100 * UNIT
            assert not s.pbx.violations
            check_invariants(db, [account], s.call_ids())

    run(body, timeout=300)


def _seconds(n: int):
    from datetime import timedelta

    return timedelta(seconds=n)
