"""Removing the demo data from the Settings screen: super admins only, after a page that
says what goes, in one click."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pulsa.demo import load_demo
from pulsa.settings import load_settings
from tests.webadmin.conftest import AdminClient, make_staff, signed_in
from wallet.audit import audit
from wallet.models import Customer
from wallet.staff import AuditRecord
from webadmin import create_app


@pytest.fixture
def demo_app(empty_db, tmp_path):
    empty_db.run(
        lambda s: load_demo(s, currency="IDR", timezone="Asia/Jakarta", plan_name="default")
    )
    settings = load_settings(
        {"PULSA_DATABASE_URL": empty_db.url, "PULSA_SECRET_KEY": "test-secret"}
    )
    app = create_app(settings, empty_db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    return app


def test_a_super_admin_removes_the_demo_from_settings_after_seeing_what_goes(demo_app, empty_db):
    client = signed_in(demo_app, make_staff(empty_db, superuser=True))
    settings_page = client.get("/settings/").get_data(as_text=True)
    assert 'href="/settings/demo"' in settings_page
    confirm = client.get("/settings/demo").get_data(as_text=True)
    assert '<td>Customers</td><td class="num">3</td>' in confirm
    assert 'action="/settings/demo/remove"' in confirm
    response = client.post("/settings/demo/remove")
    assert response.status_code == 302
    page = client.get("/settings/").get_data(as_text=True)
    assert "The demo data is removed" in page and 'href="/settings/demo"' not in page
    with empty_db.transaction() as session:
        assert session.execute(select(func.count(Customer.id))).scalar_one() == 0
        assert audit(session).clean
        record = session.execute(
            select(AuditRecord).where(AuditRecord.action == "demo.remove")
        ).scalar_one()
        assert record.actor.startswith("web:")


def test_staff_who_may_change_settings_but_are_no_super_admins_cannot_remove_it(demo_app, empty_db):
    client = signed_in(demo_app, make_staff(empty_db, grants={"settings": "change"}))
    assert 'href="/settings/demo"' not in client.get("/settings/").get_data(as_text=True)
    assert client.get("/settings/demo").status_code == 403
    assert client.post("/settings/demo/remove").status_code == 403
    with empty_db.transaction() as session:
        assert session.execute(select(func.count(Customer.id))).scalar_one() == 3


def test_the_settings_page_offers_no_removal_once_no_demo_is_loaded(demo_app, empty_db):
    client = signed_in(demo_app, make_staff(empty_db, superuser=True))
    client.post("/settings/demo/remove")
    response = client.get("/settings/demo")
    assert response.status_code == 302
    assert "No demo data is loaded" in client.get("/settings/").get_data(as_text=True)
