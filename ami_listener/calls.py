"""One call as the listener follows it: what Asterisk said about it (from events) and what
the database said (from the Call row), and the rule that decides when and how it is
settled. No I/O here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ami_listener.events import DIAL_DISPOSITIONS, CdrRecord


@dataclass(frozen=True, slots=True)
class Settle:
    billsec: int
    disposition: str
    source: str  # "cdr": Asterisk's own record; "estimated": from the events or the limit


@dataclass(frozen=True, slots=True)
class Expire:
    """Gone while nobody watched, never seen answered: release the hold, charge nothing."""


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime | None  # None: until something happens


@dataclass(eq=False)
class FollowedCall:
    link: Any  # the ServerLink of the Asterisk server the call is on
    caller_uniqueid: str  # the channel that ran the AGI and dials
    caller_channel: str
    hint: int | None = None  # PULSA_CALL as Asterisk reported it
    trigger: str = "dial"  # what made the listener follow it: callvar, status, dial, resync

    # From the database.
    call_id: int | None = None
    account_id: int | None = None
    mode: str = ""
    paid_ms: int = 0
    bound_ms: int | None = None  # how far Asterisk may let it run (None: paid_ms)
    db_answered_at: datetime | None = None
    answer_recorded: bool = False
    resolved_seq: int = 0

    # From Asterisk.
    called_uniqueid: str = ""
    called_channel: str = ""  # the dialled channel: TIMEOUT(absolute) is set on it
    dial_status: str = ""
    answered_at: datetime | None = None
    answer_estimate: datetime | None = None  # bridged when the listener came back
    ended_at: datetime | None = None  # end of talk (or of the call when unanswered)
    ended_seen: datetime | None = None  # when the listener learned it
    caller_gone: bool = False
    gone_while_away: bool = False
    cdr: CdrRecord | None = None

    # Work.
    settled: bool = False
    rejected: bool = False  # not a pulsa call: ignore the channel's later events
    needs_sync: bool = False  # tell Asterisk the limit again (resumed after a restart)
    last_attempt: datetime | None = None
    granted_at: datetime | None = None  # when the current paid time was given
    asterisk_end: datetime | None = None  # when Asterisk ends it, by the last limit it took
    stalled: bool = False  # the last renewal could not lengthen it
    retry_at: datetime | None = None
    waiting: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sleeper: asyncio.Future[Any] | None = None
    task: asyncio.Task[Any] | None = None

    def __repr__(self) -> str:
        return f"<FollowedCall {self.call_id or '?'} {self.caller_channel}>"

    # --- facts from events -----------------------------------------------------------
    @property
    def answered(self) -> bool:
        return self.answered_at is not None or self.answer_recorded

    @property
    def answer_moment(self) -> datetime | None:
        """When the call was answered, as the database has it once it does."""
        return self.db_answered_at or self.answered_at

    def note_called(self, uniqueid: str, channel: str) -> None:
        if uniqueid:
            self.called_uniqueid = uniqueid
        if channel:
            self.called_channel = channel

    def note_answer(self, at: datetime) -> bool:
        if self.answered_at is not None or self.answer_recorded:
            return False
        self.answered_at = at
        return True

    def note_caller_hangup(self, at: datetime) -> bool:
        if self.caller_gone:
            return False
        self.caller_gone = True
        if self.ended_at is None:
            self.ended_at, self.ended_seen = at, at
        return True

    def note_called_hangup(self, at: datetime) -> bool:
        if not self.answered or self.ended_at is not None:
            return False
        self.ended_at, self.ended_seen = at, at
        return True

    def note_cdr(self, record: CdrRecord) -> bool:
        """Keep the billable record: the caller's Dial record, an answered one first."""
        if not record.of_dial:
            return False
        if self.cdr is not None and (self.cdr.answered or not record.answered):
            return False
        self.cdr = record
        return True

    # --- limits ------------------------------------------------------------------------
    @property
    def limit_end(self) -> datetime | None:
        """When the call's holds stop paying (answer + paid), once answered."""
        moment = self.answer_moment
        if moment is None or not self.answer_recorded:
            return None
        return moment + timedelta(milliseconds=self.paid_ms)

    @property
    def bound_end(self) -> datetime | None:
        """The latest moment Asterisk may be told to end the call, once answered."""
        end = self.limit_end
        if end is None or self.bound_ms is None or self.bound_ms >= self.paid_ms:
            return end
        return end - timedelta(milliseconds=self.paid_ms - self.bound_ms)

    def estimated_billsec(self, until: datetime) -> int:
        moment = self.answer_moment
        if moment is None:
            return 0
        seconds = max(0, int((until - moment).total_seconds()))
        if self.answer_recorded:
            seconds = min(seconds, self.paid_ms // 1000)
        if self.asterisk_end is not None:  # Asterisk cut it there at the latest
            seconds = min(seconds, max(0, int((self.asterisk_end - moment).total_seconds())))
        return seconds

    def best_end(self, now: datetime) -> tuple[datetime, bool]:
        """When the call ended, and whether that is estimated. Seen (its Hangup): then.
        Gone while nobody watched: from Asterisk's record when it came (answer + its
        billable seconds), else the limit Asterisk enforced or the end of what was paid,
        never later than when it was found gone."""
        found = self.ended_at or now
        if not self.gone_while_away:
            return found, False
        moment = self.answer_moment
        if moment is None:
            return found, True
        record = self.cdr
        if record is not None and record.answered:
            return min(found, moment + timedelta(seconds=record.billsec)), True
        ends = [found, self.limit_end, self.asterisk_end]
        return min(end for end in ends if end is not None), True

    # --- settlement --------------------------------------------------------------------
    def decide(self, now: datetime, cdr_wait: timedelta) -> Settle | Expire | Wait:
        """Settle from Asterisk's Dial record as soon as it says the call was answered;
        otherwise once the call is over: from the record if it came, else estimated after
        waiting `cdr_wait` for it. A call gone while the listener was away and never seen
        answered is expired."""
        record = self.cdr
        if record is not None and record.answered:
            return Settle(record.billsec, "ANSWERED", "cdr")
        if self.answered:
            if self.ended_at is None:
                return Wait(None)
            if record is not None:  # Asterisk says it was not answered after all
                return Settle(0, record.disposition or "NO ANSWER", "cdr")
            deadline = (self.ended_seen or self.ended_at) + cdr_wait
            if now < deadline:
                return Wait(deadline)
            return Settle(self.estimated_billsec(self.ended_at), "ANSWERED", "estimated")
        if not self.caller_gone:
            return Wait(None)
        if record is not None:
            return Settle(0, record.disposition or "NO ANSWER", "cdr")
        deadline = (self.ended_seen or now) + cdr_wait
        if now < deadline:
            return Wait(deadline)
        if self.gone_while_away:
            return Expire()
        return Settle(0, DIAL_DISPOSITIONS.get(self.dial_status, "NO ANSWER"), "estimated")
