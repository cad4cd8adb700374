"""Rates keyed by destination prefix, grouped into a tariff with its time bands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rating.bands import ANY_BAND, Band, Schedule

MAX_PREFIX_DIGITS = 20


class RatingError(ValueError):
    """A tariff or a rate that cannot be used as given."""


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of calls to one prefix in one band.

    Money is in micro-units; durations in whole seconds. A call is charged the
    connection fee plus `price_per_minute` for its charged seconds: at least
    `minimum_duration`, then the `initial_block`, then whole `increment`s. Calls shorter
    than `grace` seconds cost nothing. `prefix` "" is the catch-all; `band` "" applies at
    any time not covered by a more specific rate of the same prefix.
    """

    prefix: str
    price_per_minute: int
    connection_fee: int = 0
    initial_block: int = 60
    increment: int = 60
    minimum_duration: int = 0
    grace: int = 0
    max_duration: int | None = None
    band: str = ANY_BAND
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.prefix) > MAX_PREFIX_DIGITS or not (self.prefix == "" or self.prefix.isdigit()):
            raise RatingError(f"prefix must be up to {MAX_PREFIX_DIGITS} digits: {self.prefix!r}")
        if not self.prefix.isascii():
            raise RatingError(f"prefix must be ASCII digits: {self.prefix!r}")
        for name in ("price_per_minute", "connection_fee", "minimum_duration", "grace"):
            if getattr(self, name) < 0:
                raise RatingError(f"{name} cannot be negative")
        if self.initial_block < 1 or self.increment < 1:
            raise RatingError("initial block and increment must be at least 1 second")
        if self.max_duration is not None and self.max_duration < 1:
            raise RatingError("max duration must be at least 1 second")


def load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RatingError(f"unknown time zone: {name!r}") from None


class Tariff:
    """A tariff plan: rates by prefix and band, with the schedule that picks the band."""

    __slots__ = ("_lengths", "_rates", "schedule", "timezone")

    def __init__(
        self,
        rates: Iterable[Rate],
        bands: Iterable[Band] = (),
        holidays: Mapping[date, str] | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.timezone = timezone
        bands = list(bands)
        self.schedule = Schedule(bands, holidays, load_zone(timezone))
        known_bands = {b.name for b in bands} | set((holidays or {}).values()) | {ANY_BAND}
        self._rates: dict[str, dict[str, Rate]] = {}
        for rate in rates:
            if rate.band not in known_bands:
                raise RatingError(f"rate {rate.prefix or '*'}: unknown band {rate.band!r}")
            by_band = self._rates.setdefault(rate.prefix, {})
            if rate.band in by_band:
                raise RatingError(f"two rates for prefix {rate.prefix or '*'} band {rate.band!r}")
            by_band[rate.band] = rate
        self._lengths = sorted({len(p) for p in self._rates}, reverse=True)

    def __len__(self) -> int:
        return sum(len(by_band) for by_band in self._rates.values())

    def rates(self) -> list[Rate]:
        return [rate for by_band in self._rates.values() for rate in by_band.values()]

    def rates_for_prefix(self, prefix: str) -> Mapping[str, Rate]:
        return self._rates.get(prefix, {})

    def band_at(self, moment: datetime) -> str:
        return self.schedule.band_at(_aware(moment).astimezone(self.schedule.tz))[0]

    def find_rate(self, number: str, band: str) -> Rate | None:
        """Longest prefix of `number` with a rate for `band` (or for any band)."""
        rates = self._rates
        size = len(number)
        for length in self._lengths:
            if length > size:
                continue
            by_band = rates.get(number[:length])
            if by_band is not None:
                rate = by_band.get(band) or by_band.get(ANY_BAND)
                if rate is not None:
                    return rate
        return None

    def rate_for_segment(self, prefix: str, band: str, fallback: Rate) -> Rate:
        by_band = self._rates.get(prefix, {})
        return by_band.get(band) or by_band.get(ANY_BAND) or fallback


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise RatingError("call times must carry a time zone")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
