"""`CallPricing.max_duration(..., at_least=...)`: a hint that shortens the search never
changes the answer, whether the hint fits the credit or not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rating.pricing import LONGEST_CALL_SECONDS
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
