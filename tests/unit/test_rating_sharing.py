"""rating.sharing: a wallet shared between its live calls never pays for more than it has,
and calls that cannot all have a full slice end together, to the increment."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rating import Rate, charged_seconds, cost
from rating.pricing import max_duration
from rating.sharing import RICH_SLICES, Holding, LiveCall, _take, admit, reach, share_credit


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


# --- admission --------------------------------------------------------------------------

holdings_ = st.lists(
    st.tuples(st.integers(0, 100_000_000), st.integers(0, 100_000_000), st.integers(0, 100)).map(
        lambda t: Holding(amount=t[0], keep=min(t[0], t[1]), used=min(t[0], t[1]) * t[2] // 100)
    ),
    max_size=12,
)


def _pricing(rate: Rate):
    return (lambda seconds: cost(rate, seconds)), (lambda amount: max_duration(rate, amount))


@settings(max_examples=400, deadline=None)
@given(
    rates,
    st.integers(-1_000_000, 100_000_000),
    holdings_,
    st.integers(1, 120),
    st.integers(1, 10),
    st.sampled_from([5, 60]),
)
def test_a_new_call_takes_only_what_is_not_held_or_held_beyond_what_live_calls_keep(
    rate, unheld, holdings, minimum, first_limit, slice_seconds
):
    price, duration = _pricing(rate)
    minimum = charged_seconds(rate, minimum)
    room = max(0, unheld) + sum(h.amount - h.keep for h in holdings)
    admission = admit(
        price,
        duration,
        unheld,
        holdings,
        minimum=minimum,
        first_limit=first_limit,
        slice_seconds=slice_seconds,
    )
    if admission is None:
        assert price(minimum) > room  # refused only when even the minimum cannot be paid
        return
    taken = sum(h.amount for h in holdings) - sum(admission.holdings)
    # Sum of holds never above the money: what it holds comes from the room, exactly.
    assert admission.amount <= room
    assert taken == max(0, admission.amount - max(0, unheld))
    assert all(new >= h.keep for h, new in zip(holdings, admission.holdings, strict=True))
    assert all(new <= h.amount for h, new in zip(holdings, admission.holdings, strict=True))
    # Invariant 5, and its first limit is paid for.
    assert admission.amount == price(admission.seconds) or price(admission.seconds) <= (
        admission.amount
    )
    assert admission.seconds == duration(admission.amount)
    assert minimum <= admission.limit <= admission.seconds
    # Never shorter than the first limit when the room pays for it (the listener's time).
    if price(first_limit) <= room:
        assert admission.limit >= min(first_limit, admission.seconds)
        assert admission.seconds >= first_limit


@settings(max_examples=400, deadline=None)
@given(rates, st.integers(0, 100_000_000), holdings_, st.sampled_from([5, 60]))
def test_no_new_call_gets_more_than_a_fair_share_unless_its_minimum_needs_it(
    rate, unheld, holdings, slice_seconds
):
    price, duration = _pricing(rate)
    minimum = charged_seconds(rate, 1)
    admission = admit(
        price,
        duration,
        unheld,
        holdings,
        minimum=minimum,
        first_limit=2,
        slice_seconds=slice_seconds,
    )
    if admission is None:
        return
    unspent = unheld + sum(h.amount - h.used for h in holdings)
    fair = unspent // (len(holdings) + 1)
    # Within a slice, and within a fair share plus one step (a share is rounded to what
    # the rate charges) unless the minimum or the first limit asks for more.
    assert admission.amount <= max(price(slice_seconds), price(max(minimum, 2)))
    assert admission.amount <= max(fair + price(rate.increment), price(max(minimum, 2)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=20), st.data())
def test_what_is_taken_from_live_holds_levels_the_largest_first(releasable, data):
    need = data.draw(st.integers(0, sum(releasable)))
    taken = _take(releasable, need)
    assert sum(taken) == need
    assert all(0 <= t <= r for t, r in zip(taken, releasable, strict=True))
    left = [r - t for r, t in zip(releasable, taken, strict=True)]
    # Whoever gave something is left with no less than anyone else, less one unit.
    givers = [left[i] for i in range(len(left)) if taken[i] > 0]
    if givers:
        assert min(givers) + 1 >= max(left)


def test_forty_calls_at_once_on_one_hundred_units_all_get_in():
    """Issue 13: first holds were 60, 20, 6, 3, 2, 1 s... and the 15th call was refused.
    Each new call now takes its fair share from the holds beyond the 2 s first limits."""
    per_second = Rate("1", price_per_minute=60_000_000, initial_block=1, increment=1)
    price, duration = _pricing(per_second)
    unheld, holdings, limits = 100_000_000, [], []
    for _ in range(40):
        admission = admit(
            price, duration, unheld, holdings, minimum=1, first_limit=2, slice_seconds=60
        )
        assert admission is not None
        unheld -= admission.amount - (sum(h.amount for h in holdings) - sum(admission.holdings))
        kept = zip(admission.holdings, limits, strict=True)
        holdings = [Holding(amount, price(limit)) for amount, limit in kept]
        holdings.append(Holding(admission.amount, price(admission.limit)))
        limits.append(admission.limit)
    assert limits == [2] * 40
    assert unheld + sum(h.amount for h in holdings) == 100_000_000
    refused = admit(
        price,
        duration,
        0,
        [Holding(2_000_000, 2_000_000)] * 50,
        minimum=1,
        first_limit=2,
        slice_seconds=60,
    )
    assert refused is None


@settings(max_examples=300, deadline=None)
@given(calls, st.integers(0, 50_000_000), st.sampled_from([5, 60]), st.integers(1, 10))
def test_asterisk_is_told_no_further_than_the_share_nor_a_leash_ahead_on_a_small_wallet(
    calls_, pool, slice_seconds, leash
):
    targets = share_credit(calls_, pool, slice_seconds)
    told = reach(calls_, targets, pool, slice_seconds, leash)
    for call, target, far in zip(calls_, targets, told, strict=True):
        assert far <= target  # never more than the holds will pay
        assert far >= min(target, call.elapsed + leash)  # a full leash whenever paid for
    full = sum(c.cost(c.elapsed + slice_seconds) - c.cost(c.elapsed) for c in calls_)
    if pool >= RICH_SLICES * full:
        assert told == targets  # a wallet no burst can empty: whole slices, as before
