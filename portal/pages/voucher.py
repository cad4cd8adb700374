"""Voucher: redeem a code into the wallet, through the admin's audited service with the
customer as actor (a code redeemed twice into the same wallet credits once)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from hotspot.backoffice import staff_redeem_voucher
from portal.access import MenuEntry, actor, client_address, customer, run_as_me
from portal.forms import Form
from portal.ui import money
from wallet.errors import NotFound, WalletError

blueprint = Blueprint("voucher", __name__, url_prefix="/voucher")
MENU = MenuEntry(40, _l("Voucher"), "voucher.index")


class RedeemForm(Form):
    code = StringField(_l("Voucher code"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        _l("Voucher password (if it has one)"), validators=[Optional(), Length(max=64)]
    )


@blueprint.route("/", methods=["GET", "POST"])
@customer
def index():
    form = RedeemForm()
    if form.validate_on_submit():
        code, password, address = form.code.data, form.password.data or None, client_address()
        try:
            entry, new = run_as_me(
                lambda my: staff_redeem_voucher(
                    my.session,
                    my.account_id,
                    code,
                    password=password,
                    actor=actor(),
                    address=address,
                )
            )
        except NotFound:
            form.code.errors.append(_("No voucher with this code (and password)."))
        except WalletError:
            form.code.errors.append(_("This voucher cannot be redeemed (used, void or redeemed)."))
        else:
            if new:
                flash(_("%(amount)s added to your credit.", amount=money(entry.amount)), "success")
            else:
                flash(_("This voucher was redeemed already; nothing more was added."), "info")
            return redirect(url_for("home.index"))
    return render_template("voucher/index.html", form=form)
