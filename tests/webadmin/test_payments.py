"""Payment confirmations and bank accounts: proofs on disk, confirm credits once (double
click, two admins at once), reject with a reason."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from pulsa.settings import load_settings
from tests.conftest import make_account
from tests.webadmin.conftest import AdminClient, make_staff, signed_in, unique_name
from wallet.errors import NotFound
from wallet.models import Account, LedgerEntry
from wallet.payments import (
    BankAccount,
    PaymentRequest,
    confirm_payment,
    create_payment_request,
    proof_file,
)
from webadmin import create_app

UNIT = 1_000_000
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def pending_request(db, amount_units: int = 25_000) -> tuple[int, int]:
    account_id = make_account(db)
    request_id = db.run(
        lambda s: (
            create_payment_request(
                s, account_id, amount_units * UNIT, reference="TRF-1", source="portal"
            ).id
        )
    )
    return account_id, request_id


def balance(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).balance


def test_pending_requests_are_listed_and_confirming_one_credits_the_wallet(db, admin):
    account_id, request_id = pending_request(db)
    assert f'href="/payments/{request_id}"' in admin.get("/payments/").get_data(as_text=True)
    response = admin.post(f"/payments/{request_id}/confirm")
    assert response.status_code == 302
    assert balance(db, account_id) == 25_000 * UNIT
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Confirmed: IDR 25,000 credited." in page
    with db.transaction() as session:
        payment = session.get(PaymentRequest, request_id)
        entry = session.get(LedgerEntry, payment.ledger_entry_id)
        assert payment.status == "confirmed" and payment.decided_by.startswith("web:")
        assert (entry.kind, entry.method, entry.reference) == ("topup", "bank_transfer", "TRF-1")
    assert f'href="/payments/{request_id}"' not in admin.get("/payments/").get_data(as_text=True)


def test_a_double_click_on_confirm_credits_once(db, admin):
    account_id, request_id = pending_request(db)
    admin.post(f"/payments/{request_id}/confirm")
    second = admin.post(f"/payments/{request_id}/confirm")
    assert balance(db, account_id) == 25_000 * UNIT
    assert "credited once" in admin.get(second.headers["Location"]).get_data(as_text=True)


def test_two_admins_confirming_at_the_same_moment_credit_once(db):
    account_id, request_id = pending_request(db, 7_000)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def confirm():
        barrier.wait()
        try:
            results.append(db.run(lambda s: confirm_payment(s, request_id, actor="test")[1]))
        except Exception as error:  # collected and shown by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(results) == [False, False, False, True]
    assert balance(db, account_id) == 7_000 * UNIT


def test_a_rejection_needs_a_reason_and_a_rejected_request_is_never_credited(db, admin):
    account_id, request_id = pending_request(db)
    admin.post(f"/payments/{request_id}/reject", data={"reason": ""})
    with db.transaction() as session:
        assert session.get(PaymentRequest, request_id).status == "pending"
    admin.post(f"/payments/{request_id}/reject", data={"reason": "no money arrived"})
    response = admin.post(f"/payments/{request_id}/confirm")
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "already rejected" in page and "no money arrived" in page
    assert balance(db, account_id) == 0


def test_a_recorded_request_keeps_its_proof_image_on_disk_in_the_upload_folder(db, app, admin):
    account_id = make_account(db)
    response = admin.post(
        "/payments/new",
        data={
            "account": str(account_id),
            "amount": "15000",
            "method": "bank_transfer",
            "bank_account": "",
            "reference": "slip 9",
            "note": "",
            "proof": (io.BytesIO(PNG), "../../etc/passwd.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    request_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with db.transaction() as session:
        stored = session.get(PaymentRequest, request_id).proof_path
    folder = Path(app.config["UPLOAD_FOLDER"])
    assert (folder / stored).read_bytes() == PNG
    assert "passwd" not in stored
    image = admin.get(f"/payments/{request_id}/proof")
    assert image.status_code == 200 and image.data == PNG
    assert image.mimetype == "image/png"


def test_a_proof_that_is_not_an_image_is_refused_next_to_the_field(db, admin):
    account_id = make_account(db)
    response = admin.post(
        "/payments/new",
        data={
            "account": str(account_id),
            "amount": "15000",
            "method": "cash",
            "bank_account": "",
            "proof": (io.BytesIO(b"<html>hi</html>"), "proof.png"),
        },
        content_type="multipart/form-data",
    )
    assert "must be a PNG, JPEG or GIF image" in response.get_data(as_text=True)


def test_a_stored_proof_path_cannot_leave_the_upload_folder(tmp_path):
    (tmp_path / "inside.png").write_bytes(PNG)
    assert proof_file(tmp_path, "inside.png").read_bytes() == PNG
    with pytest.raises(NotFound):
        proof_file(tmp_path / "sub", "../inside.png")


def test_a_role_that_may_only_view_payments_cannot_confirm(app, db):
    account_id, request_id = pending_request(db)
    viewer = signed_in(app, make_staff(db, grants={"payments": "view"}))
    page = viewer.get(f"/payments/{request_id}").get_data(as_text=True)
    assert "Confirm and credit" not in page
    assert viewer.post(f"/payments/{request_id}/confirm").status_code == 403
    assert balance(db, account_id) == 0


def test_bank_accounts_are_created_edited_and_shown_as_customers_see_them(db, admin):
    number = unique_name("0123")
    response = admin.post(
        "/bank-accounts/new",
        data={
            "bank_name": "BRI",
            "account_number": number,
            "holder_name": "PT Kopi Net",
            "instructions": "Add the last 3 digits of your phone",
            "position": "1",
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    page = admin.get("/bank-accounts/").get_data(as_text=True)
    assert number in page and "Transfer exactly IDR 50,000" in page
    with db.transaction() as session:
        row = session.execute(
            select(BankAccount).where(BankAccount.account_number == number)
        ).scalar_one()
    admin.post(
        f"/bank-accounts/{row.id}",
        data={
            "bank_name": "BRI",
            "account_number": number,
            "holder_name": "PT Kopi Net",
            "instructions": "",
            "position": "1",
        },
    )
    with db.transaction() as session:
        assert session.get(BankAccount, row.id).is_active is False


def test_a_bank_account_needs_its_number(admin):
    response = admin.post(
        "/bank-accounts/new",
        data={"bank_name": "BNI", "account_number": "", "holder_name": "x", "position": "0"},
    )
    assert response.status_code == 200 and 'class="error"' in response.get_data(as_text=True)


def test_payment_proofs_go_to_the_folder_named_by_pulsa_upload_folder(db, tmp_path):
    folder = tmp_path / "proofs"
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_UPLOAD_FOLDER": str(folder),
        }
    )
    app = create_app(settings, db)
    app.test_client_class = AdminClient
    admin = signed_in(app, make_staff(db, superuser=True))
    response = admin.post(
        "/payments/new",
        data={
            "account": str(make_account(db)),
            "amount": "15000",
            "method": "cash",
            "bank_account": "",
            "proof": (io.BytesIO(PNG), "slip.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    request_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with db.transaction() as session:
        stored = session.get(PaymentRequest, request_id).proof_path
    assert app.config["UPLOAD_FOLDER"] == str(folder.resolve())
    assert (folder / stored).read_bytes() == PNG
    assert str(folder.resolve()) in admin.get("/settings/").get_data(as_text=True)
