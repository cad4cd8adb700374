"""The dashboard's figures and charts, and the Settings screen."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from pulsa.settings import load_settings
from tests.conftest import make_account
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.conftest import (
    AdminClient,
    field_errors,
    make_client,
    make_staff,
    signed_in,
    unique_name,
)
from tests.webadmin.test_payments import PNG, pending_request
from wallet.hotspot_models import Router
from wallet.site_settings import SiteSetting, effective_settings
from wallet.staff import AuditRecord
from webadmin import create_app

UNIT = 1_000_000


def tile(page: str, label: str) -> str:
    found = re.search(r'<span class="value">([^<]*)</span><span class="label">' + label, page)
    assert found, label
    return found.group(1)


def test_the_dashboard_counts_live_calls_pending_payments_and_today_s_top_ups(db, admin):
    page = admin.get("/").get_data(as_text=True)
    live_before = int(tile(page, "Live calls now"))
    pending_before = int(tile(page, "Payments to confirm"))
    _, code = calling_account(db)
    place_call(db, code, "628111", datetime.now(UTC), 0, settle=False)
    pending_request(db)
    page = admin.get("/").get_data(as_text=True)
    assert int(tile(page, "Live calls now")) == live_before + 1
    assert int(tile(page, "Payments to confirm")) == pending_before + 1
    assert tile(page, "Today's top-ups").startswith("IDR ")
    assert page.count('<svg class="chart"') == 3


def test_the_dashboard_adds_up_hotspot_users_online_at_each_router_s_last_sync(db, admin):
    label = "Hotspot users online"
    before = tile(admin.get("/").get_data(as_text=True), label)
    synced = datetime(2026, 11, 23, 1, 30)

    def add_routers(session):
        for name, online, enabled in (("online", 4, True), ("retired", 9, False)):
            session.add(
                Router(
                    name=unique_name(f"rt-{name}"),
                    host="192.0.2.1",
                    username="pulsa",
                    password_encrypted="x",
                    enabled=enabled,
                    online_users=online,
                    last_contact_at=synced,
                    created_at=synced,
                )
            )

    db.run(add_routers)
    page = admin.get("/").get_data(as_text=True)
    assert int(tile(page, label)) == (0 if before == "–" else int(before)) + 4
    assert "Hotspot users online (routers synced 20" in page  # other tests add routers too


def test_the_dashboard_counts_accounts_below_the_low_balance_threshold(db, admin):
    admin.post(
        "/settings/",
        data={
            "operator_name": "Kopi Net",
            "display_precision": "0",
            "timezone": "UTC",
            "call_slice_seconds": "60",
            "call_mode": "live",
            "low_balance_threshold": "1000",
        },
    )
    label = r"Accounts with a low balance \(≤ IDR 1,000\)"
    before = int(tile(admin.get("/").get_data(as_text=True), label))
    make_account(db, 500 * UNIT, name=unique_name("Almost Empty"))
    make_account(db, 5000 * UNIT, name=unique_name("Plenty"))
    assert int(tile(admin.get("/").get_data(as_text=True), label)) == before + 1
    admin.post(
        "/settings/",
        data={
            "operator_name": "pulsa",
            "display_precision": "0",
            "timezone": "UTC",
            "call_slice_seconds": "60",
            "call_mode": "live",
            "low_balance_threshold": "0",
        },
    )


def test_settings_are_saved_audited_and_shown_at_once(db, admin, anonymous):
    response = admin.post(
        "/settings/",
        data={
            "operator_name": "RT 05 Net",
            "sign_in_banner": "Maintenance on Sunday",
            "display_precision": "2",
            "timezone": "Asia/Jakarta",
            "call_slice_seconds": "90",
            "call_mode": "static",
            "low_balance_threshold": "2500",
            "logo": (io.BytesIO(PNG), "logo.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = anonymous.get("/sign-in").get_data(as_text=True)
    assert "RT 05 Net" in page and "Maintenance on Sunday" in page
    logo = anonymous.get("/settings/logo")
    assert logo.status_code == 200 and logo.data == PNG
    customers = admin.get("/customers/").get_data(as_text=True)
    assert "IDR 0.00" in customers or "No customer" in customers
    audit = admin.get("/audit/?action=settings.save").get_data(as_text=True)
    assert "RT 05 Net" in audit and "static" in audit
    with db.transaction() as session:
        stored = {row.key: row.value for row in session.query(SiteSetting)}
    assert stored["low_balance_threshold"] == str(2500 * UNIT)
    # Back to the defaults the other tests expect.
    admin.post(
        "/settings/",
        data={
            "operator_name": "pulsa",
            "sign_in_banner": "",
            "display_precision": "0",
            "timezone": "UTC",
            "call_slice_seconds": "60",
            "call_mode": "live",
            "low_balance_threshold": "0",
        },
    )


def test_a_wrong_setting_is_explained_next_to_its_field(admin):
    page = admin.post(
        "/settings/",
        data={
            "operator_name": "x",
            "display_precision": "9",
            "timezone": "Mars/Olympus",
            "call_slice_seconds": "5",
            "call_mode": "live",
            "low_balance_threshold": "0",
        },
    ).get_data(as_text=True)
    assert page.count('class="error"') >= 2
    page = admin.post(
        "/settings/",
        data={
            "operator_name": "x",
            "display_precision": "0",
            "timezone": "Mars/Olympus",
            "call_slice_seconds": "60",
            "call_mode": "live",
            "low_balance_threshold": "0",
        },
    ).get_data(as_text=True)
    assert "Unknown time zone" in page


def test_a_role_that_views_settings_cannot_save_them(app, db):
    viewer = signed_in(app, make_staff(db, grants={"settings": "view"}))
    page = viewer.get("/settings/").get_data(as_text=True)
    assert '<fieldset class="card" disabled>' in page
    response = viewer.post(
        "/settings/",
        data={
            "operator_name": "hijack",
            "display_precision": "0",
            "timezone": "UTC",
            "call_slice_seconds": "60",
            "call_mode": "live",
            "low_balance_threshold": "0",
        },
    )
    assert response.status_code == 403
    assert "hijack" not in make_client(app).get("/sign-in").get_data(as_text=True)


def test_the_settings_screen_says_when_call_settings_take_effect(admin):
    page = admin.get("/settings/").get_data(as_text=True)
    assert "Changes here apply to new calls within 5 seconds" in page
    assert "PULSA_CALL_SLICE_SECONDS and PULSA_CALL_MODE apply" in page


def test_saving_the_screen_unchanged_leaves_the_call_settings_to_the_environment(db, admin):
    with db.transaction() as session:
        session.query(SiteSetting).filter(
            SiteSetting.key.in_(["call_slice_seconds", "call_mode"])
        ).delete()
    response = admin.post(
        "/settings/",
        data={
            "operator_name": "pulsa",
            "display_precision": "0",
            "timezone": "UTC",
            "call_slice_seconds": "60",
            "call_mode": "static",  # the default where no listener runs
            "low_balance_threshold": "0",
        },
    )
    assert response.status_code == 302
    with db.transaction() as session:
        stored = {row.key for row in session.query(SiteSetting)}
    assert not stored & {"call_slice_seconds", "call_mode"}


# --- giving the call settings back to the environment ------------------------------------

CALL_KEYS = ["call_slice_seconds", "call_mode"]


def forget_call_settings(db) -> None:
    with db.transaction() as session:
        session.query(SiteSetting).filter(SiteSetting.key.in_(CALL_KEYS)).delete()


def stored_call_settings(db) -> dict[str, str]:
    with db.transaction() as session:
        rows = session.query(SiteSetting).filter(SiteSetting.key.in_(CALL_KEYS))
        return {row.key: row.value for row in rows}


def settings_form(**changes: str) -> dict[str, str]:
    return {
        "operator_name": "pulsa",
        "display_precision": "0",
        "timezone": "UTC",
        "call_slice_seconds": "60",
        "call_mode": "live",
        "low_balance_threshold": "0",
        **changes,
    }


@pytest.fixture
def server_app(db, tmp_path):
    """An admin on a server whose environment says 45 s slices, static mode."""
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_CALL_SLICE_SECONDS": "45",
            "PULSA_CALL_MODE": "static",
        }
    )
    app = create_app(settings, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    forget_call_settings(db)
    yield app
    forget_call_settings(db)


def test_a_call_setting_saved_here_can_be_given_back_to_the_environment(db, server_app, superuser):
    admin = signed_in(server_app, superuser)
    page = admin.get("/settings/").get_data(as_text=True)
    assert "From the server (PULSA_CALL_SLICE_SECONDS)" in page
    assert "call_slice_seconds_from_environment" not in page  # nothing stored to drop
    saved = admin.post("/settings/", data=settings_form(call_slice_seconds="120", call_mode="live"))
    assert saved.status_code == 302
    assert stored_call_settings(db) == {"call_slice_seconds": "120", "call_mode": "live"}
    page = admin.get("/settings/").get_data(as_text=True)
    assert "setting instead (PULSA_CALL_SLICE_SECONDS: 45)" in page
    assert "setting instead (PULSA_CALL_MODE: static)" in page

    # Ticked, the slice goes back to the environment whatever its field says.
    response = admin.post(
        "/settings/",
        data=settings_form(
            call_slice_seconds="", call_mode="live", call_slice_seconds_from_environment="y"
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert stored_call_settings(db) == {"call_mode": "live"}
    with db.transaction() as session:
        effective = effective_settings(session, server_app.extensions["pulsa.settings"])
    assert (effective.call_slice_seconds, effective.call_mode) == (45, "live")
    page = admin.get("/settings/").get_data(as_text=True)
    assert re.search(r'name="call_slice_seconds"[^>]* value="45"', page)
    assert "From the server (PULSA_CALL_SLICE_SECONDS)" in page
    assert "call_slice_seconds_from_environment" not in page
    assert "call_mode_from_environment" in page
    with db.transaction() as session:
        record = (
            session.query(AuditRecord)
            .filter(AuditRecord.action == "settings.save")
            .order_by(AuditRecord.id.desc())
            .first()
        )
    assert record.before_data() == {"call_slice_seconds": 120}
    assert record.after_data() == {
        "call_slice_seconds": 45,
        "from_environment": ["call_slice_seconds"],
    }


def test_giving_back_a_setting_equal_to_the_environment_s_is_still_audited(
    db, server_app, superuser
):
    admin = signed_in(server_app, superuser)
    admin.post("/settings/", data=settings_form(call_slice_seconds="120", call_mode="live"))
    admin.post("/settings/", data=settings_form(call_slice_seconds="45", call_mode="static"))
    assert stored_call_settings(db) == {"call_slice_seconds": "45", "call_mode": "static"}
    response = admin.post(
        "/settings/",
        data=settings_form(
            call_slice_seconds="45",
            call_mode="static",
            call_slice_seconds_from_environment="y",
            call_mode_from_environment="y",
        ),
    )
    assert response.status_code == 302
    assert stored_call_settings(db) == {}
    with db.transaction() as session:
        record = (
            session.query(AuditRecord)
            .filter(AuditRecord.action == "settings.save")
            .order_by(AuditRecord.id.desc())
            .first()
        )
    assert record.after_data()["from_environment"] == ["call_mode", "call_slice_seconds"]


def test_a_wrong_call_slice_not_given_back_is_still_explained_beside_its_field(
    db, server_app, superuser
):
    admin = signed_in(server_app, superuser)
    admin.post("/settings/", data=settings_form(call_slice_seconds="120"))
    page = admin.post(
        "/settings/",
        data=settings_form(call_slice_seconds="5", call_mode_from_environment="y"),
    ).get_data(as_text=True)
    assert field_errors(page, "call_slice_seconds")
    assert stored_call_settings(db)["call_slice_seconds"] == "120"
