"""Cost of a call and the longest call a credit pays for, consistent with each other.

`cost` is non-decreasing in the billable duration, so `max_duration` can find the longest
duration whose cost fits a credit by bisection: exactly, never a second more (invariant 5).
"""

from __future__ import annotations

from datetime import datetime

from rating.money import ceil_div
from rating.tariff import Rate, RatingError, Tariff, _aware

#: No call is priced or authorized beyond one day, whatever the credit.
LONGEST_CALL_SECONDS = 86_400


def charged_seconds(rate: Rate, billable: int) -> int:
    """Seconds the caller pays for: grace, minimum, initial block, then increments."""
    if billable <= 0 or billable < rate.grace:
        return 0
    seconds = max(billable, rate.minimum_duration)
    if seconds <= rate.initial_block:
        return rate.initial_block
    increments = ceil_div(seconds - rate.initial_block, rate.increment)
    return rate.initial_block + increments * rate.increment


def cost(rate: Rate, billable: int) -> int:
    """Micro-unit cost of a call of `billable` seconds, all in this rate's band."""
    charged = charged_seconds(rate, billable)
    if charged == 0:
        return 0
    return rate.connection_fee + ceil_div(rate.price_per_minute * charged, 60)


def max_duration(rate: Rate, credit: int, cap: int | None = None) -> int:
    """Longest billable duration, in seconds, whose cost fits `credit` (single band)."""
    return _longest_affordable(lambda seconds: cost(rate, seconds), credit, _cap(rate, cap))


def _cap(rate: Rate, cap: int | None) -> int:
    limit = LONGEST_CALL_SECONDS if cap is None else min(cap, LONGEST_CALL_SECONDS)
    if rate.max_duration is not None:
        limit = min(limit, rate.max_duration)
    return max(limit, 0)


def _longest_affordable(cost_of, credit: int, cap: int, at_least: int = 0) -> int:
    if 0 < at_least < cap and cost_of(at_least) <= credit:
        return _longest_from(cost_of, credit, cap, at_least)
    if cost_of(cap) <= credit:
        return cap
    if cost_of(0) > credit:
        return 0
    low, high = 0, cap  # cost_of(low) <= credit < cost_of(high)
    while high - low > 1:
        middle = (low + high) // 2
        if cost_of(middle) <= credit:
            low = middle
        else:
            high = middle
    return low


def _longest_from(cost_of, credit: int, cap: int, low: int) -> int:
    """The same answer as the bisection from 0, searched upwards from `low` (which fits)
    in growing steps: the answer is usually a few seconds above a duration just priced,
    where a bisection over a whole day would take some twenty costings."""
    step = 1
    while True:
        probe = low + step
        if probe >= cap:
            if cost_of(cap) <= credit:
                return cap
            high = cap
            break
        if cost_of(probe) > credit:
            high = probe
            break
        low, step = probe, step * 2
    while high - low > 1:  # cost_of(low) <= credit < cost_of(high)
        middle = (low + high) // 2
        if cost_of(middle) <= credit:
            low = middle
        else:
            high = middle
    return low


def _longest_near(cost_of, credit: int, cap: int, guess: int) -> int:
    """The same answer as the bisection from 0, searched outwards from `guess` in growing
    steps: a good guess costs a handful of costings instead of some twenty."""
    guess = min(max(guess, 0), cap)
    if cost_of(guess) <= credit:
        return _longest_from(cost_of, credit, cap, guess)
    high, step = guess, 1  # cost_of(high) > credit: step down until a duration fits
    while True:
        probe = high - step
        if probe <= 0:
            if cost_of(0) > credit:
                return 0
            low = 0
            break
        if cost_of(probe) <= credit:
            low = probe
            break
        high, step = probe, step * 2
    while high - low > 1:  # cost_of(low) <= credit < cost_of(high)
        middle = (low + high) // 2
        if cost_of(middle) <= credit:
            low = middle
        else:
            high = middle
    return low


class CallPricing:
    """The pricing of one call to one number from the moment it is answered.

    The rate in effect at answer fixes the structure of the charge (connection fee,
    minimum, initial block, increments, grace). Each charged second is priced by the band
    in effect at that second, so a call crossing from peak into off-peak is priced per
    segment. Partial micro-units are rounded up once, on the whole call.
    """

    __slots__ = ("_first_span", "answer", "band", "prefix", "rate", "tariff")

    def __init__(self, tariff: Tariff, rate: Rate, answer: datetime, band: str, first_span: int):
        self.tariff = tariff
        self.rate = rate
        self.prefix = rate.prefix
        self.answer = answer
        self.band = band
        self._first_span = first_span

    @classmethod
    def for_call(cls, tariff: Tariff, number: str, answer: datetime) -> CallPricing | None:
        """Pricing for a call to `number` answered at `answer`, or None when no rate applies."""
        if not number.isdigit() or not number.isascii():
            raise RatingError(f"a dialled number must be digits only: {number!r}")
        moment = _aware(answer)
        if moment.microsecond:
            moment = moment.replace(microsecond=0)
        local = moment.astimezone(tariff.schedule.tz)
        band, wall_span = tariff.schedule.band_at(local)
        rate = tariff.find_rate(number, band)
        if rate is None:
            return None
        # Always in real seconds: a DST change anywhere before the next boundary (not only
        # near it) makes the wall-clock span and the real span differ.
        first_span = tariff.schedule._seconds_to_next_change(local, moment, wall_span)
        return cls(tariff, rate, moment, band, first_span)

    def cost(self, billable: int) -> int:
        rate = self.rate
        charged = charged_seconds(rate, billable)
        if charged == 0:
            return 0
        if charged <= self._first_span:
            return rate.connection_fee + ceil_div(rate.price_per_minute * charged, 60)
        weighted = 0
        for band, seconds in self.tariff.schedule.segments(self.answer, charged):
            segment_rate = self.tariff.rate_for_segment(self.prefix, band, rate)
            weighted += segment_rate.price_per_minute * seconds
        return rate.connection_fee + ceil_div(weighted, 60)

    def max_duration(self, credit: int, cap: int | None = None, *, at_least: int = 0) -> int:
        """Longest billable duration whose cost fits `credit` (invariant 5). `at_least`, a
        duration known to fit, only makes the search shorter: the answer is the same."""
        limit = _cap(self.rate, cap)
        if at_least:
            return _longest_affordable(self.cost, credit, limit, at_least)
        # Start from what the rate at answer alone would give: exact when the call stays
        # in one band, close otherwise; the search then only confirms it.
        rate = self.rate
        if rate.price_per_minute <= 0:
            guess = limit
        else:
            guess = max(credit - rate.connection_fee, 0) * 60 // rate.price_per_minute
        return _longest_near(self.cost, credit, limit, guess)
