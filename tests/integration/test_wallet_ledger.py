"""Wallet services on every database: each money rule, replays, and the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import make_account, unique_key
from wallet import ledger
from wallet.audit import audit
from wallet.errors import (
    AccountBlocked,
    HoldNotOpen,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
)
from wallet.models import Account, Hold, LedgerEntry


def balance_of(db, account_id: int) -> tuple[int, int]:
    with db.transaction() as session:
        account = session.get(Account, account_id)
        return account.balance, account.held


def test_top_up_credits_the_balance_and_records_an_entry(db):
    account_id = make_account(db)
    entry = db.run(
        lambda s: ledger.top_up(
            s, account_id, 50_000_000, key=unique_key(), method="bank_transfer", reference="TRX-1"
        )
    )
    assert (entry.amount, entry.balance_after, entry.kind) == (50_000_000, 50_000_000, "topup")
    assert balance_of(db, account_id) == (50_000_000, 0)


def test_replaying_a_top_up_with_the_same_key_credits_once(db):
    account_id = make_account(db)
    key = unique_key("double-click")
    first = db.run(lambda s: ledger.top_up(s, account_id, 7_000_000, key=key))
    second = db.run(lambda s: ledger.top_up(s, account_id, 7_000_000, key=key))
    assert first.id == second.id
    assert balance_of(db, account_id) == (7_000_000, 0)


def test_reusing_a_key_for_another_amount_is_refused(db):
    account_id = make_account(db)
    key = unique_key()
    db.run(lambda s: ledger.top_up(s, account_id, 1_000_000, key=key))
    with pytest.raises(IdempotencyConflict):
        db.run(lambda s: ledger.top_up(s, account_id, 2_000_000, key=key))


def test_spending_more_than_available_is_refused_and_writes_nothing(db):
    account_id = make_account(db, 1_000_000)
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.spend(s, account_id, 1_000_001, key=unique_key(), kind="package"))
    assert balance_of(db, account_id) == (1_000_000, 0)


def test_credit_limit_lets_the_balance_go_down_to_minus_the_limit(db):
    account_id = make_account(db, 1_000_000, credit_limit=500_000)
    db.run(lambda s: ledger.spend(s, account_id, 1_500_000, key=unique_key(), kind="package"))
    assert balance_of(db, account_id) == (-500_000, 0)
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.spend(s, account_id, 1, key=unique_key(), kind="package"))


def test_zero_negative_and_fractional_amounts_are_refused(db):
    account_id = make_account(db)
    for bad in (0, -5, 1.5):
        with pytest.raises(InvalidInput):
            db.run(lambda s, bad=bad: ledger.top_up(s, account_id, bad, key=unique_key()))


def test_adjustment_needs_a_reason(db):
    account_id = make_account(db, 1_000_000)
    with pytest.raises(InvalidInput):
        db.run(
            lambda s: ledger.adjust(
                s, account_id, -100, key=unique_key(), reason=" ", actor="admin"
            )
        )
    entry = db.run(
        lambda s: ledger.adjust(
            s, account_id, -100, key=unique_key(), reason="double top-up on 3 Nov", actor="admin"
        )
    )
    assert entry.note == "double top-up on 3 Nov" and entry.actor == "admin"


def test_transfer_moves_money_between_wallets_atomically(db):
    source, target = make_account(db, 3_000_000), make_account(db)
    key = unique_key()
    db.run(lambda s: ledger.transfer(s, source, target, 2_000_000, key=key, actor="admin"))
    db.run(lambda s: ledger.transfer(s, source, target, 2_000_000, key=key, actor="admin"))
    assert balance_of(db, source) == (1_000_000, 0)
    assert balance_of(db, target) == (2_000_000, 0)
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.transfer(s, source, target, 2_000_000, key=unique_key()))
    assert balance_of(db, source) == (1_000_000, 0)


def test_a_hold_makes_credit_unavailable_to_others(db):
    account_id = make_account(db, 10_000_000)
    db.run(lambda s: ledger.open_hold(s, account_id, 8_000_000, reference="call-1"))
    assert balance_of(db, account_id) == (10_000_000, 8_000_000)
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.open_hold(s, account_id, 2_000_001))
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.spend(s, account_id, 2_000_001, key=unique_key(), kind="package"))


def test_debits_against_a_hold_then_settlement_charge_the_total_exactly(db):
    account_id = make_account(db, 10_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 3_000_000))
    db.run(lambda s: ledger.debit_against_hold(s, hold.id, 1_000_000, key=f"call-{hold.id}:1"))
    db.run(lambda s: ledger.extend_hold(s, hold.id, 2_000_000))
    db.run(lambda s: ledger.debit_against_hold(s, hold.id, 1_500_000, key=f"call-{hold.id}:2"))
    # A replayed debit (the listener restarted) is not charged again.
    db.run(lambda s: ledger.debit_against_hold(s, hold.id, 1_500_000, key=f"call-{hold.id}:2"))
    final = db.run(lambda s: ledger.settle_hold(s, hold.id, 3_200_000, key=f"call-{hold.id}:end"))
    assert final.amount == -700_000
    assert balance_of(db, account_id) == (6_800_000, 0)
    again = db.run(lambda s: ledger.settle_hold(s, hold.id, 3_200_000, key=f"call-{hold.id}:end"))
    assert again.id == final.id
    assert balance_of(db, account_id) == (6_800_000, 0)


def test_debiting_more_than_a_hold_has_left_is_refused(db):
    account_id = make_account(db, 10_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 1_000_000))
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.debit_against_hold(s, hold.id, 1_000_001, key=unique_key()))


def test_settling_an_unanswered_call_charges_nothing_and_frees_the_hold(db):
    account_id = make_account(db, 5_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 5_000_000))
    assert db.run(lambda s: ledger.settle_hold(s, hold.id, 0, key=unique_key())) is None
    assert balance_of(db, account_id) == (5_000_000, 0)
    with pytest.raises(HoldNotOpen):
        db.run(lambda s: ledger.extend_hold(s, hold.id, 1))


def test_release_is_idempotent(db):
    account_id = make_account(db, 5_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 2_000_000))
    db.run(lambda s: ledger.release_hold(s, hold.id))
    db.run(lambda s: ledger.release_hold(s, hold.id))
    assert balance_of(db, account_id) == (5_000_000, 0)


def test_expired_holds_are_released_and_their_debits_stay(db):
    account_id = make_account(db, 5_000_000)
    now = ledger.utcnow()
    hold = db.run(
        lambda s: ledger.open_hold(s, account_id, 2_000_000, expires_at=now - timedelta(seconds=1))
    )
    fresh = db.run(
        lambda s: ledger.open_hold(s, account_id, 1_000_000, expires_at=now + timedelta(hours=1))
    )
    db.run(lambda s: ledger.debit_against_hold(s, hold.id, 500_000, key=unique_key()))
    expired = db.run(lambda s: ledger.expire_holds(s, now))
    assert hold.id in expired and fresh.id not in expired
    assert balance_of(db, account_id) == (4_500_000, 1_000_000)


def test_blocked_account_cannot_spend_but_can_be_topped_up(db):
    account_id = make_account(db, 5_000_000)
    db.run(
        lambda s: s.execute(
            update(Account).where(Account.id == account_id).values(status="blocked")
        )
    )
    with pytest.raises(AccountBlocked):
        db.run(lambda s: ledger.open_hold(s, account_id, 1))
    db.run(lambda s: ledger.top_up(s, account_id, 1_000_000, key=unique_key()))
    assert balance_of(db, account_id)[0] == 6_000_000


def test_a_failed_operation_leaves_no_half_written_record(db):
    account_id = make_account(db, 1_000_000)

    def top_up_then_fail(session):
        ledger.top_up(session, account_id, 9_000_000, key=unique_key())
        ledger.spend(session, account_id, 99_000_000, key=unique_key(), kind="package")

    with pytest.raises(InsufficientFunds):
        db.run(top_up_then_fail)
    with db.transaction() as session:
        entries = session.execute(
            select(func.count()).where(LedgerEntry.account_id == account_id)
        ).scalar_one()
    assert entries == 1
    assert balance_of(db, account_id) == (1_000_000, 0)


def test_audit_is_clean_after_normal_use_and_finds_a_tampered_balance(db):
    account_id = make_account(db, 2_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 1_000_000))
    db.run(lambda s: ledger.settle_hold(s, hold.id, 400_000, key=unique_key()))
    report = db.run(audit)
    assert report.clean, report.problems
    db.run(
        lambda s: s.execute(
            update(Account).where(Account.id == account_id).values(balance=Account.balance + 1)
        )
    )
    try:
        report = db.run(audit)
        assert any(f"account {account_id}: balance" in p for p in report.problems)
    finally:
        db.run(
            lambda s: s.execute(
                update(Account).where(Account.id == account_id).values(balance=Account.balance - 1)
            )
        )
    assert db.run(audit).clean


def test_audit_finds_held_that_does_not_match_open_holds(db):
    account_id = make_account(db, 2_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 1_000_000))
    db.run(lambda s: s.execute(update(Hold).where(Hold.id == hold.id).values(amount=999_999)))
    try:
        assert any("held" in p for p in db.run(audit).problems)
    finally:
        db.run(lambda s: s.execute(update(Hold).where(Hold.id == hold.id).values(amount=1_000_000)))


def test_a_settlement_replayed_with_another_total_is_refused(db):
    account_id = make_account(db, 10_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 3_000_000))
    key = unique_key("settle")
    db.run(lambda s: ledger.settle_hold(s, hold.id, 2_000_000, key=key))
    with pytest.raises(IdempotencyConflict):
        db.run(lambda s: ledger.settle_hold(s, hold.id, 2_500_000, key=key))
    assert balance_of(db, account_id) == (8_000_000, 0)


def test_a_hold_expired_twice_is_reported_once(db):
    account_id = make_account(db, 5_000_000)
    now = ledger.utcnow()
    hold = db.run(
        lambda s: ledger.open_hold(s, account_id, 1_000_000, expires_at=now - timedelta(seconds=1))
    )
    assert hold.id in db.run(lambda s: ledger.expire_holds(s, now))
    assert hold.id not in db.run(lambda s: ledger.expire_holds(s, now))


def test_debits_beyond_the_exact_charge_are_credited_back_at_settlement(db):
    account_id = make_account(db, 10_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 3_000_000))
    db.run(lambda s: ledger.debit_against_hold(s, hold.id, 2_000_000, key=unique_key()))
    key = unique_key("settle")
    entry = db.run(lambda s: ledger.settle_hold(s, hold.id, 1_500_000, key=key))
    assert entry.amount == 500_000
    assert balance_of(db, account_id) == (8_500_000, 0)
    assert db.run(lambda s: ledger.settle_hold(s, hold.id, 1_500_000, key=key)).id == entry.id
    assert db.run(audit).clean


def test_a_settlement_at_most_payable_charges_the_hold_and_what_is_left_and_no_more(db):
    account_id = make_account(db, 10_000_000)
    hold = db.run(lambda s: ledger.open_hold(s, account_id, 3_000_000))
    db.run(lambda s: ledger.spend(s, account_id, 5_000_000, key=unique_key(), kind="package"))
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: ledger.settle_hold(s, hold.id, 9_000_000, key=unique_key()))
    key = unique_key("settle")

    def settle(session):
        return ledger.settle_hold(session, hold.id, 9_000_000, key=key, at_most_payable=True)

    entry = db.run(settle)
    assert entry.amount == -5_000_000 and balance_of(db, account_id) == (0, 0)
    assert db.run(settle).id == entry.id  # replayed: the same entry, nothing more
    assert db.run(lambda s: s.get(Hold, hold.id).used) == 5_000_000
    assert db.run(audit).clean
