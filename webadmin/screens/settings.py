"""Settings: the operator's name, logo and sign-in banner; display precision and time
zone; call slice length and mode; the low-balance threshold. Stored in the database
(wallet.site_settings), audited, effective on the next page. The call slice and mode,
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
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from wallet.errors import WalletError
from wallet.payments import proof_file, store_proof
from wallet.site_settings import REFRESH_SECONDS, save_site_config, stored_keys
from webadmin.access import Screen, actor, client_address, database, public, view
from webadmin.forms import Form, MoneyField, options
from webadmin.ui import site

blueprint = Blueprint("settings", __name__, url_prefix="/settings")
SCREEN = Screen(
    "settings",
    _l("Settings"),
    "settings.index",
    order=80,
    description=_l("Operator name, logo, banner, display, time zone, calls, thresholds"),
)


class SettingsForm(Form):
    operator_name = StringField(_l("Operator name"), validators=[DataRequired(), Length(max=100)])
    logo = FileField(_l("Logo (PNG, JPEG or GIF)"))
    sign_in_banner = TextAreaField(
        _l("Banner on the sign-in page"), validators=[Optional(), Length(max=500)]
    )
    display_precision = IntegerField(_l("Decimals shown"), validators=[NumberRange(min=0, max=6)])
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    call_slice_seconds = IntegerField(
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
            value=getattr(settings, name),
        )


@blueprint.route("/", methods=["GET", "POST"])
@view
def index():
    current = site()
    settings = current_app.extensions["pulsa.settings"]
    with database().transaction() as session:
        stored = stored_keys(session)
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
    )


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
