"""Workers that hammer one wallet, for tests/integration/test_wallet_concurrency.py.

A worker is one thread with its own sessions. It runs seeded random wallet operations on
one account (spends, top-ups, holds it opens, debits, extends, settles and releases,
expiry) and, every few operations, a replay round with the other workers of its group:
the group meets at a barrier and every member submits the same operation with the same
idempotency key at the same moment (a top-up, a spend, a debit against a hold or the
settlement of a hold).

It lives in its own module so that processes started with the "spawn" method can import
it: `process_main` builds a `Database` from the URL in the child and runs threads there.
Each worker reports every ledger entry a service returned to it (key, id, amount), its
operation counts and any exception other than the expected refusals.
"""

from __future__ import annotations

import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from wallet import ledger
from wallet.db import Database
from wallet.errors import HoldNotOpen, InsufficientFunds
from wallet.models import Hold, LedgerEntry

#: What a busy wallet may answer; anything else is a failure.
EXPECTED_REFUSALS = (InsufficientFunds, HoldNotOpen)
#: A replay round every this many operations of a worker.
ROUND_EVERY = 5
#: How many holds of its own a worker keeps open at most.
MAX_OWN_HOLDS = 3
BARRIER_TIMEOUT = 60.0
REPLAY_KINDS = ("topup", "settle", "spend", "debit")

_OPERATIONS = (
    ("spend", 25),
    ("topup", 14),
    ("open", 15),
    ("debit", 15),
    ("extend", 10),
    ("settle", 10),
    ("release", 7),
    ("expire", 4),
)


@dataclass(frozen=True)
class Plan:
    """What every worker of a run shares."""

    run_id: str
    seed: int
    account_id: int


