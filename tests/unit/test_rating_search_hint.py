"""`CallPricing.max_duration` searches from an estimate, or from `at_least`, instead of
bisecting a whole day: the answers are those of the plain bisection, whatever the hint."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rating.pricing import LONGEST_CALL_SECONDS, _cap, _longest_affordable
from tests.unit.test_rating_properties import (
    FAST,
    SLOW,
    call_pricings,
    credits_near_a_cost,
    durations,
)


@SLOW
@given(st.data())
def test_a_duration_known_to_fit_gives_the_same_longest_call(data):
    pricing = data.draw(call_pricings())
    credit = data.draw(credits_near_a_cost(pricing.cost))
    cap = data.draw(st.none() | st.integers(min_value=1, max_value=LONGEST_CALL_SECONDS))
    hint = data.draw(durations)
    assert pricing.max_duration(credit, cap, at_least=hint) == pricing.max_duration(credit, cap)


@FAST
@given(call_pricings(), durations)
def test_the_hold_of_a_priced_duration_pays_for_the_same_seconds_searched_either_way(
    pricing, seconds
):
    amount = pricing.cost(seconds)
    found = pricing.max_duration(amount, at_least=seconds)
    assert found == pricing.max_duration(amount)


@SLOW
@given(st.data())
def test_the_search_from_an_estimate_finds_what_the_plain_bisection_finds(data):
    pricing = data.draw(call_pricings())
    credit = data.draw(credits_near_a_cost(pricing.cost) | st.integers(0, 10**13))
    cap = data.draw(st.none() | st.integers(min_value=-5, max_value=LONGEST_CALL_SECONDS + 10))
    plain = _longest_affordable(pricing.cost, credit, _cap(pricing.rate, cap))
    assert pricing.max_duration(credit, cap) == plain
