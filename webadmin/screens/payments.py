"""Payment confirmations: top-up requests customers made elsewhere (portal, chat) with a
proof of transfer; confirm (credits once, whatever the number of clicks) or reject."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from wallet import permissions
from wallet.errors import WalletError
from wallet.ledger import TOP_UP_METHODS
from wallet.models import Account, Customer
from wallet.payments import (
    REQUEST_STATUSES,
    BankAccount,
    PaymentDecided,
    PaymentRequest,
    confirm_payment,
    create_payment_request,
    proof_file,
    reject_payment,
    store_proof,
)
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import MoneyField, WholeNumberField, options
from webadmin.screens.customers import METHOD_LABELS
from webadmin.ui import explain, money, paginate
from webcommon.forms import Form

blueprint = Blueprint("payments", __name__, url_prefix="/payments")
SCREEN = Screen(
    permissions.PAYMENTS,
    _l("Payments"),
    "payments.index",
    order=30,
    description=_l("Payment confirmations: confirm or reject top-up requests"),
)
STATUS_LABELS = {"pending": _l("Pending"), "confirmed": _l("Confirmed"), "rejected": _l("Rejected")}


class RejectForm(Form):
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why, for the customer.")), Length(max=2000)],
    )


class RequestForm(Form):
    account = WholeNumberField(
        _l("Account number"),
        validators=[DataRequired(message=_l("Enter an account number.")), NumberRange(min=1)],
    )
    amount = MoneyField(_l("Amount"), validators=[InputRequired(message=_l("Enter an amount."))])
    method = SelectField(
        _l("Method"), choices=options((m, METHOD_LABELS[m]) for m in TOP_UP_METHODS)
    )
    bank_account = SelectField(_l("Paid into"), choices=[])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=200)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    proof = FileField(_l("Proof of payment (PNG, JPEG or GIF image)"))


def _upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


@blueprint.get("/")
@view
def index():
    status = request.args.get("status", "pending")
    statement = (
        select(PaymentRequest, Customer)
        .join(Account, Account.id == PaymentRequest.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .order_by(PaymentRequest.id.desc())
    )
    if status in REQUEST_STATUSES:
        statement = statement.where(PaymentRequest.status == status)
    with database().transaction() as session:
        page = paginate(session, statement)
        return render_template(
            "payments/index.html",
            page=page,
            statuses=STATUS_LABELS,
            status=status,
            methods=METHOD_LABELS,
        )


@blueprint.get("/<int:request_id>")
@view
def detail(request_id: int):
    return _detail_page(request_id)


def _detail_page(request_id: int, reject_form: RejectForm | None = None):
    """The request's page; a rejection form given (submitted, with its errors) is shown
    as sent."""
    with database().transaction() as session:
        payment = session.get(PaymentRequest, request_id)
        if payment is None:
            abort(404)
        customer = payment.account.customer
        return render_template(
            "payments/detail.html",
            payment=payment,
            customer=customer,
            account=payment.account,
            reject_form=reject_form or RejectForm(formdata=None),
            statuses=STATUS_LABELS,
            methods=METHOD_LABELS,
        )


@blueprint.get("/<int:request_id>/proof")
@view
def proof(request_id: int):
    with database().transaction() as session:
        payment = session.get(PaymentRequest, request_id)
        if payment is None or not payment.proof_path:
            abort(404)
        relative = payment.proof_path
    try:
        path = proof_file(_upload_folder(), relative)
    except WalletError:
        abort(404)
    # Served as an image download-safe: never sniffed into a page (nosniff is global).
    return send_file(path, max_age=0)


@blueprint.post("/<int:request_id>/confirm")
@change
def confirm(request_id: int):
    try:
        payment, credited = database().run(
            lambda s: confirm_payment(s, request_id, actor=actor(), address=client_address())
        )
    except PaymentDecided:
        flash(_("This request was already rejected; it cannot be confirmed."), "error")
    except WalletError as error:
        flash(explain(error), "error")
    else:
        if credited:
            flash(_("Confirmed: %(amount)s credited.", amount=money(payment.amount)), "success")
        else:
            flash(_("Already confirmed; the wallet was credited once."), "warning")
    return redirect(url_for("payments.detail", request_id=request_id))


@blueprint.post("/<int:request_id>/reject")
@change
def reject(request_id: int):
    form = RejectForm()
    if not form.validate_on_submit():
        return _detail_page(request_id, form)
    try:
        database().run(
            lambda s: reject_payment(
                s, request_id, form.reason.data, actor=actor(), address=client_address()
            )
        )
    except PaymentDecided as error:
        # Decided meanwhile: the page no longer has the form, so the news goes on top.
        flash(explain(error), "error")
    except WalletError as error:
        form.reason.errors.append(explain(error))
        return _detail_page(request_id, form)
    else:
        flash(_("Rejected."), "success")
    return redirect(url_for("payments.detail", request_id=request_id))


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    """Record a request on a customer's behalf (a transfer announced by phone, say)."""
    db = database()
    with db.transaction() as session:
        banks = (
            session.execute(select(BankAccount).order_by(BankAccount.position, BankAccount.id))
            .scalars()
            .all()
        )
        choices = options(
            [("", _("(not a bank transfer)"))]
            + [(str(b.id), f"{b.bank_name} {b.account_number}") for b in banks]
        )
    form = RequestForm()
    form.bank_account.choices = choices
    if form.validate_on_submit():
        stored = None
        upload = form.proof.data
        try:
            if upload and upload.filename:
                stored = store_proof(_upload_folder(), upload.read())
            request_id = db.run(
                lambda s: (
                    create_payment_request(
                        s,
                        form.account.data,
                        form.amount.data,
                        method=form.method.data,
                        bank_account_id=int(form.bank_account.data)
                        if form.bank_account.data
                        else None,
                        reference=form.reference.data or "",
                        note=form.note.data or "",
                        proof_path=stored,
                        source="admin",
                    ).id
                )
            )
        except WalletError as error:
            (form.proof if "proof" in str(error) else form.account).errors.append(explain(error))
        else:
            flash(_("Payment request recorded; confirm it when the money is there."), "success")
            return redirect(url_for("payments.detail", request_id=request_id))
    return render_template("payments/new.html", form=form)
