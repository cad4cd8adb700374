"""Invariants 1 and 2 under fire: threads and processes spending one wallet at once.

Only PostgreSQL and MariaDB (SQLite serializes every writer, there is nothing to race).
Each test works on its own accounts in the run's migrated database, with its own
`Database` (its own pool) so that the number of connections is the test's business.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from tests.conftest import make_account
from tests.databases import selected_backends
from tests.integration.wallet_worker import (
    BARRIER_TIMEOUT,
    Plan,
    Worker,
    WorkerResult,
    process_main,
    run_workers,
)
from wallet import ledger
from wallet.audit import audit
from wallet.db import Database
from wallet.errors import InsufficientFunds
from wallet.models import Account, Hold, LedgerEntry

pytestmark = pytest.mark.slow

SERVER_BACKENDS = [name for name in ("postgresql", "mariadb") if name in selected_backends()]
SEED = 20250106
OPENING = 5_000_000
#: The random runs last RUN_SECONDS, longer (up to MAX_RUN_SECONDS) until MIN_OPERATIONS
#: were done: on a busy 2-core machine a transaction can take ten times as long.
RUN_SECONDS = 3.0
MAX_RUN_SECONDS = 12.0
MIN_OPERATIONS = 400


@pytest.fixture(params=SERVER_BACKENDS)
def server_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> str:
    return migrated_urls[request.param]


@pytest.fixture
def database(server_url: str):
    """A Database of our own, with a pool for 50 threads (25 + 25 overflow)."""
    db = Database(server_url, pool_size=25)
    yield db
    db.dispose()


def test_fifty_threads_on_one_wallet_never_overdraw_lose_or_double_count_money(database):
    account_id = make_account(database)
    plan = Plan(run_id=f"threads-{uuid.uuid4().hex[:10]}", seed=SEED, account_id=account_id)
    opening = open_with(database, plan, OPENING)
    groups, members = 10, 5
    barriers = [threading.Barrier(members) for _ in range(groups)]
    start, stop = threading.Barrier(groups * members + 1), threading.Event()
    progress = multiprocessing.Value("q", 0)
    workers = [
        Worker(
            database,
            plan,
            f"g{group}m{member}",
            group=group,
            member=member,
            barrier=barriers[group],
            start=start,
            stop=stop,
            progress=progress,
        )
        for group in range(groups)
        for member in range(members)
    ]
    with ThreadPoolExecutor(max_workers=1) as runner:
        running = runner.submit(run_workers, workers)
        try:
            start.wait(BARRIER_TIMEOUT)
            keep_running(progress)
        finally:
            stop.set()
        results = running.result(timeout=60)

    check_wallet(database, account_id, results, opening)


def test_six_processes_on_one_wallet_never_overdraw_lose_or_double_count_money(database):
    account_id = make_account(database)
    plan = Plan(run_id=f"processes-{uuid.uuid4().hex[:10]}", seed=SEED + 1, account_id=account_id)
    opening = open_with(database, plan, OPENING)
    processes, threads = 6, 4
    context = multiprocessing.get_context("spawn")
    # Group t is thread t of every process: each replay comes from six processes at once.
    barriers = [context.Barrier(processes) for _ in range(threads)]
    start, stop, queue = context.Barrier(processes * threads + 1), context.Event(), context.Queue()
    progress = context.Value("q", 0)
    children = [
        context.Process(
            target=process_main,
            args=(database.url, plan, index, threads, barriers, start, stop, progress, queue),
            name=f"wallet-worker-{index}",
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    results: list[WorkerResult] = []
    try:
        start.wait(BARRIER_TIMEOUT)  # every process has imported pulsa and is ready
        keep_running(progress)
        stop.set()
        for _ in children:
            results.extend(queue.get(timeout=60))
    finally:
        stop.set()
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert [child.exitcode for child in children] == [0] * processes

    check_wallet(database, account_id, results, opening)


def test_opposite_transfers_at_the_same_moment_never_fail_and_conserve_the_total(database):
    first, second = make_account(database, 20_000_000), make_account(database, 20_000_000)
    rounds, run_id = 120, uuid.uuid4().hex[:10]
    # Two threads send first -> second and two send second -> first, each pair with the
    # same key (a replay), all four released by one barrier every round.
    directions = [(first, second), (first, second), (second, first), (second, first)]
    barrier = threading.Barrier(len(directions))
    moved: dict[str, tuple[int, int, int, int]] = {}
    lock = threading.Lock()

    def sender(slot: int) -> list[str]:
        source, target = directions[slot]
        rng = random.Random(f"{SEED}:transfer:{source}->{target}")
        refusals = []
        try:
            for round_number in range(rounds):
                amount = rng.randint(1, 15_000_000)
                key = f"{run_id}:{round_number}:{source}->{target}"
                barrier.wait(BARRIER_TIMEOUT)
                try:
                    out, into = database.run(
                        lambda s, amount=amount, key=key: ledger.transfer(
                            s, source, target, amount, key=key
                        )
                    )
                except InsufficientFunds:
                    refusals.append(key)
                    continue
                with lock:
                    seen = (out.id, into.id, out.amount, into.amount)
                    assert moved.setdefault(key, seen) == seen, f"replay of {key} differs"
        except BaseException:
            barrier.abort()  # let the other senders stop instead of waiting
            raise
        return refusals

    with ThreadPoolExecutor(max_workers=len(directions)) as pool:
        refusals = [key for keys in pool.map(sender, range(len(directions))) for key in keys]

    with database.transaction() as session:
        report = audit(session)
        balances = {
            account.id: account.balance
            for account in session.execute(
                select(Account).where(Account.id.in_((first, second)))
            ).scalars()
        }
        transfer_entries = session.execute(
            select(LedgerEntry.idempotency_key, LedgerEntry.amount).where(
                LedgerEntry.account_id.in_((first, second)), LedgerEntry.kind == "transfer"
            )
        ).all()
    assert report.clean, report.problems
    assert balances[first] + balances[second] == 40_000_000
    assert sum(amount for _, amount in transfer_entries) == 0
    assert sorted(key for key, _ in transfer_entries) == sorted(
        f"{key}:{side}" for key in moved for side in ("out", "in")
    )
    sent = defaultdict(int)
    for key, (_, _, out_amount, _) in moved.items():
        sent[key.rsplit(":", 1)[1]] += -out_amount
    assert balances[first] == 20_000_000 - sent[f"{first}->{second}"] + sent[f"{second}->{first}"]
    assert len(moved) > rounds // 2, "too few transfers went through to prove anything"
    assert refusals, "no transfer was ever refused: the amounts never tested the limit"


def test_forty_simultaneous_holds_never_reserve_more_than_the_balance(database):
    balance, threads = 1_000_000, 40
    fair_share = balance // threads
    scenarios = {
        "equal asks of three fair shares": [3 * fair_share] * threads,
        "random asks above a fair share": [
            random.Random(f"{SEED}:hold:{n}").randint(fair_share + 1, 6 * fair_share)
            for n in range(threads)
        ],
    }
    for scenario, asks in scenarios.items():
        account_id = make_account(database, balance)
        barrier = threading.Barrier(threads)

        def ask(amount: int, account_id: int = account_id, barrier=barrier) -> int:
            barrier.wait(BARRIER_TIMEOUT)
            try:
                database.run(lambda s: ledger.open_hold(s, account_id, amount))
            except InsufficientFunds:
                return 0
            return amount

        with ThreadPoolExecutor(max_workers=threads) as pool:
            granted = list(pool.map(ask, asks))

        with database.transaction() as session:
            account = session.get(Account, account_id)
            holds = session.execute(select(Hold).where(Hold.account_id == account_id)).scalars()
            held_by_holds = sum(hold.amount for hold in holds if hold.status == "open")
            report = audit(session)
        assert report.clean, report.problems
        assert sum(granted) <= balance, scenario
        assert account.held == held_by_holds == sum(granted), scenario
        left = balance - sum(granted)
        refused = [amount for amount, got in zip(asks, granted, strict=True) if not got]
        # Credit only ever shrank while they ran, so every refusal was justified at the
        # end too: no hold was turned away while there was room for it.
        assert all(amount > left for amount in refused), (scenario, left, refused)
        if len(set(asks)) == 1:
            assert sum(1 for got in granted if got) == balance // asks[0], scenario


# -- helpers -------------------------------------------------------------------------------


def keep_running(progress) -> None:
    began = time.monotonic()
    time.sleep(RUN_SECONDS)
    while progress.value < MIN_OPERATIONS and time.monotonic() - began < MAX_RUN_SECONDS:
        time.sleep(0.1)


def open_with(db: Database, plan: Plan, amount: int) -> tuple[str, int, int]:
    key = f"{plan.run_id}:opening"
    entry = db.run(lambda s: ledger.top_up(s, plan.account_id, amount, key=key))
    return key, entry.id, entry.amount


def check_wallet(
    db: Database, account_id: int, results: list[WorkerResult], opening: tuple[str, int, int]
) -> None:
    errors = [error for result in results for error in result.errors]
    assert not errors, "\n\n".join(errors)
    counts = Counter()
    for result in results:
        counts.update(result.counts)
    print(f"\naccount {account_id}, {len(results)} workers: {dict(sorted(counts.items()))}")

    # What the workers were told: every key maps to one entry, whoever asked.
    told: dict[str, set[tuple[int, int]]] = defaultdict(set)
    askers: dict[str, set[str]] = defaultdict(set)
    told[opening[0]].add(opening[1:])
    for result in results:
        for key, entry_id, amount in result.entries:
            told[key].add((entry_id, amount))
            askers[key].add(result.worker)
    split = {key: answers for key, answers in told.items() if len(answers) > 1}
    assert not split, f"one key, several entries: {split}"
    told_once = {key: next(iter(answers)) for key, answers in told.items()}

    with db.transaction() as session:
        report = audit(session)
        account = session.get(Account, account_id)
        entries = session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.idempotency_key,
                LedgerEntry.amount,
                LedgerEntry.balance_after,
                LedgerEntry.hold_id,
            )
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id)
        ).all()
        holds = session.execute(select(Hold).where(Hold.account_id == account_id)).scalars().all()

    assert report.clean, report.problems

    # Invariant 2 at every point in history, recomputed here rather than trusted.
    running = 0
    for entry_id, key, amount, balance_after, _ in entries:
        running += amount
        assert balance_after == running, f"entry {entry_id} ({key}) says {balance_after}"
        assert balance_after >= 0, f"entry {entry_id} ({key}) left the balance at {running}"
    assert account.balance == running

    # Exactly the entries the workers were told about, each once, and nothing else.
    keys_in_ledger = [key for _, key, _, _, _ in entries]
    assert len(keys_in_ledger) == len(set(keys_in_ledger))
    assert {key: (entry_id, amount) for entry_id, key, amount, _, _ in entries} == told_once
    assert account.balance == sum(amount for _, amount in told_once.values())

    # Replays really raced, and each replayed key was applied once.
    replayed = {key: who for key, who in askers.items() if len(who) > 1}
    assert any(key.endswith(":topup") for key in replayed), "no top-up was replayed"
    assert any(key.endswith(":settle") for key in replayed), "no settlement was replayed"
    assert any(key.endswith(":debit") for key in replayed), "no debit was replayed"
    in_ledger = Counter(keys_in_ledger)
    assert all(in_ledger[key] == 1 for key in replayed if key.endswith(":topup"))

    # Holds: held is what the open ones still reserve; what a hold used is what was
    # charged against it.
    charged = defaultdict(int)
    for _, _, amount, _, hold_id in entries:
        if hold_id is not None:
            charged[hold_id] -= amount
    open_holds = [hold for hold in holds if hold.status == "open"]
    assert account.held == sum(hold.amount - hold.used for hold in open_holds)
    assert all(0 <= hold.used <= hold.amount for hold in open_holds)
    assert {hold.id: hold.used for hold in holds if hold.used} == dict(charged)

    for operation in ("spend", "topup", "open hold", "debit", "extend hold", "settle"):
        assert counts[operation] > 0, f"no {operation} went through: {dict(counts)}"
    assert counts["release hold"] > 0 and counts["replayed settle"] > 1, dict(counts)
    print(
        f"{len(entries)} entries, balance {account.balance}, held {account.held} in "
        f"{len(open_holds)} open holds, {len(replayed)} keys sent by several workers at once"
    )
