"""Hand-worked examples for every feature of a rate, with the arithmetic in the comments.

Money is in micro-units: IDR 1,500 is 1_500_000_000, USD 0.06 is 60_000.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from rating import (
    Band,
    CallPricing,
    Rate,
    RatingError,
    Tariff,
    charged_seconds,
    cost,
    format_money,
    max_duration,
    parse_rate,
    to_micro,
)
from rating.bands import parse_clock, parse_days

IDR = 1_000_000  # one rupiah in micro-units
JAKARTA = ZoneInfo("Asia/Jakarta")  # UTC+7, no daylight saving time
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def jakarta(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=JAKARTA)


# --- billing increments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("billable", "charged", "price"),
    [
        (0, 0, 0),  # unanswered: nothing
        (1, 60, 1_500),  # one second pays the first whole minute
        (60, 60, 1_500),
        (61, 120, 3_000),  # one second into the second minute pays all of it
        (119, 120, 3_000),
        (121, 180, 4_500),
    ],
)
def test_60_60_billing_charges_whole_minutes(billable, charged, price):
    rate = Rate("62", 1_500 * IDR, initial_block=60, increment=60)
    assert charged_seconds(rate, billable) == charged
    assert cost(rate, billable) == price * IDR


@pytest.mark.parametrize(
    ("billable", "charged", "price"),
    [
        # USD 0.06 a minute is 1,000 micro-units a second.
        (1, 30, 30_000),  # the first 30 s are one block
        (30, 30, 30_000),
        (31, 36, 36_000),  # then 6 s steps: 30 + 6
        (36, 36, 36_000),
        (37, 42, 42_000),  # 30 + 2 * 6
        (100, 102, 102_000),  # 30 + 12 * 6 = 102
    ],
)
def test_30_6_billing_charges_a_30_second_block_then_6_second_steps(billable, charged, price):
    rate = Rate("1", 60_000, initial_block=30, increment=6)
    assert charged_seconds(rate, billable) == charged
    assert cost(rate, billable) == price


def test_1_1_billing_charges_each_second_and_rounds_the_micro_units_up():
    rate = Rate("44", 100_000, initial_block=1, increment=1)
    assert charged_seconds(rate, 7) == 7
    # 100,000 * 7 / 60 = 11,666.67 micro-units, rounded up to 11,667.
    assert cost(rate, 7) == 11_667
    # 100,000 * 6 / 60 = 10,000 exactly: nothing to round.
    assert cost(rate, 6) == 10_000


def test_a_connection_fee_is_added_once_to_an_answered_call_and_never_to_an_unanswered_one():
    rate = Rate("62", 1_500 * IDR, connection_fee=500 * IDR)
    # 500 + 2 minutes * 1,500 = 3,500
    assert cost(rate, 61) == 3_500 * IDR
    assert cost(rate, 1) == 2_000 * IDR
    assert cost(rate, 0) == 0


def test_a_minimum_duration_is_charged_for_shorter_calls():
    rate = Rate("44", 60_000, initial_block=1, increment=1, minimum_duration=30)
    assert charged_seconds(rate, 5) == 30  # 5 s pays the 30 s minimum: 30,000
    assert cost(rate, 5) == 30_000
    assert charged_seconds(rate, 45) == 45  # past the minimum, per second
    assert cost(rate, 45) == 45_000


def test_a_minimum_off_the_billing_grid_is_rounded_up_to_the_next_step():
    rate = Rate("1", 60_000, initial_block=30, increment=6, minimum_duration=45)
    assert charged_seconds(rate, 10) == 48  # 45 on the grid 30, 36, 42, 48: 48


def test_calls_shorter_than_the_grace_period_are_free_and_longer_ones_pay_from_zero():
    rate = Rate("62", 1_500 * IDR, connection_fee=200 * IDR, grace=5)
    assert cost(rate, 4) == 0  # 4 s < 5 s grace: free, not even the connection fee
    # 5 s: grace is over, the whole call is charged: 200 + 1 minute * 1,500.
    assert cost(rate, 5) == 1_700 * IDR
    per_second = Rate("44", 60_000, initial_block=1, increment=1, grace=3)
    assert charged_seconds(per_second, 2) == 0
    assert charged_seconds(per_second, 3) == 3  # the grace seconds are charged too


# --- max duration -------------------------------------------------------------------------


def test_max_duration_is_the_longest_call_the_credit_pays_for():
    rate = Rate("62", 1_500 * IDR, connection_fee=500 * IDR)
    # 4,000 IDR: 500 + 2 minutes (3,000) = 3,500 fits; a third minute (5,000) does not.
    assert max_duration(rate, 4_000 * IDR) == 120
    assert max_duration(rate, 3_500 * IDR) == 120
    assert max_duration(rate, 3_499 * IDR) == 60
    assert max_duration(rate, 499 * IDR) == 0  # not even the connection fee
    per_second = Rate("44", 60_000, initial_block=1, increment=1)
    # 1,000 micro-units a second: 12,345 pays 12 s (12,000), not 13 (13,000).
    assert max_duration(per_second, 12_345) == 12


def test_the_rate_max_duration_and_the_callers_cap_limit_max_duration():
    rate = Rate("62", 1_500 * IDR, max_duration=600)
    rich = 1_000_000 * IDR  # enough for 666 minutes
    assert max_duration(rate, rich) == 600  # the rate's own limit
    assert max_duration(rate, rich, cap=300) == 300  # the caller's smaller cap
    assert max_duration(rate, rich, cap=900) == 600  # a larger cap does not lift it
    assert max_duration(rate, 3_000 * IDR) == 120  # credit is the limit
    unlimited = Rate("62", 0)
    assert max_duration(unlimited, 0) == 86_400  # free calls: one day at most


# --- time bands in Asia/Jakarta -----------------------------------------------------------


def jakarta_tariff(holidays: dict[date, str] | None = None) -> Tariff:
    bands = [
        Band("weekend", parse_days("sat,sun"), parse_clock("00:00"), parse_clock("24:00")),
        Band("peak", parse_days("mon-fri"), parse_clock("08:00"), parse_clock("18:00")),
        # Every evening at 18:00 until 08:00 the next morning; the weekend band above wins
        # on Saturday and Sunday because it is listed first.
        Band("offpeak", parse_days("all"), parse_clock("18:00"), parse_clock("08:00")),
    ]
    rates = [
        Rate("62", 1_500 * IDR, initial_block=1, increment=1, band="peak"),
        Rate("62", 900 * IDR, initial_block=1, increment=1, band="offpeak"),
        Rate("62", 600 * IDR, initial_block=1, increment=1, band="weekend"),
    ]
    if holidays:  # a rate may only name a band the tariff knows
        rates.append(Rate("62", 300 * IDR, initial_block=1, increment=1, band="holiday"))
    return Tariff(rates, bands, holidays, timezone="Asia/Jakarta")


@pytest.mark.parametrize(
    ("moment", "band", "price"),
    [
        (jakarta(2025, 1, 8, 10, 0), "peak", 1_500),  # Wednesday morning
        (jakarta(2025, 1, 8, 17, 59, 59), "peak", 1_500),
        (jakarta(2025, 1, 8, 18, 0), "offpeak", 900),  # Wednesday evening
        (jakarta(2025, 1, 8, 3, 0), "offpeak", 900),  # Tuesday's evening band, past midnight
        (jakarta(2025, 1, 6, 7, 59, 59), "offpeak", 900),  # Monday before 08:00 (from Sunday)
        (jakarta(2025, 1, 6, 8, 0), "peak", 1_500),
        (jakarta(2025, 1, 10, 23, 0), "offpeak", 900),  # Friday night
        (jakarta(2025, 1, 11, 0, 0), "weekend", 600),  # Saturday from midnight
        (jakarta(2025, 1, 11, 10, 0), "weekend", 600),
        (jakarta(2025, 1, 12, 23, 59, 59), "weekend", 600),  # Sunday night
        # The same instant given in UTC: 03:00 UTC is 10:00 in Jakarta.
        (datetime(2025, 1, 8, 3, 0, tzinfo=UTC), "peak", 1_500),
        (datetime(2025, 1, 8, 11, 0, tzinfo=UTC), "offpeak", 900),  # 18:00 WIB
    ],
)
def test_peak_offpeak_and_weekend_bands_are_chosen_by_local_time_in_jakarta(moment, band, price):
    tariff = jakarta_tariff()
    assert tariff.band_at(moment) == band
    pricing = CallPricing.for_call(tariff, "628123456789", moment)
    assert pricing.band == band
    assert pricing.rate.band == band
    assert pricing.rate.price_per_minute == price * IDR
    assert pricing.cost(1) == price * IDR // 60  # one second, even just before a boundary


def test_a_holiday_uses_its_own_band_all_day_and_the_next_day_is_ordinary_again():
    # Monday 31 March 2025 (Idul Fitri) would be peak at 10:00 and off-peak at night.
    tariff = jakarta_tariff({date(2025, 3, 31): "holiday"})
    assert tariff.band_at(jakarta(2025, 3, 31, 0, 0)) == "holiday"
    assert tariff.band_at(jakarta(2025, 3, 31, 10, 0)) == "holiday"
    assert tariff.band_at(jakarta(2025, 3, 31, 23, 59, 59)) == "holiday"
    assert tariff.band_at(jakarta(2025, 4, 1, 0, 0)) == "offpeak"
    assert tariff.band_at(jakarta(2025, 4, 1, 10, 0)) == "peak"
    pricing = CallPricing.for_call(tariff, "62811", jakarta(2025, 3, 31, 10, 0))
    assert pricing.cost(60) == 300 * IDR
    # Answered at 23:59 on the holiday, 120 s: 60 s at 300 + 60 s off-peak at 900 = 1,200.
    late = CallPricing.for_call(tariff, "62811", jakarta(2025, 3, 31, 23, 59))
    assert late.cost(120) == 1_200 * IDR


def test_a_call_crossing_18_00_is_priced_per_segment():
    tariff = jakarta_tariff()
    pricing = CallPricing.for_call(tariff, "62811", jakarta(2025, 1, 8, 17, 58, 30))
    assert pricing.band == "peak"
    # Answered Wednesday 17:58:30, 200 s, billed per second:
    #   17:58:30-18:00:00 = 90 s peak at 1,500/min     = 90 * 1,500 / 60  = 2,250
    #   18:00:00-18:01:50 = 110 s off-peak at 900/min  = 110 * 900 / 60  = 1,650
    #   total                                                              3,900 IDR
    assert pricing.cost(200) == 3_900 * IDR
    # Up to the boundary the whole call is peak: 90 s = 2,250.
    assert pricing.cost(90) == 2_250 * IDR
    # The 91st second is off-peak: 2,250 + 900 / 60 = 2,265.
    assert pricing.cost(91) == 2_265 * IDR


def test_a_call_crossing_a_boundary_keeps_the_increments_of_the_band_it_was_answered_in():
    bands = [
        Band("peak", parse_days("all"), parse_clock("08:00"), parse_clock("18:00")),
        Band("offpeak", parse_days("all"), parse_clock("18:00"), parse_clock("08:00")),
    ]
    tariff = Tariff(
        [
            Rate("62", 1_500 * IDR, band="peak"),  # 60/60
            Rate("62", 900 * IDR, initial_block=1, increment=1, band="offpeak"),
        ],
        bands,
        timezone="Asia/Jakarta",
    )
    pricing = CallPricing.for_call(tariff, "62811", jakarta(2025, 1, 8, 17, 59, 30))
    # Answered at peak, so 60/60: 45 s are charged as 60 s, 30 s before 18:00 and 30 s
    # after: 30 * 1,500 / 60 + 30 * 900 / 60 = 750 + 450 = 1,200.
    assert pricing.cost(45) == 1_200 * IDR


def test_a_call_crossing_a_boundary_is_rounded_up_once_on_the_whole_call():
    bands = [
        Band("peak", parse_days("all"), parse_clock("08:00"), parse_clock("18:00")),
        Band("offpeak", parse_days("all"), parse_clock("18:00"), parse_clock("08:00")),
    ]
    tariff = Tariff(
        [
            Rate("1", 7, initial_block=1, increment=1, band="peak"),
            Rate("1", 5, initial_block=1, increment=1, band="offpeak"),
        ],
        bands,
    )
    pricing = CallPricing.for_call(tariff, "1555", datetime(2025, 1, 8, 17, 59, 59, tzinfo=UTC))
    # 1 s at 7/min + 1 s at 5/min = 12 / 60 = 0.2 micro-units, rounded up once: 1.
    # (Rounding each segment would give 1 + 1 = 2.)
    assert pricing.cost(2) == 1


def test_max_duration_across_a_boundary_counts_the_cheaper_seconds_after_it():
    tariff = jakarta_tariff()
    pricing = CallPricing.for_call(tariff, "62811", jakarta(2025, 1, 8, 17, 59, 0))
    # 3,000 IDR from 17:59:00: the first 60 s (peak) cost 1,500; the remaining 1,500 pay
    # 1,500 / (900 / 60) = 100 s off-peak. 160 s costs exactly 3,000, 161 s costs 3,015.
    assert pricing.max_duration(3_000 * IDR) == 160
    assert pricing.cost(160) == 3_000 * IDR
    assert pricing.cost(161) == 3_015 * IDR
    # Priced as if all peak it would have been 120 s.
    assert max_duration(pricing.rate, 3_000 * IDR) == 120


def test_a_band_can_wrap_past_midnight():
    tariff = Tariff(
        [Rate("", 60_000, band="night"), Rate("", 120_000)],
        [Band("night", parse_days("fri"), parse_clock("22:00"), parse_clock("06:00"))],
    )
    friday = datetime(2025, 1, 10, tzinfo=UTC)
    assert tariff.band_at(friday + timedelta(hours=21, minutes=59, seconds=59)) == ""
    assert tariff.band_at(friday + timedelta(hours=22)) == "night"
    assert tariff.band_at(friday + timedelta(hours=23, minutes=59, seconds=59)) == "night"
    assert tariff.band_at(friday + timedelta(days=1)) == "night"  # Saturday 00:00
    assert tariff.band_at(friday + timedelta(days=1, hours=5, minutes=59, seconds=59)) == "night"
    assert tariff.band_at(friday + timedelta(days=1, hours=6)) == ""  # Saturday 06:00
    assert tariff.band_at(friday - timedelta(hours=1)) == ""  # Thursday 23:00: not Thursday
    # A call from Friday 23:59:00 for 120 s (60/60) stays in the night band across midnight.
    pricing = CallPricing.for_call(tariff, "49", friday + timedelta(hours=23, minutes=59))
    assert pricing.band == "night"
    assert pricing.cost(120) == 2 * 60_000
    # Saturday 05:59:00 for 120 s: 60 s at night (60,000/min) then 60 s by day (120,000).
    early = CallPricing.for_call(tariff, "49", friday + timedelta(days=1, hours=5, minutes=59))
    assert early.cost(120) == 60_000 + 120_000


# --- daylight saving time: segments are measured in real seconds --------------------------


def day_and_night(zone: str, night_from: str, night_to: str) -> Tariff:
    every_day = parse_days("all")
    return Tariff(
        [
            Rate("", 60_000, initial_block=1, increment=1, band="night"),  # 1,000 a second
            Rate("", 120_000, initial_block=1, increment=1, band="day"),  # 2,000 a second
        ],
        [
            Band("night", every_day, parse_clock(night_from), parse_clock(night_to)),
            Band("day", every_day, parse_clock(night_to), parse_clock(night_from)),
        ],
        timezone=zone,
    )


def test_a_call_across_the_spring_change_of_clocks_in_berlin_meets_the_boundary_an_hour_early():
    tariff = day_and_night("Europe/Berlin", "22:00", "04:00")
    # Sunday 30 March 2025, clocks go from 02:00 CET to 03:00 CEST. Answered at 00:30
    # CET (23:30 UTC): 3 h 30 min of wall clock to 04:00 but only 2 h 30 min (9,000 s)
    # of real time. A 3 h call: 9,000 s night + 1,800 s day
    #   = 9,000 * 1,000 + 1,800 * 2,000 = 9,000,000 + 3,600,000 = 12,600,000.
    answer = datetime(2025, 3, 30, 0, 30, tzinfo=BERLIN)
    pricing = CallPricing.for_call(tariff, "4930", answer)
    assert pricing.band == "night"
    assert pricing.cost(9_000) == 9_000_000
    assert pricing.cost(9_001) == 9_002_000
    assert pricing.cost(10_800) == 12_600_000
    # 12,600,000 pays exactly those 3 h, a micro-unit less one second less.
    assert pricing.max_duration(12_600_000) == 10_800
    assert pricing.max_duration(12_599_999) == 10_799


def test_a_call_across_the_autumn_change_of_clocks_in_berlin_meets_the_boundary_an_hour_late():
    tariff = day_and_night("Europe/Berlin", "22:00", "04:00")
    # Sunday 26 October 2025, clocks go from 03:00 CEST back to 02:00 CET. Answered at
    # 00:30 CEST (22:30 UTC): 3 h 30 min of wall clock to 04:00, 4 h 30 min (16,200 s) of
    # real time. A 5 h call: 16,200 s night + 1,800 s day = 16,200,000 + 3,600,000.
    answer = datetime(2025, 10, 26, 0, 30, tzinfo=BERLIN)
    pricing = CallPricing.for_call(tariff, "4930", answer)
    assert pricing.cost(16_200) == 16_200_000
    assert pricing.cost(18_000) == 19_800_000


def test_a_call_across_the_spring_change_of_clocks_in_new_york_is_priced_in_real_seconds():
    tariff = day_and_night("America/New_York", "22:00", "06:00")
    # Sunday 9 March 2025, clocks go from 02:00 EST to 03:00 EDT. Answered at 00:30 EST
    # (05:30 UTC): 5 h 30 min of wall clock to 06:00, 4 h 30 min (16,200 s) of real time.
    # A 5 h call: 16,200 s night + 1,800 s day = 16,200,000 + 3,600,000 = 19,800,000.
    answer = datetime(2025, 3, 9, 5, 30, tzinfo=UTC)
    pricing = CallPricing.for_call(tariff, "1212", answer)
    assert pricing.band == "night"
    assert pricing.cost(16_200) == 16_200_000
    assert pricing.cost(18_000) == 19_800_000


# --- invalid rates and calls --------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"prefix": "62a"},  # letters
        {"prefix": "+62"},
        {"prefix": "62 81"},
        {"prefix": "١٢"},  # Arabic-Indic digits are digits, but not ASCII
        {"prefix": "1" * 21},  # more than 20 digits
        {"increment": 0},
        {"initial_block": 0},
        {"price_per_minute": -1},
        {"connection_fee": -1},
        {"minimum_duration": -1},
        {"grace": -1},
        {"max_duration": 0},
    ],
)
def test_invalid_rates_are_refused(fields):
    values = {"prefix": "62", "price_per_minute": 1_000} | fields
    with pytest.raises(RatingError):
        Rate(**values)


def test_a_prefix_of_twenty_digits_and_the_empty_catch_all_are_valid():
    assert Rate("1" * 20, 1_000).prefix == "1" * 20
    assert Rate("", 1_000).prefix == ""


def test_invalid_tariffs_and_calls_are_refused():
    with pytest.raises(RatingError):
        Tariff([Rate("62", 1, band="peak")])  # no such band
    with pytest.raises(RatingError):
        Tariff([Rate("62", 1), Rate("62", 2)])  # two rates for one prefix and band
    with pytest.raises(RatingError):
        Tariff([Rate("62", 1)], timezone="Mars/Olympus_Mons")
    tariff = Tariff([Rate("62", 1)])
    with pytest.raises(RatingError):
        CallPricing.for_call(tariff, "62-811", datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(RatingError):
        CallPricing.for_call(tariff, "62811", datetime(2025, 1, 1))  # no time zone
    assert CallPricing.for_call(tariff, "44", datetime(2025, 1, 1, tzinfo=UTC)) is None


# --- money --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("micro", "precision", "currency", "text"),
    [
        (1_500 * IDR, 0, "IDR", "IDR 1,500"),
        (1_234_567 * IDR, 0, "IDR", "IDR 1,234,567"),
        (1_500_400_000, 0, "IDR", "IDR 1,500"),  # 1,500.4 shows as 1,500
        (1_500_500_000, 0, "IDR", "IDR 1,501"),  # 1,500.5 rounds half up
        (0, 0, "IDR", "IDR 0"),
        (1_234_567, 2, "USD", "USD 1.23"),
        (1_235_000, 2, "USD", "USD 1.24"),
        (1_234_567_890_000, 2, "USD", "USD 1,234,567.89"),
        (-2_500_000, 2, "USD", "USD -2.50"),
        (0, 2, "USD", "USD 0.00"),
        (1_234_567, 2, "", "1.23"),
    ],
)
def test_format_money_shows_the_currency_with_its_precision(micro, precision, currency, text):
    assert format_money(micro, precision, currency) == text


def test_parse_rate_and_to_micro_round_up_to_the_micro_unit():
    assert parse_rate("1,500", precision=0) == 1_500 * IDR
    assert parse_rate(" 0.25 ", precision=0) == 250_000
    assert parse_rate("0.0000001", precision=0) == 1  # a tenth of a micro-unit is charged as one
    assert to_micro(Decimal("0.0000001")) == 1
    assert to_micro(Decimal("-0.0000001")) == 0  # up means towards +infinity
    assert to_micro(Decimal("1.5")) == 1_500_000
    assert to_micro(3) == 3_000_000
    # More significant digits than Decimal's default 28-digit context: still rounded up.
    assert to_micro(Decimal("0.1000000000000000000000000000001")) == 100_001
    for bad in ("", "abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            parse_rate(bad, precision=0)
