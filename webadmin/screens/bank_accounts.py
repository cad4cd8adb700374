"""Bank accounts customers pay into; the portal and the chat show the active ones, with
the amount to transfer."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from wallet.errors import WalletError
from wallet.payments import BankAccount, save_bank_account
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import WholeNumberField
from webadmin.ui import paginate
from webcommon.forms import Form

blueprint = Blueprint("bank_accounts", __name__, url_prefix="/bank-accounts")
SCREEN = Screen(
    "bank_accounts",
    _l("Bank accounts"),
    "bank_accounts.index",
    order=35,
    description=_l("Where customers pay, shown to them with the amount to transfer"),
)


class BankAccountForm(Form):
    bank_name = StringField(_l("Bank"), validators=[DataRequired(), Length(max=100)])
    account_number = StringField(
        _l("Bank account number"), validators=[DataRequired(), Length(max=60)]
    )
    holder_name = StringField(_l("Account holder"), validators=[DataRequired(), Length(max=200)])
    instructions = TextAreaField(
        _l("Instructions for the customer"), validators=[Optional(), Length(max=2000)]
    )
    position = WholeNumberField(
        _l("Order"), default=0, validators=[Optional(), NumberRange(min=0, max=1000)]
    )
    is_active = BooleanField(_l("Shown to customers"), default=True)


@blueprint.get("/")
@view
def index():
    with database().transaction() as session:
        page = paginate(session, select(BankAccount).order_by(BankAccount.position, BankAccount.id))
        return render_template("bank_accounts/index.html", page=page, rows=page.items)


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    return _edit(None)


@blueprint.route("/<int:bank_account_id>", methods=["GET", "POST"])
@change
def edit(bank_account_id: int):
    return _edit(bank_account_id)


def _edit(bank_account_id: int | None):
    db = database()
    row = None
    if bank_account_id is not None:
        with db.transaction() as session:
            row = session.get(BankAccount, bank_account_id)
            if row is None:
                abort(404)
    form = BankAccountForm(obj=row) if request.method == "GET" else BankAccountForm()
    if form.validate_on_submit():
        try:
            db.run(
                lambda s: save_bank_account(
                    s,
                    actor=actor(),
                    bank_name=form.bank_name.data,
                    account_number=form.account_number.data,
                    holder_name=form.holder_name.data,
                    instructions=form.instructions.data or "",
                    is_active=form.is_active.data,
                    position=form.position.data or 0,
                    bank_account_id=bank_account_id,
                    address=client_address(),
                )
            )
        except WalletError as error:
            form.bank_name.errors.append(str(error))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("bank_accounts.index"))
    return render_template("bank_accounts/form.html", form=form, row=row)