@dataclass
class WorkerResult:
    worker: str
    #: (idempotency key, entry id, amount) of every entry a service returned.
    entries: list[tuple[str, int, int]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        db: Database,
        plan: Plan,
        name: str,
        *,
        group: int,
        member: int,
        barrier: threading.Barrier,
        start: threading.Barrier,
        stop: threading.Event,
        progress: Any,
    ) -> None:
        self.db = db
        self.plan = plan
        self.name = name
        self.group = group
        self.member = member
        self.barrier = barrier
        self.start = start
        self.stop = stop
        self.progress = progress  # a shared multiprocessing.Value: operations done
        self.rng = random.Random(f"{plan.seed}:{name}")
        self.own_holds: dict[int, int] = {}  # open hold id -> what this worker debited
        self.serial = 0
        self.result = WorkerResult(name)

    def run(self) -> WorkerResult:
        try:
            self.start.wait(BARRIER_TIMEOUT)
            iteration = 0
            while not self.stop.is_set():
                iteration += 1
                if iteration % ROUND_EVERY == 0:
                    self.replay_round(iteration // ROUND_EVERY)
                else:
                    self.random_operation()
        except threading.BrokenBarrierError:
            if not self.stop.is_set():
                self.result.errors.append(
                    f"{self.name}: a barrier broke before the end (another worker failed "
                    "or did not arrive in time)"
                )
        except Exception:
            self.result.errors.append(f"{self.name}:\n{traceback.format_exc()}")
        finally:
            # Whoever leaves first releases the others of its group from the barrier.
            self.barrier.abort()
        return self.result

    # -- random operations on the worker's own holds and the shared wallet ----------------

    def random_operation(self) -> None:
        rng = self.rng
        account_id = self.plan.account_id
        names, weights = zip(*_OPERATIONS, strict=True)
        operation = rng.choices(names, weights)[0]
        if operation in ("debit", "extend", "settle", "release") and not self.own_holds:
            operation = "open"
        if operation == "open" and len(self.own_holds) >= MAX_OWN_HOLDS:
            operation = "settle"

        if operation == "spend":
            amount, key = rng.randint(1, 200_000), self.key()
            self.record(
                self.attempt(
                    "spend",
                    lambda s: ledger.spend(s, account_id, amount, key=key, kind="package"),
                )
            )
        elif operation == "topup":
            amount, key = rng.randint(50_000, 500_000), self.key()
            self.record(
                self.attempt("topup", lambda s: ledger.top_up(s, account_id, amount, key=key))
            )
        elif operation == "open":
            amount = rng.randint(1, 300_000)
            expires_at = None
            if rng.random() < 0.2:
                expires_at = ledger.utcnow() + timedelta(seconds=rng.uniform(-1.0, 3.0))
            granted, hold = self.attempt(
                "open hold",
                lambda s: ledger.open_hold(s, account_id, amount, expires_at=expires_at),
            )
            if granted:
                self.own_holds[hold.id] = 0
        elif operation == "debit":
            hold_id, amount, key = self.pick_hold(), rng.randint(1, 150_000), self.key()
            done, entry = self.attempt(
                "debit",
                lambda s: ledger.debit_against_hold(s, hold_id, amount, key=key),
                hold_id=hold_id,
            )
            if done:
                self.own_holds[hold_id] += amount
                self.record((True, entry))
        elif operation == "extend":
            hold_id, amount = self.pick_hold(), rng.randint(1, 200_000)
            self.attempt(
                "extend hold",
                lambda s: ledger.extend_hold(s, hold_id, amount),
                hold_id=hold_id,
            )
        elif operation == "settle":
            hold_id, key = self.pick_hold(), self.key()
            # Only this worker debits its holds, so the total never falls below them.
            total = self.own_holds[hold_id] + rng.randint(0, 250_000)
            done, entry = self.attempt(
                "settle",
                lambda s: ledger.settle_hold(s, hold_id, total, key=key),
                hold_id=hold_id,
            )
            if done:
                self.own_holds.pop(hold_id, None)
                self.record((True, entry))
        elif operation == "release":
            hold_id = self.pick_hold()
            self.attempt("release hold", lambda s: ledger.release_hold(s, hold_id))
            self.own_holds.pop(hold_id, None)
        else:
            self.attempt("expire holds", lambda s: ledger.expire_holds(s))

    # -- replay rounds: the same key from every member of the group at once ---------------

    def replay_round(self, number: int) -> None:
        rng = random.Random(f"{self.plan.seed}:group{self.group}:round{number}")
        # Kinds take turns, shifted per group, so every kind is replayed early in a run.
        kind = REPLAY_KINDS[(number - 1 + self.group) % len(REPLAY_KINDS)]
        reference = f"{self.plan.run_id}:g{self.group}:r{number}"
        amount = rng.randint(1, 300_000)
        hold_amount = rng.randint(100_000, 400_000)
        first_debit = rng.randint(1, hold_amount // 2)
        debit_amount = rng.randint(1, hold_amount)
        total = first_debit + rng.randint(1, hold_amount - first_debit)
        account_id = self.plan.account_id
        leader = self.member == 0

        if leader and kind in ("debit", "settle"):
            self.prepare_hold(reference, hold_amount, first_debit if kind == "settle" else 0)
        self.barrier.wait(BARRIER_TIMEOUT)

        hold_id = None
        if kind in ("debit", "settle"):
            hold_id = self.db.run(
                lambda s: s.execute(select(Hold.id).where(Hold.reference == reference)).scalar_one()
            )
        if kind == "topup":
            key = f"{reference}:topup"
            self.record(
                self.attempt(
                    "replayed topup", lambda s: ledger.top_up(s, account_id, amount, key=key)
                )
            )
        elif kind == "spend":
            key = f"{reference}:spend"
            self.record(
                self.attempt(
                    "replayed spend",
                    lambda s: ledger.spend(s, account_id, amount, key=key, kind="package"),
                )
            )
        elif kind == "debit":
            key = f"{reference}:debit"
            self.record(
                self.attempt(
                    "replayed debit",
                    lambda s: ledger.debit_against_hold(s, hold_id, debit_amount, key=key),
                )
            )
        else:
            key = f"{reference}:settle"
            self.record(
                self.attempt(
                    "replayed settle",
                    lambda s: ledger.settle_hold(s, hold_id, total, key=key),
                )
            )

        self.barrier.wait(BARRIER_TIMEOUT)
        if leader and hold_id is not None:
            self.attempt("release hold", lambda s: ledger.release_hold(s, hold_id))

    def prepare_hold(self, reference: str, amount: int, first_debit: int) -> None:
        """Open the hold the group will use, paid by a top-up in the same transaction so
        that it is granted however busy the wallet is; debit it once if asked."""
        account_id = self.plan.account_id

        def fund_and_hold(session):
            entry = ledger.top_up(session, account_id, amount, key=f"{reference}:fund")
            return entry, ledger.open_hold(session, account_id, amount, reference=reference)

        _, (entry, hold) = self.attempt("fund and open hold", fund_and_hold)
        self.record((True, entry))
        if first_debit:
            key = f"{reference}:first"
            self.record(
                self.attempt(
                    "debit",
                    lambda s: ledger.debit_against_hold(s, hold.id, first_debit, key=key),
                )
            )

    # -- helpers ---------------------------------------------------------------------------

    def attempt(
        self, name: str, work: Callable[[Any], Any], *, hold_id: int | None = None
    ) -> tuple[bool, Any]:
        """Run `work` in its own transaction (retried after deadlocks by Database.run):
        (True, what it returned), or (False, None) after an expected refusal. Any other
        exception propagates and fails the worker."""
        try:
            outcome = self.db.run(work)
        except EXPECTED_REFUSALS as refusal:
            self.result.counts[f"{name} refused: {type(refusal).__name__}"] += 1
            if isinstance(refusal, HoldNotOpen) and hold_id is not None:
                # Another worker's expire_holds() closed it.
                self.own_holds.pop(hold_id, None)
            with self.progress.get_lock():
                self.progress.value += 1
            return False, None
        self.result.counts[name] += 1
        with self.progress.get_lock():
            self.progress.value += 1
        return True, outcome

    def record(self, outcome: tuple[bool, Any]) -> None:
        """Remember the ledger entry a service returned (settle may return none)."""
        done, entry = outcome
        if done and isinstance(entry, LedgerEntry):
            self.result.entries.append((entry.idempotency_key, entry.id, entry.amount))

    def pick_hold(self) -> int:
        return self.rng.choice(sorted(self.own_holds))

    def key(self) -> str:
        self.serial += 1
        return f"{self.plan.run_id}:{self.name}:{self.serial}"


def run_workers(workers: list[Worker]) -> list[WorkerResult]:
    """Run workers on threads of this process until their stop event is set."""
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        return list(pool.map(Worker.run, workers))


def process_main(
    url: str,
    plan: Plan,
    process_index: int,
    threads: int,
    group_barriers: list[threading.Barrier],
    start: threading.Barrier,
    stop: threading.Event,
    progress: Any,
    results: Any,
) -> None:
    """Body of one spawned process: its own Database, `threads` workers; worker t is
    member `process_index` of group t, so each replay comes from every process at once."""
    try:
        db = Database(url, pool_size=threads)
        try:
            workers = [
                Worker(
                    db,
                    plan,
                    f"p{process_index}t{thread}",
                    group=thread,
                    member=process_index,
                    barrier=group_barriers[thread],
                    start=start,
                    stop=stop,
                    progress=progress,
                )
                for thread in range(threads)
            ]
            outcome = run_workers(workers)
        finally:
            db.dispose()
    except Exception:
        start.abort()
        outcome = [
            WorkerResult(
                f"p{process_index}", errors=[f"process {process_index}:\n{traceback.format_exc()}"]
            )
        ]
    results.put(outcome)
