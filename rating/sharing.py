"""Sharing one wallet between the calls it pays for, so that they end together.

Each live call is described by its cost function (cumulative cost from answer), the
seconds it has run, what it may run now (paid) and the smallest step its rate charges.
`share_credit` returns, for each call, how long it may run from answer:

* when the pool pays a full slice more for every call, each call keeps what it has
  or gets a full slice from now, whichever is longer;
* otherwise every call gets the same end moment `now + t`, the largest `t` the pool
  pays for; what is left is handed out one charged step at a time, so that nothing
  stays unused that one more step could use. Calls then end within one step of
  each other.

Prices are assumed to be at least one micro-unit a second (60 per minute); below that a
charged step can cost nothing and the spreading stops at one step per call.

The pool is everything not yet consumed: the wallet's available credit plus what the
calls' holds reserve beyond their usage so far. Costs are exact micro-units.

`admit` lets a new call in beside the live ones: it gets a fair share, taken from what
the wallet does not hold and, when that is not enough, from what live holds reserve
beyond what they must keep (the limit Asterisk may already enforce for them is paid for
to the end: that part is never taken). The listener then brings the calls back to equal
shares with `share_credit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rating.pricing import LONGEST_CALL_SECONDS


@dataclass(frozen=True, slots=True)
class LiveCall:
    cost: Callable[[int], int]  # micro-units for a call of this many seconds from answer
    elapsed: int  # seconds run so far
    paid: int  # seconds from answer its holds pay for now
    step: int = 1  # seconds of one charged increment
    cap: int = LONGEST_CALL_SECONDS  # longest this call may ever run


def share_credit(
    calls: Sequence[LiveCall], pool: int, slice_seconds: int, renew_within: int | None = None
) -> list[int]:
    """Seconds from answer each call may run; their extra cost never exceeds `pool`.

    When every call can have a full slice, only calls with less than `renew_within`
    seconds left (default: a slice) get one; the others keep what they have.
    """
    if not calls:
        return []
    window = slice_seconds if renew_within is None else renew_within
    full = [
        c.paid
        if c.paid - c.elapsed > window
        else min(max(c.paid, c.elapsed + slice_seconds), c.cap)
        for c in calls
    ]
    if _extra_cost(calls, full) <= pool:
        return full
    low, high = 0, max(c.cap - c.elapsed for c in calls)
    while high - low > 1:  # largest t with every call at elapsed + t affordable
        middle = (low + high) // 2
        if _extra_cost(calls, _common_end(calls, middle)) <= pool:
            low = middle
        else:
            high = middle
    if _extra_cost(calls, _common_end(calls, high)) <= pool:
        low = high
    targets = _common_end(calls, low)
    return _spread_the_rest(calls, targets, pool)


def _common_end(calls: Sequence[LiveCall], t: int) -> list[int]:
    return [max(c.elapsed, min(c.elapsed + t, c.cap)) for c in calls]


def _extra_cost(calls: Sequence[LiveCall], targets: Sequence[int]) -> int:
    return sum(c.cost(target) - c.cost(c.elapsed) for c, target in zip(calls, targets, strict=True))


def _spread_the_rest(calls: Sequence[LiveCall], targets: list[int], pool: int) -> list[int]:
    # Steps for the calls that end soonest first, round after round, while the pool pays
    # for one and the call would not get more than one step past the call that ends
    # soonest (they must end together, to the increment).
    left = pool - _extra_cost(calls, targets)
    progress = True
    while progress:
        progress = False
        order = sorted(range(len(calls)), key=lambda i: (targets[i] - calls[i].elapsed, i))
        soonest = min(targets[i] - calls[i].elapsed for i in order)
        for index in order:
            call = calls[index]
            longer = min(targets[index] + call.step, call.cap)
            extra = call.cost(longer) - call.cost(targets[index])
            ahead = longer - call.elapsed - soonest
            if longer > targets[index] and extra <= left and ahead <= call.step:
                targets[index] = longer
                left -= extra
                progress = True
    return targets


# --- admission ---------------------------------------------------------------------------


#: A wallet with this many full slices for each of its calls (the new one included) gives
#: a new call a first limit as long as its hold: room for a burst is not a concern there.
RICH_SLICES = 10


@dataclass(frozen=True, slots=True)
class Holding:
    """A live call's hold as a new call on the same wallet sees it (micro-units)."""

    amount: int  # what the hold reserves in all, debits included
    keep: int  # what it can never give back: at least what it has used, and what the
    # limit Asterisk may already enforce for it costs
    used: int = 0  # what was debited from it


