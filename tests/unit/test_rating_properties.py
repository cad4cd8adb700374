"""Property tests for `rating`: the invariants that billing relies on, tried with Hypothesis.

Each test states one invariant. Tariffs with bands are tried in zones with and without
daylight saving time, with answer times drawn close to the DST changes so that calls
cross them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import ceil
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rating import (
    MAX_PREFIX_DIGITS,
    Band,
    CallPricing,
    Rate,
    Tariff,
    charged_seconds,
    cost,
    max_duration,
    to_micro,
)
from rating.pricing import LONGEST_CALL_SECONDS

FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = ("UTC", "Asia/Jakarta", "Europe/Berlin", "America/New_York")

#: DST changes (as UTC instants) that answer times are drawn around.
DST_CHANGES = (
    datetime(2025, 3, 30, 1, 0, tzinfo=UTC),  # Europe/Berlin, clocks forward 02:00 -> 03:00
    datetime(2025, 10, 26, 1, 0, tzinfo=UTC),  # Europe/Berlin, clocks back 03:00 -> 02:00
    datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # America/New_York, forward 02:00 -> 03:00
    datetime(2025, 11, 2, 6, 0, tzinfo=UTC),  # America/New_York, back 02:00 -> 01:00
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=6)
prices = st.integers(min_value=0, max_value=20_000_000_000)  # up to 20,000 units a minute
fees = st.integers(min_value=0, max_value=2_000_000_000)
durations = st.integers(min_value=0, max_value=LONGEST_CALL_SECONDS + 3_600)


@st.composite
def rates(draw, prefix=None, band: str = "", price=None) -> Rate:
    return Rate(
        prefix=draw(digits) if prefix is None else prefix,
        price_per_minute=draw(prices) if price is None else price,
        connection_fee=draw(fees),
        initial_block=draw(st.integers(min_value=1, max_value=120)),
        increment=draw(st.integers(min_value=1, max_value=120)),
        minimum_duration=draw(st.sampled_from((0, 0, 10, 45, 60, 90, 300))),
        grace=draw(st.sampled_from((0, 0, 1, 3, 5, 10, 30))),
        max_duration=draw(st.none() | st.integers(min_value=1, max_value=2 * 3_600)),
        band=band,
    )


def effective_cap(rate: Rate, cap: int | None) -> int:
    """The cap max_duration must respect: the caller's, the rate's, and one day."""
    limit = LONGEST_CALL_SECONDS
    for bound in (cap, rate.max_duration):
        if bound is not None:
            limit = min(limit, bound)
    return max(limit, 0)


@st.composite
def bands(draw) -> list[Band]:
    """One to three bands on whole hours (some wrapping past midnight), overlapping or not."""
    result = []
    for index in range(draw(st.integers(min_value=1, max_value=3))):
        days = draw(st.frozensets(st.integers(min_value=0, max_value=6), min_size=1))
        start = draw(st.integers(min_value=0, max_value=23)) * 3_600
        end = draw(st.integers(min_value=0, max_value=24)) * 3_600
        result.append(Band(f"band{index}", days, start, end))
    return result


@st.composite
def banded_tariffs(draw) -> tuple[Tariff, str]:
    """A tariff whose every prefix has an any-band rate plus rates for some bands, and a
    number to call. Rates of one prefix share nothing but the prefix."""
    schedule = draw(bands())
    holidays = {}
    if draw(st.booleans()):
        holiday = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2025, 12, 31)))
        holidays[holiday] = "holiday"
    names = [band.name for band in schedule] + list(holidays.values())
    prefixes = draw(st.lists(digits, min_size=1, max_size=3, unique=True))
    all_rates = []
    for prefix in prefixes:
        all_rates.append(draw(rates(prefix=prefix)))
        for name in draw(st.lists(st.sampled_from(names), unique=True)):
            all_rates.append(draw(rates(prefix=prefix, band=name)))
    tariff = Tariff(all_rates, schedule, holidays, timezone=draw(st.sampled_from(ZONES)))
    number = draw(st.sampled_from(prefixes)) + draw(st.text("0123456789", max_size=8))
    return tariff, number


answer_times = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2025, 12, 31),
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda change, offset: change + timedelta(seconds=offset),
        st.sampled_from(DST_CHANGES),
        st.integers(min_value=-12 * 3_600, max_value=3 * 3_600),
    ),
)


@st.composite
def call_pricings(draw) -> CallPricing:
    tariff, number = draw(banded_tariffs())
    answer = draw(answer_times)
    # Answer times also come in other zones than the tariff's: the instant is what counts.
    answer = answer.astimezone(ZoneInfo(draw(st.sampled_from(ZONES))))
    pricing = CallPricing.for_call(tariff, number, answer)
    assert pricing is not None  # every prefix has an any-band rate
    return pricing


@st.composite
def credits_near_a_cost(draw, cost_of) -> int:
    """A credit close to the cost of some duration, where off-by-one errors live."""
    seconds = draw(durations)
    return max(0, cost_of(seconds) + draw(st.integers(min_value=-100, max_value=100)))


# --- cost is monotonic --------------------------------------------------------------------


@FAST
@given(rates(), durations, durations)
def test_cost_never_decreases_as_a_call_gets_longer(rate, first, second):
    shorter, longer = sorted((first, second))
    assert cost(rate, shorter) <= cost(rate, longer)


@SLOW
@given(call_pricings(), durations, durations)
def test_banded_cost_never_decreases_as_a_call_gets_longer_even_across_boundaries(
    pricing, first, second
):
    shorter, longer = sorted((first, second))
    assert pricing.cost(shorter) <= pricing.cost(longer)


# --- max duration: never a second more, never a whole increment less (invariant 5) --------


def assert_longest_affordable(cost_of, rate: Rate, credit: int, cap: int | None, found: int):
    limit = effective_cap(rate, cap)
    assert 0 <= found <= limit
    assert cost_of(found) <= credit
    if found < limit:
        assert cost_of(found + 1) > credit
        assert cost_of(found + rate.increment) > credit


@FAST
@given(st.data())
def test_max_duration_is_the_longest_call_the_credit_pays_for_to_the_second(data):
    rate = data.draw(rates())
    credit = data.draw(credits_near_a_cost(lambda seconds: cost(rate, seconds)))
    cap = data.draw(st.none() | st.integers(min_value=-5, max_value=LONGEST_CALL_SECONDS + 10))
    found = max_duration(rate, credit, cap)
    assert_longest_affordable(lambda seconds: cost(rate, seconds), rate, credit, cap, found)


@SLOW
@given(st.data())
def test_banded_max_duration_is_the_longest_call_the_credit_pays_for_across_bands_and_dst(data):
    pricing = data.draw(call_pricings())
    credit = data.draw(credits_near_a_cost(pricing.cost))
    cap = data.draw(st.none() | st.integers(min_value=1, max_value=LONGEST_CALL_SECONDS))
    found = pricing.max_duration(credit, cap)
    assert_longest_affordable(pricing.cost, pricing.rate, credit, cap, found)


# --- per-segment pricing agrees with pricing every second by its own band -----------------


def second_by_second_cost(pricing: CallPricing, tariff: Tariff, number: str, billable: int):
    """Reference: each charged second is priced by the rate of the band in effect at that
    second; the answer rate fixes fee and increments; one rounding up on the whole call."""
    charged = charged_seconds(pricing.rate, billable)
    if charged == 0:
        return 0
    price_of_band: dict[str, int] = {}
    weighted = 0
    for second in range(charged):
        band = tariff.band_at(pricing.answer + timedelta(seconds=second))
        if band not in price_of_band:
            price_of_band[band] = tariff.find_rate(number, band).price_per_minute
        weighted += price_of_band[band]
    return pricing.rate.connection_fee + ceil(Fraction(weighted, 60))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    banded_tariffs(),
    st.builds(
        lambda change, offset: change + timedelta(seconds=offset),
        st.sampled_from(DST_CHANGES),
        st.integers(min_value=-8 * 3_600, max_value=3_600),
    )
    | answer_times,
    st.integers(min_value=0, max_value=4 * 3_600),
)
def test_each_charged_second_is_priced_by_the_band_in_effect_at_that_second(
    tariff_and_number, answer, billable
):
    tariff, number = tariff_and_number
    pricing = CallPricing.for_call(tariff, number, answer)
    assert pricing.band == tariff.band_at(answer)
    assert pricing.rate == tariff.find_rate(number, pricing.band)
    assert pricing.cost(billable) == second_by_second_cost(pricing, tariff, number, billable)


DST_CHANGES_BY_ZONE = {
    "Europe/Berlin": DST_CHANGES[:2],
    "America/New_York": DST_CHANGES[2:],
}


@st.composite
def calls_across_a_dst_change(draw):
    """A day split into two bands at whole hours, in a zone with DST, and a call answered
    in the hours before a change of clocks."""
    zone = draw(st.sampled_from(sorted(DST_CHANGES_BY_ZONE)))
    # One boundary in the small hours, near the change of clocks, and one in the day.
    second = draw(st.sampled_from(range(1, 6)))
    first = draw(st.integers(min_value=7, max_value=23))
    every_day = frozenset(range(7))
    schedule = [
        Band("day", every_day, first * 3_600, second * 3_600),
        Band("night", every_day, second * 3_600, first * 3_600),
    ]
    prefix = draw(digits)
    # Prices a whole micro-unit a second apart, so one second priced wrong shows.
    day_price = draw(st.integers(min_value=0, max_value=10**10))
    night_price = day_price + 60 * draw(st.integers(min_value=1, max_value=10**6))
    tariff = Tariff(
        [
            draw(rates(prefix=prefix, band="day", price=day_price)),
            draw(rates(prefix=prefix, band="night", price=night_price)),
        ],
        schedule,
        timezone=zone,
    )
    change = draw(st.sampled_from(DST_CHANGES_BY_ZONE[zone]))
    hours_before = draw(st.sampled_from(range(4)))
    answer = change - timedelta(hours=hours_before, seconds=draw(st.integers(0, 3_599)))
    return tariff, prefix + draw(st.text("0123456789", max_size=6)), answer


def hours_and_seconds(hours: int):
    """Durations spread evenly over whole hours (plain integers favour small values)."""
    return st.builds(
        lambda hour, second: hour * 3_600 + second,
        st.sampled_from(range(hours)),
        st.integers(min_value=0, max_value=3_599),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls_across_a_dst_change(), hours_and_seconds(5))
def test_a_call_across_a_change_of_clocks_is_priced_by_the_band_of_each_real_second(call, billable):
    tariff, number, answer = call
    pricing = CallPricing.for_call(tariff, number, answer)
    assert pricing.cost(billable) == second_by_second_cost(pricing, tariff, number, billable)


# --- interval debits add up to the final charge (invariant 4) -----------------------------


def debits_for(cost_of, checkpoints: list[int]) -> list[int]:
    debits: list[int] = []
    for checkpoint in checkpoints:
        debits.append(cost_of(checkpoint) - sum(debits))
    return debits


@FAST
@given(rates(), st.lists(durations, min_size=1, max_size=30))
def test_interval_debits_are_never_negative_and_add_up_to_the_cost_of_the_whole_call(
    rate, checkpoints
):
    checkpoints.sort()
    debits = debits_for(lambda seconds: cost(rate, seconds), checkpoints)
    assert all(debit >= 0 for debit in debits)
    assert sum(debits) == cost(rate, checkpoints[-1])


@SLOW
@given(call_pricings(), st.lists(durations, min_size=1, max_size=30))
def test_banded_interval_debits_are_never_negative_and_add_up_to_the_cost_of_the_whole_call(
    pricing, checkpoints
):
    checkpoints.sort()
    debits = debits_for(pricing.cost, checkpoints)
    assert all(debit >= 0 for debit in debits)
    assert sum(debits) == pricing.cost(checkpoints[-1])


# --- rounding never under-charges ---------------------------------------------------------


@FAST
@given(rates(), durations)
def test_cost_rounds_up_by_less_than_one_micro_unit_and_never_under_charges(rate, billable):
    charged = charged_seconds(rate, billable)
    charge = cost(rate, billable)
    if charged == 0:
        assert charge == 0
        return
    exact_times_60 = rate.price_per_minute * charged + rate.connection_fee * 60
    assert charge * 60 >= exact_times_60
    assert charge * 60 - exact_times_60 < 60


decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    # Many significant digits and small exponents: more than Decimal's default precision.
    st.builds(
        lambda sign, digits_, exponent: Decimal(f"{sign}{digits_}E-{exponent}"),
        st.sampled_from(("", "-")),
        st.integers(min_value=0, max_value=10**45),
        st.integers(min_value=0, max_value=45),
    ),
)


@FAST
@given(decimals)
def test_to_micro_rounds_up_to_the_next_micro_unit_and_no_further(amount):
    exact = Fraction(amount) * 1_000_000
    micro = to_micro(amount)
    assert isinstance(micro, int)
    assert micro >= exact
    assert micro - exact < 1


# --- charged seconds ----------------------------------------------------------------------


@FAST
@given(rates(), durations)
def test_charged_seconds_cover_the_call_and_its_minimum_and_land_on_the_billing_grid(
    rate, billable
):
    charged = charged_seconds(rate, billable)
    if billable <= 0 or billable < rate.grace:
        assert charged == 0
        return
    assert charged >= billable
    assert charged >= rate.minimum_duration
    assert charged >= rate.initial_block
    assert (charged - rate.initial_block) % rate.increment == 0
    # ...and it is the smallest such point: one increment less would not cover the call.
    if charged > rate.initial_block:
        assert charged - rate.increment < max(billable, rate.minimum_duration)


@FAST
@given(st.data())
def test_calls_shorter_than_the_grace_period_cost_nothing(data):
    rate = data.draw(rates())
    billable = data.draw(st.integers(min_value=-5, max_value=max(rate.grace - 1, 0)))
    assert charged_seconds(rate, billable) == 0
    assert cost(rate, billable) == 0


# --- longest prefix wins ------------------------------------------------------------------


def longest_matching(prefixes, number: str) -> str | None:
    matching = [prefix for prefix in prefixes if number.startswith(prefix)]
    return max(matching, key=len) if matching else None


@st.composite
def prefix_sets_and_numbers(draw, catch_all: bool):
    prefixes = set(
        draw(st.lists(st.text("0123456789", min_size=1, max_size=8), min_size=1, max_size=25))
    )
    if catch_all:
        prefixes.add("")
    # Numbers that extend a known prefix, and numbers of random digits.
    number = draw(
        st.one_of(
            st.builds(
                str.__add__,
                st.sampled_from(sorted(prefixes)),
                st.text("0123456789", max_size=MAX_PREFIX_DIGITS - 8),
            ),
            st.text("0123456789", min_size=1, max_size=MAX_PREFIX_DIGITS),
        )
    )
    assume(number)
    return prefixes, number


@FAST
@given(prefix_sets_and_numbers(catch_all=False))
def test_the_longest_prefix_of_the_number_that_has_a_rate_wins(prefixes_and_number):
    prefixes, number = prefixes_and_number
    tariff = Tariff(Rate(prefix, 1_000) for prefix in prefixes)
    found = tariff.find_rate(number, "")
    expected = longest_matching(prefixes, number)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.prefix == expected


@FAST
@given(prefix_sets_and_numbers(catch_all=True))
def test_the_catch_all_rate_is_used_only_when_no_other_prefix_matches(prefixes_and_number):
    prefixes, number = prefixes_and_number
    tariff = Tariff(Rate(prefix, 1_000) for prefix in prefixes)
    found = tariff.find_rate(number, "")
    assert found is not None
    others_match = any(number.startswith(prefix) for prefix in prefixes if prefix)
    assert (found.prefix == "") == (not others_match)


@FAST
@given(st.data())
def test_a_prefix_without_a_rate_for_the_band_gives_way_to_a_shorter_one(data):
    """A rate applies in its own band; an any-band rate applies in every band."""
    prefixes, number = data.draw(prefix_sets_and_numbers(catch_all=True))
    bands_of = {
        prefix: data.draw(
            st.sets(st.sampled_from(("", "peak", "offpeak")), min_size=1), label=prefix
        )
        for prefix in prefixes
    }
    tariff = Tariff(
        (Rate(prefix, 1_000, band=band) for prefix, names in bands_of.items() for band in names),
        [Band("peak", frozenset(range(5)), 8 * 3_600, 18 * 3_600)],
        holidays={date(2025, 12, 25): "offpeak"},
    )
    band = data.draw(st.sampled_from(("", "peak", "offpeak")))
    usable = [prefix for prefix, names in bands_of.items() if band in names or "" in names]
    found = tariff.find_rate(number, band)
    expected = longest_matching(usable, number)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.prefix == expected
        assert found.band == (band if band in bands_of[expected] else "")
