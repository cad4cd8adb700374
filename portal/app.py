"""Application factory of the customer portal: one blueprint per page (portal/pages/),
Flask-Login sessions of customers, CSRF on every form, Flask-Babel (English,
Indonesian) with the portal's own catalog.

The portal is a separate app from the web admin, with its own cookie name and its own
signing key (derived from PULSA_SECRET_KEY), so a staff member's session cookie means
nothing here and a customer's means nothing in the admin. Nothing runs at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from datetime import timedelta
from pathlib import Path

from flask import Flask, jsonify, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import text
from werkzeug.routing import IntegerConverter

from messaging.notifications import watch as watch_for_notices
from portal.access import LOCALES, init_access, public
from portal.pages import PAGE_MODULES
from portal.ui import init_ui
from pulsa.settings import Settings
from wallet.db import Database
from wallet.site_secrets import web_secret_key
from webcommon.csrf import csrf_reason

HERE = Path(__file__).resolve().parent
COOKIE_NAME = "pulsa_portal"

_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class _IdConverter(IntegerConverter):
    """`<int:...>` in every route: the digits 0 to 9, at most a signed 64-bit integer, so
    that an id the database cannot hold is "not found", never an overflow (the admin has
    the same rule; the two apps share no module)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class _SessionInterface(SecureCookieSessionInterface):
    """`Secure` cookies whenever the request came over HTTPS (request.scheme is what a
    trusted proxy said, once the proxy wrapper is installed in front of the app)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def portal_secret(secret_key: str) -> str:
    """The portal's signing key: derived from PULSA_SECRET_KEY, different from the
    admin's, so that neither app accepts a cookie (or a CSRF token) of the other."""
    return hmac.new(secret_key.encode(), b"pulsa-customer-portal", hashlib.sha256).hexdigest()


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    upload_folder: str | Path | None = None,
) -> Flask:
    """The customer portal on `database` (built from settings when not given).

    `upload_folder` is the admin's (PULSA_UPLOAD_FOLDER): top-up receipts are stored
    there for the Payments screen, and the operator's logo is read from it.
    """
    app = Flask(__name__)
    # Before any blueprint: rules take their converters when they are added.
    app.url_map.converters["int"] = _IdConverter
    database = database or Database(settings.database_url)
    # A package bought here may run the balance low: its notice commits with it.
    watch_for_notices(database, settings)
    app.config.update(
        SECRET_KEY=portal_secret(web_secret_key(database, settings.secret_key)),
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.portal_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        REMEMBER_COOKIE_NAME="pulsa_portal_remember",
        WTF_CSRF_TIME_LIMIT=24 * 3600,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        UPLOAD_FOLDER=str(Path(upload_folder or settings.upload_folder).resolve()),
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
    )
    app.session_interface = _SessionInterface()
    app.extensions["pulsa.db"] = database
    app.extensions["pulsa.settings"] = settings
    # Pages add their menu entries here: (order, label, endpoint).
    app.extensions["pulsa.portal_menu"] = []
    # Other parts (messaging) add callables here: principal -> dict merged into every
    # template's context (an unread count for the menu, say).
    app.extensions.setdefault("pulsa.portal_context", [])
    # ... and callables principal -> HTML shown on the home page (announcements).
    app.extensions.setdefault("pulsa.portal_home_panels", [])
    # ... and callables (session, principal) -> None run in the transaction that finds
    # the signed-in customer, at the start of each of their requests, keeping what they
    # read in flask.g (so that a page does not open one transaction per figure).
    app.extensions.setdefault("pulsa.portal_request_reads", [])

    CSRFProtect(app)
    Babel(app, locale_selector=_locale)
    init_access(app)
    init_ui(app)

    for module_name in PAGE_MODULES:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.blueprint)
        entry = getattr(module, "MENU", None)
        if entry is not None:
            app.extensions["pulsa.portal_menu"].append(entry)
    app.extensions["pulsa.portal_menu"].sort(key=lambda entry: entry.order)

    db = app.extensions["pulsa.db"]

    @app.get("/healthz")
    @public
    def healthz():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # the check must answer, whatever the failure
            return jsonify(status="error", database=type(error).__name__), 503
        return jsonify(status="ok")

    @app.context_processor
    def common():
        values = {"menu": app.extensions["pulsa.portal_menu"], "current_user": current_user}
        if current_user.is_authenticated:
            for extra in app.extensions["pulsa.portal_context"]:
                values.update(extra(current_user.principal))
        return values

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure:
            # Served over HTTPS (directly, or behind the trusted proxy): browsers keep to it.
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        reason = csrf_reason(error.description)
        return render_template("error.html", code=400, message="", reason=reason), 400

    for code in (401, 403, 404, 405, 413, 429):
        app.register_error_handler(code, _error_page(code))
    return app


def _error_page(code: int):
    def handler(error):
        return render_template("error.html", code=code, message=error.description), code

    return handler


def _locale() -> str:
    """The language chosen in the portal (profile, or the switch on every page), else
    the browser's."""
    if current_user.is_authenticated and current_user.principal.locale in LOCALES:
        return current_user.principal.locale
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    # A browser that asks for neither language gets the operator's (PULSA_LANGUAGE, or
    # the country chosen on the admin's first-run setup).
    from portal.ui import site

    return request.accept_languages.best_match(LOCALES) or site().language
