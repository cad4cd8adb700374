"""Every route is guarded: nothing without sign-in, roles decide view and change."""

from __future__ import annotations

import re

from flask import Blueprint

from tests.webadmin.conftest import make_client, make_staff, signed_in
from webadmin.access import PUBLIC

# The logo is public because the sign-in page shows it.
STAFF_PUBLIC_ENDPOINTS = {"signin.sign_in", "healthz", "static", "settings.logo"}


def public_endpoints(app) -> set[str]:
    """The staff pages open to all, and every route of a blueprint for non-staff (portal)."""
    from webadmin.screens import PUBLIC_BLUEPRINTS

    return STAFF_PUBLIC_ENDPOINTS | {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in PUBLIC_BLUEPRINTS
    }


def sample_url(rule) -> str:
    """A concrete address for a rule: every path parameter becomes 1 (or "x")."""
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def test_every_route_declares_who_may_use_it(app):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and getattr(app.view_functions[rule.endpoint], "access_level", None) is None
    ]
    assert undeclared == []


def test_only_the_sign_in_page_and_health_check_are_public(app):
    public = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "access_level", None) == PUBLIC
    }
    assert public <= public_endpoints(app)


def test_no_page_is_reachable_without_signing_in(app, anonymous):
    checked = 0
    public = public_endpoints(app)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or "GET" not in rule.methods:
            continue
        response = anonymous.get(sample_url(rule))
        assert response.status_code == 302, rule.rule
        assert response.headers["Location"].startswith("/sign-in"), rule.rule
        checked += 1
    assert checked >= 5


def test_no_form_is_accepted_without_signing_in(app, anonymous):
    anonymous.get("/sign-in")  # a valid CSRF token, so only the missing sign-in refuses
    public = public_endpoints(app)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or "POST" not in rule.methods:
            continue
        response = anonymous.post(sample_url(rule), data={})
        assert response.status_code == 401, rule.rule


def test_the_health_check_answers_without_signing_in(anonymous):
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_a_route_that_forgets_its_decorator_is_refused(db, settings, tmp_path, superuser):
    from webadmin import create_app

    app = create_app(settings, db, upload_folder=tmp_path)
    careless = Blueprint("careless", __name__)

    @careless.get("/careless")
    def page():
        return "should never be served"

    app.register_blueprint(careless)
    from tests.webadmin.conftest import AdminClient

    app.test_client_class = AdminClient
    client = signed_in(app, superuser)
    response = client.get("/careless")
    assert response.status_code == 403
    assert b"should never be served" not in response.data


def test_the_staff_and_audit_screens_are_for_super_admins_only(app, db):
    everything = {"dashboard": "change", "staff": "change", "audit": "change"}
    client = signed_in(app, make_staff(db, grants=everything))
    assert client.get("/staff/").status_code == 403
    assert client.get("/audit/").status_code == 403
    assert client.post("/staff/roles/new", data={"name": "sneaky"}).status_code == 403


def test_a_staff_member_without_a_role_sees_no_screen(app, db):
    client = signed_in(app, make_staff(db))
    page = client.get("/").get_data(as_text=True)
    assert "no screens yet" in page
    assert client.get("/audit/").status_code == 403


def test_the_navigation_lists_only_the_screens_a_role_may_view(app, db):
    client = signed_in(app, make_staff(db, grants={"dashboard": "view"}))
    page = client.get("/").get_data(as_text=True)
    assert 'href="/"' in page
    assert "/staff/" not in page and "/audit/" not in page


def test_an_anonymous_client_is_sent_to_sign_in_and_back(app, anonymous, superuser):
    response = anonymous.get("/audit/?actor=x")
    assert response.headers["Location"] == "/sign-in?next=/audit/?actor%3Dx"
    anonymous.get(response.headers["Location"])
    signed = anonymous.post(
        "/sign-in?next=/audit/?actor%3Dx",
        data={"username": superuser, "password": "correct horse battery"},
    )
    assert signed.headers["Location"] == "/audit/?actor=x"


def test_sign_in_never_redirects_to_another_site(app, superuser):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        client = make_client(app)
        client.get("/sign-in")
        response = client.post(
            f"/sign-in?next={target}",
            data={"username": superuser, "password": "correct horse battery"},
        )
        assert response.headers["Location"] == "/", target
