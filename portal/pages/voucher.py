"""Voucher: redeem a code, through the admin's audited services with the customer as
actor. A credit voucher adds its value to the wallet; a package voucher starts its
internet package on one of the customer's own hotspot logins (the login they choose,
checked to be theirs). Redeeming the same code again adds nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from hotspot.backoffice import (
    redeem_package_voucher,
    staff_redeem_voucher,
    voucher_is_for_a_package,
)
from portal.access import MenuEntry, Mine, actor, client_address, customer, mine, run_as_me
from portal.ui import money, when
from wallet.errors import NotFound, WalletError
from wallet.text import whole_number
from webcommon.forms import Form

blueprint = Blueprint("voucher", __name__, url_prefix="/voucher")
MENU = MenuEntry(40, _l("Voucher"), "voucher.index")


class RedeemForm(Form):
    code = StringField(_l("Voucher code"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        _l("Voucher password (if it has one)"), validators=[Optional(), Length(max=64)]
    )
    # Choices are the customer's logins, filled per request; the id is checked again
    # through Mine.login when the voucher turns out to be a package voucher.
    login = SelectField(
        _l("Internet login that gets the package"), choices=[], validate_choice=False
    )


@dataclass(frozen=True)
class Outcome:
    new: bool
    amount: int | None = None  # a credit voucher's value
    package: str | None = None  # a package voucher's package, its login and validity
    login: str | None = None
    starts_at: object = None
    ends_at: object = None
    waits: bool = False  # for a router to take it (home says why)


class NeedsLogin(Exception):
    """A package voucher, and no login chosen (or none to choose)."""


def _form() -> tuple[RedeemForm, int]:
    form = RedeemForm()
    with mine() as my:
        logins = my.logins()
    form.login.choices = [SelectChoice(str(login.id), login.username) for login in logins]
    return form, len(logins)


def _redeem(my: Mine, code: str, password: str | None, login_text: str, address: str):
    if voucher_is_for_a_package(my.session, code):
        logins = my.logins()
        chosen = whole_number(login_text) if login_text else None
        if chosen is None and len(logins) == 1:
            chosen = logins[0].id
        if chosen is None:
            raise NeedsLogin
        login = my.login(chosen)  # someone else's login: 404, nothing redeemed
        subscription, new = redeem_package_voucher(
            my.session, login.id, code, password=password, actor=actor(), address=address
        )
        return Outcome(
            new,
            package=subscription.package.name,
            login=login.username,
            starts_at=subscription.starts_at,
            ends_at=subscription.ends_at,
            waits=subscription.awaits_start,
        )
    entry, new = staff_redeem_voucher(
        my.session, my.account_id, code, password=password, actor=actor(), address=address
    )
    return Outcome(new, amount=entry.amount)


@blueprint.route("/", methods=["GET", "POST"])
@customer
def index():
    form, login_count = _form()
    if form.validate_on_submit():
        code, password, address = form.code.data, form.password.data or None, client_address()
        login_text = (form.login.data or "").strip()
        try:
            outcome = run_as_me(lambda my: _redeem(my, code, password, login_text, address))
        except NeedsLogin:
            if login_count:
                form.login.errors.append(_("Choose the login that gets the package."))
            else:
                form.code.errors.append(
                    _(
                        "This voucher is for an internet package and you have no internet "
                        "login yet: ask us for one."
                    )
                )
        except NotFound:
            form.code.errors.append(_("No voucher with this code (and password)."))
        except WalletError:
            form.code.errors.append(_("This voucher cannot be redeemed (used, void or redeemed)."))
        else:
            if not outcome.new:
                flash(_("This voucher was redeemed already; nothing more was added."), "info")
            elif outcome.package is not None and outcome.waits:
                flash(
                    _(
                        "%(package)s added to %(login)s. Its time starts once the router has it.",
                        package=outcome.package,
                        login=outcome.login,
                    ),
                    "success",
                )
            elif outcome.package is not None:
                flash(
                    _(
                        "%(package)s added to %(login)s, from %(start)s until %(end)s.",
                        package=outcome.package,
                        login=outcome.login,
                        start=when(outcome.starts_at, "short"),
                        end=when(outcome.ends_at, "short"),
                    ),
                    "success",
                )
            else:
                flash(
                    _("%(amount)s added to your credit.", amount=money(outcome.amount)), "success"
                )
            return redirect(url_for("home.index"))
    return render_template("voucher/index.html", form=form, login_count=login_count)
