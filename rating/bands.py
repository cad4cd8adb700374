"""Time bands (peak, off-peak, weekend, holidays) in the operator's time zone."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

DAY_SECONDS = 86_400
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Digits 0 to 9 only: int() would also read "٠٨" as 8.
_CLOCK = re.compile(r"([0-9]{1,2})(?::([0-9]{1,2}))?", re.ASCII)
ANY_BAND = ""


@dataclass(frozen=True, slots=True)
class Band:
    """A named stretch of the week: `days` are weekdays (0 = Monday), `start`/`end` are
    seconds since local midnight. `end <= start` means the band runs past midnight into
    the next day (22:00-06:00)."""

    name: str
    days: frozenset[int]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a band needs a name")
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"band {self.name}: days must be weekdays 0-6")
        if not (0 <= self.start < DAY_SECONDS and 0 <= self.end <= DAY_SECONDS):
            raise ValueError(f"band {self.name}: times must be within a day")

    def pieces(self) -> Iterator[tuple[int, int, int]]:
        """(weekday, start, end) pieces that never cross midnight."""
        for day in sorted(self.days):
            if self.end > self.start:
                yield day, self.start, self.end
            else:
                yield day, self.start, DAY_SECONDS
                if self.end > 0:
                    yield (day + 1) % 7, 0, self.end


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sat,sun', 'mon,wed-fri', 'all' -> weekday numbers."""
    text = text.strip().lower()
    if text in ("all", "*", "daily"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            lo = DAY_NAMES.index(first[:3])
            hi = DAY_NAMES.index(last[:3]) if last else lo
        except ValueError:
            raise ValueError(f"unknown day in {text!r} (use mon..sun)") from None
        day = lo
        while True:
            days.add(day)
            if day == hi:
                break
            day = (day + 1) % 7
    if not days:
        raise ValueError("no days given")
    return frozenset(days)


def format_days(days: Iterable[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def parse_clock(text: str) -> int:
    """'08:00' -> seconds since midnight; '24:00' is the end of the day."""
    clock = _CLOCK.fullmatch(text.strip())
    if not clock:
        raise ValueError(f"not a time of day: {text[:20]!r} (use HH:MM)")
    h, m = int(clock.group(1)), int(clock.group(2) or 0)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"not a time of day: {text!r}")
    return h * 3600 + m * 60


def format_clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class Schedule:
    """Which band is in effect at a moment, and when it next changes.

    Compiled once per tariff into, for each weekday, sorted interval starts with their
    band name, so a lookup is one bisect. Earlier bands win where bands overlap; time
    covered by no band belongs to ANY_BAND. A holiday date uses its band all day.
    """

    __slots__ = ("_holidays", "_names", "_starts", "tz")

    def __init__(
        self,
        bands: Iterable[Band] = (),
        holidays: Mapping[date, str] | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self.tz = tz
        self._holidays = dict(holidays or {})
        pieces_by_day: list[list[tuple[int, int, str]]] = [[] for _ in range(7)]
        for band in bands:
            for day, start, end in band.pieces():
                pieces_by_day[day].append((start, end, band.name))
        self._starts: list[list[int]] = []
        self._names: list[list[str]] = []
        for pieces in pieces_by_day:
            cuts = sorted({0, *(p[0] for p in pieces), *(p[1] for p in pieces)} - {DAY_SECONDS})
            starts: list[int] = []
            names: list[str] = []
            for cut in cuts:
                name = next((n for s, e, n in pieces if s <= cut < e), ANY_BAND)
                if not names or names[-1] != name:
                    starts.append(cut)
                    names.append(name)
            self._starts.append(starts)
            self._names.append(names)

    def band_at(self, local: datetime) -> tuple[str, int]:
        """The band at a local wall-clock time and the seconds until it may change."""
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        holiday = self._holidays.get(local.date()) if self._holidays else None
        if holiday is not None:
            return holiday, DAY_SECONDS - seconds
        day = local.weekday()
        starts = self._starts[day]
        index = bisect_right(starts, seconds) - 1
        following = starts[index + 1] if index + 1 < len(starts) else DAY_SECONDS
        return self._names[day][index], following - seconds

    def segments(self, start: datetime, seconds: int) -> Iterator[tuple[str, int]]:
        """Split `seconds` from the aware instant `start` into (band, seconds) pieces."""
        moment = start
        remaining = seconds
        while remaining > 0:
            local = moment.astimezone(self.tz)
            band, wall_span = self.band_at(local)
            span = self._seconds_to_next_change(local, moment, wall_span)
            take = min(span, remaining)
            yield band, take
            moment += timedelta(seconds=take)
            remaining -= take

    def _seconds_to_next_change(
        self, local: datetime, moment: datetime, wall_span: int | None = None
    ) -> int:
        """Real seconds from `moment` (whose local time is `local`) to the next boundary."""
        if wall_span is None:
            _, wall_span = self.band_at(local)
        if local.microsecond:
            wall_midnight = datetime.combine(local.date(), time())
            boundary_wall = wall_midnight + timedelta(
                seconds=local.hour * 3600 + local.minute * 60 + local.second + wall_span
            )
            boundary = boundary_wall.replace(tzinfo=self.tz).astimezone(UTC)
            return max(1, int((boundary - moment.astimezone(UTC)).total_seconds()))
        # Wall-clock boundaries become instants through the zone (as written: adding a
        # timedelta gives fold=0), so a DST change between now and the boundary is counted
        # in real seconds: the real span is the wall span less the change of UTC offset.
        # (tz.utcoffset(dt) is dt.utcoffset() without its checks, several times faster.)
        tz = self.tz
        offset_now = tz.utcoffset(local)
        offset_then = tz.utcoffset(local + timedelta(0, wall_span))
        if offset_then == offset_now:
            return wall_span  # band_at never gives less than 1
        return max(1, wall_span - int((offset_then - offset_now).total_seconds()))
