"""Top up: the operator's bank accounts and their instructions, a request with the amount
and a photo of the transfer receipt (the phone's camera works) sent to the admin's
Payments screen, and the state of each request (waiting, confirmed, rejected with the
reason)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.access import MenuEntry, actor, client_address, customer, mine, run_as_me
from portal.ui import amount_from
from wallet.errors import InvalidInput, NotFound
from wallet.payments import (
    PaymentRequest,
    active_bank_accounts,
    discard_proof,
    request_top_up,
    store_proof,
)
from wallet.text import whole_number
from webcommon.forms import Form

blueprint = Blueprint("topup", __name__, url_prefix="/top-up")
MENU = MenuEntry(50, _l("Top up"), "topup.index")
SHOWN_REQUESTS = 20


class TopUpForm(Form):
    bank = SelectField(_l("Paid into"), choices=[], validators=[Optional()])
    amount = StringField(_l("Amount you transferred"), validators=[DataRequired(), Length(max=40)])
    reference = StringField(
        _l("Transfer reference (optional)"), validators=[Optional(), Length(max=200)]
    )
    proof = FileField(_l("Photo of the transfer receipt"))


def _page(form: TopUpForm, status: int = 200):
    with mine() as my:
        banks = active_bank_accounts(my.session)
        requests = list(
            my.session.execute(
                select(PaymentRequest)
                .where(PaymentRequest.account_id == my.account_id)
                .order_by(PaymentRequest.id.desc())
                .limit(SHOWN_REQUESTS)
            ).scalars()
        )
        return render_template(
            "topup/index.html", form=form, banks=banks, requests=requests
        ), status


def _form() -> TopUpForm:
    form = TopUpForm()
    with mine() as my:
        form.bank.choices = [SelectChoice("", _("Choose"))] + [
            SelectChoice(str(b.id), f"{b.bank_name} {b.account_number}")
            for b in active_bank_accounts(my.session)
        ]
    return form


@blueprint.get("/")
@customer
def index():
    return _page(_form())


@blueprint.post("/")
@customer
def send():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        amount = amount_from(form.amount.data)
    except ValueError:
        form.amount.errors.append(_("Not an amount."))
        return _page(form, 400)
    if amount <= 0:
        form.amount.errors.append(_("The amount must be greater than zero."))
        return _page(form, 400)
    upload = form.proof.data
    if upload is None or not getattr(upload, "filename", ""):
        form.proof.errors.append(_("Add a photo of the transfer receipt."))
        return _page(form, 400)
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    try:
        stored = store_proof(folder, upload.read())
    except InvalidInput:
        form.proof.errors.append(_("The photo must be a PNG, JPEG or GIF image of at most 5 MB."))
        return _page(form, 400)
    bank = (form.bank.data or "").strip()
    bank_id = whole_number(bank)
    reference, address = form.reference.data or "", client_address()
    try:
        _request, new = run_as_me(
            lambda my: request_top_up(
                my.session,
                my.account_id,
                amount,
                actor=actor(),
                source="portal",
                bank_account_id=bank_id,
                reference=reference,
                proof_path=stored,
                address=address,
            )
        )
    except BaseException as error:
        discard_proof(folder, stored)
        if isinstance(error, NotFound):
            form.bank.errors.append(_("Choose one of the accounts shown."))
            return _page(form, 400)
        if isinstance(error, InvalidInput):
            form.reference.errors.append(str(error))
            return _page(form, 400)
        raise
    if not new:
        # A resent form (double tap, reload) is answered by the first request, which
        # keeps its own photo: this copy would lie in the folder with nothing using it.
        discard_proof(folder, stored)
    if new:
        flash(_("Sent. We will add it to your credit once we see the transfer."), "success")
    else:
        flash(_("This request was sent already."), "info")
    return redirect(url_for("topup.index"))
