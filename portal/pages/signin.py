"""Signing in (phone, customer number or hotspot user name, and a password), first
access from a one-time link, signing out, and the language switch."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.access import (
    LOCALES,
    SignedInCustomer,
    client_address,
    customer,
    database,
    me,
    public,
    settings,
)
from portal.passwords import weak_password_message
from portal.ui import when
from wallet.customer_access import (
    MIN_PASSWORD_LENGTH,
    authenticate_customer,
    customer_of_link,
    end_customer_session,
    open_customer_session,
    set_locale,
    set_password_with_link,
)
from wallet.errors import NotFound
from wallet.passwords import WeakPassword
from wallet.staff import SignInThrottled, record_audit
from webcommon.forms import Form
from webcommon.redirects import local_path

blueprint = Blueprint("signin", __name__)
PASSWORD_RULE = Length(
    min=MIN_PASSWORD_LENGTH,
    max=200,
    message=_l("A password needs at least %(min)d characters."),
)


class SignInForm(Form):
    identifier = StringField(
        _l("Phone number, customer number or hotspot user name"),
        validators=[DataRequired(), Length(max=100)],
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SetPasswordForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired(), PASSWORD_RULE])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site: never send a freshly signed-in customer elsewhere."""
    return local_path(target) or url_for("home.index")


def start_session(principal) -> None:
    """A new session for the signed-in customer: nothing of the anonymous one (a planted
    session) carries over, except the language they chose."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    session.permanent = True
    lifetime = current_app.permanent_session_lifetime
    token = database().run(
        lambda s: open_customer_session(s, principal.customer_id, lifetime=lifetime)
    )
    login_user(SignedInCustomer(principal, token))


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        address = client_address()
        config = settings()

        def work(db_session):
            try:
                principal = authenticate_customer(
                    db_session,
                    form.identifier.data,
                    form.password.data,
                    address=address,
                    country_code=config.country_code,
                    trunk_prefix=config.trunk_prefix,
                )
            except SignInThrottled as throttled:
                return throttled
            if principal is not None:
                record_audit(
                    db_session,
                    f"portal:customer:{principal.customer_id}",
                    "portal.sign_in",
                    f"customer {principal.customer_id}",
                    address=address,
                )
            return principal

        outcome = database().run(work)
        if isinstance(outcome, SignInThrottled):
            error = _(
                "Too many failed sign-ins. Try again after %(time)s.",
                time=when(outcome.until, "short"),
            )
        elif outcome is None:
            error = _("Wrong name or password.")
        else:
            start_session(outcome)
            return redirect(safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("signin/sign_in.html", form=form, error=error), status


@blueprint.route("/welcome/<token>", methods=["GET", "POST"])
@public
def welcome(token: str):
    """First access (or a forgotten password): the link staff gave sets the password."""
    with database().transaction() as db_session:
        found = customer_of_link(db_session, token)
        name = found.name if found else None
    if name is None:
        return render_template("signin/link_expired.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        address = client_address()
        try:
            principal = database().run(
                lambda s: set_password_with_link(s, token, form.password.data, address=address)
            )
        except NotFound:
            return render_template("signin/link_expired.html"), 404
        except WeakPassword as error:
            form.password.errors.append(weak_password_message(error))
        else:
            start_session(principal)
            flash(_("Your password is set. Welcome!"), "success")
            return redirect(url_for("home.index"))
    return render_template("signin/welcome.html", form=form, name=name)


@blueprint.post("/sign-out")
@customer
def sign_out():
    token = current_user.session_token
    database().run(lambda s: end_customer_session(s, token))
    logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You are signed out."), "info")
    return redirect(url_for("signin.sign_in"))


@blueprint.post("/language")
@public
def language():
    """The language switch on every page: kept in the session, and in the profile of a
    signed-in customer."""
    chosen = request.form.get("locale", "")
    if chosen in LOCALES:
        session["locale"] = chosen
        if current_user.is_authenticated:
            customer_id = me().customer_id
            database().run(lambda s: set_locale(s, customer_id, chosen))
    return redirect(safe_next(request.form.get("next")))
