"""What the admin tells people who need not know: no server folders for view-only
staff, no schema revision to strangers, HTTPS kept to once used."""

from __future__ import annotations

from tests.webadmin.conftest import make_staff, signed_in


def test_the_health_check_tells_strangers_nothing_of_the_schema(anonymous, admin):
    assert anonymous.get("/healthz").get_json() == {"status": "ok"}
    assert admin.get("/healthz").get_json()["revision"].isdigit()


def test_over_https_browsers_are_told_to_keep_to_it(anonymous):
    secure = anonymous.get("/sign-in", base_url="https://admin.rt05.net")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in anonymous.get("/sign-in").headers


def test_only_staff_who_may_change_settings_see_the_upload_folder(app, db, admin):
    folder = str(app.config["UPLOAD_FOLDER"])
    assert folder in admin.get("/settings/").get_data(as_text=True)
    viewer = signed_in(app, make_staff(db, grants={"settings": "view"}))
    page = viewer.get("/settings/").get_data(as_text=True)
    assert "Operator name" in page or "operator_name" in page
    assert folder not in page
