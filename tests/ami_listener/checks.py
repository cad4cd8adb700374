"""Invariants 1 to 4 of ../shared/ARCHITECTURE.md (and 6 where the data shows it), checked
on the database at the end of every listener scenario."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from sqlalchemy import func, select

from rating import CallPricing
from wallet.audit import audit
from wallet.calls import TariffCache
from wallet.db import Database
from wallet.models import Account, Call, CallRecord, Hold, LedgerEntry


def check_invariants(
    db: Database,
    account_ids: Iterable[int],
    call_ids: Iterable[int],
    *,
    settled: bool = True,
) -> dict[int, CallRecord]:
    """Checks and returns the CDR of every call (by call id).

    1. audit is clean (balance == sum of entries, held == open holds, no entry below 0);
    2. no balance ever went below zero, nothing stays held once the calls are over;
    3. every call has exactly one CDR, and only its own hold's entries charge it;
    4. each CDR's cost is rating's cost of its billable seconds, and the call's entries
       (debits while it ran and the final charge) add up to exactly that cost;
    6. a call never ran (billsec) beyond what its hold paid for, and spent nothing that was
       not held (hold.used <= hold.amount).
    """
    report = db.run(audit)
    assert report.clean, report.problems
    account_ids, call_ids = list(account_ids), list(call_ids)
    tariffs = TariffCache()
    records: dict[int, CallRecord] = {}
    with db.transaction() as session:
        for account_id in account_ids:
            account = session.get(Account, account_id)
            assert account.balance >= -account.credit_limit, account_id
            lowest = session.execute(
                select(func.min(LedgerEntry.balance_after)).where(
                    LedgerEntry.account_id == account_id
                )
            ).scalar_one()
            assert lowest is None or lowest >= -account.credit_limit, (account_id, lowest)
            if settled:
                assert account.held == 0, (account_id, account.held)
        for call_id in call_ids:
            call = session.get(Call, call_id)
            if settled:
                assert call.status in ("settled", "expired"), (call_id, call.status)
            if call.status != "settled":
                assert not session.execute(
                    select(CallRecord).where(CallRecord.hold_id == call.hold_id)
                ).all()
                continue
            found = (
                session.execute(select(CallRecord).where(CallRecord.hold_id == call.hold_id))
                .scalars()
                .all()
            )
            assert len(found) == 1, (call_id, len(found))
            record = found[0]
            records[call_id] = record
            entries = session.execute(
                select(LedgerEntry.amount, LedgerEntry.account_id, LedgerEntry.kind).where(
                    LedgerEntry.hold_id == call.hold_id
                )
            ).all()
            assert all(e.account_id == call.account_id and e.kind == "call" for e in entries)
            assert -sum(e.amount for e in entries) == record.cost, (call_id, entries, record.cost)
            expected = 0
            if record.disposition == "ANSWERED" and record.billsec > 0 and call.mode != "free":
                tariff = tariffs.get(session, call.plan_id)
                pricing = CallPricing.for_call(
                    tariff, call.dialled, record.answer_at.replace(tzinfo=UTC)
                )
                expected = pricing.cost(record.billsec)
            assert record.cost == expected, (call_id, record.billsec, record.cost, expected)
            hold = session.get(Hold, call.hold_id)
            assert hold.used <= hold.amount, (call_id, hold.used, hold.amount)
            if call.mode == "live" and record.disposition == "ANSWERED":
                assert record.billsec * 1000 <= call.paid_ms, (call_id, record.billsec)
    return records


def charged(db: Database, account_id: int) -> int:
    """Micro-units charged for calls on a wallet."""
    with db.transaction() as session:
        return -session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account_id, LedgerEntry.kind == "call"
            )
        ).scalar_one()
