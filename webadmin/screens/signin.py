"""Sign-in, sign-out and the staff member's own profile (language, password)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from messaging.chats import (
    bot_username,
    issue_link_token,
    links_of_staff,
    telegram_start_link,
    unlink,
)
from messaging.models import CHAT_PLATFORMS, ChatLink
from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.passwords import WeakPassword
from wallet.staff import (
    MIN_PASSWORD_LENGTH,
    SignInThrottled,
    authenticate,
    end_staff_session,
    open_staff_session,
    record_audit,
    update_staff,
)
from webadmin.access import StaffMember, actor, client_address, database, public, signed_in
from webadmin.forms import options
from webadmin.passwords import weak_password_message
from webadmin.ui import local
from webcommon.forms import Form
from webcommon.redirects import local_path

PASSWORD_RULE = Length(
    min=MIN_PASSWORD_LENGTH, max=200, message=_l("A password needs at least %(min)d characters.")
)
blueprint = Blueprint("signin", __name__)
SCREEN = None  # no nav entry, no permission: every staff member has these pages


class SignInForm(Form):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=60)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ProfileForm(Form):
    locale = SelectField(
        _l("Language"), choices=options([("en", "English"), ("id", "Bahasa Indonesia")])
    )
    password = PasswordField(
        _l("New password"),
        validators=[Optional(), PASSWORD_RULE],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never send a freshly signed-in person elsewhere."""
    return local_path(target) or url_for("dashboard.index")


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        address, attempted_at = client_address(), utcnow()
        lifetime = current_app.permanent_session_lifetime

        def work(db_session):
            try:
                outcome = authenticate(
                    db_session,
                    form.username.data,
                    form.password.data,
                    address=address,
                    now=attempted_at,
                )
            except SignInThrottled as throttled:
                return throttled, None
            name = form.username.data.strip().lower()[:60]
            record_audit(
                db_session,
                name,
                "staff.sign_in" if outcome.principal else "staff.sign_in_failed",
                f"staff {name}",
                address=address,
            )
            if outcome.principal is None:
                return outcome, None
            return outcome, open_staff_session(db_session, outcome.principal.id, lifetime=lifetime)

        outcome, token = database().run(work)
        if isinstance(outcome, SignInThrottled):
            error = (
                _("Too many failed sign-ins from here.")
                + " "
                + _try_again(outcome.until, attempted_at)
            )
        elif outcome.principal is None:
            error = _("Wrong user name or password.")
            if outcome.retry_after is not None:
                error += " " + _try_again(outcome.retry_after, attempted_at)
        else:
            # A new session for the signed-in person: nothing of the anonymous one
            # (a planted session) carries over.
            session.clear()
            session.permanent = True
            login_user(StaffMember(outcome.principal, token))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("signin/sign_in.html", form=form, error=error), (401 if error else 200)


def _try_again(until: datetime, attempted_at: datetime) -> str:
    """When the next try may come, in words a person acts on ("in 20 seconds, at 14:05:10"),
    counted from the try (a slow answer does not make the wait look shorter than it was)."""
    wait = max(until - attempted_at, timedelta(seconds=1))
    return _(
        "Try again in %(wait)s (at %(time)s).",
        wait=format_timedelta(wait, threshold=1.5, add_direction=False),
        time=local(until, "%H:%M:%S"),
    )


@blueprint.post("/sign-out")
@signed_in
def sign_out():
    token = current_user.session_token
    database().run(lambda db_session: end_staff_session(db_session, token))
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("signin.sign_in"))


@blueprint.route("/profile", methods=["GET", "POST"])
@signed_in
def profile():
    form = ProfileForm(locale=current_user.principal.locale)
    if form.validate_on_submit():
        staff_id = current_user.principal.id
        try:
            database().run(
                lambda s: update_staff(
                    s,
                    staff_id,
                    actor=actor(),
                    locale=form.locale.data,
                    password=form.password.data or None,
                    address=client_address(),
                )
            )
        except WeakPassword as error:
            form.password.errors.append(weak_password_message(error))
        except InvalidInput as error:
            form.password.errors.append(str(error))
        else:
            if form.password.data:
                # The password change ended every session, this one too: sign in again.
                logout_user()
                session.clear()
                flash(_("Password changed. Please sign in with the new one."), "info")
                return redirect(url_for("signin.sign_in"))
            # Said in the language just chosen: the next page is in it.
            with force_locale(form.locale.data):
                flash(_("Saved."), "success")
            return redirect(url_for("signin.profile"))
    return _profile_page(form)


def _profile_page(form: ProfileForm, issued: dict | None = None):
    """The profile with the chats linked to this staff member (and, right after it was
    made, a one-time link: shown once, never stored)."""
    with database().transaction() as db_session:
        chats = [
            {
                "id": link.id,
                "platform": link.platform,
                "chat": link.chat_id,
                "since": link.created_at,
            }
            for link in links_of_staff(db_session, current_user.principal.id)
        ]
    settings = current_app.extensions["pulsa.settings"]
    # Only the chat apps whose bot runs here are offered (a code for a bot that is not
    # there would only puzzle).
    running = {"telegram": bool(settings.telegram_token), "line": settings.line_configured}
    return render_template(
        "signin/profile.html",
        form=form,
        chats=chats,
        issued=issued,
        platforms=CHAT_LABELS,
        offered={p: label for p, label in CHAT_LABELS.items() if running[p]},
    )


CHAT_LABELS = {"telegram": "Telegram", "line": "LINE"}


@blueprint.post("/profile/chat-link")
@signed_in
def chat_link():
    """A one-time token that links the chat it is sent from to this staff member
    (Telegram: a link opening the bot, or the /start command; LINE: a code to type)."""
    platform = request.form.get("platform", "")
    if platform not in CHAT_PLATFORMS:
        abort(400)
    staff_id = current_user.principal.id

    def issue(db_session):
        token, expires_at = issue_link_token(
            db_session, platform, actor=actor(), staff_id=staff_id, address=client_address()
        )
        # The bot notes its name when it starts: until then, the command to send.
        bot = bot_username(db_session, "telegram") if platform == "telegram" else None
        return {
            "platform": platform,
            "token": token,
            "expires_at": expires_at,
            "url": telegram_start_link(bot, token) if bot else None,
        }

    issued = database().run(issue)
    return _profile_page(ProfileForm(formdata=None, locale=current_user.principal.locale), issued)


@blueprint.post("/profile/chat-link/<int:link_id>/unlink")
@signed_in
def chat_unlink(link_id: int):
    """Unlink one of this staff member's own chats (another's is "not found")."""
    staff_id = current_user.principal.id

    def work(db_session) -> bool:
        link = db_session.get(ChatLink, link_id)
        if link is None or link.staff_id != staff_id:
            return False
        return unlink(db_session, link_id, actor=actor(), address=client_address())

    if not database().run(work):
        abort(404)
    flash(_("The chat is unlinked; it can no longer act for you."), "success")
    return redirect(url_for("signin.profile"))
