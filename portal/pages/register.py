"""Registration for the internet, reached from the hotspot's login page through the walled
garden, with no sign-in: choose a package, fill the form, see how to pay. It creates a
pending customer and a disabled hotspot login; staff confirm the payment on the admin's
Registrations screen, which enables it. (It lived at /portal/register on the admin, which
now sends its visitors here.)

Public, so guarded otherwise: CSRF on the form like every other, control characters
refused in every field, and rate limits: form submissions per address in this process,
and registrations per address and for the whole site counted in the database, checked
and recorded in the registration's own transaction under a lock (so simultaneous
submissions cannot slip past the count). A busy site slows registrations down rather
than closing (hotspot.backoffice.RegistrationLimits).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from wtforms import PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from hotspot.backoffice import RegistrationLimits, TooManyRegistrations, portal_register
from messaging.wording import package_text
from portal.access import client_address, database, public, settings
from portal.ui import duration, explain, money, reader_locale
from wallet.errors import WalletError
from wallet.hotspot_models import HotspotLogin, InternetPackage
from wallet.internet import UsernameTaken
from wallet.payments import active_bank_accounts
from wallet.site_secrets import web_secret_key
from webcommon.forms import Form

blueprint = Blueprint("register", __name__, url_prefix="/register")

# (events, seconds): form submissions from one address.
POSTS_PER_ADDRESS = (30, 600)
REGISTRATION_LIMITS = RegistrationLimits()
TOKEN_DAYS = 30
_SALT = "pulsa-portal-registration"


class RegisterForm(Form):
    package = RadioField(
        _l("Package"), choices=[], validators=[DataRequired(message=_l("Choose a package."))]
    )
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    phone = StringField(_l("Phone or WhatsApp number"), validators=[DataRequired(), Length(max=40)])
    email = StringField(
        _l("E-mail (optional)"),
        validators=[Optional(), Length(max=200)],
    )
    username = StringField(
        _l("User name for the hotspot"), validators=[DataRequired(), Length(max=64)]
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(min=6, max=64, message=_l("A password has 6 to 64 characters.")),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
    )


class _Window:
    """Recent events per key, in this process (a sliding window)."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allowed(self, key: str, limit: tuple[int, int], *, record: bool) -> bool:
        count, seconds = limit
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - seconds:
                events.popleft()
            if len(events) >= count:
                return False
            if record:
                events.append(now)
            if len(self._events) > 10_000:  # forget idle addresses
                for idle in [k for k, v in self._events.items() if not v]:
                    del self._events[idle]
            return True


def _windows() -> dict[str, _Window]:
    return current_app.extensions.setdefault("pulsa.portal_windows", {"posts": _Window()})


def _serializer() -> URLSafeTimedSerializer:
    """Signs with the portal's key; also reads the addresses the admin gave out while the
    page lived there (signed with the admin's key), which still lead here."""
    admin_key = web_secret_key(database(), settings().secret_key)
    return URLSafeTimedSerializer([admin_key, current_app.secret_key], salt=_SALT)


def _too_many(retry_after: timedelta | None = None):
    seconds = None if retry_after is None else max(1, math.ceil(retry_after.total_seconds()))
    minutes = None if seconds is None else max(1, math.ceil(seconds / 60))
    response = current_app.make_response(
        (render_template("register/busy.html", seconds=seconds, minutes=minutes), 429)
    )
    if seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


def _packages(session) -> list[InternetPackage]:
    return list(
        session.execute(
            select(InternetPackage)
            .where(InternetPackage.active.is_(True))
            .order_by(InternetPackage.price, InternetPackage.name)
        ).scalars()
    )


@blueprint.route("/", methods=["GET", "POST"])
@public
def register():
    address = client_address()
    if request.method == "POST" and not _windows()["posts"].allowed(
        address, POSTS_PER_ADDRESS, record=True
    ):
        return _too_many()
    with database().transaction() as session:
        packages = _packages(session)
    # Outside the transaction: money() asks for the reader's locale, which loads the
    # signed-in customer in a transaction of its own (on SQLite it would wait for this one).
    locale = reader_locale()
    choices = [
        (
            str(p.id),
            f"{p.name} · {money(p.price)} · "
            + package_text(p, _, locale=locale, duration=duration),
        )
        for p in packages
    ]
    form = RegisterForm()
    form.package.choices = choices
    if request.method == "GET" and request.args.get("package", "").isdigit():
        form.package.data = request.args["package"]
    if packages and form.validate_on_submit():
        currency = settings().currency
        try:
            login_id = database().run(
                lambda s: (
                    portal_register(
                        s,
                        name=form.name.data,
                        username=form.username.data,
                        password=form.password.data,
                        package_id=int(form.package.data),
                        currency=currency,
                        phone=form.phone.data,
                        email=form.email.data or None,
                        address=address,
                        limits=REGISTRATION_LIMITS,
                    ).id
                )
            )
        except TooManyRegistrations as refused:
            return _too_many(refused.retry_after)
        except UsernameTaken as taken:
            form.username.errors.append(
                _(
                    "The user name %(name)s is taken. %(suggestion)s is free.",
                    name=taken.username,
                    suggestion=taken.suggestion,
                )
            )
            form.username.data = taken.suggestion
        except WalletError as error:
            text = explain(error)
            if "phone" in text:
                form.phone.errors.append(_("Not a phone number."))
            elif "e-mail" in text:
                form.email.errors.append(_("Not an e-mail address."))
            elif "password" in text:
                form.password.errors.append(
                    _("A password cannot contain spaces, quotes, < > $ or \\.")
                )
            elif text.startswith("a name"):
                form.name.errors.append(text)
            elif "username" in text:
                form.username.errors.append(
                    _("A user name may use letters, digits and . _ - @ + only.")
                )
            else:
                form.package.errors.append(_("This package is not sold any more."))
        else:
            token = _serializer().dumps(login_id)
            return redirect(url_for("register.registered", token=token))
    return render_template("register/register.html", form=form, packages=packages)


@blueprint.get("/<token>")
@public
def registered(token: str):
    try:
        login_id = int(_serializer().loads(token, max_age=TOKEN_DAYS * 86400))
    except (BadSignature, ValueError, TypeError):
        abort(404)
    with database().transaction() as session:
        login = session.get(HotspotLogin, login_id)
        if login is None or login.customer is None:
            abort(404)
        return render_template(
            "register/registered.html",
            login=login,
            package=login.package,
            banks=active_bank_accounts(session),
            login_url=settings().hotspot_login_url,
        )


@blueprint.get("/help")
@public
def help():
    return render_template(
        "register/help.html",
        login_url=settings().hotspot_login_url,
    )
