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
