"""The Announcements screen: post to all or to a package's users with start and end in the
operator's time zone, the list, ending early; view and change permissions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from messaging.models import Announcement
from tests.conftest import unique_key
from tests.hotspot.builders import make_package
from tests.webadmin.conftest import field_errors, make_staff, page_with, signed_in
from wallet.ledger import utcnow


def form(text: str, **values: str) -> dict[str, str]:
    now = utcnow()  # the test site's time zone is UTC unless a test changes it
    data = {
        "text": text,
        "audience": "all",
        "package": "",
        "router": "",
        "starts": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(values)
    return data


def announcement(db, text: str) -> Announcement:
    with db.transaction() as session:
        return session.execute(select(Announcement).where(Announcement.text == text)).scalar_one()


def test_an_announcement_to_all_is_posted_listed_and_ended_early(db, admin):
    text = unique_key("Maintenance on Sunday")
    response = admin.post("/announcements/", data=form(text))
    assert response.status_code == 302
    posted = announcement(db, text)
    assert posted.audience == "all"
    assert posted.created_by.startswith("web:")
    assert text in page_with(admin, "/announcements/", text)
    admin.post(f"/announcements/{posted.id}/end")
    assert announcement(db, text).ends_at <= utcnow()


def test_an_announcement_to_a_packages_users_needs_the_package(db, admin):
    text = unique_key("Speed upgrade")
    page = admin.post("/announcements/", data=form(text, audience="package")).get_data(as_text=True)
    assert field_errors(page, "package") == ["Choose one."]
    package_id = make_package(db)
    admin.post("/announcements/", data=form(text, audience="package", package=str(package_id)))
    assert announcement(db, text).package_id == package_id


def test_an_announcement_ending_before_it_starts_is_refused_beside_the_end(db, admin):
    text = unique_key("Backwards")
    now = utcnow()
    page = admin.post(
        "/announcements/",
        data=form(text, ends=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")),
    ).get_data(as_text=True)
    assert field_errors(page, "ends") == ["The end must come after the start."]
    with db.transaction() as session:
        assert (
            session.execute(select(Announcement).where(Announcement.text == text)).first() is None
        )


def test_viewing_announcements_does_not_allow_posting_and_no_permission_gets_403(db, app):
    viewer = signed_in(app, make_staff(db, grants={"announcements": "view"}))
    assert viewer.get("/announcements/").status_code == 200
    assert viewer.post("/announcements/", data=form(unique_key("x"))).status_code == 403
    outsider = signed_in(app, make_staff(db, grants={"payments": "view"}))
    assert outsider.get("/announcements/").status_code == 403
