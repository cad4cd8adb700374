"""Registrations: people who signed up on the hotspot's registration page and wait for
their payment to be confirmed. Confirming credits the payment, buys the chosen package
and enables the login (once, however many times it is clicked); rejecting needs a
reason, kept in the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from hotspot.backoffice import (
    account_of_login,
    rejection_of,
    staff_confirm_registration,
    staff_reject_registration,
)
from wallet import permissions
from wallet.errors import WalletError
from wallet.hotspot_models import HotspotLogin
from wallet.internet import pending_registrations_query
from wallet.ledger import TOP_UP_METHODS
from wallet.staff import AuditRecord
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import MoneyField, options
from webadmin.hotspot_ui import LOGIN_STATUS_LABELS, install
from webadmin.screens.customers import METHOD_LABELS
from webadmin.ui import explain, local, money, paginate
from webcommon.forms import Form

blueprint = Blueprint("registrations", __name__, url_prefix="/registrations")
blueprint.record_once(install)
SCREEN = Screen(
    permissions.REGISTRATIONS,
    _l("Registrations"),
    "registrations.index",
    order=76,
    description=_l("Hotspot self-registrations: confirm the payment or reject"),
)


class ConfirmForm(Form):
    amount = MoneyField(
        _l("Amount paid"), validators=[InputRequired(message=_l("Enter an amount."))]
    )
    method = SelectField(
        _l("Method"), choices=options((m, METHOD_LABELS[m]) for m in TOP_UP_METHODS)
    )
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=200)])


class RejectForm(Form):
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why, for the customer.")), Length(max=2000)],
    )


def _registration(session, login_id: int) -> HotspotLogin:
    login = session.get(HotspotLogin, login_id)
    if login is None or login.kind != "customer" or login.customer is None:
        abort(404)
    return login


@blueprint.get("/")
@view
def index():
    with database().transaction() as session:
        pending = paginate(session, pending_registrations_query(), arg="pending_page")
        decided = paginate(
            session,
            select(AuditRecord)
            .where(AuditRecord.action.in_(("registration.confirm", "registration.reject")))
            .order_by(AuditRecord.id.desc()),
            per_page=20,
        )
        return render_template(
            "registrations/index.html",
            pending=pending,
            decided=decided,
            statuses=LOGIN_STATUS_LABELS,
        )


@blueprint.get("/<int:login_id>")
@view
def detail(login_id: int):
    return _detail_page(login_id)


def _detail_page(
    login_id: int,
    confirm_form: ConfirmForm | None = None,
    reject_form: RejectForm | None = None,
):
    """The registration's page; a form given (submitted, with its errors) is shown as
    sent, the other one fresh."""
    with database().transaction() as session:
        login = _registration(session, login_id)
        if confirm_form is None:
            confirm_form = ConfirmForm(formdata=None)
            if login.package is not None and login.status == "pending":
                confirm_form.amount.data = login.package.price or None
        return render_template(
            "registrations/detail.html",
            login=login,
            customer=login.customer,
            package=login.package,
            account=account_of_login(session, login),
            rejection=rejection_of(session, login) if login.status == "void" else None,
            confirm_form=confirm_form,
            reject_form=reject_form or RejectForm(formdata=None),
            statuses=LOGIN_STATUS_LABELS,
        )


def _decided_meanwhile(login_id: int) -> bool:
    """Whether the registration is no longer waiting: its forms are gone from the page,
    so a refusal is news without a field."""
    with database().transaction() as session:
        return _registration(session, login_id).status != "pending"


@blueprint.post("/<int:login_id>/confirm")
@change
def confirm(login_id: int):
    with database().transaction() as session:
        _registration(session, login_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _detail_page(login_id, confirm_form=form)
    try:
        subscription, is_new = database().run(
            lambda s: staff_confirm_registration(
                s,
                login_id,
                amount=form.amount.data,
                method=form.method.data,
                reference=form.reference.data or None,
                actor=actor(),
                address=client_address(),
            )
        )
    except WalletError as error:
        if _decided_meanwhile(login_id):
            flash(explain(error), "error")
            return redirect(url_for("registrations.detail", login_id=login_id))
        form.amount.errors.append(explain(error))
        return _detail_page(login_id, confirm_form=form)
    if is_new:
        flash(
            _(
                "Confirmed: %(amount)s credited, the package runs until %(end)s and the "
                "login is enabled on the routers at the next sync.",
                amount=money(form.amount.data),
                end=local(subscription.ends_at),
            ),
            "success",
        )
    else:
        flash(_("Already confirmed; the payment was credited once."), "warning")
    return redirect(url_for("registrations.detail", login_id=login_id))


@blueprint.post("/<int:login_id>/reject")
@change
def reject(login_id: int):
    with database().transaction() as session:
        _registration(session, login_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _detail_page(login_id, reject_form=form)
    try:
        database().run(
            lambda s: staff_reject_registration(
                s, login_id, form.reason.data, actor=actor(), address=client_address()
            )
        )
    except WalletError as error:
        if _decided_meanwhile(login_id):
            flash(explain(error), "error")
            return redirect(url_for("registrations.detail", login_id=login_id))
        form.reason.errors.append(explain(error))
        return _detail_page(login_id, reject_form=form)
    flash(_("Rejected."), "success")
    return redirect(url_for("registrations.detail", login_id=login_id))
