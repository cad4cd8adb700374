"""The AMI listener: follows every pulsa call on one or more Asterisk servers, keeps its
limit in Asterisk paid for slice after slice, and settles it at the end.

One task per followed call runs its life in order: find its Call row, record the answer,
renew before the paid time runs out, settle (or expire) once it is over. Renewals share
the wallet between all its live calls (`wallet.calls.plan_shares`) and apply the plan in
the only safe order:

- a call that gets LESS time is shortened in Asterisk first (`Setvar TIMEOUT(absolute)`
  on the called channel, and only once Asterisk answered Success), then its hold shrinks;
- a call that gets MORE time has its hold grown first (committed), then Asterisk is told.

The limit sent is `paid - elapsed - safety`, rounded down to the precision Asterisk
takes (milliseconds from Asterisk 1.6.1 on, whole seconds before: `link.
limit_precision_for`), and never 0 (0 would remove the limit): nothing is sent when less
would be left. Asterisk bills whole seconds rounded down, so a limit that ends a fraction
of a second late (by the time its Setvar and the answer's event took) bills no second
more than is paid; the safety margin is 0 until the measured delays come near a second
(`measured_safety_ms`). So Asterisk never lets a call run past what its hold pays for,
whatever fails in between: a lost connection, a dead database or a killed listener only
make calls end at the end of their current slice.

Database work runs in a thread pool (`Database.run`), never in the event loop; the events
of a server are read in order by panoramisk and handled without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from ami_listener import billing
from ami_listener.billing import CallInfo
from ami_listener.calls import Expire, FollowedCall, Settle
from ami_listener.clock import Clock, SystemClock
from ami_listener.config import ListenerConfig
from ami_listener.link import ServerLink
from wallet.backoffice import HANGUP_DONE, PendingHangup, hangup_failure
from wallet.calls import CallPolicy, CallPolicyCache, Share, TariffCache, record_limits
from wallet.db import Database
from wallet.errors import WalletError

T = TypeVar("T")
log = logging.getLogger("pulsa.ami")

_MIN_GAP = timedelta(milliseconds=500)  # between two renewals of one call
_DB_RETRY = timedelta(seconds=1)  # renewal again after a database error
_LAST_CALL = timedelta(milliseconds=500)  # the last renewal starts this long before the end
_BATCH = 50  # answers or settlements written in one transaction, at most
#: Asterisk bills whole seconds rounded down: a call that runs less than this past what
#: is paid is billed no second more.
_ROUNDED_AWAY_MS = 1000
#: Kept of that second for what no measurement shows: Asterisk's own work between the
#: limit and the end of the call, a delay longer than the longest seen lately.
_UNSEEN_MS = 300
#: Usage is debited up to this long before now: the Hangup of a call may be on its way
#: (or waiting to be read) while its renewal runs, and what was debited cannot be more
#: than what Asterisk then bills.
_DEBIT_LAG = timedelta(seconds=2)


def measured_safety_ms(round_trip_ms: int | None, event_delay_ms: int | None) -> int:
    """The safety margin (ms) of a server from what is measured: a limit runs late by
    the time its Setvar takes to reach Asterisk (at most a round trip) plus how late the
    listener saw the answer it counts from (the event delay, when Asterisk stamps its
    events; else taken as a round trip: events come on the same connection). Only what
    goes beyond the fraction of a second Asterisk rounds away needs a margin."""
    round_trip = round_trip_ms or 0
    events = round_trip if event_delay_ms is None else event_delay_ms
    return max(0, round_trip + events + _UNSEEN_MS - _ROUNDED_AWAY_MS)


def _db_unavailable(error: BaseException) -> bool:
    """Errors after which the same work may succeed later (the database is down, a
    connection broke, the pool is exhausted), as opposed to a wrong operation."""
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and not isinstance(error, IntegrityError)


class _Batcher:
    """Groups the same database work for many calls into one transaction: whatever is
    asked while a batch runs goes into the next one (no waiting to fill a batch)."""

    def __init__(
        self, listener: Listener, work: Callable[..., list[Any]], what: str, parallel: int
    ) -> None:
        self.listener = listener
        self.work = work
        self.what = what
        self.parallel = max(1, parallel)  # transactions at once (their round trips overlap)
        self.pending: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        self.tasks: set[asyncio.Task[Any]] = set()

    async def submit(self, **item: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        # A drain that has just finished stays in `tasks` until its done-callback runs,
        # after the callers it answered have resumed: counting it would leave an item
        # submitted by one of them waiting for a drain that never comes.
        running = sum(1 for task in self.tasks if not task.done())
        if running < self.parallel:
            task = asyncio.ensure_future(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:_BATCH], self.pending[_BATCH:]
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            try:
                results = await self.listener.db(
                    self.work, [item for item, _ in live], what=self.what
                )
            except Exception as error:
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


@dataclass
class Stats:
    """Counters since the start, for logs, tests and the benchmark."""

    events: int = 0
    followed: int = 0
    answered: int = 0
    renewals: int = 0
    debits: int = 0  # apply_share runs: usage debited, hold resized
    extended: int = 0
    shortened: int = 0
    setvars: int = 0
    setvar_failures: int = 0
    settled_cdr: int = 0
    settled_estimated: int = 0
    expired: int = 0
    db_errors: int = 0
    logins: int = 0
    disconnects: int = 0
    resyncs: int = 0
    hangups: int = 0  # calls hung up at the staff's request
    hangup_failures: int = 0
    #: seconds from the event that ended a call to its settlement committed
    settle_delays: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))

    def line(self) -> str:
        delays = sorted(self.settle_delays)
        p50 = delays[len(delays) // 2] if delays else 0.0
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else 0.0
        return (
            f"events={self.events} followed={self.followed} answered={self.answered} "
            f"renewals={self.renewals} debits={self.debits} setvars={self.setvars} "
            f"setvar_failures={self.setvar_failures} settled={self.settled_cdr}+"
            f"{self.settled_estimated} estimated expired={self.expired} "
            f"db_errors={self.db_errors} logins={self.logins} resyncs={self.resyncs} "
            f"hangups={self.hangups}+{self.hangup_failures} failed "
            f"settle_p50={p50 * 1000:.0f}ms settle_p99={p99 * 1000:.0f}ms"
        )


class Listener:
    """Follows the calls of the configured Asterisk servers (see the module docstring)."""

    def __init__(
        self,
        config: ListenerConfig,
        database: Database,
        policy: CallPolicy,
        *,
        clock: Clock | None = None,
        tariffs: TariffCache | None = None,
        policies: CallPolicyCache | None = None,
    ) -> None:
        """`policy` is the call policy to renew with; with `policies`, the admin's stored
        slice replaces it, re-read at most every few seconds, on the next renewal."""
        self.config = config
        self.database = database
        self.clock: Clock = clock or SystemClock()
        self.tariffs = tariffs or TariffCache()
        self.policies = policies
        self._tuned: tuple[CallPolicy, CallPolicy, timedelta] | None = None
        self.policy, self.margin = self._tune(policy)
        self.cdr_wait = timedelta(seconds=config.cdr_wait_s)
        self.recheck = timedelta(seconds=config.recheck_s)
        self.hangup_poll = timedelta(seconds=config.hangup_poll_s)
        self.hangup_give_up = timedelta(seconds=config.hangup_give_up_s)
        self.stats = Stats()
        #: Followed calls by Call id, on every server.
        self.calls: dict[int, FollowedCall] = {}
        unnamed = config.claim_unnamed
        if unnamed is None:
            unnamed = len(config.servers) == 1
        self.links: dict[str, ServerLink] = {
            server.name: ServerLink(self, server, (server.name, "") if unnamed else (server.name,))
            for server in config.servers
        }
        self._locks: dict[int, asyncio.Lock] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._hangup_poller: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._working = 0
        self._sequence = 0
        self._db_warned = 0.0
        self._hangup_warned = 0.0
        workers = config.db_workers
        self._answers = _Batcher(self, billing.answer_many, "answer", max(1, workers // 4))
        self._settlements = _Batcher(self, billing.settle_many, "settle", max(1, workers // 2))

    def _tune(self, policy: CallPolicy) -> tuple[CallPolicy, timedelta]:
        """The policy as renewals use it and the renewal margin, both from its slice."""
        tuned = self._tuned
        if tuned is not None and tuned[0] is policy:
            return tuned[1], tuned[2]
        margin = min(self.config.renew_margin_s, max(1.0, policy.slice_seconds / 2))
        # A renewal must be allowed to give a slice to the call that asked for it.
        within = max(policy.renew_within_seconds, math.ceil(margin) + 1)
        result = replace(policy, renew_within_seconds=within), timedelta(seconds=margin)
        self._tuned = (policy, *result)
        return result

    def _plan(
        self, session: Session, account_id: int, now: datetime
    ) -> tuple[list[Share], CallPolicy | None]:
        """In a database thread: the shares of a wallet, planned with the call policy as it
        is now (the admin's slice, when `policies` is given), and that policy as read, for
        the event loop (not this thread) to switch to."""
        if self.policies is None:
            policy = self.policy
            shares = billing.plan(
                session, account_id, now, policy, self.tariffs, self._leash(policy)
            )
            return shares, None
        current = self.policies.get(session)  # a query only when the last read is old
        policy, _ = self._tune(current)
        return billing.plan(
            session, account_id, now, policy, self.tariffs, self._leash(policy)
        ), current

    def _leash(self, policy: CallPolicy) -> int:
        """How far past the elapsed seconds a call's bound goes on a wallet a burst could
        empty: the policy's limit_ahead_seconds as Asterisk gets it, after the safety
        margin and the rounding of the limit sent. What a call holds beyond that is room
        for a new call on the wallet."""
        lost = max(
            (
                self.safety_ms_for(link) + self.precision_for(link) - 1
                for link in self.links.values()
            ),
            default=0,
        )
        return policy.limit_ahead_seconds + -(-lost // 1000)

    # --- life --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.config.db_workers, thread_name_prefix="pulsa-ami-db"
            )
        if self.policies is not None:
            # The first renewal margin already from the admin's slice; a database that
            # does not answer now leaves the environment's until a renewal reads it.
            try:
                await self.db(self.policies.get, what="settings", retry=False)
            except Exception as error:
                if not _db_unavailable(error):
                    raise
            else:
                self.policy, self.margin = self._tune(self.policies.current)
        for link in self.links.values():
            link.start()
        if self._hangup_poller is None:
            self._hangup_poller = asyncio.ensure_future(self._poll_hangup_requests())

    async def stop(self) -> None:
        if self._hangup_poller is not None:
            poller, self._hangup_poller = self._hangup_poller, None
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        for link in self.links.values():
            await link.stop()
        tasks = list(self._tasks)
        for batcher in (self._answers, self._settlements):
            tasks.extend(batcher.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def connected(self) -> bool:
        """Every server logged in and resynchronized."""
        return all(link.logged_in and not link.resyncing for link in self.links.values())

    def idle(self) -> bool:
        """Nothing to do until an event arrives or the clock reaches a renewal (tests)."""
        if self._working:
            return False
        for link in self.links.values():
            if link.resyncing:
                return False
            for call in link.calls():
                if call.wake.is_set() or (call.sleeper is not None and call.sleeper.done()):
                    return False
        return True

    def sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # --- database ------------------------------------------------------------------------------
    async def db(
        self, work: Callable[..., T], *args: Any, what: str, retry: bool = True, **kwargs: Any
    ) -> T:
        """Run `work(session, *args, **kwargs)` in one transaction in the thread pool. While
        the database is unavailable, try again with backoff (or raise at once when not
        `retry`)."""
        loop = asyncio.get_running_loop()
        delay = 0.1
        while True:
            try:
                return await loop.run_in_executor(
                    self._executor,
                    lambda: self.database.run(lambda session: work(session, *args, **kwargs)),
                )
            except Exception as error:
                if not _db_unavailable(error):
                    raise
                self.stats.db_errors += 1
                if time.monotonic() - self._db_warned > 5:
                    self._db_warned = time.monotonic()
                    reason = str(getattr(error, "orig", error)).strip().splitlines()
                    log.warning(
                        "database unavailable (%s): %s", what, reason[0] if reason else error
                    )
                if not retry:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.db_retry_max_s)

    # --- following calls -----------------------------------------------------------------------
    def start_following(self, call: FollowedCall) -> None:
        if call.call_id is None and call.hint is not None:
            call.call_id = call.hint  # PULSA_CALL: checked when the row is first read
            call.resolved_seq = self.sequence()
        if call.call_id is not None:
            self.calls.setdefault(call.call_id, call)
        self.stats.followed += 1
        self._working += 1
        task = asyncio.ensure_future(self._follow(call))
        call.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def adopt(self, call: FollowedCall, info: CallInfo) -> None:
        """Fill a followed call with what its Call row says."""
        call.call_id = info.call_id
        call.account_id = info.account_id
        call.mode = info.mode
        call.paid_ms = info.paid_ms
        call.bound_ms = info.bound_ms
        call.resolved_seq = self.sequence()
        if info.status == "answered" and info.answered_at is not None:
            call.answer_recorded = True
            call.db_answered_at = info.answered_at
            call.granted_at = self.clock.now()  # unknown: as if just given
            if info.limit_ms is not None and call.asterisk_end is None:
                # After a restart: the last limit Asterisk accepted, which is shorter than
                # what is paid when the listener died between growing a hold and its Setvar.
                call.asterisk_end = info.answered_at + timedelta(milliseconds=info.limit_ms)
        self.calls[info.call_id] = call

    def poke(self, call: FollowedCall) -> None:
        call.wake.set()
        waiter = call.sleeper
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _follow(self, call: FollowedCall) -> None:
        try:
            await self._run(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s (%s): giving up following it", call.call_id, call.caller_channel)
        finally:
            self._working -= 1
            call.link.forget(call, reject=call.rejected)
            for key in {call.call_id, call.hint}:
                if key is not None and self.calls.get(key) is call:
                    del self.calls[key]

    async def _run(self, call: FollowedCall) -> None:
        """A call's life. Its Call row is read only when something must be written (the
        answer, the settlement), in the same transaction."""
        while not call.settled:
            call.wake.clear()
            now = self.clock.now()
            if call.answered_at is not None and not call.answer_recorded:
                if not await self._answer(call):
                    return
                continue
            decision = call.decide(now, self.cdr_wait)
            if isinstance(decision, Settle):
                await self._settle(call, decision)
                return
            if isinstance(decision, Expire):
                await self._expire(call)
                return
            due = self._renewal_due(call, now)
            if due is not None and due <= now:
                await self._renew(call)
                continue
            moments = [m for m in (decision.until, due, call.retry_at) if m is not None]
            await self._sleep(call, min(moments) if moments else None)

    def _not_ours(self, call: FollowedCall) -> None:
        """No live pulsa call on this channel: stop following it. A channel that dialled
        is remembered so that its later events are ignored."""
        call.settled = True
        call.rejected = call.trigger != "status" or bool(call.called_channel)
        log.debug("%s is not a pulsa call", call.caller_channel)

    async def _sleep(self, call: FollowedCall, until: datetime | None) -> None:
        """Until `poke` or the clock reaches `until`: one future, no task."""
        if call.wake.is_set():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        alarm = self.clock.alarm(until, waiter) if until is not None else None
        call.waiting, call.sleeper = True, waiter
        self._working -= 1
        try:
            await waiter
        finally:
            if alarm is not None:
                alarm.cancel()
            self._working += 1
            call.waiting, call.sleeper = False, None

    async def _answer(self, call: FollowedCall) -> bool:
        """Record the answer (finding the Call row first when needed); False when the
        channel is not a pulsa call after all."""
        assert call.answered_at is not None
        info = await self._answers.submit(
            call_id=call.call_id,
            uniqueid=call.caller_uniqueid,
            servers=call.link.claims,
            at=call.answered_at,
        )
        if info is None or (info.status != "answered" and not info.live):
            if info is not None:
                call.call_id = info.call_id
                call.settled = True  # settled elsewhere meanwhile
                return True
            self._not_ours(call)
            return False
        other = self.calls.get(info.call_id)
        if other is not None and other is not call:
            self._not_ours(call)  # followed through another channel already
            return False
        if info.uniqueid and info.uniqueid != call.caller_uniqueid:
            log.warning(
                "call %s was authorized on %s but PULSA_CALL is on %s: following the latter",
                info.call_id,
                info.uniqueid,
                call.caller_uniqueid,
            )
        self.adopt(call, info)
        call.answer_recorded = True
        call.db_answered_at = info.answered_at or call.answered_at
        call.granted_at = call.db_answered_at
        # The dialplan's U() set TIMEOUT(absolute) to the first limit (whole seconds, no
        # more than the first slice) at answer.
        first_ms = call.paid_ms // 1000 * 1000 if info.limit_ms is None else info.limit_ms
        call.asterisk_end = call.db_answered_at + timedelta(milliseconds=first_ms)
        self.stats.answered += 1
        log.debug(
            "call %s: answered at %s, %s ms paid", call.call_id, call.db_answered_at, call.paid_ms
        )
        return True

    # --- renewals ------------------------------------------------------------------------------
    def _renewal_due(self, call: FollowedCall, now: datetime) -> datetime | None:
        """When the call should next ask its wallet for more time (None: never again, or
        not while its server is away)."""
        if call.mode != "live" or not call.answer_recorded or call.account_id is None:
            return None
        if call.ended_at is not None or call.caller_gone or not call.called_channel:
            return None
        if not call.link.logged_in or call.link.resyncing:
            return None
        end = self._enforced_end(call)
        if end is None:
            return None
        last_call = end - _LAST_CALL  # a Setvar must reach Asterisk before the end
        if call.needs_sync:
            return now if now < last_call else None
        if self._behind(call):
            # Asterisk's limit is short of what the listener may already give it:
            # extend it at once, it takes no new money.
            due = now
            if call.last_attempt is not None:
                due = max(due, call.last_attempt + _MIN_GAP)
            if call.retry_at is not None:
                due = max(due, call.retry_at)
            return due if due < last_call else max(last_call, now)
        # The margin before the end, but not before half of the last grant has run: a
        # short slice (little credit) is not renewed at once, which would hand the rest
        # of the wallet to the calls up now before another call can start. A call whose
        # hold pays beyond its limit takes no new money to be extended: no such wait.
        granted = call.granted_at or call.answer_moment
        paid_end = call.limit_end
        if paid_end is not None and end < paid_end:
            # Held beyond its limit (a leash on a wallet a burst could empty): extended a
            # step at a time, half a step before the end.
            ahead = timedelta(seconds=self.policy.limit_ahead_seconds / 2)
            due = end - min(self.margin, ahead)
        else:
            due = end - self.margin
            if granted is not None and granted < end:
                due = max(due, granted + (end - granted) / 2)
        if call.last_attempt is not None:
            due = max(due, call.last_attempt + (self.recheck if call.stalled else _MIN_GAP))
        if call.retry_at is not None:
            due = max(due, call.retry_at)
        if due > last_call:
            # One last chance before the end, unless the wallet had nothing more to give
            # at the last try: then only a recheck (a top-up) may lengthen the call.
            if call.stalled or (call.last_attempt is not None and call.last_attempt >= last_call):
                return None
            due = max(last_call, now)
        return due

    def _behind(self, call: FollowedCall) -> bool:
        """Whether the limit Asterisk has ends more than a precision step before the end
        the listener would now send for the call's bound."""
        bound_end = call.bound_end
        if bound_end is None or call.asterisk_end is None:
            return False
        step = timedelta(milliseconds=self.safety_ms_for(call.link) + self.precision_for(call.link))
        return call.asterisk_end + step < bound_end

    def _enforced_end(self, call: FollowedCall) -> datetime | None:
        """When Asterisk will end the call: the end of the last limit it accepted, or of
        the first slice (set at answer by the dialplan), never later than what is paid."""
        paid_end = call.bound_end
        if paid_end is None:
            return None
        if call.asterisk_end is not None:
            return min(call.asterisk_end, paid_end)
        return paid_end - timedelta(milliseconds=self.safety_ms_for(call.link))

    def _eligible(self, call: FollowedCall | None) -> bool:
        return (
            call is not None
            and not call.settled
            and call.answer_recorded
            and call.ended_at is None
            and not call.caller_gone
            and bool(call.called_channel)
            and call.link.logged_in
            and not call.link.resyncing
        )

    async def _renew(self, trigger: FollowedCall) -> None:
        """Share the trigger's wallet between its live calls and apply the plan: calls that
        get less are shortened in Asterisk first (only those Asterisk confirmed then give
        their credit back), then every hold is resized in ONE transaction, then the calls
        that got more are lengthened in Asterisk. Setvars of one step go out together."""
        assert trigger.account_id is not None
        lock = self._locks.setdefault(trigger.account_id, asyncio.Lock())
        async with lock:
            now = self.clock.now()
            trigger.last_attempt = now
            if not self._eligible(trigger):
                return
            self.stats.renewals += 1
            try:
                shares, current = await self.db(
                    self._plan, trigger.account_id, now, what="plan shares", retry=False
                )
            except Exception as error:
                if not _db_unavailable(error) and not isinstance(error, WalletError):
                    raise
                if isinstance(error, WalletError):
                    log.error("call %s: cannot plan its wallet: %s", trigger.call_id, error)
                trigger.retry_at = now + _DB_RETRY
                return
            trigger.retry_at = None
            if current is not None:
                self.policy, self.margin = self._tune(current)
            before = {call.call_id: call.paid_ms for call in self.calls.values()}
            reached = {call.call_id: _bound(call) for call in self.calls.values()}
            shorter, longer, stepped = [], [], []
            for share in shares:
                call = self.calls.get(share.call_id)
                if call is None or not self._eligible(call):
                    continue
                if share.target_s < share.paid_s:
                    shorter.append((call, share))
                elif share.target_s > share.paid_s or call.needs_sync:
                    longer.append((call, share))
                elif _steps_forward(call, share):
                    # On a leash: every call of the wallet a step further in one go (one
                    # renewal, not one per call), within what is paid: no debit each time.
                    stepped.append((call, share))
                elif call is trigger:
                    longer.append((call, share))  # same length: debit the usage
            # 1. Shorter: Asterisk first. Too late to shorten safely (less than a second
            # would be left) or refused: the call keeps what its hold pays for.
            limits = [(c, self._limit_ms(c, s.shorter_limit_ms)) for c, s in shorter]
            done = await asyncio.gather(*(c.link.set_limit(c, n) for c, n in limits if n > 0))
            confirmed = [cs for (cs, (_, n)) in zip(shorter, limits, strict=True) if n > 0]
            confirmed = [cs for cs, ok in zip(confirmed, done, strict=True) if ok]
            # 2. The money, in one transaction: given back first, then taken.
            items = [(c.call_id, s.target_s, s.reach_s, s.shorter_limit_ms) for c, s in confirmed]
            items += [(c.call_id, s.target_s, s.reach_s, None) for c, s in longer]
            items += [(c.call_id, -1, s.reach_s, None) for c, s in stepped]
            longer += stepped
            if not items:
                trigger.stalled = True
                return
            try:
                paid = await self.db(
                    billing.apply_all,
                    items,
                    now - _DEBIT_LAG,
                    self.tariffs,
                    _accepted_limits(c for c, _ in confirmed),
                    what="apply shares",
                    retry=False,
                )
            except Exception as error:
                if not _db_unavailable(error):
                    raise
                trigger.retry_at = now + _DB_RETRY
                return
            moment = self.clock.now()
            for call, share in (*confirmed, *longer):
                got = paid.get(share.call_id)
                if got is None:
                    continue
                self.stats.debits += 1
                if got.paid_ms != call.paid_ms or got.bound_ms != _bound(call):
                    call.granted_at = moment
                call.paid_ms, call.bound_ms = got.paid_ms, got.bound_ms
            for call, _ in confirmed:
                call.needs_sync = False
                self.stats.shortened += 1
            # 3. Longer: Asterisk last, once the holds pay for it.
            grown = [
                (c, self._limit_ms(c, _bound(c)))
                for c, _ in (*confirmed, *longer)
                if _bound(c) > reached.get(c.call_id, 0) or c.needs_sync or self._behind(c)
            ]
            grown = [(c, n) for c, n in grown if n > 0]
            results = await asyncio.gather(*(c.link.set_limit(c, n) for c, n in grown))
            for (call, _), ok in zip(grown, results, strict=True):
                if ok:
                    if call.paid_ms > before.get(call.call_id, 0):
                        self.stats.extended += 1
                    call.needs_sync = False
                    call.stalled = False
            await self._remember_limits(c for (c, _), ok in zip(grown, results, strict=True) if ok)
            # Stalled: the wallet gave nothing more and nothing it holds is left to tell
            # Asterisk (a call on a leash is extended when its limit comes near).
            trigger.stalled = (
                trigger.paid_ms <= before.get(trigger.call_id, 0)
                and _bound(trigger) >= trigger.paid_ms
            )
            for call, _ in (*shorter, *longer):
                if call is not trigger:
                    self.poke(call)

    async def _remember_limits(self, calls: Iterable[FollowedCall]) -> None:
        """Store the longer limits Asterisk just accepted, in one transaction, for a
        listener started after this one: a call that ends while no listener runs is never
        estimated past its limit. Not stored (the database away): a later listener
        estimates from the limit stored before, which is shorter, never longer."""
        limits = _accepted_limits(calls)
        if not limits:
            return
        try:
            await self.db(record_limits, limits, what="record limits", retry=False)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Asterisk has the limits: a renewal never fails for this
            level = logging.DEBUG if _db_unavailable(error) else logging.WARNING
            log.log(level, "limits of calls %s not stored: %s", [c for c, _ in limits], error)

    def _limit_ms(self, call: FollowedCall, paid_ms: int) -> int:
        """What to set TIMEOUT(absolute) to, in ms, for a call paid `paid_ms` from answer:
        the time left less the safety margin, rounded down to the precision (<= 0: then
        nothing can be set)."""
        moment = call.answer_moment
        assert moment is not None
        elapsed_ms = (self.clock.now() - moment) // timedelta(milliseconds=1)
        left = paid_ms - elapsed_ms - self.safety_ms_for(call.link)
        if left <= 0:
            return left
        return left - left % self.precision_for(call.link)

    def safety_ms_for(self, link: ServerLink) -> int:
        """The margin a limit on this server ends before the paid end: the one set, else
        the one its measured delays call for, but never so much that a renewal could not
        come before it (at most the renewal margin less a second, as for a margin set):
        round trips of many seconds (the listener far behind its events) would otherwise
        cut calls the wallet pays for."""
        if self.config.safety_ms is not None:
            return self.config.safety_ms
        delays = link.delays
        measured = measured_safety_ms(delays.round_trip_ms, delays.event_delay_ms)
        most = max(0, (self.margin - timedelta(seconds=1)) // timedelta(milliseconds=1))
        return min(measured, most)

    def precision_for(self, link: ServerLink) -> int:
        """The precision of the limits sent to this server (ms): the one set, else the
        one its version takes (whole seconds until it is known)."""
        if self.config.limit_precision_ms is not None:
            return self.config.limit_precision_ms
        return link.precision_ms or 1000

    # --- hang-ups asked for by staff --------------------------------------------------------
    async def _poll_hangup_requests(self) -> None:
        """Act on the web admin's hang-up requests, every `hangup_poll`: the listener is
        the only part of pulsa connected to Asterisk. Requests are read from the database
        (the web admin may run in another process or on another machine)."""
        while True:
            await self.clock.sleep_until(self.clock.now() + self.hangup_poll)
            self._working += 1
            try:
                await self._hang_up_requested()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Once a minute at most: a lasting fault (a table missing) would otherwise
                # write a traceback every poll.
                if time.monotonic() - self._hangup_warned > 60:
                    self._hangup_warned = time.monotonic()
                    log.exception("hang-up requests: cannot handle them this time")
            finally:
                self._working -= 1

    def _can_hang_up(self, call: FollowedCall) -> bool:
        """A call whose calling channel is up on a server this listener is connected to.
        A call that already ended is left alone: once settled, its request is closed."""
        return (
            call.call_id is not None
            and not call.settled
            and call.ended_at is None
            and not call.caller_gone
            and call.link.logged_in
            and not call.link.resyncing
        )

    async def _hang_up_requested(self) -> None:
        reachable = {cid for cid, call in self.calls.items() if self._can_hang_up(call)}
        try:
            requests = await self.db(
                billing.hangup_requests,
                reachable,
                self.clock.now(),
                self.hangup_give_up,
                what="hang-up requests",
                retry=False,
            )
        except Exception as error:
            if not _db_unavailable(error):
                raise
            return  # asked again at the next poll
        if requests:
            await asyncio.gather(*(self._hang_up(request) for request in requests))

    async def _hang_up(self, request: PendingHangup) -> None:
        call = self.calls.get(request.call_id)
        if call is None or not self._can_hang_up(call):
            return  # it ended while the requests were read
        failure = await call.link.hang_up(call)
        if failure is None:
            outcome = HANGUP_DONE
            self.stats.hangups += 1
            log.info(
                "call %s: hung up %s at the request of %s",
                call.call_id,
                call.caller_channel,
                request.requested_by,
            )
        else:
            outcome = hangup_failure(failure)
            self.stats.hangup_failures += 1
            log.warning(
                "call %s: cannot hang up %s at the request of %s: %s",
                call.call_id,
                call.caller_channel,
                request.requested_by,
                failure,
            )
        # Retried while the database is away: the hang-up was sent and must not be again.
        await self.db(
            billing.hangup_handled,
            request.request_id,
            outcome,
            self.clock.now(),
            what="hang-up handled",
        )

    # --- the end -------------------------------------------------------------------------------
    async def _settle(self, call: FollowedCall, decision: Settle) -> None:
        now = self.clock.now()
        ended, end_estimated = call.best_end(now)
        answered_at = None
        if decision.disposition == "ANSWERED" and decision.billsec > 0:
            answered_at = call.answer_moment or ended - timedelta(seconds=decision.billsec)
        dst = call.cdr.dst_channel if call.cdr is not None and call.cdr.dst_channel else None
        started = time.monotonic()
        try:
            settled = await self._settlements.submit(
                call_id=call.call_id,
                uniqueid=call.caller_uniqueid,
                servers=call.link.claims,
                billsec=decision.billsec,
                disposition=decision.disposition,
                answered_at=answered_at,
                ended_at=ended,
                dst_channel=dst or call.called_channel or None,
                source=decision.source,
                tariffs=self.tariffs,
                end_estimated=end_estimated,
            )
        except (WalletError, IntegrityError) as error:
            call.settled = True
            log.error(
                "call %s cannot be settled (%s): left to the admin; its hold expires after "
                "PULSA_HOLD_EXPIRY_SECONDS",
                call.call_id,
                error,
            )
            return
        if settled is None:
            self._not_ours(call)
            return
        call.call_id = settled.call_id
        call.settled = True
        if decision.source == "cdr":
            self.stats.settled_cdr += 1
        else:
            self.stats.settled_estimated += 1
        self.stats.settle_delays.append(time.monotonic() - started + self._wait_behind(call, now))
        log.info(
            "call %s settled: %s %s s, cost %s micro (%s)",
            call.call_id,
            settled.disposition,
            settled.billsec,
            settled.cost,
            settled.source,
        )

    def _wait_behind(self, call: FollowedCall, now: datetime) -> float:
        """How long the settlement waited for a Cdr after the end was known (clock time)."""
        if (call.cdr is not None and call.cdr.answered) or call.ended_seen is None:
            return 0.0
        return max(0.0, (now - call.ended_seen).total_seconds())

    async def _expire(self, call: FollowedCall) -> None:
        assert call.call_id is not None
        expired = await self.db(billing.expire, call.call_id, self.clock.now(), what="expire")
        call.settled = True
        if expired:
            self.stats.expired += 1
            log.warning(
                "call %s: its channel %s went away while the listener was not connected and it "
                "was never seen answered: hold released, nothing charged",
                call.call_id,
                call.caller_channel,
            )


async def serve(
    settings,
    database: Database,
    *,
    stats_interval: float = 0.0,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the listener until SIGTERM or SIGINT (`pulsa ami`)."""
    config = ListenerConfig.from_settings(settings)
    listener = Listener(
        config,
        database,
        CallPolicy.from_settings(settings),
        policies=CallPolicyCache(settings),
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await listener.start()
    names = ", ".join(f"{s.name} ({s.address})" for s in config.servers)
    (announce or log.info)(f"pulsa ami listening to {names} (Ctrl+C to stop)")
    reporter = None
    stats_log = logging.getLogger("pulsa.ami.stats")
    if stats_interval > 0:
        stats_log.setLevel(logging.INFO)  # asked for on the command line: shown

        async def report() -> None:
            while True:
                await asyncio.sleep(stats_interval)
                stats_log.info("stats %s", listener.stats.line())

        reporter = asyncio.ensure_future(report())
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if reporter is not None:
            reporter.cancel()
        log.info("pulsa ami stopping")
        await listener.stop()
        stats_log.info("stats %s", listener.stats.line())


def run(settings, database: Database, **kwargs: Any) -> None:
    """Blocking entry point of `pulsa ami`."""
    asyncio.run(serve(settings, database, **kwargs))


def _steps_forward(call: FollowedCall, share: Share) -> bool:
    """Whether the plan lets Asterisk be told at least a second more for the call."""
    reach = share.target_s if share.reach_s is None else share.reach_s
    return reach * 1000 >= _bound(call) + 1000


def _bound(call: FollowedCall) -> int:
    """How far (ms from answer) Asterisk may let the call run, as last known."""
    return call.paid_ms if call.bound_ms is None else min(call.bound_ms, call.paid_ms)


def _accepted_limits(calls: Iterable[FollowedCall]) -> list[tuple[int, int]]:
    """(call id, ms after answer) of the limit Asterisk last accepted, for each call."""
    limits = []
    for call in calls:
        moment = call.answer_moment
        if call.call_id is not None and moment is not None and call.asterisk_end is not None:
            limits.append((call.call_id, (call.asterisk_end - moment) // timedelta(milliseconds=1)))
    return limits
