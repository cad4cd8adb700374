"""The listener's sense of time: naive UTC datetimes (as the database stores them) and a
way to wait for a moment. `SystemClock` is the real one; `ManualClock` moves only when a
test says so, so that slices, renewals and the wait for a Cdr can be driven second by
second without sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Alarm(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, naive UTC."""

    async def sleep_until(self, moment: datetime) -> None:
        """Return once `now() >= moment` (at once if it already is)."""

    def alarm(self, moment: datetime, future: asyncio.Future[None]) -> Alarm:
        """Resolve `future` (unless it is done) once `now() >= moment`: a wait without a
        task, for the thousands of calls that sleep at once."""


class _Handle:
    __slots__ = ("handle",)

    def __init__(self) -> None:
        self.handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SystemClock:
    """Wall-clock time. Long waits wake up now and then, so a clock step (NTP) cannot
    make a renewal late by more than a minute."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    async def sleep_until(self, moment: datetime) -> None:
        while True:
            left = (moment - self.now()).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 60.0))

    def alarm(self, moment: datetime, future: asyncio.Future[None]) -> Alarm:
        loop = asyncio.get_running_loop()
        alarm = _Handle()

        def check() -> None:
            if future.done():
                return
            left = (moment - self.now()).total_seconds()
            if left <= 0:
                future.set_result(None)
            else:
                alarm.handle = loop.call_later(min(left, 60.0), check)

        check()
        return alarm


class ManualClock:
    """A clock for tests: `advance(seconds)` or `set(moment)` moves it and wakes the
    waiters whose moment has come. Used from the event loop that waits on it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is not None:
            start = start.astimezone(UTC).replace(tzinfo=None)
        self._now = start
        self._waiters: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError("a clock does not go back")
        self._now = moment
        while self._waiters and self._waiters[0][0] <= moment:
            _, _, future = heapq.heappop(self._waiters)
            _wake(future)

    def advance(self, seconds: float) -> datetime:
        self.set(self._now + timedelta(seconds=seconds))
        return self._now

    @property
    def next_wakeup(self) -> datetime | None:
        """The earliest moment someone waits for (None when nobody waits)."""
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return self._waiters[0][0] if self._waiters else None

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (moment, next(self._order), future))
        await future

    def alarm(self, moment: datetime, future: asyncio.Future[None]) -> Alarm:
        if moment <= self._now:
            asyncio.get_running_loop().call_soon(_wake, future)
        else:
            heapq.heappush(self._waiters, (moment, next(self._order), future))
        return _Handle()  # a done future is skipped: nothing to cancel
