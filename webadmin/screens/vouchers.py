"""Vouchers: generate batches (up to 10,000 in one request, once per form), print them
on A4 or a thermal roll with a QR login code each, record sales, void lost ones, redeem
one into a wallet as credit, and report what was sold and used."""

from __future__ import annotations

import math
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from hotspot.backoffice import (
    staff_generate_batch,
    staff_redeem_voucher,
    staff_sell_vouchers,
    staff_void_vouchers,
    voucher_report,
)
from hotspot.voucher_sheet import LAYOUTS, SHEET_SIZE, SheetWords, batch_sheet
from rating.money import micro_to_decimal
from wallet import permissions
from wallet.errors import NotFound, WalletError
from wallet.hotspot_models import InternetPackage, Voucher, VoucherBatch
from wallet.payments import proof_file
from wallet.vouchers import ALPHABETS, MAX_BATCH, VOUCHER_STATUSES, batch_summary
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.exports import download, subtitle
from webadmin.forms import FormKeyField, MoneyField, WholeNumberField, options
from webadmin.hotspot_ui import VOUCHER_STATUS_LABELS, install, package_summary
from webadmin.ui import (
    currency,
    explain,
    filter_errors,
    local_moment,
    money,
    new_form_key,
    paginate,
    parse_day,
    site,
    utc_range,
    whole_number,
)
from webcommon.forms import Form

blueprint = Blueprint("vouchers", __name__, url_prefix="/vouchers")
blueprint.record_once(install)
SCREEN = Screen(
    permissions.VOUCHERS,
    _l("Vouchers"),
    "vouchers.index",
    order=78,
    description=_l("Voucher batches: generate, print, sell, void, redeem, report"),
)
ALPHABET_LABELS = {
    "upper": _l("Capital letters and digits"),
    "lower": _l("Small letters and digits"),
    "digits": _l("Digits only"),
}
LAYOUT_LABELS = {
    "a4": _l("A4 sheet"),
    "thermal-58": _l("Thermal printer, 58 mm"),
    "thermal-80": _l("Thermal printer, 80 mm"),
}
# The printable sheet is a page of its own: inline styles and SVG QR codes, no script.
SHEET_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


class GenerateForm(Form):
    key = FormKeyField()
    package = SelectField(_l("Package"), choices=[])
    count = WholeNumberField(
        _l("How many"),
        default=100,
        validators=[InputRequired(message=_l("Enter a number.")), NumberRange(1, MAX_BATCH)],
    )
    length = WholeNumberField(
        _l("Code length"), default=8, validators=[InputRequired(), NumberRange(3, 32)]
    )
    prefix = StringField(_l("Prefix"), validators=[Optional(), Length(max=16)])
    alphabet = SelectField(
        _l("Characters"), choices=options((a, ALPHABET_LABELS[a]) for a in ALPHABETS)
    )
    separate_password = BooleanField(_l("A password apart from the code"))
    price = MoneyField(_l("Face value"), allow_zero=True)
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class CodesForm(Form):
    codes = TextAreaField(
        _l("Voucher codes"),
        validators=[
            DataRequired(message=_l("Enter at least one voucher code.")),
            Length(max=50_000),
        ],
    )
    price = MoneyField(_l("Sold at"), allow_zero=True)
    batch = HiddenField()


class RedeemForm(Form):
    key = FormKeyField()
    account = WholeNumberField(
        _l("Account number"),
        validators=[DataRequired(message=_l("Enter an account number.")), NumberRange(min=1)],
    )
    code = StringField(_l("Voucher code"), validators=[DataRequired(), Length(max=64)])
    password = StringField(_l("Voucher password"), validators=[Optional(), Length(max=64)])


def _batch(session, batch_id: int) -> VoucherBatch:
    batch = session.get(VoucherBatch, batch_id)
    if batch is None:
        abort(404)
    return batch


def _package_choices(session) -> list:
    packages = session.execute(
        select(InternetPackage)
        .where(InternetPackage.active.is_(True))
        .order_by(InternetPackage.price, InternetPackage.name)
    ).scalars()
    return options(
        [(str(p.id), f"{p.name} · {money(p.price)}") for p in packages]
        + [("", _("(none: a credit voucher, redeemed into a wallet)"))]
    )


