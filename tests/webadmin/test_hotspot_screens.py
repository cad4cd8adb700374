"""The internet screens in the role system: each renders for a role that may view it,
a role with "view" only changes nothing (by URL or by a posted form), a role without
the screen does not see it, and names typed by people are shown escaped."""

from __future__ import annotations

import pytest

from hotspot.routers import add_router
from tests.conftest import unique_key
from tests.webadmin.hotspot_data import (
    HOTSPOT_SCREENS,
    RUPIAH,
    balance_of,
    client_with,
    hotspot_settings,
    login_status,
    make_login,
    make_package,
    new_name,
    page_text,
    ring,
    subscriptions_of,
)
from wallet.hotspot_models import InternetPackage
from wallet.internet import buy_package, register_for_hotspot
from wallet.vouchers import generate_batch

NAV = {
    "routers": ("/routers/", "Routers"),
    "packages": ("/packages/", "Packages"),
    "subscriptions": ("/internet/", "Internet logins"),
    "registrations": ("/registrations/", "Registrations"),
    "vouchers": ("/vouchers/", "Vouchers"),
    "hotspot_pages": ("/hotspot-pages/", "Hotspot pages"),
}


@pytest.fixture
def settings(db):
    return hotspot_settings(db)


@pytest.fixture
def app(app):
    app.config["PULSA_ROUTER_TRAFFIC_SAMPLE_SECONDS"] = 0
    return app


@pytest.fixture
def world(db):
    """One of everything the screens show: a router (nobody listens on its port), a
    package on it, a customer login with a subscription, a voucher batch and a
    pending registration."""
    router_id = db.run(
        lambda s: (
            add_router(
                s, ring(), new_name("rt"), "127.0.0.1", port=1, username="api", password="pw"
            ).id
        )
    )
    package_id = make_package(db, 5_000 * RUPIAH, router_ids=[router_id])
    account_id, login_id = make_login(db, 20_000 * RUPIAH)
    subscription_id = db.run(
        lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")).id
    )
    batch_id = db.run(lambda s: generate_batch(s, count=3, package=package_id).id)
    registration_id = db.run(
        lambda s: (
            register_for_hotspot(
                s,
                name="Siti Pendaftar",
                username=new_name("siti"),
                package=package_id,
                currency="IDR",
            ).id
        )
    )
    return {
        "router": router_id,
        "package": package_id,
        "account": account_id,
        "login": login_id,
        "subscription": subscription_id,
        "batch": batch_id,
        "registration": registration_id,
    }


def pages_of(world) -> list[str]:
    return [
        "/routers/",
        f"/routers/{world['router']}",
        "/packages/",
        f"/packages/{world['package']}",
        "/internet/",
        f"/internet/{world['login']}",
        "/registrations/",
        f"/registrations/{world['registration']}",
        "/vouchers/",
        f"/vouchers/{world['batch']}",
        "/vouchers/report",
        "/hotspot-pages/",
    ]


def test_every_internet_screen_renders_for_a_role_that_may_only_view_it(app, db, world):
    client = client_with(app, db, "view")
    home = page_text(client.get("/", follow_redirects=True))
    for url, label in NAV.values():
        assert f'href="{url}"' in home and label in home
    for url in pages_of(world):
        response = client.get(url)
        assert response.status_code == 200, url
    sheet = client.get(f"/vouchers/{world['batch']}/sheet")
    assert sheet.status_code == 200 and sheet.data.count(b"<svg") == 3


def test_every_internet_screen_renders_for_a_super_admin_with_its_change_forms(admin, world):
    for url in [
        *pages_of(world),
        "/routers/new",
        f"/routers/{world['router']}/edit",
        "/packages/new",
        "/internet/new",
        f"/internet/subscriptions/{world['subscription']}/extend",
        "/vouchers/new",
    ]:
        response = admin.get(url)
        assert response.status_code == 200, url
    assert "Buy a package" in page_text(admin.get(f"/internet/{world['login']}"))
    assert "Confirm the payment" in page_text(admin.get(f"/registrations/{world['registration']}"))


def test_a_role_with_view_only_cannot_open_the_forms_that_change_things(app, db, world):
    client = client_with(app, db, "view")
    for url in (
        "/routers/new",
        f"/routers/{world['router']}/edit",
        "/packages/new",
        "/internet/new",
        f"/internet/subscriptions/{world['subscription']}/extend",
        "/vouchers/new",
    ):
        assert client.get(url).status_code == 403, url


