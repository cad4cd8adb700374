"""Internet packages: what customers buy. Price, validity, time and data quotas, speed
with burst, devices at once, and the routers that sell it (each package is a RouterOS
hotspot user profile that the reconciler keeps on those routers)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from hotspot.backoffice import (
    RateLimitParts,
    format_data_quota,
    format_time_quota,
    join_rate_limit,
    parse_data_quota,
    parse_time_quota,
    staff_create_package,
    staff_update_package,
)
from hotspot.routers import list_routers
from wallet.errors import WalletError
from wallet.hotspot_models import InternetPackage, Subscription
from wallet.internet import VALIDITY_UNITS
from wallet.ledger import utcnow
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import MoneyField, WholeNumberField, options
from webadmin.hotspot_ui import UNIT_LABELS, install, speeds
from webadmin.ui import paginate
from webcommon.forms import Form

blueprint = Blueprint("packages", __name__, url_prefix="/packages")
blueprint.record_once(install)
SCREEN = Screen(
    "packages",
    _l("Packages"),
    "packages.index",
    order=72,
    description=_l("Internet packages: price, validity, quotas, speed, routers"),
)
_SPEED = Length(max=20)


class PackageForm(Form):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=100)])
    profile_name = StringField(_l("RouterOS profile"), validators=[Optional(), Length(max=64)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=500)])
    price = MoneyField(
        _l("Price"), allow_zero=True, validators=[InputRequired(message=_l("Enter a price."))]
    )
    validity_value = WholeNumberField(
        _l("Valid for"),
        validators=[InputRequired(message=_l("Enter a number.")), NumberRange(1, 100_000)],
    )
    validity_unit = SelectField(
        _l("Unit"), choices=options((u, UNIT_LABELS[u]) for u in VALIDITY_UNITS), default="days"
    )
    time_quota = StringField(_l("Time online in total"), validators=[Optional(), Length(max=20)])
    data_quota = StringField(_l("Data in total"), validators=[Optional(), Length(max=20)])
    upload = StringField(_l("Upload speed"), validators=[Optional(), _SPEED])
    download = StringField(_l("Download speed"), validators=[Optional(), _SPEED])
    burst_upload = StringField(_l("Burst upload speed"), validators=[Optional(), _SPEED])
    burst_download = StringField(_l("Burst download speed"), validators=[Optional(), _SPEED])
    threshold_upload = StringField(_l("Burst threshold, upload"), validators=[Optional(), _SPEED])
    threshold_download = StringField(
        _l("Burst threshold, download"), validators=[Optional(), _SPEED]
    )
    burst_time = WholeNumberField(
        _l("Burst time (seconds)"), validators=[Optional(), NumberRange(1, 3600)]
    )
    shared_users = WholeNumberField(
        _l("Devices at once"), default=1, validators=[Optional(), NumberRange(1, 1000)]
    )
    routers = SelectMultipleField(
        _l("Routers"),
        coerce=int,
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    active = BooleanField(_l("On sale"), default=True)


def _router_choices(session) -> list:
    return [(r.id, r.name) for r in list_routers(session)]


def _initial(package: InternetPackage) -> dict:
    speed = speeds(package.rate_limit)
    return {
        "name": package.name,
        "profile_name": package.profile_name,
        "description": package.description,
        "price": package.price,
        "validity_value": package.validity_value,
        "validity_unit": package.validity_unit,
        "time_quota": format_time_quota(package.limit_uptime),
        "data_quota": format_data_quota(package.limit_bytes_total),
        "upload": speed.upload,
        "download": speed.download,
        "burst_upload": speed.burst_upload,
        "burst_download": speed.burst_download,
        "threshold_upload": speed.threshold_upload,
        "threshold_download": speed.threshold_download,
        "burst_time": speed.burst_time,
        "shared_users": package.shared_users,
        "routers": [r.id for r in package.routers],
        "active": package.active,
    }


def _field_for(form: PackageForm, message: str):
    """The field a service's refusal is about, so the message shows beside it."""
    text = message.lower()
    for words, field in (
        (("burst", "rate limit", "speed"), form.upload),
        (("time quota",), form.time_quota),
        (("data quota",), form.data_quota),
        (("profile",), form.profile_name),
        (("shared",), form.shared_users),
        (("validity",), form.validity_value),
        (("price",), form.price),
        (("router",), form.routers),
    ):
        if any(word in text for word in words):
            return field
    return form.name


