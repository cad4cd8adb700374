"""The first-run setup: shown to super admins until done or skipped, a country that sets
the country code, currency, time zone and language, a site without an AMI listener in
static mode (and its calls charged right), and every mistake beside its field."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import delete, select, update

from agi.authorize import AgiCall, CallAuthorizer
from pulsa.settings import load_settings
from rating.money import MICRO
from tests.conftest import make_account
from tests.webadmin.conftest import AdminClient, field_errors, make_staff, signed_in
from wallet.customers import add_identity
from wallet.models import Account, Call, CallRecord, TariffPlan
from wallet.payments import BankAccount
from wallet.site_settings import SiteSetting, load_site_config
from wallet.staff import AuditRecord, StaffUser
from wallet.tariffs import ensure_plan, import_rates
from webadmin import create_app

_numbers = itertools.count(1)
BANNER = "pulsa is not set up for your site yet"
SETUP_KEYS = [
    "operator_name",
    "logo_path",
    "timezone",
    "country_code",
    "currency",
    "language",
    "display_precision",
    "call_mode",
    "setup",
]


@pytest.fixture
def fresh_setup(db):
    """Each test starts before the setup, and leaves the shared database as it found it
    (the other tests expect the environment's settings: no country code, live calls)."""
    before = {}

    def forget(session):
        rows = session.execute(select(SiteSetting).where(SiteSetting.key.in_(SETUP_KEYS)))
        before.update({row.key: row.value for row in rows.scalars()})
        session.execute(delete(SiteSetting).where(SiteSetting.key.in_(SETUP_KEYS)))

    db.run(forget)
    banks = set(_bank_ids(db))
    yield

    def restore(session):
        session.execute(delete(SiteSetting).where(SiteSetting.key.in_(SETUP_KEYS)))
        for key, value in before.items():
            session.add(SiteSetting(key=key, value=value, updated_at=_now(), updated_by="test"))
        made = set(_bank_ids_in(session)) - banks
        if made:
            session.execute(delete(BankAccount).where(BankAccount.id.in_(made)))

    db.run(restore)


def _now():
    from wallet.ledger import utcnow

    return utcnow()


def _bank_ids_in(session):
    return session.execute(select(BankAccount.id)).scalars().all()


def _bank_ids(db):
    with db.transaction() as session:
        return _bank_ids_in(session)


def config(db, settings):
    with db.transaction() as session:
        return load_site_config(session, settings)


def indonesia(**changes: str) -> dict[str, str]:
    return {
        "operator_name": "RT 05 Net",
        "country": "ID",
        "country_code": "",
        "currency": "",
        "timezone": "",
        "language": "en",
        "listener": "no",
        "bank_name_1": "",
        "account_number_1": "",
        "holder_name_1": "",
        "bank_name_2": "",
        "account_number_2": "",
        "holder_name_2": "",
        **changes,
    }


@pytest.mark.usefixtures("fresh_setup")
def test_the_banner_shows_to_super_admins_until_the_setup_is_skipped(app, admin, db, settings):
    page = admin.get("/customers/").get_data(as_text=True)
    assert BANNER in page and 'action="/setup/skip"' in page
    cashier = signed_in(app, make_staff(db, grants={"customers": "view"}))
    assert BANNER not in cashier.get("/customers/").get_data(as_text=True)
    assert cashier.get("/setup/").status_code == 403
    assert cashier.post("/setup/skip").status_code == 403

    skipped = admin.post("/setup/skip")
    assert skipped.status_code == 302
    assert config(db, settings).setup == "skipped"
    assert BANNER not in admin.get("/customers/").get_data(as_text=True)
    # Still in the menu, to be done later.
    assert 'href="/setup/"' in admin.get("/").get_data(as_text=True)
    with db.transaction() as session:
        audit = session.execute(
            select(AuditRecord)
            .where(AuditRecord.action == "settings.save")
            .order_by(AuditRecord.id.desc())
        ).scalars()
        assert '"setup": "skipped"' in next(audit).after


@pytest.mark.usefixtures("fresh_setup")
def test_indonesia_sets_62_idr_jakarta_and_indonesian_and_static_calls(admin, db, settings):
    assert BANNER in admin.get("/").get_data(as_text=True)
    page = admin.get("/setup/").get_data(as_text=True)
    assert 'value="ID"' in page and "62, IDR, Asia/Jakarta" in page
    number = f"{next(_numbers):04d}"
    response = admin.post(
        "/setup/",
        data=indonesia(
            bank_name_1="BRI",
            account_number_1=f"0123-01-00{number}",
            holder_name_1="Koperasi RT 05",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    site = config(db, settings)
    assert (site.country_code, site.currency, site.timezone, site.language) == (
        "62",
        "IDR",
        "Asia/Jakarta",
        "id",
    )
    assert (site.operator_name, site.call_mode, site.setup, site.display_precision) == (
        "RT 05 Net",
        "static",
        "done",
        0,
    )
    with db.transaction() as session:
        bank = session.execute(
            select(BankAccount).where(BankAccount.account_number == f"0123-01-00{number}")
        ).scalar_one()
        assert (bank.bank_name, bank.holder_name, bank.is_active) == ("BRI", "Koperasi RT 05", True)
    # The super admin now reads the admin in Indonesian, and the banner is gone.
    home = admin.get("/").get_data(as_text=True)
    assert BANNER not in home and 'lang="id"' in home
    # The outcome is said in the language just chosen, like the page around it, and
    # every page says which time zone its times are in.
    assert "Penyiapan disimpan." in home
    assert "Tanggal dan jam dalam zona waktu Asia/Jakarta." in home


@pytest.mark.usefixtures("fresh_setup")
def test_a_site_without_a_listener_charges_a_call_whole_in_static_mode(admin, db, settings):
    """The environment says live (the former default); the setup's "no listener" wins, and
    the call dialled as 0812... from a caller ID stored as 62819... is found, rated at the
    62812 rate (not the catch-all), held for all it can pay and charged its 90 s."""
    plan = f"setup-{next(_numbers)}"

    def tariff(session):
        ensure_plan(session, plan, "Asia/Jakarta")
        import_rates(
            session,
            plan,
            "prefix,price_per_minute,initial_block,increment,grace\n"
            "62812,1200,1,1,0\n"
            "*,3000,60,60,0\n",
        )

    db.run(tariff)
    caller = f"628190{next(_numbers):06d}"
    account_id = make_account(db, 10_000 * MICRO)

    def wallet(session):
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == plan)).scalar_one()
        session.execute(
            update(Account).where(Account.id == account_id).values(tariff_plan_id=plan_id)
        )
        add_identity(session, account_id, "callerid", caller)
        return plan_id

    plan_id = db.run(wallet)
    assert admin.post("/setup/", data=indonesia(listener="no")).status_code == 302
    # The calculator rates the number as calls are: with the country code of the setup.
    shown = admin.get(f"/tariffs/calculator?plan={plan_id}&number=0812-3456-789&duration=90")
    assert "628123456789" in shown.get_data(as_text=True)

    environment = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_CALL_MODE": "live"})
    authorizer = CallAuthorizer(environment, db, refresh_seconds=0)
    uniqueid = f"1795500000.{next(_numbers)}"
    decision = authorizer.authorize(
        AgiCall(dialled="0812 3456 789", callerid="0" + caller[2:], uniqueid=uniqueid)
    )
    assert decision.status == "OK", decision.reason
    assert decision.number == "628123456789"
    # Static: everything the 10,000 pays for at 20 a second, 500 s, held before the call.
    assert decision.slice_ms == 500_000
    settled = authorizer.settle(str(decision.call_id), "ANSWER", "90")
    assert settled.status == "OK"
    with db.transaction() as session:
        call = session.get(Call, decision.call_id)
        record = session.execute(
            select(CallRecord).where(CallRecord.hold_id == call.hold_id)
        ).scalar_one()
        account = session.get(Account, account_id)
        assert call.mode == "static"
        assert record.cost == 1_800 * MICRO
        assert (account.balance, account.held) == (8_200 * MICRO, 0)


@pytest.mark.usefixtures("fresh_setup")
def test_mistakes_show_beside_their_fields_and_nothing_is_saved(admin, db, settings):
    response = admin.post("/setup/", data=indonesia(country="", operator_name="", listener=""))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page, "operator_name")
    assert "Choose a country, or Another country." in page
    assert "Say whether an AMI listener runs." in page

    response = admin.post(
        "/setup/",
        data=indonesia(
            country="other",
            country_code="+62a",
            currency="RUPIAH",
            timezone="Mars/Olympus",
            bank_name_1="BCA",
        ),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page, "country_code") == ["One to three digits, e.g. 62 for Indonesia."]
    assert field_errors(page, "currency") == ["A 3-letter code, e.g. IDR, MYR or USD."]
    assert field_errors(page, "timezone") == ["Unknown time zone, e.g. Asia/Jakarta."]
    assert field_errors(page, "account_number_1") and field_errors(page, "holder_name_1")
    assert not field_errors(page, "bank_name_1")
    assert config(db, settings).setup == ""


