"""Tariffs: plans, rates, time bands and holidays; CSV import with a preview and
line-numbered errors, CSV export; and a calculator for "this customer calls this number
now: which rate, how long can it last, what does a 3-minute call cost"."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from rating import CallPricing, RatingError, charged_seconds
from rating.bands import parse_clock, parse_days
from rating.numbers import NotANumber, normalize_number
from rating.tariff_csv import TariffFileError, read_rates_csv
from wallet.backoffice import (
    staff_add_band,
    staff_add_holiday,
    staff_create_plan,
    staff_import_rates,
)
from wallet.errors import WalletError
from wallet.models import Account, Customer, HolidayRow, RateRow, TariffPlan, TimeBandRow
from wallet.tariffs import export_rates, load_tariff
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import DayField, WholeNumberField, options
from webadmin.ui import FIRST_DAY, LAST_DAY, paginate, site
from webadmin.ui import settings as settings_in_effect
from webcommon.forms import Form

blueprint = Blueprint("tariffs", __name__, url_prefix="/tariffs")
SCREEN = Screen(
    "tariffs",
    _l("Tariffs"),
    "tariffs.index",
    order=40,
    description=_l("Tariff plans, rates, time bands, holidays, import and export"),
)
PREVIEW_ROWS = 50
MAX_CSV_BYTES = 2 * 1024 * 1024


def _readable(parse, field) -> None:
    """A field the tariff parser must read, its complaint shown beside the field."""
    try:
        parse((field.data or "").strip())
    except ValueError as error:
        raise ValidationError(str(error)) from None


class PlanForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])

    def validate_timezone(self, field) -> None:
        if field.data.strip() not in available_timezones():
            raise ValidationError(_("Unknown time zone, e.g. Asia/Jakarta."))


class BandForm(Form):
    name = StringField(_l("Band"), validators=[DataRequired(), Length(max=40)])
    days = StringField(_l("Days"), validators=[DataRequired(), Length(max=40)])
    start = StringField(_l("From"), validators=[DataRequired(), Length(max=5)])
    end = StringField(_l("To"), validators=[DataRequired(), Length(max=5)])

    def validate_days(self, field) -> None:
        _readable(parse_days, field)

    def validate_start(self, field) -> None:
        _readable(parse_clock, field)

    def validate_end(self, field) -> None:
        _readable(parse_clock, field)


class HolidayForm(Form):
    day = DayField(_l("Date"), validators=[DataRequired(message=_l("Enter a date."))])
    band = SelectField(_l("Priced as band"), choices=[])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)])


class ImportForm(Form):
    file = FileField(_l("CSV file"))
    text = TextAreaField(_l("…or paste the CSV here"), validators=[Optional()])
    mode = SelectField(
        _l("Mode"),
        choices=options(
            [
                ("replace", _l("Replace all rates of the plan")),
                ("merge", _l("Add and update rates, keep the others")),
            ]
        ),
    )


class CalculatorForm(Form):
    class Meta:
        csrf = False  # a GET form that changes nothing

    account = WholeNumberField(_l("Account number"), validators=[Optional(), NumberRange(min=1)])
    plan = SelectField(_l("Tariff plan"), choices=[])
    number = StringField(_l("Number dialled"), validators=[DataRequired(), Length(max=40)])
    when = StringField(_l("When (empty: now)"), validators=[Optional(), Length(max=16)])
    duration = WholeNumberField(
        _l("Call length in seconds"), default=180, validators=[Optional(), NumberRange(0, 86400)]
    )


def _plan(session, plan_id: int) -> TariffPlan:
    plan = session.get(TariffPlan, plan_id)
    if plan is None:
        abort(404)
    return plan


def _field_for(form: Form, message: str, fields: tuple[tuple[str, str], ...], default):
    """The field a service's refusal is about (by a word of its message), so that the
    message shows beside it."""
    text = message.lower()
    for word, name in fields:
        if word in text:
            return getattr(form, name)
    return default


def _index_page(form: PlanForm):
    with database().transaction() as session:
        counts = dict(
            session.execute(
                select(RateRow.plan_id, func.count(RateRow.id)).group_by(RateRow.plan_id)
            ).all()
        )
        plans = paginate(
            session, select(TariffPlan).order_by(TariffPlan.name), path=url_for("tariffs.index")
        )
        return render_template(
            "tariffs/index.html", plans=plans.items, page=plans, counts=counts, form=form
        )


@blueprint.get("/")
@view
def index():
    return _index_page(PlanForm(timezone=site().timezone))


@blueprint.post("/new")
@change
def create_plan():
    form = PlanForm()
    if form.validate_on_submit():
        try:
            plan_id = database().run(
                lambda s: (
                    staff_create_plan(
                        s,
                        form.name.data,
                        form.timezone.data.strip(),
                        actor=actor(),
                        address=client_address(),
                    ).id
                )
            )
        except WalletError as error:
            field = _field_for(form, str(error), (("zone", "timezone"),), form.name)
            field.errors.append(str(error))
        else:
            flash(_("Plan created. Add bands, then import its rates."), "success")
            return redirect(url_for("tariffs.plan", plan_id=plan_id))
    return _index_page(form)


def _plan_page(
    plan_id: int, *, band_form: BandForm | None = None, holiday_form: HolidayForm | None = None
):
    """The plan's page; a form given (submitted, with its errors) is shown as sent, the
    other one empty."""
    prefix = request.args.get("prefix", "").strip()
    here = url_for("tariffs.plan", plan_id=plan_id)
    with database().transaction() as session:
        plan = _plan(session, plan_id)
        statement = (
            select(RateRow).where(RateRow.plan_id == plan.id).order_by(RateRow.prefix, RateRow.band)
        )
        if prefix.isascii() and prefix.isdigit():
            statement = statement.where(RateRow.prefix.startswith(prefix))
        rates = paginate(session, statement, per_page=50, path=here)
        bands = paginate(
            session,
            select(TimeBandRow)
            .where(TimeBandRow.plan_id == plan.id)
            .order_by(TimeBandRow.position),
            arg="bands_page",
            path=here,
        )
        holidays = paginate(
            session,
            select(HolidayRow).where(HolidayRow.plan_id == plan.id).order_by(HolidayRow.day),
            arg="holidays_page",
            path=here,
        )
        band_names = _band_names(session, plan.id)
        # formdata=None: the other form must not pick up the fields just posted.
        band_form = band_form or BandForm(formdata=None)
        holiday_form = holiday_form or HolidayForm(formdata=None)
        holiday_form.band.choices = options((name, name) for name in band_names)
        return render_template(
            "tariffs/plan.html",
            plan=plan,
            rates=rates,
            bands=bands,
            holidays=holidays,
            has_bands=bool(band_names),
            band_form=band_form,
            holiday_form=holiday_form,
            no_country_code=_national_numbers_unrated(session, plan.id),
        )


def _national_numbers_unrated(session, plan_id: int) -> bool:
    """Whether a national number (0812...) would find only the catch-all here: no
    PULSA_COUNTRY_CODE to make it international, and prefixes written internationally."""
    settings = settings_in_effect()
    trunk = settings.trunk_prefix
    if settings.country_code or not trunk:
        return False
    prefixes = session.execute(
        select(RateRow.prefix).where(RateRow.plan_id == plan_id, RateRow.prefix != "")
    ).scalars()
    found = [prefix for prefix in prefixes]
    return bool(found) and not any(prefix.startswith(trunk) for prefix in found)


def _band_names(session, plan_id: int) -> list[str]:
    return list(
        session.execute(
            select(TimeBandRow.name)
            .where(TimeBandRow.plan_id == plan_id)
            .order_by(TimeBandRow.position)
        ).scalars()
    )


@blueprint.get("/<int:plan_id>")
@view
def plan(plan_id: int):
    return _plan_page(plan_id)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


blueprint.add_app_template_filter(_clock, "clock")


@blueprint.post("/<int:plan_id>/bands")
@change
def add_band(plan_id: int):
    form = BandForm()
    with database().transaction() as session:
        name = _plan(session, plan_id).name
    if form.validate_on_submit():
        try:
            database().run(
                lambda s: staff_add_band(
                    s,
                    name,
                    form.name.data,
                    form.days.data,
                    form.start.data,
                    form.end.data,
                    actor=actor(),
                    address=client_address(),
                )
            )
        except WalletError as error:
            fields = (("day", "days"), ("time", "start"))
            _field_for(form, str(error), fields, form.name).errors.append(str(error))
        else:
            flash(_("Band saved."), "success")
            return redirect(url_for("tariffs.plan", plan_id=plan_id))
    return _plan_page(plan_id, band_form=form)


@blueprint.post("/<int:plan_id>/holidays")
@change
def add_holiday(plan_id: int):
    with database().transaction() as session:
        plan = _plan(session, plan_id)
        bands = _band_names(session, plan.id)
    form = HolidayForm()
    form.band.choices = options((b, b) for b in bands)
    if form.validate_on_submit():
        try:
            database().run(
                lambda s: staff_add_holiday(
                    s,
                    plan.name,
                    form.day.data,
                    form.band.data,
                    form.name.data or "",
                    actor=actor(),
                    address=client_address(),
                )
            )
        except WalletError as error:
            form.band.errors.append(str(error))
        else:
            flash(_("Holiday saved."), "success")
            return redirect(url_for("tariffs.plan", plan_id=plan_id))
    return _plan_page(plan_id, holiday_form=form)


@blueprint.route("/<int:plan_id>/import", methods=["GET", "POST"])
@change
def import_csv(plan_id: int):
    """Two steps: the file is checked and previewed; a second submit (carrying the same
    text) imports it, all or nothing."""
    with database().transaction() as session:
        plan = _plan(session, plan_id)
    form = ImportForm()
    errors: list[str] = []
    preview = None
    text = ""
    if form.validate_on_submit():
        upload = form.file.data
        if upload and upload.filename:
            raw = upload.read(MAX_CSV_BYTES + 1)
            if len(raw) > MAX_CSV_BYTES:
                errors = [_("The file is larger than 2 MB.")]
            else:
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    errors = [_("The file is not UTF-8 text.")]
        else:
            text = form.text.data or ""
        if not errors and not text.strip():
            errors = [_("Choose a file or paste the rates.")]
        if not errors:
            try:
                rates = read_rates_csv(text, precision=site().display_precision)
            except TariffFileError as error:
                errors = error.errors
            else:
                if request.form.get("confirm") == "1":
                    try:
                        count = database().run(
                            lambda s: staff_import_rates(
                                s,
                                plan.name,
                                text,
                                replace=form.mode.data == "replace",
                                actor=actor(),
                                address=client_address(),
                                precision=site().display_precision,
                            )
                        )
                    except (WalletError, TariffFileError) as error:
                        errors = getattr(error, "errors", None) or [str(error)]
                    else:
                        flash(
                            ngettext("%(num)s rate imported.", "%(num)s rates imported.", count),
                            "success",
                        )
                        return redirect(url_for("tariffs.plan", plan_id=plan_id))
                else:
                    preview = rates
    return render_template(
        "tariffs/import.html",
        plan=plan,
        form=form,
        errors=errors,
        preview=preview[:PREVIEW_ROWS] if preview else None,
        total=len(preview) if preview else 0,
        text=text,
    )


@blueprint.get("/<int:plan_id>/export")
@view
def export_csv(plan_id: int):
    with database().transaction() as session:
        plan = _plan(session, plan_id)
        text = export_rates(session, plan.name)
    response = Response(text, mimetype="text/csv")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in plan.name)
    response.headers["Content-Disposition"] = f'attachment; filename="tariff-{safe}.csv"'
    return response


@blueprint.get("/calculator")
@view
def calculator():
    form = CalculatorForm(request.args)
    result = None
    error = None
    with database().transaction() as session:
        plans = session.execute(select(TariffPlan).order_by(TariffPlan.name)).scalars().all()
        form.plan.choices = options(
            [("", _("(the customer's plan)"))] + [(str(p.id), p.name) for p in plans]
        )
        if request.args.get("number") and form.validate():
            try:
                result = _calculate(session, form)
            except (ValueError, RatingError, WalletError) as failure:
                error = str(failure)
        return render_template("tariffs/calculator.html", form=form, result=result, error=error)


def _normalize(typed: str) -> str:
    """The number as the AGI rates it (`rating.numbers`): separators, the outbound prefix
    and `+`/`00` dropped and, when PULSA_COUNTRY_CODE is set, a national number (0812...)
    made international (62812...)."""
    settings = settings_in_effect()
    try:
        return normalize_number(
            typed,
            outbound_prefix=settings.outbound_prefix,
            country_code=settings.country_code,
            trunk_prefix=settings.trunk_prefix,
        )
    except NotANumber:
        raise ValueError(_("A number has digits (and may start with + or 00).")) from None


def _number_notes(typed: str, number: str, pricing) -> list[str]:
    """What the calculator tells about the number: how it was rewritten, and a warning
    when only the catch-all rate matched it."""
    settings = settings_in_effect()
    notes = []
    if typed.strip() != number:
        notes.append(_("Rated as %(number)s (typed %(typed)s).", number=number, typed=typed))
    if pricing is not None and not pricing.rate.prefix:
        if (
            not settings.country_code
            and settings.trunk_prefix
            and number.startswith(settings.trunk_prefix)
        ):
            notes.append(
                _(
                    "Only the catch-all rate (*) matched. This looks like a national number: "
                    "choose the country on the Setup screen (or set PULSA_COUNTRY_CODE, 62 "
                    "for Indonesia) so that 0812… is rated as 62812…, like the prefixes of "
                    "the tariff."
                )
            )
        else:
            notes.append(
                _(
                    "Only the catch-all rate (*) matched: %(number)s starts with none of "
                    "the prefixes of this plan. Check the number, or add a rate for it.",
                    number=number,
                )
            )
    return notes


def _calculate(session, form: CalculatorForm) -> dict:
    account = customer = None
    if form.account.data:
        account = session.get(Account, form.account.data)
        if account is None:
            raise ValueError(_("Account %(id)s does not exist.", id=form.account.data))
        customer = session.get(Customer, account.customer_id)
    if form.plan.data:
        plan = session.get(TariffPlan, int(form.plan.data))
    elif account is not None and account.tariff_plan_id:
        plan = session.get(TariffPlan, account.tariff_plan_id)
    else:
        from flask import current_app

        default = current_app.extensions["pulsa.settings"].default_tariff_plan
        plan = session.execute(
            select(TariffPlan).where(TariffPlan.name == default)
        ).scalar_one_or_none()
    if plan is None:
        raise ValueError(_("Choose a tariff plan."))
    number = _normalize(form.number.data)
    # The plan's bands are in the plan's time zone: so is the time typed and shown.
    plan_zone = ZoneInfo(plan.timezone)
    if form.when.data:
        moment = datetime.fromisoformat(form.when.data).replace(tzinfo=plan_zone)
        if not FIRST_DAY <= moment.date() <= LAST_DAY:
            raise ValueError(
                _(
                    "Enter a day between %(first)s and %(last)s as YYYY-MM-DD.",
                    first=FIRST_DAY.isoformat(),
                    last=LAST_DAY.isoformat(),
                )
            )
    else:
        moment = datetime.now(UTC)
    tariff = load_tariff(session, plan.id)
    pricing = CallPricing.for_call(tariff, number, moment)
    duration = form.duration.data if form.duration.data is not None else 180
    result = {
        "plan": plan.name,
        "number": number,
        "notes": _number_notes(form.number.data, number, pricing),
        "moment": moment.astimezone(plan_zone).strftime("%Y-%m-%d %H:%M"),
        "zone": plan.timezone,
        "pricing": pricing,
        "account": account,
        "customer": customer,
        "duration": duration,
    }
    if pricing is not None:
        result["cost"] = pricing.cost(duration)
        result["charged"] = charged_seconds(pricing.rate, duration)
        result["cost_3min"] = pricing.cost(180)
        if account is not None:
            result["max_seconds"] = pricing.max_duration(max(account.available, 0))
    return result
