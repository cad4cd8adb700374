"""Internet: offers greyed with what is missing, buying after a confirmation step (a double
submit buys once) through the admin's service with the customer as actor, auto-renew, and
another customer's login or subscription never reached."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select

from tests.portal.conftest import make_customer, signed_in
from wallet.hotspot_models import Subscription
from wallet.internet import create_login, create_package
from wallet.models import Account, LedgerEntry
from wallet.staff import AuditRecord


def a_package(db, price: int) -> int:
    tag = secrets.token_hex(3)
    return db.run(
        lambda s: (
            create_package(
                s,
                f"Harian {tag}",
                price=price,
                validity_value=1,
                validity_unit="days",
                rate_limit="1M/5M",
                limit_bytes_total=5 * 1024**3,
                shared_users=2,
            ).id
        )
    )


def a_login(db, person) -> tuple[int, str]:
    name = f"u{secrets.token_hex(4)}"
    return db.run(lambda s: create_login(s, person.customer_id, name, "wifi1234").id), name


def key_of(page: str) -> str:
    return re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)


def balance(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).balance


def test_the_page_shows_packages_logins_and_greys_what_the_credit_cannot_pay(portal, db):
    person = make_customer(db, 10_000_000_000)
    cheap, dear = a_package(db, 5_000_000_000), a_package(db, 25_000_000_000)
    _, username = a_login(db, person)
    page = signed_in(portal, person).get("/internet/").get_data(as_text=True)
    assert username in page and "wifi1234" in page
    offer = page.split(f'data-test="offer-{dear}"')[1].split("</li>")[0]
    assert (
        "IDR 15,000 more needed" in offer
        and 'class="greyed"' in page.split(f'data-test="offer-{dear}"')[0][-40:]
    )
    offer = page.split(f'data-test="offer-{cheap}"')[1].split("</li>")[0]
    assert "5 Mbps down, 1 Mbps up" in offer
    assert "5 GB of data" in offer and "2 devices" in offer
    assert f"/internet/buy/{cheap}" in offer


def test_buying_asks_for_confirmation_and_a_double_submit_buys_once(portal, db):
    person = make_customer(db, 10_000_000_000)
    package = a_package(db, 4_000_000_000)
    login_id, _ = a_login(db, person)
    client = signed_in(portal, person)
    page = client.get(f"/internet/buy/{package}").get_data(as_text=True)
    assert "Confirm and pay IDR 4,000" in page
    assert balance(db, person.account_id) == 10_000_000_000  # nothing bought by looking
    form = {"key": key_of(page), "login": str(login_id), "auto_renew": "1"}
    first = client.post(f"/internet/buy/{package}", data=dict(form))
    second = client.post(f"/internet/buy/{package}", data=dict(form))
    assert first.status_code == second.status_code == 302
    assert balance(db, person.account_id) == 6_000_000_000
    with db.transaction() as session:
        subscriptions = (
            session.execute(select(Subscription).where(Subscription.login_id == login_id))
            .scalars()
            .all()
        )
        assert len(subscriptions) == 1 and subscriptions[0].auto_renew
        actor = f"portal:customer:{person.customer_id}"
        assert subscriptions[0].actor == actor
        entry = session.get(LedgerEntry, subscriptions[0].ledger_entry_id)
        assert entry.actor == actor
        audited = session.execute(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.actor == actor, AuditRecord.action == "internet.buy")
        ).scalar_one()
        assert audited == 1
    assert "nothing more was charged" in client.get("/internet/").get_data(as_text=True)


def test_buying_without_enough_credit_says_what_is_missing_and_charges_nothing(portal, db):
    person = make_customer(db, 1_000_000_000)
    package = a_package(db, 4_000_000_000)
    login_id, _ = a_login(db, person)
    client = signed_in(portal, person)
    page = client.get(f"/internet/buy/{package}").get_data(as_text=True)
    assert "IDR 3,000 more needed" in page and "Confirm and pay" not in page
    forced = client.post(
        f"/internet/buy/{package}", data={"key": secrets.token_hex(16), "login": str(login_id)}
    )
    assert forced.status_code == 400 and "Not enough credit" in forced.get_data(as_text=True)
    assert balance(db, person.account_id) == 1_000_000_000


def test_bad_buy_forms_are_refused_beside_the_form(portal, db):
    person = make_customer(db, 10_000_000_000)
    package = a_package(db, 1_000_000_000)
    login_id, _ = a_login(db, person)
    client = signed_in(portal, person)
    client.get(f"/internet/buy/{package}")
    no_key = client.post(f"/internet/buy/{package}", data={"login": str(login_id)})
    assert no_key.status_code == 400 and "This form expired" in no_key.get_data(as_text=True)
    no_login = client.post(f"/internet/buy/{package}", data={"key": secrets.token_hex(16)})
    assert no_login.status_code == 400
    assert client.get("/internet/buy/999999999").status_code == 404
    assert balance(db, person.account_id) == 10_000_000_000


def test_another_customers_login_or_subscription_is_never_found_nor_changed(portal, db):
    person, other = make_customer(db, 10_000_000_000), make_customer(db, 10_000_000_000)
    package = a_package(db, 1_000_000_000)
    their_login, their_name = a_login(db, other)
    client_other = signed_in(portal, other)
    page = client_other.get(f"/internet/buy/{package}").get_data(as_text=True)
    client_other.post(
        f"/internet/buy/{package}", data={"key": key_of(page), "login": str(their_login)}
    )
    with db.transaction() as session:
        their_subscription = session.execute(
            select(Subscription.id).where(Subscription.login_id == their_login)
        ).scalar_one()
    a_login(db, person)
    client = signed_in(portal, person)
    assert their_name not in client.get("/internet/").get_data(as_text=True)
    stolen = client.post(
        f"/internet/buy/{package}", data={"key": secrets.token_hex(16), "login": str(their_login)}
    )
    assert stolen.status_code == 404
    toggled = client.post(
        f"/internet/subscriptions/{their_subscription}/auto-renew", data={"enabled": "1"}
    )
    assert toggled.status_code == 404
    assert balance(db, person.account_id) == 10_000_000_000
    assert balance(db, other.account_id) == 9_000_000_000
    with db.transaction() as session:
        assert not session.get(Subscription, their_subscription).auto_renew


def test_auto_renew_is_turned_on_and_off(portal, db):
    person = make_customer(db, 10_000_000_000)
    package = a_package(db, 1_000_000_000)
    login_id, _ = a_login(db, person)
    client = signed_in(portal, person)
    page = client.get(f"/internet/buy/{package}").get_data(as_text=True)
    client.post(f"/internet/buy/{package}", data={"key": key_of(page), "login": str(login_id)})
    with db.transaction() as session:
        subscription = session.execute(
            select(Subscription.id).where(Subscription.login_id == login_id)
        ).scalar_one()
    assert "Turn auto-renew on" in client.get("/internet/").get_data(as_text=True)
    client.post(f"/internet/subscriptions/{subscription}/auto-renew", data={"enabled": "1"})
    page = client.get("/internet/").get_data(as_text=True)
    assert "Turn auto-renew off" in page and "Waiting for the router" in page
    client.post(f"/internet/subscriptions/{subscription}/auto-renew", data={"enabled": "0"})
    with db.transaction() as session:
        assert not session.get(Subscription, subscription).auto_renew