def test_another_country_takes_its_four_values(empty_db, tmp_path):
    """On a database of its own: a new site may choose any currency (no wallet holds one
    yet)."""
    settings = load_settings({"PULSA_DATABASE_URL": empty_db.url, "PULSA_SECRET_KEY": "t"})
    app = create_app(settings, empty_db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    admin = signed_in(app, make_staff(empty_db, superuser=True))
    empty_db.run(lambda session: ensure_plan(session, "default", "UTC"))  # made by the demo
    assert "default (UTC)" in admin.get("/setup/").get_data(as_text=True)
    response = admin.post(
        "/setup/",
        data=indonesia(
            country="other",
            country_code="+670",
            currency="usd",
            timezone="Asia/Dili",
            language="en",
            listener="yes",
            move_plans="y",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    site = config(empty_db, settings)
    assert (site.country_code, site.currency, site.timezone, site.language) == (
        "670",
        "USD",
        "Asia/Dili",
        "en",
    )
    assert (site.display_precision, site.call_mode) == (2, "live")
    # The plan made before the setup reads its bands in the site's zone now, audited.
    assert "Tariff plans now in Asia/Dili: default." in admin.get("/").get_data(as_text=True)
    with empty_db.transaction() as session:
        plan = session.execute(select(TariffPlan).where(TariffPlan.name == "default")).scalar_one()
        assert (plan.timezone, plan.revision) == ("Asia/Dili", 2)  # caches reload it
        moved = session.execute(
            select(AuditRecord).where(AuditRecord.action == "tariff_plan.timezone")
        ).scalar_one()
        assert (moved.before_data(), moved.after_data()) == (
            {"timezone": "UTC"},
            {"timezone": "Asia/Dili"},
        )
    # New wallets are in the chosen currency, shown with its two decimals ($ in English).
    form = {"name": "Maria", "kind": "individual", "plan": "", "credit_limit": "0"}
    made = admin.post("/customers/new", data=form)
    assert made.status_code == 302, made.get_data(as_text=True)
    with empty_db.transaction() as session:
        assert session.execute(select(Account.currency)).scalars().all() == ["USD"]
    assert "$0.00" in admin.get(made.headers["Location"]).get_data(as_text=True)


@pytest.mark.usefixtures("fresh_setup")
def test_the_currency_stays_once_wallets_hold_it(admin, db, settings):
    make_account(db, 0)  # an operator's IDR wallet (not the demo's)
    response = admin.post("/setup/", data=indonesia(country="MY"))
    assert response.status_code == 400
    assert "the currency of a site cannot change" in response.get_data(as_text=True)
    assert config(db, settings).currency == "IDR" and config(db, settings).setup == ""


@pytest.mark.usefixtures("fresh_setup")
def test_the_setup_sets_the_language_of_the_one_who_did_it(admin, superuser, db):
    assert admin.post("/setup/", data=indonesia()).status_code == 302
    with db.transaction() as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == superuser)
        ).scalar_one()
        assert user.locale == "id"


@pytest.mark.usefixtures("fresh_setup")
def test_after_an_indonesian_setup_a_new_colleague_is_offered_indonesian(admin):
    assert admin.post("/setup/", data=indonesia()).status_code == 302
    form = admin.get("/staff/new").get_data(as_text=True)
    assert '<option selected value="id">' in form
