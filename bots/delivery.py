"""The outbox worker: sends every notice of messaging's outbox to its chats, within each
platform's rate limits, again and again while a platform cannot be reached, and never
twice.

How a notice travels (messaging/outbox.py keeps the rows):

1. routed: the recipient ("customer:7") becomes one delivery per linked chat;
2. claimed: a delivery the rate limits allow now is marked "sending" with this attempt's
   claim and a lease, and that is COMMITTED before the request leaves;
3. sent: the platform's answer is recorded at once (a few at a time when they arrive
   together): sent, pending again (unreachable, 429: later), failed (403 blocked,
   400 chat not found) or uncertain.

Exactly once, and what cannot be: Telegram has no idempotency key, so when the worker
dies (SIGKILL, power cut) or loses the answer (a read timeout) after a request may have
reached Telegram and before the outcome is committed, nobody can know whether the
message arrived. Those deliveries are never sent again by themselves: a delivery still
"sending" after its lease becomes "uncertain", and staff see it on the admin's Notices
screen and may send it again. So a crash never makes a duplicate; at most the deliveries
in flight at that moment (at most `concurrency`, each for one round trip) end uncertain
instead of sent. Refused connections (nothing left) are retried safely. A platform whose
sender is `idempotent` (LINE's X-Line-Retry-Key) gets expired deliveries sent again with
the same key instead. A graceful stop (SIGTERM, Ctrl-C) claims nothing more and waits for
the requests in flight, so it leaves nothing uncertain.

Rate limits are kept by this process (run one worker per platform; two would each take
the whole allowance): a platform-wide pace and a per-chat pace, plus a pause of the whole
platform on 429 (Telegram's retry_after) and while it cannot be reached (backing off, one
probe at a time). A delivery undelivered `give_up_after` after its notice is failed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select

from messaging.models import Delivery, Notice
from messaging.notifications import notify_packages_ending, render
from messaging.outbox import (
    DueDelivery,
    Outcome,
    claim_deliveries,
    due_deliveries,
    expire_leases,
    notice_payload,
    record_outcomes,
    route_notices,
)
from wallet.db import Database
from wallet.ledger import utcnow

log = logging.getLogger("pulsa.delivery")

# How far ahead of its moment in the pace a delivery is claimed (seconds).
LOOKAHEAD = 0.25


class RetryLater(Exception):
    """The platform did not take the message and nothing reached it: try again later.

    `rate_limited`: the platform asked to wait `seconds` (Telegram's 429 retry_after):
    the whole platform waits that long and it is no failed attempt. Otherwise the
    platform could not be reached or failed: it is backed off (doubling, one probe at a
    time), at least `seconds` when given."""

    def __init__(
        self, seconds: float | None = None, reason: str = "", *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason or (f"retry in {seconds} s" if seconds else "retry later"))
        self.seconds = seconds
        self.rate_limited = rate_limited


class Undeliverable(Exception):
    """The platform refused this chat for good (blocked the bot, chat not found).
    `chat_blocked`: the chat's person blocked the bot (its next notices are not pushed
    until they write again)."""

    def __init__(self, reason: str = "", *, chat_blocked: bool = False) -> None:
        super().__init__(reason)
        self.chat_blocked = chat_blocked


class MaybeDelivered(Exception):
    """The request may have reached the platform but its answer was lost (a read
    timeout, a connection cut after sending): sending again could make a duplicate."""


class Sender(Protocol):
    """One chat platform's sending side. `send` returns the platform's message id (or
    None) or raises RetryLater, Undeliverable or MaybeDelivered. `key` names the
    delivery: an idempotent platform drops a second request with the same key."""

    platform: str
    per_second: float  # the platform's allowance for the whole bot
    per_chat_per_second: float
    idempotent: bool

    async def send(
        self,
        chat_id: str,
        text: str,
        buttons: Sequence[Sequence[Any]] = (),
        document: tuple[str, bytes] | None = None,
        *,
        key: str | None = None,
        language: str = "en",
    ) -> str | None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# --- Telegram -------------------------------------------------------------------------------

TELEGRAM_PER_SECOND = 30.0
TELEGRAM_PER_CHAT_PER_SECOND = 1.0


class TelegramSender:
    """Telegram through python-telegram-bot's Bot, at `api_url` (PULSA_TELEGRAM_API_URL).
    Telegram allows about 30 messages a second to different chats and one a second to a
    chat; `margin` keeps the pace a little under that so that jitter on the way does not
    make Telegram count two in one second."""

    platform = "telegram"
    idempotent = False  # the Bot API has no idempotency key

    def __init__(
        self,
        token: str,
        api_url: str = "https://api.telegram.org",
        *,
        per_second: float = TELEGRAM_PER_SECOND,
        per_chat_per_second: float = TELEGRAM_PER_CHAT_PER_SECOND,
        margin: float = 0.05,
        connections: int = 16,
        timeout: float = 10.0,
    ) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        base = api_url.rstrip("/")
        request = HTTPXRequest(
            connection_pool_size=connections,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        self.bot = Bot(
            token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=request
        )
        self.per_second = per_second * (1 - margin)
        self.per_chat_per_second = per_chat_per_second * (1 - margin)
        # Never more than Telegram's own count in any second (Pace's window).
        self.window_limit = int(per_second)
        # The longest a send can take (connect, write, read, pool), for the lease.
        self.longest_send = 4 * timeout

    async def start(self) -> None:
        from telegram.error import TelegramError

        try:
            await self.bot.initialize()
        except TelegramError as error:  # down at start: the sends will find out and wait
            log.warning("Telegram not reachable at start: %s", error)

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(
        self,
        chat_id: str,
        text: str,
        buttons: Sequence[Sequence[Any]] = (),
        document: tuple[str, bytes] | None = None,
        *,
        key: str | None = None,
        language: str = "en",
    ) -> str | None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup
        from telegram.error import (
            BadRequest,
            ChatMigrated,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
        )

        markup = None
        if buttons:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                    for row in buttons
                ]
            )
        chat = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            if document is not None:
                name, data = document
                message = await self.bot.send_document(
                    chat, document=data, filename=name, caption=text or None, reply_markup=markup
                )
            else:
                message = await self.bot.send_message(chat, text, reply_markup=markup)
        except RetryAfter as error:
            raise RetryLater(retry_after_seconds(error), str(error), rate_limited=True) from error
        except Forbidden as error:
            # 403: blocked by the user, or the user deleted their account.
            raise Undeliverable(str(error), chat_blocked=True) from error
        except (BadRequest, ChatMigrated) as error:
            raise Undeliverable(str(error)) from error
        except InvalidToken as error:
            # A wrong token refuses everything: wait for the operator, drop nothing.
            log.error("Telegram refused the token (PULSA_TELEGRAM_TOKEN): %s", error)
            raise RetryLater(300, f"the token was refused: {error}") from error
        except NetworkError as error:
            if _never_left(error):
                raise RetryLater(None, str(error)) from error
            raise MaybeDelivered(str(error)) from error
        except TelegramError as error:  # any other answer of the server: not accepted
            raise RetryLater(None, str(error)) from error
        return str(message.message_id)


def retry_after_seconds(error) -> float:
    """The seconds of a python-telegram-bot RetryAfter (429)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's int-or-timedelta deprecation
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _never_left(error: BaseException) -> bool:
    """Whether a network error happened before the request could reach the server
    (refused or timed-out connection, no free connection), or the server answered with
    an error status (a NetworkError without an httpx cause: 502 and the like)."""
    import httpx

    cause = error.__cause__
    if cause is None:
        return True
    return isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


