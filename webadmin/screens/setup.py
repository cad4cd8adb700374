"""First-run setup: what a new site must decide before it sells (operator name and logo;
country, which sets the country code of numbers, the currency, the time zone and the
language; whether an AMI listener runs, which sets the call mode; the bank accounts
customers pay into). Super admins see a banner on every page until they finish it or
skip it; both are stored in the database (site setting `setup`), and the screen stays
in the menu to be done again.

The choices are stored like the Settings screen's (wallet.site_settings): a value saved
here wins over the PULSA_* variable of the server, and the Settings screen can give the
call mode back to the environment.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from pulsa.countries import COUNTRIES, country, country_of
from wallet.errors import WalletError
from wallet.models import TariffPlan
from wallet.payments import BankAccount, save_bank_account, store_proof
from wallet.site_settings import save_site_config, wallets_in_other_currencies
from wallet.staff import update_staff
from wallet.tariffs import move_plans_to_zone
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import options
from webadmin.ui import site
from webcommon.forms import Form

blueprint = Blueprint("setup", __name__, url_prefix="/setup")
SCREEN = Screen(
    "setup",
    _l("Setup"),
    "setup.index",
    order=79,
    superuser_only=True,
    description=_l("First-run setup: country, calls, bank accounts"),
)

#: The countries as the form lists them (names translated), then "other".
COUNTRY_NAMES = {
    "ID": _l("Indonesia (WIB, Jakarta)"),
    "ID-WITA": _l("Indonesia (WITA, Makassar)"),
    "ID-WIT": _l("Indonesia (WIT, Jayapura)"),
    "MY": _l("Malaysia"),
    "SG": _l("Singapore"),
    "PH": _l("Philippines"),
    "TL": _l("Timor-Leste"),
}
OTHER = "other"
LANGUAGES = [("id", "Bahasa Indonesia"), ("en", "English")]
#: Bank accounts the form offers at once (more on the Bank accounts screen).
BANK_ROWS = 2


class SetupForm(Form):
    operator_name = StringField(_l("Operator name"), validators=[DataRequired(), Length(max=100)])
    logo = FileField(_l("Logo (PNG, JPEG or GIF)"))
    country = RadioField(
        _l("Country"),
        choices=[(key, COUNTRY_NAMES[key]) for key in COUNTRIES]
        + [(OTHER, _l("Another country (fill in the four fields below)"))],
        validators=[DataRequired(_l("Choose a country, or Another country."))],
    )
    country_code = StringField(_l("Country code of telephone numbers"), validators=[Optional()])
    currency = StringField(_l("Currency"), validators=[Optional()])
    timezone = StringField(_l("Time zone"), validators=[Optional()])
    language = SelectField(_l("Language"), choices=options(LANGUAGES))
    move_plans = BooleanField(
        _l("Put the tariff plans in this time zone too (their peak hours and holidays)"),
        default=True,
    )
    listener = RadioField(
        _l("Does an AMI listener follow the calls?"),
        choices=[
            (
                "no",
                _l(
                    "No (or not yet): static mode. Each call gets, before it starts, all the "
                    "time its credit pays for; send calls to [pulsa-outbound-static]."
                ),
            ),
            (
                "yes",
                _l(
                    "Yes, PULSA_AMI_SERVERS is set and `pulsa serve` or `pulsa ami` runs: "
                    "live mode. Calls are paid slice by slice and share a wallet fairly; "
                    "send calls to [pulsa-outbound]."
                ),
            ),
        ],
        validators=[DataRequired(_l("Say whether an AMI listener runs."))],
    )
    bank_name_1 = StringField(_l("Bank"), validators=[Optional(), Length(max=100)])
    account_number_1 = StringField(_l("Account number"), validators=[Optional(), Length(max=60)])
    holder_name_1 = StringField(_l("Account holder"), validators=[Optional(), Length(max=200)])
    bank_name_2 = StringField(_l("Bank"), validators=[Optional(), Length(max=100)])
    account_number_2 = StringField(_l("Account number"), validators=[Optional(), Length(max=60)])
    holder_name_2 = StringField(_l("Account holder"), validators=[Optional(), Length(max=200)])

    def bank_rows(self) -> list[tuple]:
        return [
            (self[f"bank_name_{n}"], self[f"account_number_{n}"], self[f"holder_name_{n}"])
            for n in range(1, BANK_ROWS + 1)
        ]


def _chosen(form: SetupForm) -> dict[str, str] | None:
    """The country's values (country code, currency, time zone, language), or None with
    the errors beside their fields."""
    preset = country(form.country.data or "")
    if preset is not None:
        return {
            "country_code": preset.country_code,
            "currency": preset.currency,
            "timezone": preset.timezone,
            "language": preset.language,
        }
    code = (form.country_code.data or "").strip().lstrip("+")
    currency = (form.currency.data or "").strip().upper()
    zone = (form.timezone.data or "").strip()
    if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 3):
        form.country_code.errors.append(_("One to three digits, e.g. 62 for Indonesia."))
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        form.currency.errors.append(_("A 3-letter code, e.g. IDR, MYR or USD."))
    if zone not in available_timezones():
        form.timezone.errors.append(_("Unknown time zone, e.g. Asia/Jakarta."))
    if form.country_code.errors or form.currency.errors or form.timezone.errors:
        return None
    return {
        "country_code": code,
        "currency": currency,
        "timezone": zone,
        "language": form.language.data,
    }


def _banks(form: SetupForm) -> list[tuple[str, str, str]] | None:
    """The bank accounts filled in (an empty row is left out; a half-filled one is an
    error beside its empty fields)."""
    banks, complete = [], True
    for row in form.bank_rows():
        values = [(f.data or "").strip() for f in row]
        if not any(values):
            continue
        for f, value in zip(row, values, strict=True):
            if not value:
                f.errors.append(_("Fill in the bank, the account number and the holder."))
                complete = False
        banks.append(tuple(values))
    return banks if complete else None


def _page(form: SetupForm, status: int = 200):
    settings = current_app.extensions["pulsa.settings"]
    with database().transaction() as session:
        banks = list(
            session.execute(
                select(BankAccount).order_by(BankAccount.position, BankAccount.id)
            ).scalars()
        )
        plans = ", ".join(
            f"{name} ({zone})"
            for name, zone in session.execute(
                select(TariffPlan.name, TariffPlan.timezone).order_by(TariffPlan.name)
            )
        )
        return (
            render_template(
                "setup/index.html",
                form=form,
                settings=settings,
                current=site(),
                banks=banks,
                plans=plans,
                countries=COUNTRIES,
            ),
            status,
        )


@blueprint.get("/")
@view
def index():
    current = site()
    settings = current_app.extensions["pulsa.settings"]
    form = SetupForm(formdata=None, operator_name=current.operator_name)
    preset = country_of(current.country_code, current.currency, current.timezone)
    if preset is not None:
        form.country.data = preset.key
    elif current.country_code:
        form.country.data = OTHER
        form.country_code.data = current.country_code
        form.currency.data = current.currency
        form.timezone.data = current.timezone
    form.language.data = current.language
    if current.setup:
        form.listener.data = "yes" if current.call_mode == "live" else "no"
    else:
        # The safe answer unless the server is set up to follow calls.
        form.listener.data = "yes" if settings.ami_servers.strip() else "no"
    return _page(form)


@blueprint.post("/")
@change
def save():
    form = SetupForm()
    if not form.validate():
        # Every field's error at once, not one round per mistake.
        if form.country.data == OTHER:
            _chosen(form)
        _banks(form)
        return _page(form, 400)
    chosen, banks = _chosen(form), _banks(form)
    if chosen is None or banks is None:
        return _page(form, 400)
    settings = current_app.extensions["pulsa.settings"]
    precision = settings.with_overrides(currency=chosen["currency"], display_precision=-1).precision
    values = {
        "operator_name": form.operator_name.data.strip(),
        **chosen,
        "display_precision": precision,
        "call_mode": "live" if form.listener.data == "yes" else "static",
        "setup": "done",
    }
    upload = form.logo.data
    if upload and getattr(upload, "filename", ""):
        try:
            values["logo_path"] = store_proof(
                Path(current_app.config["UPLOAD_FOLDER"]), upload.read(), what="logo"
            )
        except WalletError as error:
            form.logo.errors.append(str(error))
            return _page(form, 400)
    me, address = actor(), client_address()
    user_id = current_user.principal.id

    def work(session) -> tuple[int, list[str]]:
        others = wallets_in_other_currencies(session, chosen["currency"])
        if others:
            return others, []
        save_site_config(session, settings, values, actor=me, address=address, pin=True)
        for bank_name, number, holder in banks:
            save_bank_account(
                session,
                actor=me,
                bank_name=bank_name,
                account_number=number,
                holder_name=holder,
                address=address,
            )
        # The one who sets the site up reads it in the language chosen for it.
        update_staff(session, user_id, actor=me, locale=chosen["language"], address=address)
        moved = []
        if form.move_plans.data:
            moved = move_plans_to_zone(session, chosen["timezone"], actor=me, address=address)
        return 0, moved

    try:
        others, moved = database().run(work)
    except WalletError as error:
        form.operator_name.errors.append(str(error))
        return _page(form, 400)
    if others:
        form.country.errors.append(
            _(
                "%(count)s wallets are in %(currency)s already: the currency of a site "
                "cannot change once customers have money in it.",
                count=others,
                currency=site().currency,
            )
        )
        return _page(form, 400)
    # Said in the language just chosen, which the next page is in.
    with force_locale(chosen["language"]):
        flash(
            _("The setup is saved. You can change each choice on the Settings screen."),
            "success",
        )
        if moved:
            flash(
                _(
                    "Tariff plans now in %(zone)s: %(plans)s.",
                    zone=chosen["timezone"],
                    plans=", ".join(moved),
                ),
                "info",
            )
    return redirect(url_for("dashboard.index"))


@blueprint.post("/skip")
@change
def skip():
    settings = current_app.extensions["pulsa.settings"]
    me, address = actor(), client_address()
    database().run(
        lambda session: save_site_config(
            session, settings, {"setup": "skipped"}, actor=me, address=address
        )
    )
    flash(_("The setup is skipped. It stays under Setup in the menu."), "info")
    return redirect(url_for("dashboard.index"))
