"""Invariant 1 and its neighbours, checked against the database itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wallet.models import Account, Hold, LedgerEntry


@dataclass
class AuditReport:
    accounts_checked: int = 0
    entries_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def audit(session: Session) -> AuditReport:
    """Check, for every account: balance == sum(entries), held == sum(open holds),
    the balance never below -credit_limit, and every entry's balance_after equal to the
    running sum of the entries before it (so no point in history went below zero
    unnoticed)."""
    report = AuditReport()
    sums = dict(
        session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(
                LedgerEntry.account_id
            )
        ).all()
    )
    held = dict(
        session.execute(
            select(Hold.account_id, func.sum(Hold.amount - Hold.used))
            .where(Hold.status == "open")
            .group_by(Hold.account_id)
        ).all()
    )
    for account in session.execute(select(Account).order_by(Account.id)).scalars():
        report.accounts_checked += 1
        ledger_sum = int(sums.get(account.id) or 0)
        open_held = int(held.get(account.id) or 0)
        if account.balance != ledger_sum:
            report.problems.append(
                f"account {account.id}: balance {account.balance} != sum of entries {ledger_sum}"
            )
        if account.held != open_held:
            report.problems.append(
                f"account {account.id}: held {account.held} != open holds {open_held}"
            )
        if account.balance < -account.credit_limit:
            report.problems.append(
                f"account {account.id}: balance {account.balance} below its limit"
            )
        if account.available < 0:
            report.problems.append(
                f"account {account.id}: holds exceed the balance by {-account.available}"
            )

    running = func.sum(LedgerEntry.amount).over(
        partition_by=LedgerEntry.account_id, order_by=LedgerEntry.id
    )
    history = select(
        LedgerEntry.id,
        LedgerEntry.account_id,
        LedgerEntry.balance_after,
        running.label("running"),
    ).subquery()
    report.entries_checked = int(session.execute(select(func.count(LedgerEntry.id))).scalar_one())
    broken = session.execute(
        select(history.c.id, history.c.account_id, history.c.balance_after, history.c.running)
        .where(history.c.balance_after != history.c.running)
        .limit(20)
    ).all()
    for entry_id, account_id, after, total in broken:
        report.problems.append(
            f"account {account_id}: entry {entry_id} says balance {after}, entries sum to {total}"
        )
    negative = session.execute(
        select(LedgerEntry.id, LedgerEntry.account_id, LedgerEntry.balance_after)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(LedgerEntry.balance_after < -Account.credit_limit)
        .limit(20)
    ).all()
    for entry_id, account_id, after in negative:
        report.problems.append(f"account {account_id}: entry {entry_id} left balance {after}")
    return report
