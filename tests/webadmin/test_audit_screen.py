"""The audit log screen shows amounts as money in the reader's language, while the record
keeps its exact JSON (micro-units)."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import make_account
from tests.webadmin.test_reports import top_up
from wallet.staff import AuditRecord


def _topup_record(db, account_id: int) -> AuditRecord:
    with db.transaction() as session:
        return (
            session.execute(
                select(AuditRecord)
                .where(
                    AuditRecord.action.contains("top"), AuditRecord.target.contains(str(account_id))
                )
                .order_by(AuditRecord.id.desc())
            )
            .scalars()
            .first()
        )


def test_a_top_up_in_the_audit_log_reads_as_money_and_is_stored_exactly(db, admin, admin_id):
    account_id = make_account(db)
    top_up(admin, db, account_id, "65.000", "cash")
    record = _topup_record(db, account_id)
    assert record.after_data()["balance"] == 65_000_000_000
    english = admin.get(f"/audit/?target={record.target}").get_data(as_text=True)
    assert "IDR 65,000" in english and ">65000000000<" not in english
    assert 'title="65000000000"' in english  # the exact value, for who needs it
    indonesian = admin_id.get(f"/audit/?target={record.target}").get_data(as_text=True)
    assert "Rp65.000" in indonesian
