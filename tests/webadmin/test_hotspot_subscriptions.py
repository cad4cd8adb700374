"""The Internet logins screen: a customer gets a hotspot login (a taken name gets a
suggestion), a package is bought from the wallet once per form however often it is
sent, extensions are free with a reason or paid and kept in a history, auto-renew is
turned on and off."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import unique_key
from tests.webadmin.conftest import field_errors, signed_in
from tests.webadmin.hotspot_data import (
    RUPIAH,
    balance_of,
    customer_of,
    form_key,
    hotspot_settings,
    make_login,
    make_package,
    new_name,
    page_text,
    subscriptions_of,
)
from wallet.hotspot_models import HotspotLogin, Subscription, SubscriptionExtension
from wallet.internet import buy_package, create_login, start_subscription
from wallet.models import LedgerEntry

PRICE = 5_000 * RUPIAH


@pytest.fixture
def settings(db):
    return hotspot_settings(db)


def package_entries(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.execute(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "package")
        ).scalar_one()


def buy_form(admin, login_id: int, package_id: int, **extra) -> dict:
    page = page_text(admin.get(f"/internet/{login_id}"))
    return {"key": form_key(page), "package": str(package_id), **extra}


def test_a_customer_gets_a_hotspot_login_and_a_taken_name_gets_a_free_suggestion(admin, db):
    account_id, _existing = make_login(db, username=(taken := new_name("andi")))
    response = admin.post(
        "/internet/new", data={"account": str(account_id), "username": taken.upper()}
    )
    page = page_text(response)
    assert response.status_code == 200
    assert f"The user name {taken.upper()} is taken." in page
    suggestion = f"{taken.upper()}2"
    assert f"{suggestion} is free." in page and f'value="{suggestion}"' in page
    created = admin.post("/internet/new", data={"account": str(account_id), "username": suggestion})
    assert created.status_code == 302
    customer_id = customer_of(db, account_id)
    with db.transaction() as session:
        login = session.execute(
            select(HotspotLogin).where(HotspotLogin.username == suggestion)
        ).scalar_one()
        assert login.customer_id == customer_id and len(login.password) == 8
    assert suggestion in page_text(admin.get(created.headers["Location"]))


def test_a_login_for_an_account_that_does_not_exist_is_refused(admin):
    response = admin.post("/internet/new", data={"account": "987654321", "username": "x1"})
    assert "No account with this number." in page_text(response)


def test_buying_a_package_charges_the_wallet_and_shows_its_expiry(admin, db):
    package_id = make_package(db, PRICE, validity_value=7, validity_unit="days")
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    response = admin.post(
        f"/internet/{login_id}/buy", data=buy_form(admin, login_id, package_id, auto_renew="y")
    )
    assert response.status_code == 302
    page = page_text(admin.get(response.headers["Location"]))
    assert "New balance IDR 15,000." in page and "flash-success" in page
    assert balance_of(db, account_id) == 15_000 * RUPIAH
    [subscription] = subscriptions_of(db, login_id)
    assert subscription.ends_at - subscription.starts_at == timedelta(days=7)
    assert subscription.auto_renew is True and subscription.actor.startswith("web:")
    # No router took it yet: it waits, and its days do not count (tests/hotspot/test_package_start).
    assert subscription.awaits_start
    assert "Waiting for the router" in page and "On: turn off" in page


def test_sending_the_same_purchase_form_twice_charges_once(admin, db):
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    data = buy_form(admin, login_id, package_id)
    first = admin.post(f"/internet/{login_id}/buy", data=dict(data))
    admin.get(first.headers["Location"])
    second = admin.post(f"/internet/{login_id}/buy", data=dict(data))
    page = page_text(admin.get(second.headers["Location"]))
    assert "already submitted; nothing more was charged" in page
    assert balance_of(db, account_id) == 15_000 * RUPIAH
    assert len(subscriptions_of(db, login_id)) == 1 and package_entries(db, account_id) == 1


def test_a_new_purchase_form_buys_again_and_queues_after_the_running_package(admin, db):
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    admin.post(f"/internet/{login_id}/buy", data=buy_form(admin, login_id, package_id))
    [running] = subscriptions_of(db, login_id)
    db.run(lambda s: start_subscription(s, running.id, running.created_at))  # a router took it
    admin.post(f"/internet/{login_id}/buy", data=buy_form(admin, login_id, package_id))
    first, second = subscriptions_of(db, login_id)
    assert second.starts_at == first.ends_at and not second.awaits_start
    assert balance_of(db, account_id) == 10_000 * RUPIAH
    assert "Queued" in page_text(admin.get(f"/internet/{login_id}"))


def test_two_simultaneous_sends_of_one_purchase_form_charge_once(app, db, superuser):
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    clients = [signed_in(app, superuser) for _ in range(3)]
    data = buy_form(clients[0], login_id, package_id)
    barrier = threading.Barrier(len(clients))
    statuses = []

    def send(client):
        # Each client needs its own session's CSRF token; the form key is shared.
        body = {**data, "csrf_token": client.csrf_token}
        barrier.wait()
        statuses.append(client.post(f"/internet/{login_id}/buy", data=body, csrf=False).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * len(clients)
    assert balance_of(db, account_id) == 15_000 * RUPIAH
    assert len(subscriptions_of(db, login_id)) == 1 and package_entries(db, account_id) == 1


def test_buying_without_enough_credit_is_refused_and_charges_nothing(admin, db):
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, 1_000 * RUPIAH)
    response = admin.post(f"/internet/{login_id}/buy", data=buy_form(admin, login_id, package_id))
    assert response.status_code == 200
    page = page_text(response)
    (error,) = field_errors(page, "package")
    assert "Not enough credit: IDR 1,000 available, IDR 5,000 needed." in error
    assert "flash-error" not in page
    assert balance_of(db, account_id) == 1_000 * RUPIAH
    assert subscriptions_of(db, login_id) == []


def test_a_purchase_form_without_its_key_is_refused(admin, db):
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    response = admin.post(f"/internet/{login_id}/buy", data={"package": str(package_id)})
    page = page_text(response)
    assert field_errors(page, "package") == ["This form expired; please fill it in again."]
    assert balance_of(db, account_id) == 20_000 * RUPIAH
    # It comes back with a fresh key: sent again, it buys.
    again = admin.post(
        f"/internet/{login_id}/buy", data={"package": str(package_id), "key": form_key(page)}
    )
    assert again.status_code == 302
    assert balance_of(db, account_id) == 20_000 * RUPIAH - PRICE


def bought(db, balance: int = 20_000 * RUPIAH) -> tuple[int, int, int]:
    package_id = make_package(db, PRICE)
    account_id, login_id = make_login(db, balance)
    subscription_id = db.run(
        lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")).id
    )
    return account_id, login_id, subscription_id


def extend_form(admin, subscription_id: int, **values) -> dict:
    page = page_text(admin.get(f"/internet/subscriptions/{subscription_id}/extend"))
    return {"key": form_key(page), **values}


def test_a_free_extension_needs_a_reason_and_is_kept_in_the_history(admin, db):
    account_id, login_id, subscription_id = bought(db)
    url = f"/internet/subscriptions/{subscription_id}/extend"
    refused = admin.post(url, data=extend_form(admin, subscription_id, days="3", price="0"))
    assert refused.status_code == 200 and "needs a reason" in page_text(refused)
    [before] = subscriptions_of(db, login_id)
    done = admin.post(
        url, data=extend_form(admin, subscription_id, days="3", price="0", reason="trial week")
    )
    assert done.status_code == 302
    [after] = subscriptions_of(db, login_id)
    assert after.ends_at - before.ends_at == timedelta(days=3)
    assert balance_of(db, account_id) == 15_000 * RUPIAH
    page = page_text(admin.get(done.headers["Location"]))
    assert "Extended by 3 days" in page and "trial week" in page and "free" in page


def test_a_paid_extension_is_charged_once_per_form(admin, db):
    account_id, _login_id, subscription_id = bought(db)
    url = f"/internet/subscriptions/{subscription_id}/extend"
    data = extend_form(admin, subscription_id, days="2", price="3000")
    admin.post(url, data=dict(data))
    repeat = admin.post(url, data=dict(data))
    assert "nothing more was changed" in page_text(admin.get(repeat.headers["Location"]))
    assert balance_of(db, account_id) == 12_000 * RUPIAH
    with db.transaction() as session:
        extensions = (
            session.execute(
                select(SubscriptionExtension).where(
                    SubscriptionExtension.subscription_id == subscription_id
                )
            )
            .scalars()
            .all()
        )
    assert [(e.days, e.price) for e in extensions] == [(2, 3_000 * RUPIAH)]
    assert extensions[0].actor.startswith("web:")


def test_auto_renew_is_turned_on_and_off(admin, db):
    _account_id, login_id, subscription_id = bought(db)
    url = f"/internet/subscriptions/{subscription_id}/auto-renew"
    admin.post(url, data={"enabled": "1"})
    with db.transaction() as session:
        assert session.get(Subscription, subscription_id).auto_renew is True
    admin.post(url, data={"enabled": "0"})
    with db.transaction() as session:
        assert session.get(Subscription, subscription_id).auto_renew is False
    assert "Off: turn on" in page_text(admin.get(f"/internet/{login_id}"))


def test_disabling_a_login_is_applied_by_the_routers_at_the_next_sync(admin, db):
    _account_id, login_id, _subscription_id = bought(db)
    response = admin.post(f"/internet/{login_id}/status", data={"status": "disabled"})
    assert "next sync" in page_text(admin.get(response.headers["Location"]))
    with db.transaction() as session:
        assert session.get(HotspotLogin, login_id).status == "disabled"


def test_the_list_finds_a_login_by_customer_name_and_shows_until_when_it_is_paid(admin, db):
    name = f"Warung {new_name('x')}"
    package_id = make_package(db, PRICE)
    _account, login_id = make_login(db, 20_000 * RUPIAH, name=name)
    db.run(lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")))
    page = page_text(admin.get(f"/internet/?q={name}"))
    assert name in page and f'href="/internet/{login_id}"' in page
    assert page.count("<tr>") == 2  # the header and this login


def test_voucher_logins_are_not_customer_logins(admin, db):
    login_id = db.run(lambda s: create_login(s, None, new_name("v"), kind="voucher").id)
    assert admin.get(f"/internet/{login_id}").status_code == 404
