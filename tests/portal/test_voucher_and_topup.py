"""Voucher and top-up pages: redeeming through the admin's service (once), a top-up request
with a receipt photo that staff see on Payments, each request's state, bad input beside
its field, and no customer reaching another's requests."""

from __future__ import annotations

import io
import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from tests.portal.conftest import field_errors, make_customer, signed_in
from wallet.models import Account, LedgerEntry
from wallet.payments import PaymentRequest, reject_payment, save_bank_account
from wallet.vouchers import batch_vouchers, generate_batch

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def balance(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).balance


def a_voucher(db, price: int) -> str:
    def work(session):
        batch = generate_batch(session, count=1, price=price, prefix=f"T{secrets.randbelow(999)}")
        return batch_vouchers(session, batch.id)[0].code

    return db.run(work)


def test_a_voucher_is_redeemed_into_the_wallet_once(portal, db):
    person = make_customer(db)
    code = a_voucher(db, 20_000_000_000)
    client = signed_in(portal, person)
    client.get("/voucher/")
    assert client.post("/voucher/", data={"code": code.lower()}).status_code == 302
    assert "IDR 20,000 added to your credit." in client.get("/home").get_data(as_text=True)
    client.post("/voucher/", data={"code": code})
    assert balance(db, person.account_id) == 20_000_000_000
    with db.transaction() as session:
        entry = session.execute(
            select(LedgerEntry).where(
                LedgerEntry.account_id == person.account_id, LedgerEntry.method == "voucher"
            )
        ).scalar_one()
        assert entry.actor == f"portal:customer:{person.customer_id}"


def test_a_wrong_or_empty_voucher_code_shows_beside_the_field(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.get("/voucher/")
    page = client.post("/voucher/", data={"code": "NOPE-NOPE"}).get_data(as_text=True)
    assert field_errors(page, "code") == ["No voucher with this code (and password)."]
    page = client.post("/voucher/", data={"code": ""}).get_data(as_text=True)
    assert field_errors(page, "code")


def test_a_voucher_redeemed_by_someone_else_is_refused(portal, db):
    person, other = make_customer(db), make_customer(db)
    code = a_voucher(db, 5_000_000_000)
    signed_in(portal, other).post("/voucher/", data={"code": code})
    client = signed_in(portal, person)
    page = client.post("/voucher/", data={"code": code}).get_data(as_text=True)
    assert "cannot be redeemed" in field_errors(page, "code")[0]
    assert balance(db, person.account_id) == 0 and balance(db, other.account_id) == 5_000_000_000


def test_a_top_up_request_with_a_photo_reaches_payments_and_shows_its_state(portal, db):
    person = make_customer(db)
    bank = db.run(
        lambda s: (
            save_bank_account(
                s,
                actor="test",
                bank_name="BRI",
                account_number="0123-01-000111-30-1",
                holder_name="RT 05 Net",
            ).id
        )
    )
    client = signed_in(portal, person)
    page = client.get("/top-up/").get_data(as_text=True)
    assert "0123-01-000111-30-1" in page and 'accept="image/*"' in page and "capture" in page
    form = {
        "bank": str(bank),
        "amount": "Rp 50.000",  # as a customer in Indonesia writes fifty thousand
        "reference": "TRX 77",
        "proof": (io.BytesIO(PNG), "receipt.png"),
    }
    sent = client.post("/top-up/", data=form, content_type="multipart/form-data")
    assert sent.status_code == 302
    again = dict(form, proof=(io.BytesIO(PNG), "receipt.png"))
    client.post("/top-up/", data=again, content_type="multipart/form-data")
    with db.transaction() as session:
        requests = (
            session.execute(
                select(PaymentRequest).where(PaymentRequest.account_id == person.account_id)
            )
            .scalars()
            .all()
        )
        assert len(requests) == 1  # the double submit is one request
        request = requests[0]
        assert (request.amount, request.source, request.status) == (
            50_000_000_000,
            "portal",
            "pending",
        )
        assert request.proof_path and request.bank_account_id == bank
    assert "waiting" in client.get("/top-up/").get_data(as_text=True)
    db.run(lambda s: reject_payment(s, request.id, "no such transfer", actor="web:boss"))
    page = client.get("/top-up/").get_data(as_text=True)
    assert "rejected" in page and "no such transfer" in page
    assert balance(db, person.account_id) == 0


def stored_files(portal) -> list[str]:
    folder = Path(portal.config["UPLOAD_FOLDER"])
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_resent_top_up_request_leaves_one_receipt_file(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.get("/top-up/")
    for _ in range(3):  # a double tap, then a reload that sends the form again
        form = {"amount": "75000", "proof": (io.BytesIO(PNG), "receipt.png")}
        assert client.post("/top-up/", data=form).status_code == 302
    with db.transaction() as session:
        kept = session.execute(
            select(PaymentRequest.proof_path).where(PaymentRequest.account_id == person.account_id)
        ).scalar_one()
    assert stored_files(portal) == [kept]


def test_bad_top_up_forms_show_errors_beside_their_fields(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.get("/top-up/")
    cases = [
        ({"amount": "lots", "proof": (io.BytesIO(PNG), "r.png")}, "amount"),
        ({"amount": "0", "proof": (io.BytesIO(PNG), "r.png")}, "amount"),
        ({"amount": "1,5", "proof": (io.BytesIO(PNG), "r.png")}, "amount"),
        ({"amount": "1e20000000", "proof": (io.BytesIO(PNG), "r.png")}, "amount"),
        ({"amount": "50000"}, "proof"),
        ({"amount": "50000", "proof": (io.BytesIO(b"<html>not an image"), "r.png")}, "proof"),
        ({"amount": "50000", "bank": "999999", "proof": (io.BytesIO(PNG), "r.png")}, "bank"),
    ]
    for data, name in cases:
        response = client.post("/top-up/", data=data, content_type="multipart/form-data")
        assert response.status_code == 400, data
        if name != "bank":
            assert field_errors(response.get_data(as_text=True), name), data
    with db.transaction() as session:
        assert (
            session.execute(
                select(PaymentRequest.id).where(PaymentRequest.account_id == person.account_id)
            ).first()
            is None
        )


def test_another_customers_requests_are_never_shown(portal, db):
    person, other = make_customer(db), make_customer(db)
    db.run(
        lambda s: s.add(
            PaymentRequest(
                account_id=other.account_id,
                amount=77_777_000_000,
                source="portal",
                status="rejected",
                reject_reason="secret reason",
                created_at=datetime(2026, 12, 1),
            )
        )
    )
    page = signed_in(portal, person).get("/top-up/").get_data(as_text=True)
    assert "77,777" not in page and "secret reason" not in page