def _codes(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


@blueprint.get("/")
@view
def index():
    return _index_page()


def _index_page(redeem_form: RedeemForm | None = None):
    """The batches and the redeem form; a redeem form given (submitted, with its errors)
    is shown as sent."""
    with database().transaction() as session:
        page = paginate(
            session,
            select(VoucherBatch).order_by(VoucherBatch.id.desc()),
            path=url_for("vouchers.index"),
        )
        summaries = {b.id: batch_summary(session, b.id) for b in page.items}
        return render_template(
            "vouchers/index.html",
            page=page,
            summaries=summaries,
            statuses=VOUCHER_STATUS_LABELS,
            redeem_form=redeem_form or RedeemForm(formdata=None),
        )


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    with database().transaction() as session:
        choices = _package_choices(session)
    form = GenerateForm()
    form.package.choices = choices
    if form.validate_on_submit():
        try:
            batch, is_new = database().run(
                lambda s: staff_generate_batch(
                    s,
                    key=form.key.data,
                    actor=actor(),
                    address=client_address(),
                    count=form.count.data,
                    package=int(form.package.data) if form.package.data else None,
                    length=form.length.data,
                    prefix=(form.prefix.data or "").strip(),
                    alphabet=form.alphabet.data,
                    separate_password=form.separate_password.data,
                    price=form.price.data,
                    note=form.note.data or "",
                )
            )
        except WalletError as error:
            text = explain(error)
            field = form.prefix if "prefix" in text else form.count
            if "price" in text or "worth" in text:
                field = form.price
            elif "characters" in text or "codes" in text:
                field = form.length
            field.errors.append(text)
        else:
            if is_new:
                flash(
                    ngettext(
                        "Batch %(id)s generated: %(num)s voucher.",
                        "Batch %(id)s generated: %(num)s vouchers.",
                        batch.count,
                        id=batch.id,
                    ),
                    "success",
                )
            else:
                flash(
                    _("This form was already submitted; no second batch was generated."),
                    "warning",
                )
            return redirect(url_for("vouchers.batch", batch_id=batch.id))
    return render_template("vouchers/new.html", form=form, max_batch=MAX_BATCH)


@blueprint.get("/<int:batch_id>")
@view
def batch(batch_id: int):
    return _batch_page(batch_id)


def _batch_page(batch_id: int, form: CodesForm | None = None):
    """A batch's page; a sell/void form given (submitted, with its errors) is shown as
    sent."""
    status = request.args.get("status", "")
    statement = select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
    if status in VOUCHER_STATUSES:
        statement = statement.where(Voucher.status == status)
    with database().transaction() as session:
        batch = _batch(session, batch_id)
        summary = batch_summary(session, batch_id)
        made = sum(summary.by_status.values())
        unsold = summary.by_status.get("new", 0)
        vouchers = paginate(
            session,
            statement,
            per_page=50,
            path=url_for("vouchers.batch", batch_id=batch_id),
        )
        if form is None:
            form = CodesForm(formdata=None, batch=str(batch_id))
        return render_template(
            "vouchers/batch.html",
            batch=batch,
            summary=summary,
            made=made,
            vouchers=vouchers,
            statuses=VOUCHER_STATUS_LABELS,
            status=status,
            form=form,
            layouts=LAYOUT_LABELS,
            parts_all=max(1, math.ceil(made / SHEET_SIZE)),
            parts_unsold=max(1, math.ceil(unsold / SHEET_SIZE)),
            sheet_size=SHEET_SIZE,
        )


@blueprint.get("/<int:batch_id>/sheet")
@view
def sheet(batch_id: int):
    layout = request.args.get("layout", "a4")
    if layout not in LAYOUTS:
        abort(404)
    part = max(1, whole_number(request.args.get("part")) or 1)
    unsold_only = request.args.get("all") != "1"
    with database().transaction() as session:
        _batch(session, batch_id)
    page = sheet_page(batch_id, layout=layout, part=part, unsold_only=unsold_only)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = SHEET_CSP
    return response


def sheet_page(
    batch_id: int,
    *,
    layout: str = "a4",
    part: int = 1,
    unsold_only: bool = True,
    size: int = SHEET_SIZE,
    login_url: str | None = None,
) -> str:
    """The printable sheet of a batch in the language in effect, with the operator's
    name and logo: the Vouchers screen's, and `pulsa voucher print`'s (printed_sheet)."""
    settings = current_app.extensions["pulsa.settings"]
    operator = site()
    words = SheetWords(
        language=str(get_locale() or "en"),
        title=_("Vouchers"),
        cut=_("Cut along the dashed lines."),
        voucher_code=_("voucher code"),
        username=_("user name"),
        password=_("password"),
        scan=_("scan, or open %(address)s", address="%s"),
    )
    with database().transaction() as session:
        return batch_sheet(
            session,
            batch_id,
            brand=_brand(settings, operator.operator_name),
            default_login_url=settings.hotspot_login_url,
            price_text=money,
            credit_name=_("Credit voucher"),
            credit_validity=_("wallet credit"),
            layout=layout,
            part=part,
            unsold_only=unsold_only,
            logo=_logo_bytes(operator.logo_path),
            words=words,
            describe=package_summary,
            size=size,
            login_url=login_url,
        )


def printed_sheet(
    app: Flask,
    batch_id: int,
    *,
    language: str | None = None,
    layout: str = "a4",
    unsold_only: bool = True,
    login_url: str | None = None,
) -> tuple[str, int]:
    """The whole batch on one sheet, outside any request (`pulsa voucher print`): the
    same sheet as the screen's, in `language` or else the site's language (Settings or
    the first-run setup), and how many vouchers it shows. Raises NotFound for a batch
    that does not exist."""
    with app.test_request_context("/"):
        chosen = language or site().language
        with database().transaction() as session:
            _batch_or_not_found(session, batch_id)
            shown = select(func.count(Voucher.id)).where(Voucher.batch_id == batch_id)
            if unsold_only:
                shown = shown.where(Voucher.status == "new")
            count = int(session.execute(shown).scalar_one())
        with force_locale(chosen):
            page = sheet_page(
                batch_id,
                layout=layout,
                unsold_only=unsold_only,
                size=max(1, count),
                login_url=login_url,
            )
        return page, count


def _batch_or_not_found(session, batch_id: int) -> VoucherBatch:
    batch = session.get(VoucherBatch, batch_id)
    if batch is None:
        raise NotFound(f"voucher batch {batch_id} does not exist")
    return batch


def _brand(settings, operator_name: str) -> str:
    """The name on the vouchers: PULSA_HOTSPOT_BRAND_NAME when it was set (the hotspot
    pages carry it too), else the operator's name from Settings."""
    chosen = settings.hotspot_brand_name
    return chosen if chosen and chosen != type(settings)().hotspot_brand_name else operator_name


def _logo_bytes(relative: str) -> bytes | None:
    """The operator's logo from Settings, or None (no logo, or its file is gone: the
    sheet prints without it)."""
    if not relative:
        return None
    try:
        return proof_file(Path(current_app.config["UPLOAD_FOLDER"]), relative).read_bytes()
    except (WalletError, OSError):
        return None


@blueprint.get("/<int:batch_id>/export")
@view
def export(batch_id: int):
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    with database().transaction() as session:
        _batch(session, batch_id)
        rows = [
            (
                v.code,
                v.password,
                str(VOUCHER_STATUS_LABELS.get(v.status, v.status)),
                local_moment(v.sold_at),
                micro_to_decimal(v.sold_price) if v.sold_price is not None else None,
                local_moment(v.used_at),
            )
            for v in session.execute(
                select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
            ).scalars()
        ]
    header = [_("Code"), _("Password"), _("Status"), _("Sold"), _("Sold at"), _("Used")]
    return download(
        fmt,
        f"vouchers-batch-{batch_id}",
        _("Vouchers"),
        header,
        rows,
        subtitle=_("Batch %(batch)s; amounts in %(currency)s", batch=batch_id, currency=currency()),
        money_columns={4},
        total_columns={4},
    )


def _batch_of(form: CodesForm) -> int | None:
    return whole_number(form.batch.data or request.form.get("batch", ""))


def _back(form: CodesForm):
    batch_id = _batch_of(form)
    if batch_id is not None:
        return redirect(url_for("vouchers.batch", batch_id=batch_id))
    return redirect(url_for("vouchers.index"))


def _refused(form: CodesForm, message: str | None = None):
    """The batch page again with the codes as typed and `message` (or the form's own
    errors) beside them; the list of batches, with a flash, when no batch sent it."""
    if message is not None:
        form.codes.errors = [*form.codes.errors, message]
    batch_id = _batch_of(form)
    if batch_id is not None:
        with database().transaction() as session:
            found = session.get(VoucherBatch, batch_id) is not None
        if found:
            return _batch_page(batch_id, form)
    for errors in form.errors.values():
        for error in errors:
            flash(explain(error), "error")
    return redirect(url_for("vouchers.index"))


@blueprint.post("/sell")
@change
def sell():
    form = CodesForm()
    if not form.validate_on_submit():
        return _refused(form)
    try:
        sold = database().run(
            lambda s: len(
                staff_sell_vouchers(
                    s,
                    _codes(form.codes.data),
                    price=form.price.data,
                    actor=actor(),
                    address=client_address(),
                )
            )
        )
    except WalletError as error:
        return _refused(form, explain(error))
    flash(
        ngettext("%(num)s voucher recorded as sold.", "%(num)s vouchers recorded as sold.", sold),
        "success",
    )
    return _back(form)


@blueprint.post("/void")
@change
def void():
    form = CodesForm()
    if not form.validate_on_submit():
        return _refused(form)
    try:
        count = database().run(
            lambda s: staff_void_vouchers(
                s, _codes(form.codes.data), actor=actor(), address=client_address()
            )
        )
    except WalletError as error:
        return _refused(form, explain(error))
    flash(
        ngettext(
            "%(num)s voucher voided; it stops working at the next sync.",
            "%(num)s vouchers voided; they stop working at the next sync.",
            count,
        ),
        "success",
    )
    return _back(form)


def _redeem_field(form: RedeemForm, message: str):
    """The field a redeem refusal is about, so the message shows beside it."""
    text = message.lower()
    if "password" in text:
        return form.password
    if "account" in text and "voucher" not in text:
        return form.account
    return form.code


@blueprint.post("/redeem")
@change
def redeem():
    form = RedeemForm()
    if not form.validate_on_submit():
        if form.key.errors:
            # A hidden field: its error shows beside the code, and a fresh key lets the
            # form be sent again.
            form.code.errors = [*form.code.errors, *form.key.errors]
            form.key.data = new_form_key()
        return _index_page(form)
    try:
        entry, is_new = database().run(
            lambda s: staff_redeem_voucher(
                s,
                form.account.data,
                form.code.data,
                password=form.password.data or None,
                actor=actor(),
                address=client_address(),
            )
        )
    except WalletError as error:
        field = _redeem_field(form, str(error))
        field.errors = [*field.errors, explain(error)]
        return _index_page(form)
    else:
        if is_new:
            flash(
                _(
                    "Redeemed: %(amount)s credited to account %(account)s, balance %(balance)s.",
                    amount=money(entry.amount),
                    account=form.account.data,
                    balance=money(entry.balance_after),
                ),
                "success",
            )
        else:
            flash(
                _("This voucher was already redeemed into this wallet; credited once."), "warning"
            )
    return redirect(url_for("vouchers.index"))


@blueprint.get("/report")
@view
def report():
    start_day = parse_day(request.args.get("from"), "from")
    end_day = parse_day(request.args.get("to"), "to")
    start, end = utc_range(start_day, end_day)
    with database().transaction() as session:
        rows = voucher_report(session, start, end)
        batches = session.execute(select(func.count()).select_from(VoucherBatch)).scalar_one()
    if request.args.get("format") in ("csv", "xlsx") and not filter_errors():
        header = [_("Package"), _("Generated"), _("Sold"), _("Sales"), _("Used"), _("Redeemed")]
        return download(
            request.args["format"],
            "voucher-report",
            _("Vouchers"),
            header,
            [
                (
                    r.package or _("Credit voucher"),
                    r.generated,
                    r.sold,
                    micro_to_decimal(r.sold_total),
                    r.used,
                    r.redeemed,
                )
                for r in rows
            ],
            subtitle=subtitle(start_day, end_day),
            money_columns={3},
            total_columns={1, 2, 3, 4, 5},
        )
    totals = {
        "generated": sum(r.generated for r in rows),
        "sold": sum(r.sold for r in rows),
        "sold_total": sum(r.sold_total for r in rows),
        "used": sum(r.used for r in rows),
        "redeemed": sum(r.redeemed for r in rows),
    }
    return render_template(
        "vouchers/report.html",
        rows=rows,
        totals=totals,
        batches=batches,
        start=start_day,
        end=end_day,
    )