def test_a_role_with_view_only_sees_no_buttons_that_change_things(app, db, world):
    client = client_with(app, db, "view")
    login_page = page_text(client.get(f"/internet/{world['login']}"))
    assert "Buy a package" not in login_page and "/extend" not in login_page
    assert "Confirm the payment" not in page_text(
        client.get(f"/registrations/{world['registration']}")
    )
    package_page = page_text(client.get(f"/packages/{world['package']}"))
    assert ">Save</button>" not in package_page
    assert "Generate a batch" not in page_text(client.get("/vouchers/"))
    assert "Test connection" not in page_text(client.get("/routers/"))


def test_a_role_with_view_only_cannot_change_anything_by_posting_the_forms(app, db, world):
    client = client_with(app, db, "view")
    before = balance_of(db, world["account"])
    refused = {
        "/routers/new": {"name": "x", "host": "10.0.0.1", "username": "u", "password": "p"},
        f"/routers/{world['router']}/test": {},
        f"/routers/{world['router']}/sync": {},
        "/packages/new": {"name": "x", "price": "1", "validity_value": "1"},
        f"/packages/{world['package']}": {"name": "renamed", "price": "0", "validity_value": "1"},
        "/internet/new": {"account": str(world["account"]), "username": new_name("u")},
        f"/internet/{world['login']}/buy": {
            "key": "a" * 32,
            "package": str(world["package"]),
        },
        f"/internet/{world['login']}/status": {"status": "disabled"},
        f"/internet/subscriptions/{world['subscription']}/extend": {
            "key": "b" * 32,
            "days": "3",
            "reason": "free",
        },
        f"/internet/subscriptions/{world['subscription']}/auto-renew": {"enabled": "1"},
        f"/registrations/{world['registration']}/confirm": {"amount": "5000"},
        f"/registrations/{world['registration']}/reject": {"reason": "no"},
        "/vouchers/new": {"key": "c" * 32, "count": "5", "package": str(world["package"])},
        "/vouchers/sell": {"codes": "X"},
        "/vouchers/void": {"codes": "X"},
        "/vouchers/redeem": {"key": "d" * 32, "account": "1", "code": "X"},
    }
    for url, data in refused.items():
        assert client.post(url, data=data).status_code == 403, url
    assert balance_of(db, world["account"]) == before
    assert len(subscriptions_of(db, world["login"])) == 1
    assert login_status(db, world["login"]) == "active"
    assert login_status(db, world["registration"]) == "pending"
    with db.transaction() as session:
        assert session.get(InternetPackage, world["package"]).name != "renamed"


def test_a_role_without_an_internet_screen_neither_sees_it_nor_opens_it(app, db, world):
    client = client_with(app, db, "change", screens=("packages",))
    home = page_text(client.get("/packages/"))
    assert 'href="/packages/"' in home
    for screen, (url, _label) in NAV.items():
        if screen == "packages":
            continue
        assert f'href="{url}"' not in home
        assert client.get(url).status_code == 403, url
    assert client.post(f"/internet/{world['login']}/buy", data={}).status_code == 403


def test_the_role_editor_offers_every_internet_screen(admin):
    page = page_text(admin.get("/staff/roles/new"))
    for screen in HOTSPOT_SCREENS:
        assert f'name="perm_{screen}"' in page, screen


def test_names_people_typed_are_shown_escaped_on_every_internet_screen(admin, db):
    evil = "<script>alert(1)</script>"
    router_id = db.run(
        lambda s: (
            add_router(
                s,
                ring(),
                f"{evil}{new_name('r')}",
                "127.0.0.1",
                port=1,
                username="u",
                password="p",
            ).id
        )
    )
    package_id = make_package(
        db, 1_000 * RUPIAH, name=f"<b>{new_name('p')}</b>", router_ids=[router_id]
    )
    _account, login_id = make_login(db, 5_000 * RUPIAH, name=f"{evil} Budi")
    db.run(lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")))
    registration_id = db.run(
        lambda s: (
            register_for_hotspot(
                s,
                name=f"{evil} Siti",
                username=new_name("s"),
                package=package_id,
                currency="IDR",
            ).id
        )
    )
    batch_id = db.run(
        lambda s: generate_batch(s, count=1, package=package_id, note=f"{evil} note").id
    )
    for url in (
        "/routers/",
        f"/routers/{router_id}",
        "/packages/",
        f"/packages/{package_id}",
        "/internet/?q=Budi",
        f"/internet/{login_id}",
        "/registrations/",
        f"/registrations/{registration_id}",
        "/vouchers/",
        f"/vouchers/{batch_id}",
        f"/vouchers/{batch_id}/sheet",
    ):
        page = page_text(admin.get(url))
        assert "<script>alert(1)" not in page, url
        assert "<b>" not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Siti" in page_text(
        admin.get(f"/registrations/{registration_id}")
    )
