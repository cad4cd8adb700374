"""A package voucher redeemed in the portal starts its package on the customer's own
login (through hotspot.backoffice, the same service for staff and customers), once, free,
after what the login already has; the code no longer works on the router; another
customer's login is never reached; a credit voucher still goes to the wallet."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from tests.portal.conftest import field_errors, make_customer, signed_in
from tests.portal.test_internet import a_login, a_package, balance
from wallet.hotspot_models import HotspotLogin, Subscription, Voucher
from wallet.internet import buy_package
from wallet.staff import AuditRecord
from wallet.vouchers import batch_vouchers, generate_batch


def a_package_voucher(db, package_id: int) -> str:
    def work(session):
        batch = generate_batch(
            session, count=1, package=package_id, prefix=f"P{secrets.randbelow(999)}"
        )
        return batch_vouchers(session, batch.id)[0].code

    return db.run(work)


def subscriptions_of(db, login_id: int) -> list[Subscription]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Subscription)
                .where(Subscription.login_id == login_id)
                .order_by(Subscription.starts_at)
            ).scalars()
        )


def test_a_package_voucher_starts_its_package_on_the_login_once_and_free(portal, db):
    person = make_customer(db, 10_000_000_000)
    package = a_package(db, 5_000_000_000)
    login_id, name = a_login(db, person)
    code = a_package_voucher(db, package)
    client = signed_in(portal, person)
    client.get("/voucher/")
    assert client.post("/voucher/", data={"code": code}).status_code == 302
    home = client.get("/home").get_data(as_text=True)
    assert "added to " + name in home
    client.post("/voucher/", data={"code": code})  # sent again: nothing more
    [subscription] = subscriptions_of(db, login_id)
    assert (subscription.package_id, subscription.price) == (package, 0)
    assert subscription.actor == f"portal:customer:{person.customer_id}"
    assert subscription.ends_at - subscription.starts_at == timedelta(days=1)
    assert balance(db, person.account_id) == 10_000_000_000  # paid when the voucher was sold
    with db.transaction() as session:
        voucher = session.execute(select(Voucher).where(Voucher.code == code)).scalar_one()
        assert voucher.status == "used"
        assert session.get(HotspotLogin, voucher.login_id).status == "void"  # off the routers
        audited = session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "voucher.redeem_package",
                AuditRecord.target == f"login {login_id}",
            )
        ).scalars()
        assert len(list(audited)) == 1


def test_a_package_voucher_starts_when_what_the_login_has_ends(portal, db):
    person = make_customer(db, 10_000_000_000)
    package = a_package(db, 5_000_000_000)
    login_id, _name = a_login(db, person)
    bought = db.run(lambda s: buy_package(s, login_id, package, key=secrets.token_hex(8)))
    code = a_package_voucher(db, package)
    client = signed_in(portal, person)
    client.get("/voucher/")
    assert client.post("/voucher/", data={"code": code}).status_code == 302
    first, second = subscriptions_of(db, login_id)
    assert first.id == bought.id and second.starts_at == first.ends_at


def test_with_several_logins_the_customer_chooses_and_never_reaches_anothers(portal, db):
    person, other = make_customer(db), make_customer(db)
    package = a_package(db, 5_000_000_000)
    (mine_a, _), (mine_b, _) = a_login(db, person), a_login(db, person)
    theirs, _ = a_login(db, other)
    code = a_package_voucher(db, package)
    client = signed_in(portal, person)
    page = client.get("/voucher/").get_data(as_text=True)
    assert f'value="{mine_a}"' in page and f'value="{theirs}"' not in page
    page = client.post("/voucher/", data={"code": code}).get_data(as_text=True)
    assert field_errors(page, "login") == ["Choose the login that gets the package."]
    answer = client.post("/voucher/", data={"code": code, "login": str(theirs)})
    assert answer.status_code == 404
    assert subscriptions_of(db, theirs) == []
    assert client.post("/voucher/", data={"code": code, "login": str(mine_b)}).status_code == 302
    assert [s.package_id for s in subscriptions_of(db, mine_b)] == [package]
    assert subscriptions_of(db, mine_a) == []


def test_a_package_voucher_without_a_login_is_refused_and_kept(portal, db):
    person = make_customer(db)
    code = a_package_voucher(db, a_package(db, 5_000_000_000))
    client = signed_in(portal, person)
    client.get("/voucher/")
    page = client.post("/voucher/", data={"code": code}).get_data(as_text=True)
    assert "no internet login yet" in field_errors(page, "code")[0]
    assert balance(db, person.account_id) == 0
    with db.transaction() as session:
        assert session.execute(select(Voucher.status).where(Voucher.code == code)).scalar_one() == (
            "new"
        )


def test_a_package_voucher_used_by_another_customer_is_refused(portal, db):
    person, other = make_customer(db), make_customer(db)
    package = a_package(db, 5_000_000_000)
    login_id, _ = a_login(db, person)
    a_login(db, other)
    code = a_package_voucher(db, package)
    signed_in(portal, other).post("/voucher/", data={"code": code})
    client = signed_in(portal, person)
    page = client.post("/voucher/", data={"code": code}).get_data(as_text=True)
    assert "cannot be redeemed" in field_errors(page, "code")[0]
    assert subscriptions_of(db, login_id) == []