def _values(form: PackageForm) -> dict | None:
    """What the form asks for, in the services' terms; None (with the errors on the
    fields) when a quota or speed cannot be read."""
    values = {}
    for name, parse, key in (
        ("time_quota", parse_time_quota, "limit_uptime"),
        ("data_quota", parse_data_quota, "limit_bytes_total"),
    ):
        try:
            values[key] = parse(getattr(form, name).data)
        except WalletError as error:
            getattr(form, name).errors.append(str(error))
            return None
    try:
        values["rate_limit"] = join_rate_limit(
            RateLimitParts(
                (form.upload.data or "").strip(),
                (form.download.data or "").strip(),
                (form.burst_upload.data or "").strip(),
                (form.burst_download.data or "").strip(),
                (form.threshold_upload.data or "").strip(),
                (form.threshold_download.data or "").strip(),
                form.burst_time.data,
            )
        )
    except WalletError as error:
        form.upload.errors.append(str(error))
        return None
    values.update(
        profile_name=(form.profile_name.data or "").strip() or None,
        description=(form.description.data or "").strip(),
        price=form.price.data,
        validity_value=form.validity_value.data,
        validity_unit=form.validity_unit.data,
        shared_users=form.shared_users.data,
        router_ids=list(form.routers.data or []),
    )
    return values


@blueprint.get("/")
@view
def index():
    now = utcnow()
    with database().transaction() as session:
        page = paginate(
            session,
            select(InternetPackage).order_by(
                InternetPackage.active.desc(), InternetPackage.name, InternetPackage.id
            ),
        )
        ids = [p.id for p in page.items]
        running = dict(
            session.execute(
                select(Subscription.package_id, func.count())
                .where(
                    Subscription.package_id.in_(ids),
                    Subscription.status == "active",
                    Subscription.starts_at <= now,
                    Subscription.ends_at > now,
                )
                .group_by(Subscription.package_id)
            ).all()
        )
        return render_template(
            "packages/index.html",
            page=page,
            running=running,
            speeds={p.id: speeds(p.rate_limit) for p in page.items},
            data=format_data_quota,
        )


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    with database().transaction() as session:
        routers = _router_choices(session)
    form = PackageForm()
    form.routers.choices = routers
    if request.method == "GET":
        form.routers.data = [router_id for router_id, _name in routers]
    del form.active
    if form.validate_on_submit() and (values := _values(form)) is not None:
        try:
            package_id = database().run(
                lambda s: (
                    staff_create_package(
                        s, form.name.data, actor=actor(), address=client_address(), **values
                    ).id
                )
            )
        except WalletError as error:
            _field_for(form, str(error)).errors.append(str(error))
        else:
            flash(_("Package saved; the routers get its profile at the next sync."), "success")
            return redirect(url_for("packages.edit", package_id=package_id))
    return render_template("packages/form.html", form=form, package=None)


@blueprint.route("/<int:package_id>", methods=["GET", "POST"])
@view
def edit(package_id: int):
    with database().transaction() as session:
        package = session.get(InternetPackage, package_id)
        if package is None:
            abort(404)
        routers = _router_choices(session)
        initial = _initial(package)
    form = PackageForm(data=initial) if request.method == "GET" else PackageForm()
    form.routers.choices = routers
    if form.validate_on_submit() and (values := _values(form)) is not None:
        try:
            database().run(
                lambda s: staff_update_package(
                    s,
                    package_id,
                    name=form.name.data,
                    active=form.active.data,
                    actor=actor(),
                    address=client_address(),
                    **values,
                )
            )
        except WalletError as error:
            _field_for(form, str(error)).errors.append(str(error))
        else:
            flash(_("Saved. The routers get the change at the next sync."), "success")
            return redirect(url_for("packages.index"))
    return render_template("packages/form.html", form=form, package=package)
