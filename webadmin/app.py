"""Application factory of the web admin: one blueprint per screen (webadmin/screens/),
Flask-Login sessions, CSRF on every form, Flask-Babel (English, Indonesian).

Nothing here runs at import time; `create_app(settings)` builds everything, so tests and
`pulsa serve` each build their own app on their own database.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import text
from werkzeug.routing import IntegerConverter

from messaging.notifications import watch as watch_for_notices
from pulsa.settings import Settings
from wallet.db import Database
from wallet.migrate import current_revision
from wallet.site_secrets import web_secret_key
from webadmin.access import init_access, public, visible_screens
from webadmin.labels import init_labels
from webadmin.screens import SCREEN_MODULES
from webadmin.ui import init_ui
from webcommon.csrf import csrf_reason

HERE = Path(__file__).resolve().parent
LOCALES = ("en", "id")

# Pages and scripts come only from this server: no inline script, no other origin.
HSTS = "max-age=31536000"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class _IdConverter(IntegerConverter):
    """`<int:...>` in every route: the digits 0 to 9 (werkzeug's `\\d` takes any script's
    digits), at most a signed 64-bit integer, so that an id the database cannot hold is
    "not found", never an overflow."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is `Secure` whenever the request came over HTTPS (or always,
    with SESSION_COOKIE_SECURE), so the same app works on plain http://127.0.0.1 and
    behind a TLS proxy without leaking the cookie over plain HTTP there. Behind a proxy,
    "came over HTTPS" is what the proxy of PULSA_TRUSTED_PROXY says (pulsa.web_server);
    nobody else's X-Forwarded-Proto reaches the app."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    upload_folder: str | Path | None = None,
) -> Flask:
    """The web admin on `database` (built from settings when not given).

    `upload_folder` holds payment proofs and the operator's logo (default:
    PULSA_UPLOAD_FOLDER, itself `uploads` in the working folder, beside the default SQLite
    database).
    """
    app = Flask(__name__)
    # Before any blueprint: rules take their converters when they are added.
    app.url_map.converters["int"] = _IdConverter
    db = database or Database(settings.database_url)
    # A payment confirmed here gets its customer's notice in the same transaction.
    watch_for_notices(db, settings)
    app.config.update(
        SECRET_KEY=web_secret_key(db, settings.secret_key),
        SESSION_COOKIE_NAME="pulsa_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # A form left open for a working day still submits; the session ends then too.
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        UPLOAD_FOLDER=str(Path(upload_folder or settings.upload_folder).resolve()),
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
    )
    app.session_interface = _SessionInterface()
    app.extensions["pulsa.db"] = db
    app.extensions["pulsa.settings"] = settings
    app.extensions["pulsa.screens"] = {}
    app.extensions["pulsa.permissions"] = {}
    # Other parts (the hotspot screens) add callables here: session -> list of
    # (label, value, url) tiles for the dashboard, or of panels for a customer.
    app.extensions.setdefault("pulsa.dashboard_tiles", [])
    app.extensions.setdefault("pulsa.customer_panels", [])
    # Screen name -> callable session -> count shown beside its menu entry (unread
    # messages on Conversations), asked only for the screens the staff member may see.
    app.extensions.setdefault("pulsa.nav_badges", {})

    CSRFProtect(app)
    Babel(app, locale_selector=_locale)
    init_access(app)
    init_ui(app)
    init_labels(app)

    for module_name in SCREEN_MODULES:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.blueprint)
        screen = getattr(module, "SCREEN", None)
        if screen is not None:
            app.extensions["pulsa.screens"][screen.name] = screen
        for permission in getattr(module, "PERMISSIONS", ()):
            app.extensions["pulsa.permissions"][permission.name] = permission

    @app.get("/healthz")
    @public
    def healthz():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            # The schema's revision tells an attacker which pulsa runs: staff only.
            revision = current_revision(db.engine) if current_user.is_authenticated else None
        except Exception as error:  # the check must answer, whatever the failure
            return jsonify(status="error", database=type(error).__name__), 503
        if revision is None:
            return jsonify(status="ok")
        return jsonify(status="ok", revision=revision)

    @app.before_request
    def count_nav_badges():
        # Before the view opens its transaction: pages render inside theirs, and a second
        # one from a template would wait for the first on SQLite.
        if request.method == "GET" and request.endpoint != "static":
            g.nav_badges = _nav_badges(app, db)

    @app.context_processor
    def navigation():
        return {
            "nav_screens": visible_screens() if current_user.is_authenticated else [],
            "nav_badges": g.get("nav_badges", {}),
            "current_user": current_user,
        }

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure:
            # Served over HTTPS (directly, or behind the trusted proxy): browsers keep to it.
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if current_user.is_authenticated:
            # Balances and names must not stay in a shared computer's cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        reason = csrf_reason(error.description)
        return render_template("error.html", code=400, message="", reason=reason), 400

    for code in (401, 403, 404, 405, 413):
        app.register_error_handler(code, _error_page(code))
    return app


def _nav_badges(app: Flask, db: Database) -> dict[str, int]:
    providers = app.extensions["pulsa.nav_badges"]
    if not providers or not current_user.is_authenticated:
        return {}
    wanted = [name for name in providers if current_user.can(name)]
    if not wanted:
        return {}
    with db.transaction() as session:
        return {name: providers[name](session) for name in wanted}


def _error_page(code: int):
    def handler(error):
        return render_template("error.html", code=code, message=error.description), code

    return handler


def _locale() -> str:
    if current_user.is_authenticated:
        return current_user.principal.locale
    # A browser that asks for neither language gets the operator's (PULSA_LANGUAGE, or
    # the country chosen on the first-run setup).
    from webadmin.ui import site

    return request.accept_languages.best_match(LOCALES) or site().language
