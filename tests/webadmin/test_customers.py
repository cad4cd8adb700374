"""Customers screen: search, create, edit, disable, identities, and money through the
wallet services: top-up, adjustment, transfer, each credited once per form."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select

from tests.conftest import make_account, unique_key
from tests.webadmin.conftest import make_staff, signed_in, unique_name
from wallet import ledger
from wallet.models import Account, Customer, LedgerEntry, SipIdentity
from wallet.staff import AuditRecord

UNIT = 1_000_000
KEY = re.compile(r'name="key" type="hidden" value="([0-9a-f]{32})"')


def customer_of(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).customer_id


def balance(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).balance


def entries(db, account_id: int) -> list[LedgerEntry]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(LedgerEntry).where(LedgerEntry.account_id == account_id)
            ).scalars()
        )


def form_key(client, url: str) -> str:
    return KEY.search(client.get(url).get_data(as_text=True)).group(1)


def test_a_new_customer_is_created_with_a_wallet_and_identities(db, admin):
    number = f"62812{secrets.randbelow(10**7):07d}"  # a caller ID is digits
    peer = unique_name("peer")
    response = admin.post(
        "/customers/new",
        data={
            "name": "Ibu Ani",
            "phone": "0812 555 0101",
            "email": "",
            "kind": "individual",
            "credit_limit": "0",
            "plan": "",
            "callerid": number,
            "peer": peer,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    customer_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with db.transaction() as session:
        customer = session.get(Customer, customer_id)
        assert customer.name == "Ibu Ani" and customer.status == "active"
        account = customer.accounts[0]
        assert account.balance == 0 and account.currency == "IDR"
        kinds = session.execute(
            select(SipIdentity.kind, SipIdentity.value).where(SipIdentity.account_id == account.id)
        ).all()
        assert set(kinds) == {("callerid", number), ("peer", peer)}
        audit = session.execute(
            select(AuditRecord).where(AuditRecord.target == f"customer {customer_id}")
        ).scalar_one()
        assert audit.action == "customer.create"
    page = admin.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "Ibu Ani" in page and peer in page


def test_a_customer_without_a_name_gets_the_error_next_to_the_field(admin):
    response = admin.post(
        "/customers/new", data={"name": "", "kind": "individual", "credit_limit": "0", "plan": ""}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'has-error">\s*<label for="name">', page)


def test_search_finds_by_name_phone_or_account_and_filters_by_status(db, admin):
    marker = unique_name("Pak")
    account_id = make_account(db, name=f"{marker} Warung", phone="0813 777 1234")
    other = make_account(db, name=f"{marker} Toko")
    admin.post(f"/customers/{customer_of(db, other)}/status", data={"status": "disabled"})
    page = admin.get(f"/customers/?q={marker}").get_data(as_text=True)
    assert f"{marker} Warung" in page and f"{marker} Toko" in page
    page = admin.get(f"/customers/?q={marker}&status=disabled").get_data(as_text=True)
    assert f"{marker} Warung" not in page and f"{marker} Toko" in page
    page = admin.get(f"/customers/?q={account_id}").get_data(as_text=True)
    assert f"{marker} Warung" in page


def test_the_customer_list_paginates(db, admin):
    marker = unique_name("Many")
    for number in range(27):
        make_account(db, name=f"{marker} {number}")
    first = admin.get(f"/customers/?q={marker}").get_data(as_text=True)
    second = admin.get(f"/customers/?q={marker}&page=2").get_data(as_text=True)
    rows = re.compile(rf">{marker} \d+</a>")
    assert "Page 1 of 2" in first and len(rows.findall(first)) == 25
    assert "Page 2 of 2" in second and len(rows.findall(second)) == 2


def test_names_are_shown_as_text_never_as_html(db, admin):
    account_id = make_account(db, name='<script>alert("x")</script><b>Bold</b>')
    customer_id = customer_of(db, account_id)
    for url in ("/customers/?q=script", f"/customers/{customer_id}"):
        page = admin.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<b>Bold</b>" not in page
        assert "&lt;script&gt;alert" in page


def test_editing_and_disabling_a_customer_is_audited(db, admin):
    account_id = make_account(db, name="Before Name")
    customer_id = customer_of(db, account_id)
    response = admin.post(
        f"/customers/{customer_id}/edit",
        data={
            "name": "After Name",
            "phone": "",
            "email": "a@b.id",
            "kind": "organization",
            "status": "active",
            "credit_limit": "10000",
            "plan": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    admin.post(f"/customers/{customer_id}/status", data={"status": "disabled"})
    with db.transaction() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.name, customer.kind, customer.status) == (
            "After Name",
            "organization",
            "disabled",
        )
        assert customer.accounts[0].credit_limit == 10_000 * UNIT
        actions = (
            session.execute(
                select(AuditRecord.action)
                .where(AuditRecord.target == f"customer {customer_id}")
                .order_by(AuditRecord.id)
            )
            .scalars()
            .all()
        )
    assert actions == ["customer.update", "customer.status"]


def test_identities_are_added_and_removed(db, admin):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    value = unique_name("code")
    admin.post(f"/customers/{customer_id}/identities", data={"kind": "accountcode", "value": value})
    with db.transaction() as session:
        identity = session.execute(
            select(SipIdentity).where(SipIdentity.value == value)
        ).scalar_one()
        assert identity.account_id == account_id
    admin.post(f"/customers/{customer_id}/identities/{identity.id}/remove")
    with db.transaction() as session:
        assert session.get(SipIdentity, identity.id) is None


def test_a_top_up_credits_the_wallet_with_method_reference_and_note(db, admin):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    key = form_key(admin, f"/customers/{customer_id}/top-up")
    response = admin.post(
        f"/customers/{customer_id}/top-up",
        data={
            "key": key,
            "amount": "50,000",
            "method": "bank_transfer",
            "reference": "BCA 1234",
            "note": "paid at the counter",
        },
    )
    assert response.status_code == 302
    assert balance(db, account_id) == 50_000 * UNIT
    (entry,) = entries(db, account_id)
    assert (entry.kind, entry.method, entry.reference, entry.note) == (
        "topup",
        "bank_transfer",
        "BCA 1234",
        "paid at the counter",
    )
    assert entry.actor.startswith("web:")
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "New balance IDR 50,000" in page


def test_a_double_submitted_top_up_credits_once(db, admin):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    key = form_key(admin, f"/customers/{customer_id}/top-up")
    form = {"key": key, "amount": "20000", "method": "cash", "reference": "", "note": ""}
    first = admin.post(f"/customers/{customer_id}/top-up", data=dict(form))
    second = admin.post(f"/customers/{customer_id}/top-up", data=dict(form))
    assert first.status_code == second.status_code == 302
    assert balance(db, account_id) == 20_000 * UNIT
    assert len(entries(db, account_id)) == 1
    page = admin.get(second.headers["Location"]).get_data(as_text=True)
    assert "already submitted; nothing more was changed" in page
    with db.transaction() as session:
        audits = session.execute(
            select(func.count(AuditRecord.id)).where(
                AuditRecord.action == "wallet.top_up",
                AuditRecord.target == f"account {account_id}",
            )
        ).scalar_one()
    assert audits == 1


def test_each_rendering_of_the_top_up_form_gets_its_own_key(admin, db):
    customer_id = customer_of(db, make_account(db))
    url = f"/customers/{customer_id}/top-up"
    assert form_key(admin, url) != form_key(admin, url)


def test_a_top_up_without_its_form_key_is_refused(db, admin):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    response = admin.post(
        f"/customers/{customer_id}/top-up", data={"amount": "1000", "method": "cash"}
    )
    assert response.status_code == 200
    assert balance(db, account_id) == 0


def test_a_wrong_amount_is_explained_next_to_the_field(db, admin):
    customer_id = customer_of(db, make_account(db))
    url = f"/customers/{customer_id}/top-up"
    for typed, message in (
        ("lima ribu", "lima ribu is not an amount."),
        ("-5", "cannot be negative"),
        ("0", "cannot be zero"),
        ("", "Enter an amount."),
    ):
        page = admin.post(
            url, data={"key": form_key(admin, url), "amount": typed, "method": "cash"}
        ).get_data(as_text=True)
        assert message in page, typed


def test_a_role_without_change_on_customers_cannot_top_up_by_url_or_by_form(app, db):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    clerk = signed_in(app, make_staff(db, grants={"customers": "view"}))
    detail = clerk.get(f"/customers/{customer_id}")
    assert detail.status_code == 200
    assert "/top-up" not in detail.get_data(as_text=True)
    assert clerk.get(f"/customers/{customer_id}/top-up").status_code == 403
    forged = clerk.post(
        f"/customers/{customer_id}/top-up",
        data={"key": "0" * 32, "amount": "1000", "method": "cash"},
    )
    assert forged.status_code == 403
    assert (
        clerk.post(f"/customers/{customer_id}/status", data={"status": "disabled"}).status_code
        == 403
    )
    assert balance(db, account_id) == 0


def test_a_role_with_the_top_up_job_tops_up(app, db):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    cashier = signed_in(app, make_staff(db, grants={"customers": "view", "top_up": "change"}))
    key = form_key(cashier, f"/customers/{customer_id}/top-up")
    cashier.post(
        f"/customers/{customer_id}/top-up", data={"key": key, "amount": "1500", "method": "cash"}
    )
    assert balance(db, account_id) == 1_500 * UNIT
    assert cashier.get("/payments/").status_code == 403


def test_an_adjustment_needs_a_reason_and_may_take_money_off(db, admin):
    account_id = make_account(db, 10_000 * UNIT)
    customer_id = customer_of(db, account_id)
    url = f"/customers/{customer_id}/adjust"
    page = admin.post(
        url, data={"key": form_key(admin, url), "amount": "-2500", "reason": ""}
    ).get_data(as_text=True)
    assert "An adjustment needs a reason." in page
    assert balance(db, account_id) == 10_000 * UNIT
    admin.post(
        url,
        data={"key": form_key(admin, url), "amount": "-2500", "reason": "double top-up on Monday"},
    )
    assert balance(db, account_id) == 7_500 * UNIT
    assert entries(db, account_id)[-1].note == "double top-up on Monday"


def test_an_adjustment_cannot_take_more_than_is_available(db, admin):
    account_id = make_account(db, 1_000 * UNIT)
    customer_id = customer_of(db, account_id)
    url = f"/customers/{customer_id}/adjust"
    page = admin.post(
        url, data={"key": form_key(admin, url), "amount": "-5000", "reason": "typo"}
    ).get_data(as_text=True)
    assert "Not enough credit: IDR 1,000 available, IDR 5,000 needed." in page
    assert "1000000000" not in page  # never the services' raw micro-units
    assert balance(db, account_id) == 1_000 * UNIT


def test_a_transfer_moves_money_between_two_wallets_once(db, admin):
    source = make_account(db, 30_000 * UNIT)
    target = make_account(db)
    customer_id = customer_of(db, source)
    url = f"/customers/{customer_id}/transfer"
    form = {
        "key": form_key(admin, url),
        "to_account": str(target),
        "amount": "12000",
        "note": "family",
    }
    admin.post(url, data=dict(form))
    admin.post(url, data=dict(form))
    assert balance(db, source) == 18_000 * UNIT
    assert balance(db, target) == 12_000 * UNIT
    page = admin.post(
        url,
        data={"key": form_key(admin, url), "to_account": "999999999", "amount": "1", "note": ""},
    ).get_data(as_text=True)
    assert "does not exist" in page


def test_the_ledger_history_shows_every_entry_with_money_in_the_operators_currency(db, admin):
    account_id = make_account(db, 1_234_500_000)
    page = admin.get(f"/customers/{customer_of(db, account_id)}").get_data(as_text=True)
    assert "IDR 1,235" in page  # IDR shows no decimals (1,234.5 rounds half up)


def test_the_ledger_reads_the_wallets_own_references_in_the_readers_language(db, admin, admin_id):
    """References and notes the services wrote in English (also in rows older than this
    test) are worded for the reader; the stored text stays in the cell's tooltip."""
    account = make_account(db, 30_000 * UNIT)
    other = make_account(db)

    def work(session):
        ledger.transfer(session, account, other, 2_000 * UNIT, key=unique_key("t"), actor="t")
        ledger.spend(
            session,
            account,
            1_000 * UNIT,
            key=unique_key("x"),
            kind="package",
            reference="subscription 41 +7 days",  # as stored by every version
        )
        ledger.top_up(
            session, account, 500 * UNIT, key=unique_key("p"), reference="payment request 9"
        )
        ledger.adjust(
            session,
            account,
            100 * UNIT,
            key=unique_key("d"),
            reason="demo opening balance",
            actor="t",
        )

    db.run(work)
    url = f"/customers/{customer_of(db, account)}"
    indonesian = admin_id.get(url).get_data(as_text=True)
    for words in (
        f"ke dompet {other}",
        "langganan 41 diperpanjang 7 hari",
        "permintaan pembayaran 9",
        "Saldo awal demo",
    ):
        assert words in indonesian, words
    assert f">to account {other}<" not in indonesian and "+7 days<" not in indonesian
    assert f'title="to account {other}"' in indonesian
    english = admin.get(url).get_data(as_text=True)
    assert f"to wallet {other}" in english and "subscription 41 extended by 7 days" in english
    received = admin_id.get(f"/customers/{customer_of(db, other)}").get_data(as_text=True)
    assert f"dari dompet {account}" in received
