"""Self-registration from the hotspot: the public page (no sign-in, CSRF, rate limits)
creates a pending customer and a disabled login and shows how to pay; staff confirm the
payment (credited once, the package bought, the login enabled on the router) or reject
it with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotspot.backoffice import RegistrationLimits
from hotspot.reconciler import sync_all
from portal import create_app as create_portal
from portal.pages import register as registration
from tests.hotspot.router import HotspotRouter, register
from tests.portal.conftest import PortalClient
from tests.portal.conftest import make_client as portal_client
from tests.webadmin.conftest import field_errors, make_client, page_with
from tests.webadmin.hotspot_data import (
    RUPIAH,
    balance_of,
    hotspot_settings,
    login_status,
    make_package,
    new_name,
    page_text,
    ring,
    subscriptions_of,
)
from wallet.hotspot_models import HotspotLogin
from wallet.ledger import utcnow
from wallet.models import Account, Customer, LedgerEntry
from wallet.payments import BankAccount

PRICE = 5_000 * RUPIAH


@pytest.fixture
def settings(db):
    return hotspot_settings(
        db,
        PULSA_HOTSPOT_LOGIN_URL="http://wifi.rt05.net/login",
        PULSA_PORTAL_URL="https://portal.rt05.net",
    )


@pytest.fixture
def portal_app(db, settings, tmp_path):
    """The customer portal, where the registration page lives."""
    app = create_portal(settings, db, upload_folder=tmp_path / "portal-uploads")
    app.test_client_class = PortalClient
    return app


@pytest.fixture
def emulator():
    with HotspotRouter(identity="RW-05") as router:
        yield router


def registration_form(package_id: int, user: str, /, **changes) -> dict:
    data = {
        "package": str(package_id),
        "name": "Siti Aminah",
        "phone": "0812 3456 7890",
        "email": "",
        "username": user,
        "password": "rahasia99",
        "confirm": "rahasia99",
    }
    data.update(changes)
    return data


def registered(db, username: str) -> HotspotLogin:
    with db.transaction() as session:
        login = session.execute(
            select(HotspotLogin).where(HotspotLogin.username == username)
        ).scalar_one()
        login.customer  # noqa: B018 - loaded before the session ends
        return login


def register_on_the_portal(portal_app, package_id: int, user: str, /, **changes):
    visitor = portal_client(portal_app)
    page = page_text(visitor.get(f"/register/?package={package_id}"))
    assert 'name="csrf_token"' in page
    response = visitor.post("/register/", data=registration_form(package_id, user, **changes))
    return visitor, response


def test_someone_registers_without_signing_in_and_is_shown_how_to_pay(portal_app, db):
    package_id = make_package(db, PRICE, name=new_name("Harian"))
    db.run(
        lambda s: s.add(
            BankAccount(
                bank_name="BRI",
                account_number="0123-01-000111-50-9",
                holder_name="RT 05 Net",
                instructions="",
                is_active=True,
                position=0,
                created_at=utcnow(),
            )
        )
    )
    username = new_name("siti")
    visitor, response = register_on_the_portal(portal_app, package_id, username)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/register/")
    page = page_text(visitor.get(response.headers["Location"]))
    assert f"Your hotspot user name is {username}" in page
    assert "To pay: IDR 5,000" in page and "0123-01-000111-50-9" in page
    login = registered(db, username)
    assert login.status == "pending" and login.package_id == package_id
    assert login.password == "rahasia99"
    assert login.customer.status == "pending" and login.customer.phone == "0812 3456 7890"
    assert balance_of(db, account_of(db, login)) == 0


def account_of(db, login: HotspotLogin) -> int:
    with db.transaction() as session:
        return session.execute(
            select(Account.id).where(Account.customer_id == login.customer_id)
        ).scalar_one()


def test_the_registration_page_needs_its_csrf_token(portal_app, db):
    package_id = make_package(db, PRICE)
    visitor = portal_client(portal_app)
    visitor.get("/register/")
    username = new_name("nocsrf")
    response = visitor.post("/register/", data=registration_form(package_id, username), csrf=False)
    assert response.status_code == 400
    with db.transaction() as session:
        assert (
            session.execute(select(HotspotLogin).where(HotspotLogin.username == username)).first()
            is None
        )


def test_a_taken_user_name_on_the_portal_gets_a_suggestion(portal_app, db):
    package_id = make_package(db, PRICE)
    username = new_name("budi")
    register_on_the_portal(portal_app, package_id, username)
    _visitor, response = register_on_the_portal(portal_app, package_id, username)
    page = page_text(response)
    assert response.status_code == 200
    assert f"{username} is taken" in page and f'value="{username}2"' in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"confirm": "other"}, "The passwords differ."),
        ({"password": "abc", "confirm": "abc"}, "6 to 64 characters"),
        ({"password": "with space", "confirm": "with space"}, "cannot contain spaces"),
        ({"phone": "call me"}, "Not a phone number."),
        ({"username": "two words"}, "letters, digits and . _ - @ + only"),
        ({"package": ""}, "Choose a package."),
    ],
)
def test_the_portal_form_explains_what_is_wrong(portal_app, db, changes, message):
    package_id = make_package(db, PRICE)
    _visitor, response = register_on_the_portal(portal_app, package_id, new_name("x"), **changes)
    assert response.status_code == 200 and message in page_text(response)


def test_the_portal_limits_registrations_from_one_address(portal_app, db, monkeypatch):
    monkeypatch.setattr(registration, "REGISTRATION_LIMITS", RegistrationLimits(per_address=2))
    package_id = make_package(db, PRICE)
    visitor = portal_client(portal_app)
    visitor.get("/register/")
    codes = [
        visitor.post("/register/", data=registration_form(package_id, new_name("r"))).status_code
        for _ in range(3)
    ]
    assert codes == [302, 302, 429]
    assert "Too many registrations" in page_text(
        visitor.post("/register/", data=registration_form(package_id, new_name("r")))
    )
    other = portal_client(portal_app)
    other.get("/register/")
    assert (
        other.post("/register/", data=registration_form(package_id, new_name("r"))).status_code
        == 302
    )


def test_the_portal_limits_form_submissions_from_one_address(portal_app, db, monkeypatch):
    monkeypatch.setattr(registration, "POSTS_PER_ADDRESS", (3, 600))
    package_id = make_package(db, PRICE)
    visitor = portal_client(portal_app)
    visitor.get("/register/")
    bad = registration_form(package_id, new_name("r"), confirm="nope")
    codes = [visitor.post("/register/", data=bad).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_a_busy_portal_spaces_registrations_out_and_says_how_long_to_wait(
    portal_app, db, monkeypatch
):
    package_id = make_package(db, PRICE)
    register_on_the_portal(portal_app, package_id, new_name("cap"))
    monkeypatch.setattr(
        registration,
        "REGISTRATION_LIMITS",
        RegistrationLimits(
            busy_after=1, spacing=timedelta(minutes=10), longest_spacing=timedelta(minutes=10)
        ),
    )
    _visitor, response = register_on_the_portal(portal_app, package_id, new_name("cap"))
    assert response.status_code == 429
    assert 540 < int(response.headers["Retry-After"]) <= 600
    assert "You can try again in 10 minutes." in page_text(response)


def test_a_name_with_a_control_character_is_refused_on_the_registration_page(portal_app, db):
    package_id = make_package(db, PRICE)
    username = new_name("ctl")
    _visitor, response = register_on_the_portal(
        portal_app, package_id, username, name="Siti\x01 Aminah"
    )
    assert response.status_code == 200
    assert field_errors(page_text(response), "name") == [
        "Remove the invisible control character (U+0001) from this text."
    ]
    with db.transaction() as session:
        assert (
            session.execute(select(HotspotLogin).where(HotspotLogin.username == username)).first()
            is None
        )


def test_a_registration_page_address_cannot_be_guessed(portal_app):
    visitor = portal_client(portal_app)
    assert visitor.get("/register/1").status_code == 404
    assert visitor.get("/register/eyJ4IjoxfQ.forged.sig").status_code == 404


def test_confirming_a_registration_credits_once_buys_the_package_and_enables_the_login(
    portal_app, admin, db, emulator
):
    router_id = register(db, ring(), emulator)
    package_id = make_package(db, PRICE, router_ids=[router_id])
    username = new_name("dewi")
    visitor, response = register_on_the_portal(portal_app, package_id, username)
    status_page = response.headers["Location"]
    login = registered(db, username)
    sync_all(db, ring(), router_ids=[router_id], timeout=2.0)
    assert emulator.user(username)["disabled"] == "true"

    assert username in page_with(admin, "/registrations/", username, arg="pending_page")
    detail = page_text(admin.get(f"/registrations/{login.id}"))
    assert 'value="5000"' in detail  # the package price, ready to confirm
    data = {"amount": "5000", "method": "bank_transfer", "reference": "BRI 7781"}
    first = admin.post(f"/registrations/{login.id}/confirm", data=dict(data))
    assert "login is enabled" in page_text(admin.get(first.headers["Location"]))
    second = admin.post(f"/registrations/{login.id}/confirm", data=dict(data))
    assert "credited once" in page_text(admin.get(second.headers["Location"]))

    assert login_status(db, login.id) == "active"
    account_id = account_of(db, login)
    assert balance_of(db, account_id) == 0  # 5,000 paid in, 5,000 spent on the package
    with db.transaction() as session:
        assert session.get(Customer, login.customer_id).status == "active"
        kinds = sorted(
            session.execute(
                select(LedgerEntry.kind).where(LedgerEntry.account_id == account_id)
            ).scalars()
        )
    assert kinds == ["package", "topup"]
    assert len(subscriptions_of(db, login.id)) == 1
    sync_all(db, ring(), router_ids=[router_id], timeout=2.0)
    assert emulator.user(username)["disabled"] == "false"
    assert "Your account is ready" in page_text(visitor.get(status_page))
    assert username not in page_text(admin.get("/registrations/")).split("Decided", 1)[0]


def test_rejecting_a_registration_needs_a_reason_and_shows_it(portal_app, admin, db):
    package_id = make_package(db, PRICE)
    username = new_name("ditolak")
    visitor, response = register_on_the_portal(portal_app, package_id, username)
    login = registered(db, username)
    empty = page_text(admin.post(f"/registrations/{login.id}/reject", data={"reason": ""}))
    assert field_errors(empty, "reason") == ["Say why, for the customer."]
    assert field_errors(empty, "amount") == []  # the other form, untouched
    assert "flash-error" not in empty
    assert login_status(db, login.id) == "pending"
    admin.post(f"/registrations/{login.id}/reject", data={"reason": "no payment after a week"})
    assert login_status(db, login.id) == "void"
    detail = page_text(admin.get(f"/registrations/{login.id}"))
    assert "no payment after a week" in detail and "Confirm the payment" not in detail
    assert "no payment after a week" in page_text(admin.get("/registrations/"))
    assert "was not accepted" in page_text(visitor.get(response.headers["Location"]))
    refused = admin.post(
        f"/registrations/{login.id}/confirm", data={"amount": "5000", "method": "cash"}
    )
    assert "not waiting for confirmation" in page_text(admin.get(refused.headers["Location"]))
    assert login_status(db, login.id) == "void"


def test_the_portal_is_closed_when_no_package_is_on_sale(portal_app, db, monkeypatch):
    monkeypatch.setattr(registration, "_packages", lambda session: [])
    page = page_text(portal_client(portal_app).get("/register/"))
    assert "Registration is closed" in page


def test_the_portal_help_page_links_to_registration_and_login(portal_app):
    page = page_text(portal_client(portal_app).get("/register/help"))
    assert 'href="/register/"' in page and "http://wifi.rt05.net/login" in page


def test_the_old_addresses_on_the_admin_lead_to_the_portal(app):
    visitor = make_client(app)
    moved = visitor.get("/portal/register?package=7")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "https://portal.rt05.net/register/?package=7"
    token = visitor.get("/portal/register/abc.def").headers["Location"]
    assert token == "https://portal.rt05.net/register/abc.def"
    assert visitor.get("/portal/help").headers["Location"] == (
        "https://portal.rt05.net/register/help"
    )


def test_a_confirmation_without_an_amount_is_refused_beside_the_amount_field(portal_app, admin, db):
    package_id = make_package(db, PRICE)
    username = new_name("tanpa")
    register_on_the_portal(portal_app, package_id, username)
    login = registered(db, username)
    response = admin.post(
        f"/registrations/{login.id}/confirm",
        data={"amount": "", "method": "cash", "reference": "kuitansi 12"},
    )
    assert response.status_code == 200
    page = page_text(response)
    assert field_errors(page, "amount") == ["Enter an amount."]
    assert field_errors(page, "reason") == []
    assert 'value="kuitansi 12"' in page  # the form comes back as it was sent
    assert "flash-error" not in page
    assert login_status(db, login.id) == "pending"
    assert balance_of(db, account_of(db, login)) == 0
