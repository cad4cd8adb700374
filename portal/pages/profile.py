"""Profile: the customer's name, phone and e-mail, language and password; their SIP
identities and hotspot logins (read only); their chat apps: "Connect Telegram" (a
one-time token, then Telegram opens the bot with `/start <token>`), "Connect LINE" (a
short code to send to the LINE account), and the chats linked, each disconnected here."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from messaging.chats import (
    bot_username,
    issue_link_token,
    line_friend_link,
    links_of_customer,
    telegram_start_link,
    unlink,
)
from messaging.models import ChatLink
from messaging.notifications import KINDS, enabled_kinds, kind_label, save_choices
from portal.access import (
    MenuEntry,
    actor,
    client_address,
    customer,
    me,
    mine,
    run_as_me,
    settings,
)
from portal.pages.signin import PASSWORD_RULE, start_session
from portal.passwords import weak_password_message
from portal.ui import reader_locale
from wallet.backoffice import update_customer
from wallet.customer_access import change_password, set_locale
from wallet.errors import InvalidInput
from wallet.models import SipIdentity
from wallet.passwords import WeakPassword
from webcommon.forms import Form

blueprint = Blueprint("profile", __name__, url_prefix="/profile")
MENU = MenuEntry(90, _l("Profile"), "profile.index")
LANGUAGES = [SelectChoice("en", "English"), SelectChoice("id", "Bahasa Indonesia")]


class DetailsForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    phone = TelField(_l("Phone number"), validators=[Optional(), Length(max=40)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Length(max=200)])


class LanguageForm(Form):
    locale = SelectField(_l("Language"), choices=LANGUAGES)


LOGIN_STATUSES = {
    "active": _l("active"),
    "pending": _l("waiting for the payment"),
    "disabled": _l("switched off"),
    "void": _l("withdrawn"),
}


class PasswordForm(Form):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), PASSWORD_RULE])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
    )


def _field_name(kind: str) -> str:
    return "notify_" + kind.replace("-", "_")


def notifications_form(enabled: set[str] | None = None):
    """A checkbox per kind of notification (labelled in the page's language from
    messaging's catalogue); `enabled` fills it, None reads the request."""

    class NotificationsForm(Form):
        pass

    locale = str(get_locale() or "en")
    for kind in KINDS:
        setattr(NotificationsForm, _field_name(kind), BooleanField(kind_label(kind, locale)))
    if enabled is None:
        return NotificationsForm()
    return NotificationsForm(
        formdata=None, data={_field_name(kind): kind in enabled for kind in KINDS}
    )


def _page(
    details=None,
    language=None,
    password=None,
    status: int = 200,
    line_code=None,
    notifications=None,
):
    with mine() as my:
        person = my.customer()
        details = details or DetailsForm(
            formdata=None, name=person.name, phone=person.phone, email=person.email
        )
        # The language the page is in when none was chosen yet (the browser's).
        shown = me().locale or str(reader_locale().language)
        language = language or LanguageForm(formdata=None, locale=shown)
        password = password or PasswordForm(formdata=None)
        notifications = notifications or notifications_form(
            enabled_kinds(my.session, my.customer_id)
        )
        identities = list(
            my.session.execute(
                select(SipIdentity)
                .where(SipIdentity.account_id == my.account_id)
                .order_by(SipIdentity.kind, SipIdentity.value)
            ).scalars()
        )
        return render_template(
            "profile/index.html",
            details=details,
            language=language,
            password=password,
            notifications=notifications,
            notification_fields=[_field_name(kind) for kind in KINDS],
            customer_number=person.id,
            identities=identities,
            logins=my.logins(),
            chats=links_of_customer(my.session, my.customer_id),
            telegram_bot=bot_username(my.session, "telegram"),
            line_on=settings().line_configured,
            # Shown as the chat takes it best: ABCD-EF23 (bots.line reads it with the dash).
            line_code=f"{line_code[:4]}-{line_code[4:]}" if line_code else None,
            line_account=_line_account(my.session),
            login_statuses=LOGIN_STATUSES,
        ), status


def _line_account(session) -> str | None:
    """The link that opens the operator's LINE account (known once its webhook started)."""
    if not settings().line_configured:
        return None
    name = bot_username(session, "line")
    return line_friend_link(name) if name else None


@blueprint.post("/chats/telegram")
@customer
def connect_telegram():
    """A one-time token, and off to Telegram: the bot receives `/start <token>` and links
    the chat the customer opens it in."""

    def work(my):
        name = bot_username(my.session, "telegram")
        if name is None:
            return None
        token, _expires = issue_link_token(
            my.session,
            "telegram",
            actor=actor(),
            customer_id=my.customer_id,
            address=client_address(),
        )
        return telegram_start_link(name, token)

    link = run_as_me(work)
    if link is None:
        flash(_("The Telegram bot is not running yet. Try again later."), "error")
        return redirect(url_for("profile.index"))
    return redirect(link, code=303)


@blueprint.post("/chats/line")
@customer
def connect_line():
    """A short one-time code the customer sends to the operator's LINE account."""
    if not settings().line_configured:
        abort(404)
    code, _expires = run_as_me(
        lambda my: issue_link_token(
            my.session,
            "line",
            actor=actor(),
            customer_id=my.customer_id,
            address=client_address(),
        )
    )
    return _page(line_code=code)


@blueprint.post("/chats/<int:link_id>/disconnect")
@customer
def disconnect(link_id: int):
    address = client_address()

    def work(my):
        link = my.session.get(ChatLink, link_id)
        if link is None or link.customer_id != my.customer_id:
            abort(404)  # someone else's chat is "not found", like one that never was
        return unlink(my.session, link.id, actor=actor(), address=address)

    run_as_me(work)
    flash(_("Disconnected: that chat no longer reaches your account."), "success")
    return redirect(url_for("profile.index"))


@blueprint.get("/")
@customer
def index():
    return _page()


@blueprint.post("/details")
@customer
def details():
    form = DetailsForm()
    if not form.validate_on_submit():
        return _page(details=form, status=400)
    address = client_address()
    try:
        run_as_me(
            lambda my: update_customer(
                my.session,
                my.customer_id,
                actor=actor(),
                name=form.name.data,
                phone=form.phone.data,
                email=form.email.data,
                address=address,
            )
        )
    except InvalidInput as error:
        text = str(error)
        target = form.phone if "phone" in text else form.email if "e-mail" in text else form.name
        target.errors.append(
            _("Not a phone number.")
            if target is form.phone
            else _("Not an e-mail address.")
            if target is form.email
            else _("Not a name (at most 200 characters, no control characters).")
        )
        return _page(details=form, status=400)
    flash(_("Saved."), "success")
    return redirect(url_for("profile.index"))


@blueprint.post("/language")
@customer
def language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return _page(language=form, status=400)
    chosen = form.locale.data
    run_as_me(lambda my: set_locale(my.session, my.customer_id, chosen))
    # Said in the language just chosen: the next page is in it.
    with force_locale(chosen):
        flash(_("Saved."), "success")
    return redirect(url_for("profile.index"))


@blueprint.post("/notifications")
@customer
def notifications():
    form = notifications_form()
    if not form.validate_on_submit():
        return _page(notifications=form, status=400)
    chosen = {kind for kind in KINDS if form[_field_name(kind)].data}
    run_as_me(lambda my: save_choices(my.session, my.customer_id, chosen))
    flash(_("Saved."), "success")
    return redirect(url_for("profile.index"))


@blueprint.post("/password")
@customer
def password():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(password=form, status=400)
    address = client_address()
    try:
        principal = run_as_me(
            lambda my: change_password(
                my.session, my.customer_id, form.current.data, form.password.data, address=address
            )
        )
    except WeakPassword as error:
        form.password.errors.append(weak_password_message(error))
        return _page(password=form, status=400)
    except InvalidInput:
        form.current.errors.append(_("The current password is wrong."))
        return _page(password=form, status=400)
    # Every session ended with the change, this one too: this browser gets a new one.
    assert current_user.is_authenticated
    start_session(principal)
    flash(_("Password changed. Other devices are signed out."), "success")
    return redirect(url_for("profile.index"))
