"""The portal tells the customer the truth about a package bought while no router could
take it: Internet and Home say it waits for the router and why, in English and in
Indonesian, instead of an end date already counting; and a customer with no hotspot
login makes their first one through the admin's service."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from tests.portal.conftest import make_customer, signed_in
from wallet.hotspot_models import HotspotLogin, Subscription
from wallet.internet import buy_package, create_login, create_package, start_subscription
from wallet.staff import AuditRecord

NO_ROUTER_EN = "Waiting for the router: no router is set up for this package yet."
NO_ROUTER_ID = "Menunggu router: belum ada router yang disiapkan untuk paket ini."


def bought_with_no_router(db, person, *, started: bool = False) -> int:
    def work(session):
        package = create_package(
            session,
            f"Mingguan {secrets.token_hex(3)}",
            price=5_000_000_000,
            validity_value=7,
            validity_unit="days",
        )
        login = create_login(session, person.customer_id, f"u{secrets.token_hex(4)}", "wifi1234")
        sub = buy_package(session, login.id, package.id, key=secrets.token_hex(8))
        if started:
            start_subscription(session, sub.id, sub.created_at)
        return sub.id

    return db.run(work)


def test_internet_and_home_say_the_package_waits_for_the_router_and_why(portal, db):
    person = make_customer(db, 10_000_000_000)
    sub_id = bought_with_no_router(db, person)
    client = signed_in(portal, person)

    internet = client.get("/internet/").get_data(as_text=True)
    home = client.get("/home").get_data(as_text=True)

    assert f'data-test="waiting-{sub_id}">{NO_ROUTER_EN}' in internet
    assert NO_ROUTER_EN in home and "Ends " not in home.split("Internet</h2>")[1]


def test_in_indonesian_too(portal, db):
    person = make_customer(db, 10_000_000_000)
    bought_with_no_router(db, person)
    client = signed_in(portal, person)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"

    assert NO_ROUTER_ID in client.get("/internet/").get_data(as_text=True)
    assert NO_ROUTER_ID in client.get("/home").get_data(as_text=True)


def test_a_started_package_shows_its_end_and_no_waiting(portal, db):
    person = make_customer(db, 10_000_000_000)
    bought_with_no_router(db, person, started=True)
    home = signed_in(portal, person).get("/home").get_data(as_text=True)
    assert "Waiting for the router" not in home and "Ends " in home


def test_a_customer_without_a_login_makes_one_through_the_admins_service(portal, db):
    person = make_customer(db, 0, name="Budi Santoso")
    client = signed_in(portal, person)
    page = client.get("/internet/").get_data(as_text=True)
    assert 'value="budi.santoso"' in page
    username = f"budi{secrets.token_hex(3)}"

    client.post("/internet/login", data={"username": username, "password": ""})
    again = client.post(
        "/internet/login", data={"username": f"x{username}", "password": ""}, follow_redirects=True
    )

    with db.transaction() as session:
        logins = (
            session.execute(
                select(HotspotLogin).where(HotspotLogin.customer_id == person.customer_id)
            )
            .scalars()
            .all()
        )
        assert [login.username for login in logins] == [username]
        record = session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "hotspot_login.create",
                AuditRecord.target == f"hotspot login {username}",
            )
        ).scalar_one()
        assert record.actor == f"portal:customer:{person.customer_id}"
    text = again.get_data(as_text=True)
    assert "This login cannot be made" in text and username in text


def test_buying_says_the_package_waits_instead_of_enjoy_while_no_router_took_it(portal, db):
    person = make_customer(db, 10_000_000_000)
    client = signed_in(portal, person)
    client.get("/internet/")  # the customer's first login
    client.post("/internet/login", data={"username": f"w{secrets.token_hex(3)}", "password": ""})

    def a_package(session):
        return create_package(
            session,
            f"Harian {secrets.token_hex(3)}",
            price=1_000_000_000,
            validity_value=1,
            validity_unit="days",
        ).id

    package_id = db.run(a_package)
    with db.transaction() as session:
        login_id = session.execute(
            select(HotspotLogin.id).where(HotspotLogin.customer_id == person.customer_id)
        ).scalar_one()

    def buy():
        page = client.get(f"/internet/buy/{package_id}").get_data(as_text=True)
        key = re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)
        return client.post(
            f"/internet/buy/{package_id}",
            data={"key": key, "login": str(login_id)},
            follow_redirects=True,
        ).get_data(as_text=True)

    first = buy()
    assert "The package waits for the router" in first and "Enjoy" not in first

    # Once the first runs, the next is placed after it: nothing to wait for.
    def start_the_first(session):
        sub = session.execute(
            select(Subscription).where(Subscription.login_id == login_id)
        ).scalar_one()
        start_subscription(session, sub.id, sub.created_at)

    db.run(start_the_first)
    second = buy()
    assert "Enjoy your internet!" in second
