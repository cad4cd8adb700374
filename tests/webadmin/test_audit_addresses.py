"""Every audit record written for a staff member's request in the admin says from which
address it came: the language changed on the profile, the bank accounts and the language
saved by the first-run setup, staff, roles, bank accounts and portal links (these wrote
no address before)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import make_account
from tests.webadmin.conftest import PASSWORD, unique_name
from tests.webadmin.test_setup import fresh_setup, indonesia  # noqa: F401 (a fixture)
from wallet.models import Account
from wallet.staff import AuditRecord


def _records_since(db, first_id: int, actor: str) -> list[AuditRecord]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.id > first_id, AuditRecord.actor.contains(actor))
                .order_by(AuditRecord.id)
            ).scalars()
        )


def _last_id(db) -> int:
    with db.transaction() as session:
        found = session.execute(select(AuditRecord.id).order_by(AuditRecord.id.desc())).first()
        return found[0] if found else 0


def _address(client) -> str:
    return client.environ_base["REMOTE_ADDR"]


def test_a_language_changed_on_the_profile_is_audited_with_the_address(admin, superuser, db):
    first = _last_id(db)
    response = admin.post("/profile", data={"locale": "id", "password": "", "confirm": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    records = [r for r in _records_since(db, first, superuser) if r.action == "staff.update"]
    assert records and [r.address for r in records] == [_address(admin)]


@pytest.mark.usefixtures("fresh_setup")
def test_the_setup_audits_its_bank_account_and_language_with_the_address(admin, superuser, db):
    first = _last_id(db)
    data = indonesia(bank_name_1="BRI", account_number_1=unique_name("01-"), holder_name_1="RT")
    assert admin.post("/setup/", data=data).status_code == 302
    records = _records_since(db, first, superuser)
    actions = {r.action for r in records}
    assert {"bank_account.save", "staff.update", "settings.save"} <= actions
    assert {r.address for r in records} == {_address(admin)}


def test_staff_roles_bank_accounts_and_portal_links_are_audited_with_the_address(
    admin, superuser, db
):
    first = _last_id(db)
    role = unique_name("role")
    assert (
        admin.post("/staff/roles/new", data={"name": role, "perm_customers": "view"}).status_code
        == 302
    )
    username = unique_name()
    created = admin.post(
        "/staff/new",
        data={
            "username": username,
            "full_name": "Sari",
            "role": role,
            "locale": "id",
            "is_active": "y",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    bank = admin.post(
        "/bank-accounts/new",
        data={
            "bank_name": "BCA",
            "account_number": unique_name("02-"),
            "holder_name": "Koperasi",
            "position": "0",
            "is_active": "y",
        },
    )
    assert bank.status_code == 302, bank.get_data(as_text=True)
    account_id = make_account(db)
    with db.transaction() as session:
        customer_id = session.get(Account, account_id).customer_id
    assert admin.post(f"/customers/{customer_id}/portal-link").status_code == 200
    records = _records_since(db, first, superuser)
    actions = {r.action for r in records}
    assert {"role.save", "staff.create", "bank_account.save", "portal.link"} <= actions
    assert {r.address for r in records} == {_address(admin)}
