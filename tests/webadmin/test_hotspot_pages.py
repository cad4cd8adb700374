"""The Hotspot pages screen: the branded pages download as a zip ready for the router's
hotspot/ folder, and the walled-garden entries for the portal are shown."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest

from tests.webadmin.hotspot_data import hotspot_settings, page_text


@pytest.fixture
def settings(db):
    return hotspot_settings(
        db,
        PULSA_HOTSPOT_BRAND_NAME="RT 05 Net",
        PULSA_PORTAL_URL="https://portal.rt05.net/portal",
    )


def test_the_pages_download_as_a_zip_for_the_routers_hotspot_folder(admin):
    response = admin.get("/hotspot-pages/hotspot-pages.zip")
    assert response.mimetype == "application/zip"
    assert "hotspot-pages.zip" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(BytesIO(response.data))
    names = set(archive.namelist())
    for page in ("login.html", "status.html", "logout.html", "alogin.html", "error.html"):
        assert f"hotspot/{page}" in names
    assert {"hotspot/walled-garden.rsc", "hotspot/README.txt"} <= names
    login = archive.read("hotspot/login.html").decode()
    assert "RT 05 Net" in login and "$(link-login-only)" in login
    assert "https://portal.rt05.net/portal/register?mac=$(mac-esc)" in login
    assert "dst-host=portal.rt05.net" in archive.read("hotspot/walled-garden.rsc").decode()


def test_the_brand_and_portal_address_can_be_changed_for_the_download(admin):
    response = admin.get(
        "/hotspot-pages/hotspot-pages.zip",
        query_string={"brand": "Warung <Net> $(x)", "portal_url": "http://10.0.0.5/portal"},
    )
    archive = zipfile.ZipFile(BytesIO(response.data))
    login = archive.read("hotspot/login.html").decode()
    assert "Warung &lt;Net&gt; &#36;(x)" in login and "Warung <Net>" not in login
    script = archive.read("hotspot/walled-garden.rsc").decode()
    assert "walled-garden ip add action=accept dst-address=10.0.0.5" in script


def test_the_screen_shows_the_walled_garden_entries_for_the_portal(admin):
    page = page_text(admin.get("/hotspot-pages/"))
    assert "/ip hotspot walled-garden add action=allow dst-host=portal.rt05.net" in page
    assert "https://portal.rt05.net/portal/register" in page
    assert 'value="RT 05 Net"' in page


def test_without_a_portal_setting_the_admins_own_address_is_offered(db, tmp_path, superuser):
    from tests.webadmin.conftest import AdminClient, signed_in
    from webadmin import create_app

    app = create_app(hotspot_settings(db), db, upload_folder=tmp_path)
    app.test_client_class = AdminClient
    page = page_text(signed_in(app, superuser).get("/hotspot-pages/"))
    assert 'value="http://localhost/portal"' in page
    assert "dst-host=localhost" in page


def test_a_portal_address_without_a_scheme_is_explained(admin):
    page = page_text(admin.get("/hotspot-pages/", query_string={"portal_url": "portal.rt05"}))
    assert "starts with http:// or https://" in page
