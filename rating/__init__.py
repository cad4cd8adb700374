"""Pure tariff math: prefixes, time bands, increments, cost and max duration.

Standard library only: no clock, no database, no I/O. A call and a tariff go in, a
charge comes out. Amounts are integers in micro-units (1/1,000,000 of the currency).
"""

from rating.bands import Band, Schedule
from rating.money import (
    MICRO,
    AmountError,
    ceil_div,
    format_money,
    parse_amount,
    parse_rate,
    to_micro,
)
from rating.pricing import CallPricing, charged_seconds, cost, max_duration
from rating.tariff import MAX_PREFIX_DIGITS, Rate, RatingError, Tariff

__all__ = [
    "MAX_PREFIX_DIGITS",
    "MICRO",
    "AmountError",
    "Band",
    "CallPricing",
    "Rate",
    "RatingError",
    "Schedule",
    "Tariff",
    "ceil_div",
    "charged_seconds",
    "cost",
    "format_money",
    "max_duration",
    "parse_amount",
    "parse_rate",
    "to_micro",
]