@dataclass(frozen=True, slots=True)
class Admission:
    """A new call let in: its hold, its first limit and what it takes from live holds."""

    seconds: int  # what its hold pays for, from answer
    amount: int  # its hold
    limit: int  # the limit Asterisk gets at answer, seconds (never more than `seconds`)
    holdings: list[int]  # the live holds' new amounts, in the order given


def admit(
    cost: Callable[[int], int],
    duration: Callable[[int], int],
    unheld: int,
    holdings: Sequence[Holding],
    *,
    minimum: int,
    first_limit: int,
    slice_seconds: int,
) -> Admission | None:
    """Let a new call in beside the live calls of its wallet, or None (refused).

    `cost(seconds)` is the new call's cost, `duration(amount)` the longest it may run for
    `amount` (invariant 5). The room for it is what the wallet does not hold (`unheld`)
    plus what live holds reserve beyond what they must keep; it is refused only when the
    room cannot pay `minimum` seconds. Its hold is a fair share of everything the wallet
    has not spent (one more call among the live ones), at most a slice, at least the
    minimum and, when the room pays for it, `first_limit` seconds; taken from what is not
    held first, then from the live holds that keep the most beyond their needs.

    Its first limit is `first_limit` seconds (or its minimum when longer), no more than
    it pays for: what it holds beyond that stays room for the calls of a burst until the
    listener takes over. A wallet that pays RICH_SLICES full slices for each of its calls
    cannot be emptied by a burst: the call's limit is then all it pays for.
    """
    releasable = [max(0, h.amount - h.keep) for h in holdings]
    room = max(0, unheld) + sum(releasable)
    if minimum < 0 or cost(minimum) > room:
        return None
    unspent = max(0, unheld) + sum(max(h.amount, h.keep) - h.used for h in holdings)
    fair = min(slice_seconds, duration(unspent // (len(holdings) + 1)))
    most = duration(room)
    seconds = min(max(fair, minimum, min(first_limit, most)), most)
    amount = cost(seconds)
    paid = duration(amount)
    taken = _take(releasable, amount - min(max(0, unheld), amount))
    limit = min(paid, max(first_limit, minimum))
    if unspent >= RICH_SLICES * (len(holdings) + 1) * cost(slice_seconds):
        limit = paid  # no burst can empty this wallet: Asterisk gets the whole slice
    return Admission(
        seconds=paid,
        amount=amount,
        limit=limit,
        holdings=[h.amount - t for h, t in zip(holdings, taken, strict=True)],
    )


def _take(releasable: Sequence[int], need: int) -> list[int]:
    """Take `need` in all from `releasable`, levelling the largest down first."""
    if need <= 0:
        return [0] * len(releasable)
    low, high = 0, max(releasable)  # the highest level that still yields `need`
    while high - low > 1:
        middle = (low + high) // 2
        if sum(max(0, r - middle) for r in releasable) >= need:
            low = middle
        else:
            high = middle
    level = high if sum(max(0, r - high) for r in releasable) >= need else low
    taken = [max(0, r - level) for r in releasable]
    # Levelled to `level`, less than one unit per hold too much: one unit back each.
    excess = sum(taken) - need
    for index in sorted(range(len(taken)), key=lambda i: -taken[i])[:excess]:
        taken[index] -= 1
    return taken


def reach(
    calls: Sequence[LiveCall],
    targets: Sequence[int],
    pool: int,
    slice_seconds: int,
    leash: int,
) -> list[int]:
    """How far (seconds from answer) Asterisk is told each call may run after a renewal
    that gives it `targets`: no more than `leash` seconds ahead, so that what a call holds
    beyond stays room for a new call on the wallet (`admit`), unless the wallet pays
    RICH_SLICES full slices for each call, where no call can need that room."""
    full = sum(c.cost(c.elapsed + slice_seconds) - c.cost(c.elapsed) for c in calls)
    if pool >= RICH_SLICES * full:
        return list(targets)
    return [min(t, c.elapsed + leash) for c, t in zip(calls, targets, strict=True)]
