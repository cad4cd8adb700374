"""Live calls sharing one wallet, driven through the wallet with a controlled clock the
way the AMI listener drives it: shorten in Asterisk first, then shrink the hold; grow the
hold first, then lengthen in Asterisk."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import make_account
from wallet import ledger
from wallet.audit import audit
from wallet.calls import (
    OK,
    CallPolicy,
    CallRequest,
    TariffCache,
    answer_call,
    apply_share,
    authorize_call,
    plan_shares,
    settle_call,
)
from wallet.customers import add_identity
from wallet.models import Account, Call, Hold, LedgerEntry, TariffPlan
from wallet.tariffs import ensure_plan, import_rates

UNIT = 1_000_000
START = datetime(2026, 11, 23, 5, 0, 0)  # naive UTC, as stored
_ids = itertools.count(1)


class Asterisk:
    """What Asterisk enforces: each call ends at answer + the limit last set."""

    def __init__(self) -> None:
        self.ends: dict[int, datetime] = {}

    def set_limit(self, call_id: int, now: datetime, answered: datetime, paid_ms: int) -> None:
        self.ends[call_id] = answered + timedelta(milliseconds=paid_ms)
        assert self.ends[call_id] >= now


class Simulation:
    def __init__(self, db, balance_units: int, price_per_minute: str, slice_seconds: int = 60):
        self.db, self.asterisk, self.tariffs = db, Asterisk(), TariffCache()
        self.policy = CallPolicy(slice_seconds=slice_seconds, renew_within_seconds=5)
        plan = f"share-{next(_ids)}"
        self.number = f"6277{next(_ids):07d}"
        account_id = make_account(db, balance_units * UNIT)
        self.account_id = account_id

        def setup(session):
            ensure_plan(session, plan, "UTC")
            import_rates(
                session,
                plan,
                f"prefix,price_per_minute,initial_block,increment\n1,{price_per_minute},1,1\n",
            )
            plan_id = session.execute(
                select(TariffPlan.id).where(TariffPlan.name == plan)
            ).scalar_one()
            session.execute(
                update(Account).where(Account.id == account_id).values(tariff_plan_id=plan_id)
            )
            add_identity(session, account_id, "callerid", self.number)

        db.run(setup)
        self.answered: dict[int, datetime] = {}
        self.ended: dict[int, datetime] = {}

    def start_call(self, now: datetime) -> int:
        request = CallRequest(
            [("callerid", self.number)],
            "15550100",
            now.replace(tzinfo=UTC),
            uniqueid=f"sim.{next(_ids)}",
        )
        result = self.db.run(lambda s: authorize_call(s, request, self.policy, self.tariffs))
        assert result.status == OK, result.reason
        self.db.run(lambda s: answer_call(s, result.call_id, now))
        self.answered[result.call_id] = now
        self.asterisk.set_limit(result.call_id, now, now, result.limit_ms)  # the first limit
        self.rebalance(now)
        return result.call_id

    def rebalance(self, now: datetime) -> None:
        """What the listener does: Asterisk is told at most a leash of 20 s ahead, so what
        a call holds beyond stays room for the next call."""
        shares = self.db.run(
            lambda s: plan_shares(s, self.account_id, now, self.policy, self.tariffs, 20)
        )
        for share in sorted(shares, key=lambda sh: not sh.shortens):
            answered = self.answered[share.call_id]
            told_ms = (self.asterisk.ends[share.call_id] - answered) // timedelta(milliseconds=1)
            if share.target_s == share.paid_s and told_ms >= share.reach_s * 1000:
                continue
            shortened = share.shorter_limit_ms if share.shortens else None
            if shortened is not None:  # Asterisk first (never past its bound), then the money
                self.asterisk.set_limit(share.call_id, now, answered, shortened)

            def work(session, sh=share, to=shortened) -> int:
                apply_share(
                    session,
                    sh.call_id,
                    now,
                    sh.target_s,
                    self.tariffs,
                    reach_s=sh.reach_s,
                    shortened_to_ms=to,
                )
                return session.get(Call, sh.call_id).bound_ms

            bound_ms = self.db.run(work)
            if shortened is None:  # the money first, then Asterisk
                self.asterisk.set_limit(share.call_id, now, answered, bound_ms)

    def tick(self, now: datetime) -> None:
        for call_id, end in list(self.asterisk.ends.items()):
            if call_id in self.ended:
                continue
            if end <= now:
                self.ended[call_id] = end
                billsec = int((end - self.answered[call_id]).total_seconds())
                self.db.run(
                    lambda s, c=call_id, b=billsec, e=end: settle_call(
                        s, c, billsec=b, disposition="ANSWERED", ended_at=e, tariffs=self.tariffs
                    )
                )
        live = [c for c in self.asterisk.ends if c not in self.ended]
        if any((self.asterisk.ends[c] - now).total_seconds() <= 5 for c in live):
            self.rebalance(now)

    def run_until_all_end(self, now: datetime, limit_seconds: int = 4000) -> None:
        for _ in range(limit_seconds):
            if len(self.ended) == len(self.answered):
                return
            now += timedelta(seconds=1)
            self.tick(now)
        raise AssertionError("calls did not end")

    def charged(self) -> int:
        with self.db.transaction() as session:
            return -session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                    LedgerEntry.account_id == self.account_id, LedgerEntry.kind == "call"
                )
            ).scalar_one()

    def check_invariants(self) -> None:
        with self.db.transaction() as session:
            account = session.get(Account, self.account_id)
            assert account.balance >= 0 and account.held == 0
            lowest = session.execute(
                select(func.min(LedgerEntry.balance_after)).where(
                    LedgerEntry.account_id == self.account_id
                )
            ).scalar_one()
            assert lowest >= 0
            statuses = (
                session.execute(select(Call.status).where(Call.account_id == self.account_id))
                .scalars()
                .all()
            )
            assert set(statuses) == {"settled"}
        report = self.db.run(audit)
        assert report.clean, report.problems


def test_four_calls_a_second_apart_on_one_hundred_units_spend_exactly_one_hundred(db):
    sim = Simulation(db, balance_units=100, price_per_minute="60")  # 1 unit per second
    now = START
    for second in range(4):
        sim.start_call(now + timedelta(seconds=second))
        sim.tick(now + timedelta(seconds=second))
    sim.run_until_all_end(now + timedelta(seconds=3))
    assert sim.charged() == 100 * UNIT
    ends = sorted(sim.ended.values())
    assert (ends[-1] - ends[0]).total_seconds() <= 1
    sim.check_invariants()


@pytest.mark.parametrize("calls", [1, 2, 10])
def test_many_calls_on_one_wallet_never_spend_more_than_it_has(db, calls):
    sim = Simulation(db, balance_units=500, price_per_minute="90", slice_seconds=30)
    for second in range(calls):
        sim.start_call(START + timedelta(seconds=second))
        sim.tick(START + timedelta(seconds=second))
    sim.run_until_all_end(START + timedelta(seconds=calls))
    assert sim.charged() <= 500 * UNIT
    assert 500 * UNIT - sim.charged() < 2 * 1_500_000 * calls  # within a step per call
    sim.check_invariants()


def test_a_top_up_during_a_call_lets_it_run_longer(db):
    sim = Simulation(db, balance_units=30, price_per_minute="60")
    call_id = sim.start_call(START)
    for second in range(1, 21):
        sim.tick(START + timedelta(seconds=second))
    db.run(lambda s: ledger.top_up(s, sim.account_id, 60 * UNIT, key=f"topup-{call_id}"))
    sim.run_until_all_end(START + timedelta(seconds=20))
    assert (sim.ended[call_id] - START).total_seconds() == 90
    assert sim.charged() == 90 * UNIT
    sim.check_invariants()


def test_a_long_call_keeps_its_hold_from_expiring_while_it_runs(db):
    sim = Simulation(db, balance_units=1000, price_per_minute="1")
    call_id = sim.start_call(START)
    five_hours = 5 * 3600
    db.run(lambda s: apply_share(s, call_id, START, five_hours, sim.tariffs))
    with db.transaction() as session:
        hold = session.get(Call, call_id).hold_id
        expires_at = session.get(Hold, hold).expires_at
    assert expires_at >= START + timedelta(seconds=five_hours + 3600)
