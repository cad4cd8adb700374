"""The Hotspot pages screen: the branded pages download as a zip ready for the router's
hotspot/ folder, and the walled-garden entries for the portal are shown."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.webadmin.conftest import field_errors
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


def test_without_a_portal_setting_the_page_says_to_set_pulsa_portal_url(db, tmp_path, superuser):
    from tests.webadmin.conftest import AdminClient, signed_in
    from webadmin import create_app

    app = create_app(hotspot_settings(db), db, upload_folder=tmp_path)
    app.test_client_class = AdminClient
    client = signed_in(app, superuser)
    page = page_text(client.get("/hotspot-pages/"))
    assert "Set PULSA_PORTAL_URL" in page
    assert "localhost" not in page and "127.0.0.1" not in page
    assert "/ip hotspot walled-garden" not in page
    typed = page_text(
        client.get("/hotspot-pages/", query_string={"portal_url": "http://127.0.0.1:8081"})
    )
    assert "only this server reaches" in typed


def test_a_portal_address_without_a_scheme_is_explained(admin):
    page = page_text(admin.get("/hotspot-pages/", query_string={"portal_url": "portal.rt05"}))
    assert "starts with http:// or https://" in page


def test_a_javascript_portal_address_never_reaches_the_pages_and_is_explained(admin):
    hostile = "javascript://portal.rt05.net/%0aalert(document.cookie)"
    response = admin.get("/hotspot-pages/hotspot-pages.zip", query_string={"portal_url": hostile})
    archive = zipfile.ZipFile(BytesIO(response.data))
    for name in archive.namelist():
        assert "javascript" not in archive.read(name).decode().lower(), name
    assert "hotspot/walled-garden.rsc" not in archive.namelist()
    page = page_text(admin.get("/hotspot-pages/", query_string={"portal_url": hostile}))
    assert field_errors(page, "portal_url") and 'href="javascript' not in page


def test_a_host_with_a_semicolon_adds_no_command_to_the_walled_garden(admin):
    hostile = "http://portal.rt05.net;/system/reset-configuration"
    response = admin.get("/hotspot-pages/hotspot-pages.zip", query_string={"portal_url": hostile})
    archive = zipfile.ZipFile(BytesIO(response.data))
    assert "hotspot/walled-garden.rsc" not in archive.namelist()
    page = page_text(admin.get("/hotspot-pages/", query_string={"portal_url": hostile}))
    assert field_errors(page, "portal_url") and "/ip hotspot walled-garden" not in page


def test_a_gif_logo_goes_on_the_pages_and_no_refusal_shows_the_server_s_folders(
    app, admin, admin_settings
):
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logo.gif").write_bytes(b"GIF89a tiny")
    admin_settings(logo_path="logo.gif")
    page = page_text(admin.get("/hotspot-pages/", query_string={"logo": "y"}))
    assert "left out" not in page and str(folder) not in page
    login = zipfile.ZipFile(
        BytesIO(admin.get("/hotspot-pages/hotspot-pages.zip", query_string={"logo": "y"}).data)
    ).read("hotspot/login.html")
    assert b'src="data:image/gif;base64,' in login
    admin_settings(logo_path="missing.png")
    page = page_text(admin.get("/hotspot-pages/", query_string={"logo": "y"}))
    assert "The logo was left out" in page and str(folder) not in page
