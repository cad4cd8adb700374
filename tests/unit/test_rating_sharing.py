"""rating.sharing: a wallet shared between its live calls never pays for more than it has,
and calls that cannot all have a full slice end together, to the increment."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rating import Rate, cost
from rating.sharing import LiveCall, share_credit


def live_call(rate: Rate, elapsed: int, paid: int) -> LiveCall:
    return LiveCall(
        lambda seconds: cost(rate, seconds), elapsed, max(paid, elapsed), rate.increment
    )


rates = st.builds(
    Rate,
    prefix=st.just("1"),
    # At least one micro-unit a second: below that a charged step can cost nothing, and
    # "one more step" would be free (see rating.sharing).
    price_per_minute=st.integers(60, 5_000_000),
    connection_fee=st.integers(0, 200_000),
    initial_block=st.sampled_from([1, 6, 30, 60]),
    increment=st.sampled_from([1, 6, 60]),
)
rated_calls = st.lists(
    st.tuples(rates, st.integers(0, 600), st.integers(0, 120)).map(
        lambda t: (t[0], live_call(t[0], t[1], t[1] + t[2]))
    ),
    min_size=1,
    max_size=8,
)
calls = rated_calls.map(lambda pairs: [call for _, call in pairs])


def extra(calls_, targets):
    return sum(c.cost(t) - c.cost(c.elapsed) for c, t in zip(calls_, targets, strict=True))


@settings(max_examples=300, deadline=None)
@given(calls, st.integers(0, 50_000_000), st.sampled_from([5, 60]))
def test_shared_calls_never_cost_more_than_the_pool(calls_, pool, slice_seconds):
    targets = share_credit(calls_, pool, slice_seconds)
    assert extra(calls_, targets) <= pool
    assert all(t >= c.elapsed for c, t in zip(calls_, targets, strict=True))


@settings(max_examples=300, deadline=None)
@given(rated_calls, st.integers(0, 50_000_000), st.sampled_from([5, 60]))
def test_when_credit_is_short_calls_end_together_to_the_increment(pairs, pool, slice_seconds):
    calls_ = [call for _, call in pairs]
    targets = share_credit(calls_, pool, slice_seconds)
    full = [max(c.paid, c.elapsed + slice_seconds) for c in calls_]
    if extra(calls_, full) <= pool:
        return
    remaining = [t - c.elapsed for c, t in zip(calls_, targets, strict=True)]
    widest_step = max(max(rate.increment, rate.initial_block) for rate, _ in pairs)
    assert max(remaining) - min(remaining) <= widest_step


@settings(max_examples=300, deadline=None)
@given(calls, st.integers(0, 50_000_000))
def test_no_call_could_take_one_more_step_with_what_is_left_without_running_ahead(calls_, pool):
    targets = share_credit(calls_, pool, 60)
    full = [max(c.paid, c.elapsed + 60) for c in calls_]
    if extra(calls_, full) <= pool:
        return
    left = pool - extra(calls_, targets)
    soonest = min(t - c.elapsed for c, t in zip(calls_, targets, strict=True))
    for c, t in zip(calls_, targets, strict=True):
        too_far_ahead = t + c.step - c.elapsed - soonest > c.step
        assert too_far_ahead or c.cost(t + c.step) - c.cost(t) > left


def test_four_calls_on_one_hundred_units_end_at_the_same_second():
    per_second = Rate("1", price_per_minute=60_000_000, initial_block=1, increment=1)
    # Answered a second apart; 100 units in all, 6 already used by the time of sharing.
    calls_ = [live_call(per_second, elapsed, elapsed) for elapsed in (3, 2, 1, 0)]
    targets = share_credit(calls_, 94_000_000, 60)
    ends = [t - c.elapsed for c, t in zip(calls_, targets, strict=True)]
    assert extra(calls_, targets) == 94_000_000
    assert max(ends) - min(ends) <= 1


def test_with_enough_credit_every_call_gets_a_full_slice():
    per_second = Rate("1", price_per_minute=60_000_000, initial_block=1, increment=1)
    calls_ = [live_call(per_second, 10, 12), live_call(per_second, 50, 55)]
    assert share_credit(calls_, 10_000_000_000, 60) == [70, 110]