# --- rate limits ------------------------------------------------------------------------------


class Pace:
    """A platform's rate limits in this process: an even pace overall, one per chat, and
    a pause of everything (429, unreachable). The outbox worker and the Telegram bot's
    replies share one (`telegram_pace`) where they run in one process, as they share the
    bot's allowance at Telegram. Used from one event loop only.

    Under the even pace, a window: a request leaves only while fewer than `window_limit`
    are out or were answered within the last second (`leave`, then `answered`). A request
    reaches the platform before its answer comes back, so the platform never sees more
    than `window_limit` in any second, however late the requests leave or arrive (a busy
    machine wakes several sends at once; the even pace alone then lets them bunch)."""

    WINDOW = 1.0

    def __init__(
        self,
        per_second: float,
        per_chat_per_second: float,
        *,
        window_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.chat_interval = 1.0 / per_chat_per_second if per_chat_per_second > 0 else 0.0
        self.next_overall = 0.0
        self.next_by_chat: dict[str, float] = {}
        self.paused_until = 0.0
        self.window_limit = int(per_second) if window_limit is None else window_limit
        self.clock = clock
        self.out = 0  # requests that left and are not answered yet
        self.recent: deque[float] = deque()  # when the last second's answers came

    def ready_at(self, chat_id: str) -> float:
        return max(self.next_overall, self.paused_until, self.next_by_chat.get(chat_id, 0.0))

    def take(self, chat_id: str, now: float) -> None:
        self.next_overall = max(self.next_overall, now) + self.interval
        self.next_by_chat[chat_id] = now + self.chat_interval

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def forget_idle_chats(self, now: float) -> None:
        if len(self.next_by_chat) > 10_000:
            self.next_by_chat = {c: t for c, t in self.next_by_chat.items() if t > now}

    async def leave(self) -> None:
        """Wait until the window lets one more request leave, and count it out (then
        `answered()` when its answer, or its failure, comes back)."""
        while self.window_limit > 0:
            now = self.clock()
            recent = self.recent
            while recent and recent[0] <= now - self.WINDOW:
                recent.popleft()
            # How many of those counted must leave the window before one more may go.
            over = self.out + len(recent) - self.window_limit + 1
            if over <= 0:
                break
            # The oldest answers leave the window a second after they came; requests
            # still out are looked at again in a moment.
            ready = recent[over - 1] + self.WINDOW if over <= len(recent) else now + 0.01
            await asyncio.sleep(max(ready - now, 0.001))
        self.out += 1

    def answered(self) -> None:
        self.out = max(0, self.out - 1)
        if self.window_limit > 0:
            self.recent.append(self.clock())


def telegram_pace(margin: float = 0.05) -> Pace:
    """Telegram's limits (about 30 messages a second overall, one a second per chat): the
    even pace `margin` under, the window at Telegram's 30 (the window counts a request
    from when it leaves to a second after its answer, more than Telegram's second: the
    even pace meets it only when requests bunch or answers are slow)."""
    return Pace(
        TELEGRAM_PER_SECOND * (1 - margin),
        TELEGRAM_PER_CHAT_PER_SECOND * (1 - margin),
        window_limit=int(TELEGRAM_PER_SECOND),
    )


# --- the worker -------------------------------------------------------------------------------


@dataclass
class _Platform:
    sender: Sender
    pace: Pace
    failures: int = 0  # consecutive unreachable answers, for the backoff
    probing: bool = False  # while unreachable, one request at a time


@dataclass
class WorkerStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    claimed: int = 0
    seconds_in_database: float = 0.0
    started: float = field(default_factory=time.monotonic)


class DeliveryWorker:
    """See the module's docstring. `run(stop)` until the event is set; `drain()` until
    nothing is due (tests, benchmarks)."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender] | Sequence[Sender],
        *,
        concurrency: int = 16,
        lease: timedelta | None = None,
        poll_interval: float = 1.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        give_up_after: timedelta = timedelta(hours=24),
        render_text: Callable[[str, dict, str], str] = render,
        clock: Callable[[], float] = time.monotonic,
        paces: Mapping[str, Pace] | None = None,
    ) -> None:
        if not isinstance(senders, Mapping):
            senders = {s.platform: s for s in senders}
        self.db = db
        # A platform's pace given in `paces` is shared (with the Telegram bot's replies);
        # the others are the worker's own, from the sender's limits.
        paces = paces or {}
        self.platforms = {
            name: _Platform(
                sender,
                paces.get(name)
                or Pace(
                    sender.per_second,
                    _per_chat_per_second(sender),
                    window_limit=getattr(sender, "window_limit", None),
                    clock=clock,
                ),
            )
            for name, sender in senders.items()
        }
        self.concurrency = concurrency
        longest = max((getattr(s, "longest_send", 60.0) for s in senders.values()), default=60.0)
        # Longer than any send can take, so that a live worker's delivery never expires.
        self.lease = lease or timedelta(seconds=2 * longest + 30)
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.give_up_after = give_up_after
        self.render_text = render_text
        self.clock = clock
        self.stats = WorkerStats()
        self._in_flight: set[asyncio.Task] = set()
        self._outcomes: list[Outcome] = []
        self._due: list[DueDelivery] = []
        self._woken = asyncio.Event()
        self._last_refresh = -1e9
        self._last_ending_scan = -1e9
        self._more_waiting = False
        self._batch = max(500, 4 * concurrency)
        self._notice_cache: dict[int, tuple[str, dict]] = {}
        # Chats with a request out: their next one waits for its answer, and the chat's
        # pace counts from then (Telegram counts from when it got the request, which is
        # before the answer), so that network jitter never puts two in one second.
        self._busy_chats: set[tuple[str, str]] = set()

    # -- running --

    async def start(self) -> None:
        for platform in self.platforms.values():
            start = getattr(platform.sender, "start", None)
            if start is not None:
                await start()

    async def close(self) -> None:
        for platform in self.platforms.values():
            await platform.sender.close()

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            while not stop.is_set():
                wait = await self.step()
                await self._sleep(wait, stop)
            await self._finish()
        finally:
            await self.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Work until nothing is pending any more (tests, benchmarks), or TimeoutError."""
        await self.start()
        try:
            deadline = self.clock() + timeout
            while True:
                wait = await self.step()
                if not self._in_flight and not self._outcomes and not self._due:
                    if not await asyncio.to_thread(self._anything_pending):
                        return
                    self._last_refresh = -1e9  # look again at once
                if self.clock() > deadline:
                    raise TimeoutError("the outbox did not drain")
                await self._sleep(min(wait, 0.05), None)
        finally:
            await self._finish()
            await self.close()

    async def step(self) -> float:
        """One turn: record outcomes; route, expire leases and read what is due (every
        poll interval, or at once when the last read left more behind); claim and launch
        what the limits allow. Returns how long there is nothing to do."""
        await self._record()
        now = self.clock()
        if now - self._last_refresh >= self.poll_interval or (not self._due and self._more_waiting):
            self._last_refresh = now
            self._due = await self._database(self._refresh)
            self._more_waiting = len(self._due) >= self._batch
            for platform in self.platforms.values():
                platform.pace.forget_idle_chats(now)
        return await self._launch()

    async def _finish(self) -> None:
        """Graceful stop: nothing more is claimed; the requests in flight finish and
        their outcomes are recorded."""
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        await self._record()

    async def _sleep(self, seconds: float, stop: asyncio.Event | None) -> None:
        seconds = max(0.0, min(seconds, self.poll_interval))
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self._woken.clear()
        waits = [asyncio.create_task(self._woken.wait())]
        if stop is not None:
            waits.append(asyncio.create_task(stop.wait()))
        _, _pending = await asyncio.wait(
            waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in waits:
            task.cancel()

    async def _database(self, work: Callable[[Any], Any]) -> Any:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(self.db.run, work)
        finally:
            self.stats.seconds_in_database += time.perf_counter() - started

    # -- the database side --

    def _refresh(self, session) -> list[DueDelivery]:
        if self.clock() - self._last_ending_scan >= 60:
            # "Package ending in 24 hours" has no event but the time: looked for here.
            self._last_ending_scan = self.clock()
            notify_packages_ending(session)
        route_notices(session)
        idempotent = [
            n for n, p in self.platforms.items() if getattr(p.sender, "idempotent", False)
        ]
        expire_leases(session, idempotent_platforms=idempotent)
        return due_deliveries(session, list(self.platforms), limit=self._batch)

    def _anything_pending(self) -> bool:
        with self.db.transaction() as session:
            unrouted = session.execute(
                select(Notice.id).where(
                    Notice.status == "pending",
                    Notice.routed_at.is_(None),
                    Notice.next_attempt_at <= utcnow(),  # not one waiting for its time
                )
            ).first()
            open_delivery = session.execute(
                select(Delivery.id).where(Delivery.status.in_(("pending", "sending"))).limit(1)
            ).first()
            return unrouted is not None or open_delivery is not None

    async def _record(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        await self._database(lambda s: record_outcomes(s, outcomes))

    # -- claiming and sending --

    async def _launch(self) -> float:
        now = self.clock()
        # A delivery holds its slot until its outcome is committed, not only while its
        # request is out: so at most `concurrency` are "sending" at any moment, which is
        # all a crash can leave uncertain.
        free = self.concurrency - len(self._in_flight) - len(self._outcomes)
        chosen: list[DueDelivery] = []
        soonest = self.poll_interval
        taken_chats: set[tuple[str, str]] = set()
        remaining: list[DueDelivery] = []
        moments: dict[int, float] = {}
        for due in self._due:
            platform = self.platforms[due.platform]
            key = (due.platform, due.chat_id)
            ready = platform.pace.ready_at(due.chat_id)
            # What the pace allows within LOOKAHEAD is claimed in one go, each sent at its
            # moment: one claim per message would make the claim's round trip the pace.
            if (
                len(chosen) >= free
                or key in taken_chats
                or key in self._busy_chats
                or ready > now + LOOKAHEAD
                or platform.probing
            ):
                remaining.append(due)
                if ready > now:
                    soonest = min(soonest, max(0.0, ready - now - LOOKAHEAD))
                continue
            at = max(ready, now)
            platform.pace.take(due.chat_id, at)
            if platform.failures:
                platform.probing = True  # unreachable: one probe before the rest
            taken_chats.add(key)
            self._busy_chats.add(key)
            chosen.append(due)
            moments[due.id] = at
        self._due = remaining
        if not chosen:
            return soonest if free > 0 else self.poll_interval
        claim = secrets.token_hex(8)
        lease_until = utcnow() + self.lease
        claimed = await self._database(lambda s: self._claim(s, chosen, claim, lease_until))
        self.stats.claimed += len(claimed)
        for due in chosen:
            if due.id in claimed:
                kind, payload = self._notice_cache[due.notice_id]
                task = asyncio.create_task(self._send(due, claim, kind, payload, moments[due.id]))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            else:  # another worker took it
                self.platforms[due.platform].probing = False
                self._busy_chats.discard((due.platform, due.chat_id))
        return 0.0

    def _claim(self, session, chosen: list[DueDelivery], claim: str, lease_until) -> set[int]:
        claimed = claim_deliveries(session, [d.id for d in chosen], claim, lease_until)
        if len(self._notice_cache) > 20_000:
            self._notice_cache.clear()
        wanted = {d.notice_id for d in chosen if d.id in claimed} - set(self._notice_cache)
        if wanted:
            for notice in session.execute(select(Notice).where(Notice.id.in_(wanted))).scalars():
                self._notice_cache[notice.id] = (notice.kind, notice_payload(notice))
        return claimed

    def _done(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._woken.set()

    async def _send(
        self, due: DueDelivery, claim: str, kind: str, payload: dict, at: float
    ) -> None:
        try:
            await self._send_at(due, claim, kind, payload, at)
        finally:
            platform = self.platforms[due.platform]
            pace = platform.pace
            pace.next_by_chat[due.chat_id] = max(
                pace.next_by_chat.get(due.chat_id, 0.0), self.clock() + pace.chat_interval
            )
            self._busy_chats.discard((due.platform, due.chat_id))

    async def _send_at(
        self, due: DueDelivery, claim: str, kind: str, payload: dict, at: float
    ) -> None:
        platform = self.platforms[due.platform]
        if at > self.clock():
            await asyncio.sleep(at - self.clock())
        if platform.pace.paused_until > self.clock():
            # A 429 came meanwhile: this one waits with the rest (not an attempt).
            wait = platform.pace.paused_until - self.clock()
            self._outcomes.append(
                Outcome(
                    due.id,
                    claim,
                    "pending",
                    error="waiting for the platform's pause",
                    retry_at=utcnow() + timedelta(seconds=wait),
                    counts_as_attempt=False,
                )
            )
            return
        text = self.render_text(kind, payload, due.language)
        buttons = _buttons(payload.get("buttons"))
        try:
            message_id = await self._leave_and_send(platform, due, text, buttons)
        except RetryLater as error:
            self._outcomes.append(self._retry(due, claim, platform, error))
            return
        except Undeliverable as error:
            self.stats.failed += 1
            self._outcomes.append(
                Outcome(due.id, claim, "failed", error=str(error), chat_blocked=error.chat_blocked)
            )
        except MaybeDelivered as error:
            self.stats.uncertain += 1
            self._outcomes.append(
                Outcome(due.id, claim, "uncertain", error=f"may or may not have arrived: {error}")
            )
        except Exception as error:  # a defect in a sender must not stop the others
            log.exception("sending delivery %s failed", due.id)
            self.stats.uncertain += 1
            self._outcomes.append(Outcome(due.id, claim, "uncertain", error=repr(error)))
        else:
            self.stats.sent += 1
            self._outcomes.append(Outcome(due.id, claim, "sent", message_id=message_id))
        platform.failures = 0
        platform.probing = False

    async def _leave_and_send(
        self, platform: _Platform, due: DueDelivery, text: str, buttons: tuple
    ) -> str | None:
        await platform.pace.leave()
        try:
            return await platform.sender.send(
                due.chat_id, text, buttons, key=f"pulsa-delivery-{due.id}", language=due.language
            )
        finally:
            platform.pace.answered()

    def _retry(self, due: DueDelivery, claim: str, platform: _Platform, error: RetryLater):
        self.stats.retried += 1
        now = self.clock()
        platform.probing = False
        if error.rate_limited:
            # Flood control is the whole bot's: everything on the platform waits.
            wait = error.seconds or self.backoff_base
            counts = False
        else:
            platform.failures += 1
            wait = min(self.backoff_cap, self.backoff_base * 2 ** (platform.failures - 1))
            wait = max(wait, error.seconds or 0.0)
            counts = True
        platform.pace.pause(now + wait)
        retry_at = utcnow() + timedelta(seconds=wait)
        if counts and utcnow() - due.created_at > self.give_up_after:
            return Outcome(due.id, claim, "failed", error=f"given up: {error}")
        return Outcome(
            due.id,
            claim,
            "pending",
            error=str(error),
            retry_at=retry_at,
            counts_as_attempt=counts,
        )


def _per_chat_per_second(sender) -> float:
    """A sender gives its per-chat pace as a rate or as an interval (0: no limit)."""
    rate = getattr(sender, "per_chat_per_second", None)
    if rate is not None:
        return float(rate)
    interval = float(getattr(sender, "per_chat_interval", 0.0) or 0.0)
    return 1.0 / interval if interval > 0 else 0.0


def _buttons(rows) -> tuple:
    """Buttons stored in a payload as [[{"label": ..., "data": ...}]]."""
    if not rows:
        return ()
    return tuple(
        tuple(_Button(str(b.get("label", "")), str(b.get("data", ""))) for b in row) for row in rows
    )


@dataclass(frozen=True)
class _Button:
    label: str
    data: str


# --- wiring -----------------------------------------------------------------------------------


def senders_from(settings) -> list[Sender]:
    """The senders of the configured platforms (none configured: none)."""
    senders: list[Sender] = []
    if getattr(settings, "telegram_token", ""):
        senders.append(TelegramSender(settings.telegram_token, settings.telegram_api_url))
    if getattr(settings, "line_configured", False):
        from bots.line import LineSender

        senders.append(LineSender(settings))
    return senders


async def run_worker(
    db: Database, settings, stop: asyncio.Event, *, paces: Mapping[str, Pace] | None = None
) -> None:
    """`pulsa bot` and `pulsa serve`: deliver until `stop`, then finish the requests in
    flight (nothing configured: return at once). `paces`: the platforms' paces shared
    with the bots' replies in this process."""
    senders = senders_from(settings)
    if not senders:
        return
    await DeliveryWorker(db, senders, paces=paces).run(stop)
