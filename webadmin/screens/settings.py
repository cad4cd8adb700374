"""Settings: the operator's name, logo and sign-in banner; display precision and time
zone; call slice length and mode; the low-balance threshold; when an internet package's
validity starts. Stored in the database
(wallet.site_settings), audited, effective on the next page. Super admins remove the
demo data here (wallet.demo). The call slice and mode,
once saved, can be given back to the environment (PULSA_CALL_SLICE_SECONDS,
PULSA_CALL_MODE): their stored value is then deleted."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from wallet.demo import loaded_batch, preview_removal, remove_demo
from wallet.errors import WalletError
from wallet.payments import proof_file, store_proof
from wallet.site_settings import REFRESH_SECONDS, save_site_config, stored_keys
from webadmin.access import Screen, actor, change, client_address, database, public, view
from webadmin.forms import MoneyField, WholeNumberField, options
from webadmin.ui import site
from webcommon.forms import Form

blueprint = Blueprint("settings", __name__, url_prefix="/settings")
SCREEN = Screen(
    "settings",
    _l("Settings"),
    "settings.index",
    order=80,
    description=_l("Operator name, logo, banner, display, time zone, calls, thresholds"),
)


#: When an internet package's validity starts (wallet.internet.START_MODES), in words.
START_LABELS = {
    "router": _l("when a router first holds it"),
    "first_login": _l("at the customer's first login"),
}


class SettingsForm(Form):
    operator_name = StringField(_l("Operator name"), validators=[DataRequired(), Length(max=100)])
    logo = FileField(_l("Logo (PNG, JPEG or GIF)"))
    sign_in_banner = TextAreaField(
        _l("Banner on the sign-in page"), validators=[Optional(), Length(max=500)]
    )
    display_precision = WholeNumberField(
        _l("Decimals shown"), validators=[NumberRange(min=0, max=6)]
    )
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    call_slice_seconds = WholeNumberField(
        _l("Call slice (seconds)"), validators=[NumberRange(min=10, max=3600)]
    )
    call_mode = SelectField(
        _l("Call mode"),
        choices=options(
            [
                ("live", _l("live: the AMI listener extends each call slice by slice")),
                ("static", _l("static: the first hold pays the whole call (no listener)")),
            ]
        ),
    )
    low_balance_threshold = MoneyField(_l("Low-balance threshold"), allow_zero=True)
    internet_start = SelectField(
        _l("An internet package's validity starts"),
        choices=options(list(START_LABELS.items())),
    )
    # Shown beside a setting only while a stored value overrides the environment's.
    call_slice_seconds_from_environment = BooleanField()
    call_mode_from_environment = BooleanField()

    def validate(self, extra_validators=None) -> bool:
        if super().validate(extra_validators):
            return True
        # A setting given back to the environment is not saved, so what its field holds
        # does not matter.
        for name in FROM_ENVIRONMENT:
            if self[f"{name}_from_environment"].data:
                self[name].errors = []
        return not any(field.errors for field in self)


#: The settings the screen can give back to the environment, and the variable that then
#: applies.
FROM_ENVIRONMENT = {
    "call_slice_seconds": "PULSA_CALL_SLICE_SECONDS",
    "call_mode": "PULSA_CALL_MODE",
}


def _label_from_environment(form: SettingsForm, settings) -> None:
    for name, variable in FROM_ENVIRONMENT.items():
        form[f"{name}_from_environment"].label.text = _(
            "Use the server's setting instead (%(variable)s: %(value)s)",
            variable=variable,
            value=_environment_value(settings, name),
        )


def _environment_value(settings, name: str) -> str:
    if name == "call_mode" and settings.call_mode == "auto":
        # auto says nothing by itself: say what it comes to on this server.
        return f"auto, {settings.call_mode_in_effect}"
    return str(getattr(settings, name))


@blueprint.route("/", methods=["GET", "POST"])
@view
def index():
    current = site()
    settings = current_app.extensions["pulsa.settings"]
    with database().transaction() as session:
        stored = stored_keys(session)
        demo_loaded = current_user.is_superuser and loaded_batch(session) is not None
    form = SettingsForm(obj=current)
    _label_from_environment(form, settings)
    if form.validate_on_submit():
        if form.timezone.data not in available_timezones():
            form.timezone.errors.append(_("Unknown time zone, e.g. Asia/Jakarta."))
        else:
            values = {
                "operator_name": form.operator_name.data.strip(),
                "sign_in_banner": (form.sign_in_banner.data or "").strip(),
                "display_precision": form.display_precision.data,
                "timezone": form.timezone.data,
                "call_slice_seconds": form.call_slice_seconds.data,
                "call_mode": form.call_mode.data,
                "low_balance_threshold": form.low_balance_threshold.data or 0,
                "internet_start": form.internet_start.data,
            }
            back = [name for name in FROM_ENVIRONMENT if form[f"{name}_from_environment"].data]
            try:
                upload = form.logo.data
                if upload and getattr(upload, "filename", ""):
                    folder = Path(current_app.config["UPLOAD_FOLDER"])
                    values["logo_path"] = store_proof(folder, upload.read())
                database().run(
                    lambda s: save_site_config(
                        s,
                        settings,
                        values,
                        actor=actor(),
                        address=client_address(),
                        from_environment=back,
                    )
                )
            except WalletError as error:
                form.logo.errors.append(str(error))
            else:
                flash(_("Settings saved."), "success")
                return redirect(url_for("settings.index"))
    return render_template(
        "settings/index.html",
        form=form,
        settings=settings,
        stored=stored,
        variables=FROM_ENVIRONMENT,
        upload_folder=current_app.config["UPLOAD_FOLDER"],
        refresh_seconds=f"{REFRESH_SECONDS:g}",
        demo_loaded=demo_loaded,
    )


#: How the tables the demo's removal deletes from are called on the confirmation page;
#: a table added later shows under its own name.
DEMO_TABLE_LABELS = {
    "customers": _l("Customers"),
    "accounts": _l("Wallets"),
    "ledger_entries": _l("Ledger entries"),
    "holds": _l("Holds"),
    "calls": _l("Calls"),
    "call_records": _l("Call records"),
    "call_hangup_requests": _l("Hang-up requests"),
    "sip_identities": _l("Caller IDs, SIP peers and account codes"),
    "hotspot_logins": _l("Internet logins"),
    "internet_subscriptions": _l("Internet packages bought"),
    "internet_extensions": _l("Extensions of internet packages"),
    "vouchers": _l("Vouchers"),
    "payment_requests": _l("Payment requests"),
    "tariff_plans": _l("Tariff plans"),
    "time_bands": _l("Time bands"),
    "holidays": _l("Holidays"),
    "rates": _l("Rates"),
}


def _superuser_only() -> None:
    if not current_user.is_superuser:
        abort(403)


@blueprint.get("/demo")
@view
def demo():
    """What removing the demo deletes, and the button that does it."""
    _superuser_only()
    with database().transaction() as session:
        removal = preview_removal(session)
    if removal is None:
        flash(_("No demo data is loaded."), "info")
        return redirect(url_for("settings.index"))
    rows = [
        (str(DEMO_TABLE_LABELS.get(name, name)), count)
        for name, count in sorted(removal.rows.items())
    ]
    return render_template("settings/demo.html", rows=rows, kept_plans=removal.kept_plans)


@blueprint.post("/demo/remove")
@change
def remove_demo_data():
    _superuser_only()
    try:
        removal = database().run(
            lambda session: remove_demo(session, actor=actor(), address=client_address())
        )
    except WalletError:
        flash(_("No demo data is loaded."), "info")
        return redirect(url_for("settings.index"))
    flash(
        ngettext(
            "The demo data is removed (%(num)s row).",
            "The demo data is removed (%(num)s rows).",
            removal.total,
        ),
        "success",
    )
    for plan in removal.kept_plans:
        flash(
            _(
                "The tariff plan %(plan)s stays: your customers or rates use it. "
                "Its demo rates are gone: import your own.",
                plan=plan,
            ),
            "info",
        )
    return redirect(url_for("settings.index"))


@blueprint.get("/logo")
@public  # shown on the sign-in page, before anyone signs in
def logo():
    relative = site().logo_path
    if not relative:
        abort(404)
    try:
        path = proof_file(Path(current_app.config["UPLOAD_FOLDER"]), relative)
    except WalletError:
        abort(404)
    return send_file(path, max_age=300)
