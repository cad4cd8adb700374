"""Customers: search and filter, create, edit, disable; identities, wallet, holds and
ledger; top-up, adjustment and transfer (through wallet services, idempotent per form),
each a permission of its own, like changing a credit limit."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import or_, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from hotspot.voucher_sheet import qr_svg
from wallet import permissions
from wallet.backoffice import (
    account_of_customer,
    remove_identity,
    set_customer_status,
    staff_add_identity,
    staff_adjust,
    staff_create_customer,
    staff_top_up,
    staff_transfer,
    update_customer,
)
from wallet.customer_access import issue_portal_link, portal_link_url
from wallet.customers import CUSTOMER_KINDS, CUSTOMER_STATUSES, IDENTITY_KINDS
from wallet.errors import NotFound, WalletError
from wallet.internet import username_from_name
from wallet.ledger import TOP_UP_METHODS, utcnow
from wallet.models import Account, Customer, Hold, LedgerEntry, SipIdentity, TariffPlan
from wallet.reports import hotspot_logins_query
from webadmin.access import (
    Permission,
    Screen,
    actor,
    allowed,
    change,
    client_address,
    database,
    view,
)
from webadmin.forms import FormKeyField, MoneyField, WholeNumberField, options
from webadmin.hotspot_ui import LOGIN_STATUS_LABELS, packages_of_logins
from webadmin.ui import explain, money, paginate, whole_number
from webadmin.ui import settings as settings_in_effect
from webcommon.forms import Form

blueprint = Blueprint("customers", __name__, url_prefix="/customers")
SCREEN = Screen(
    permissions.CUSTOMERS,
    _l("Customers"),
    "customers.index",
    order=20,
    description=_l("Customers, their wallets, caller IDs and ledgers; create, edit, disable"),
)
#: Money jobs on a customer's wallet, each granted on its own: a cashier may top up
#: without being able to credit money from nothing or move it between wallets.
PERMISSIONS = (
    Permission(
        permissions.TOP_UP,
        _l("Top up"),
        _l("Credit money paid in (cash, bank transfer, e-wallet) to a customer's wallet"),
        order=10,
    ),
    Permission(
        permissions.ADJUST,
        _l("Adjust"),
        _l("Add or take off credit without a payment, with a reason (a correction)"),
        order=20,
    ),
    Permission(
        permissions.TRANSFER,
        _l("Transfer"),
        _l("Move credit from one customer's wallet to another's"),
        order=30,
    ),
    Permission(
        permissions.CREDIT_LIMIT,
        _l("Change credit limits"),
        _l("Set how far below zero a customer's wallet may go"),
        order=40,
    ),
)

KIND_LABELS = {"individual": _l("Individual"), "organization": _l("Organization")}
STATUS_LABELS = {"active": _l("Active"), "pending": _l("Pending"), "disabled": _l("Disabled")}
METHOD_LABELS = {
    "cash": _l("Cash"),
    "bank_transfer": _l("Bank transfer"),
    "e_wallet": _l("E-wallet"),
    "voucher": _l("Voucher"),
    "other": _l("Other"),
}
IDENTITY_LABELS = {
    "callerid": _l("Caller ID"),
    "peer": _l("SIP peer"),
    "accountcode": _l("Account code"),
}


class CustomerForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("Type"), choices=options((k, KIND_LABELS[k]) for k in CUSTOMER_KINDS))
    status = SelectField(
        _l("Status"), choices=options((s, STATUS_LABELS[s]) for s in CUSTOMER_STATUSES)
    )
    credit_limit = MoneyField(_l("Credit limit"), allow_zero=True, default=0)
    plan = SelectField(_l("Tariff plan"), choices=[])
    callerid = StringField(_l("Caller ID"), validators=[Optional(), Length(max=80)])
    peer = StringField(_l("SIP peer"), validators=[Optional(), Length(max=80)])
    accountcode = StringField(_l("Account code"), validators=[Optional(), Length(max=80)])


class TopUpForm(Form):
    key = FormKeyField()
    amount = MoneyField(_l("Amount"), validators=[InputRequired(message=_l("Enter an amount."))])
    method = SelectField(
        _l("Method"), choices=options((m, METHOD_LABELS[m]) for m in TOP_UP_METHODS)
    )
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=200)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class AdjustForm(Form):
    key = FormKeyField()
    amount = MoneyField(
        _l("Amount (negative to take money off)"),
        allow_negative=True,
        validators=[InputRequired(message=_l("Enter an amount."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("An adjustment needs a reason.")), Length(max=2000)],
    )


class TransferForm(Form):
    key = FormKeyField()
    to_account = WholeNumberField(
        _l("To account number"),
        validators=[DataRequired(message=_l("Enter an account number.")), NumberRange(min=1)],
    )
    amount = MoneyField(_l("Amount"), validators=[InputRequired(message=_l("Enter an amount."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class IdentityForm(Form):
    kind = SelectField(_l("Kind"), choices=options((k, IDENTITY_LABELS[k]) for k in IDENTITY_KINDS))
    value = StringField(
        _l("Value"),
        validators=[
            DataRequired(message=_l("Enter a value for the identity.")),
            Length(max=80),
        ],
    )


def _plan_choices(session) -> list:
    plans = session.execute(select(TariffPlan.id, TariffPlan.name).order_by(TariffPlan.name))
    return options([("", _("(default plan)"))] + [(str(i), n) for i, n in plans])


def _load(session, customer_id: int) -> tuple[Customer, Account]:
    customer = session.get(Customer, customer_id)
    if customer is None:
        abort(404)
    try:
        return customer, account_of_customer(session, customer_id)
    except WalletError:
        abort(404)


@blueprint.get("/")
@view
def index():
    text = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    kind = request.args.get("kind", "")
    statement = (
        select(Customer, Account)
        .join(Account, Account.customer_id == Customer.id)
        .order_by(Customer.id.desc())
    )
    if text:
        pattern = f"%{text}%"
        conditions = [
            Customer.name.ilike(pattern),
            Customer.phone.ilike(pattern),
            Customer.email.ilike(pattern),
        ]
        account_number = whole_number(text)
        if account_number is not None:
            conditions.append(Account.id == account_number)
        statement = statement.where(or_(*conditions))
    if status in CUSTOMER_STATUSES:
        statement = statement.where(Customer.status == status)
    if kind in CUSTOMER_KINDS:
        statement = statement.where(Customer.kind == kind)
    with database().transaction() as session:
        page = paginate(session, statement)
        return render_template(
            "customers/index.html",
            page=page,
            statuses=STATUS_LABELS,
            kinds=KIND_LABELS,
        )


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    db = database()
    with db.transaction() as session:
        plans = _plan_choices(session)
    form = CustomerForm()
    form.plan.choices = plans
    del form.status
    may_limit = current_user.may("credit_limit")
    if not may_limit:
        del form.credit_limit
    if form.validate_on_submit():
        settings = settings_in_effect()

        def work(session):
            plan_name = None
            if form.plan.data:
                plan = session.get(TariffPlan, int(form.plan.data))
                plan_name = plan.name if plan else None
            else:
                exists = session.execute(
                    select(TariffPlan.id).where(TariffPlan.name == settings.default_tariff_plan)
                ).first()
                plan_name = settings.default_tariff_plan if exists else None
            customer, _account = staff_create_customer(
                session,
                actor=actor(),
                currency=settings.currency,
                name=form.name.data,
                phone=form.phone.data,
                email=form.email.data,
                kind=form.kind.data,
                credit_limit=(form.credit_limit.data or 0) if may_limit else 0,
                tariff_plan=plan_name,
                identities=[
                    ("callerid", form.callerid.data or ""),
                    ("peer", form.peer.data or ""),
                    ("accountcode", form.accountcode.data or ""),
                ],
                address=client_address(),
                country_code=settings.country_code,
                trunk_prefix=settings.trunk_prefix,
            )
            return customer.id

        try:
            customer_id = db.run(work)
        except WalletError as error:
            form.name.errors.append(explain(error))
        else:
            flash(_("Customer created."), "success")
            return redirect(url_for("customers.detail", customer_id=customer_id))
    return render_template("customers/form.html", form=form, customer=None)


@blueprint.get("/<int:customer_id>")
@view
def detail(customer_id: int):
    return _detail_page(customer_id)


def _detail_page(customer_id: int, identity_form: IdentityForm | None = None):
    """The customer's page; an identity form given (submitted, with its errors) is shown
    as sent."""
    here = url_for("customers.detail", customer_id=customer_id)
    with database().transaction() as session:
        customer, account = _load(session, customer_id)
        identities = paginate(
            session,
            select(SipIdentity)
            .where(SipIdentity.account_id == account.id)
            .order_by(SipIdentity.id),
            arg="identities_page",
            path=here,
        )
        holds = paginate(
            session,
            select(Hold)
            .where(Hold.account_id == account.id, Hold.status == "open")
            .order_by(Hold.id),
            arg="holds_page",
            path=here,
        )
        plan = session.get(TariffPlan, account.tariff_plan_id) if account.tariff_plan_id else None
        entries = paginate(
            session,
            select(LedgerEntry)
            .where(LedgerEntry.account_id == account.id)
            .order_by(LedgerEntry.id.desc()),
            path=here,
        )
        logins = paginate(session, hotspot_logins_query(customer.id), arg="logins_page", path=here)
        now = utcnow()
        login_packages = packages_of_logins(session, [x.id for x in logins.items], now)
        panels = []
        for provider in current_app.extensions["pulsa.customer_panels"]:
            panels.extend(provider(session, account.id))
        return render_template(
            "customers/detail.html",
            customer=customer,
            account=account,
            identities=identities,
            logins=logins,
            login_packages=login_packages,
            now=now,
            suggested_username=username_from_name(customer.name),
            login_statuses=LOGIN_STATUS_LABELS,
            holds=holds,
            plan=plan,
            entries=entries,
            panels=panels,
            identity_form=identity_form or IdentityForm(formdata=None),
            identity_labels=IDENTITY_LABELS,
            methods=METHOD_LABELS,
            statuses=STATUS_LABELS,
            kinds=KIND_LABELS,
        )


@blueprint.route("/<int:customer_id>/edit", methods=["GET", "POST"])
@change
def edit(customer_id: int):
    db = database()
    with db.transaction() as session:
        customer, account = _load(session, customer_id)
        plans = _plan_choices(session)
        initial = {
            "name": customer.name,
            "phone": customer.phone,
            "email": customer.email,
            "kind": customer.kind,
            "status": customer.status,
            "credit_limit": account.credit_limit,
            "plan": str(account.tariff_plan_id or ""),
        }
    form = CustomerForm(data=initial) if request.method == "GET" else CustomerForm()
    form.plan.choices = plans
    for name in ("callerid", "peer", "accountcode"):
        delattr(form, name)
    # Without the permission the limit is neither shown nor taken from the request.
    may_limit = current_user.may("credit_limit")
    if not may_limit:
        del form.credit_limit
    if form.validate_on_submit():
        try:
            db.run(
                lambda s: update_customer(
                    s,
                    customer_id,
                    actor=actor(),
                    name=form.name.data,
                    phone=form.phone.data,
                    email=form.email.data,
                    kind=form.kind.data,
                    status=form.status.data,
                    credit_limit=(
                        (form.credit_limit.data or 0) if may_limit else initial["credit_limit"]
                    ),
                    tariff_plan_id=int(form.plan.data) if form.plan.data else None,
                    address=client_address(),
                )
            )
        except WalletError as error:
            form.name.errors.append(explain(error))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("customers.detail", customer_id=customer_id))
    return render_template("customers/form.html", form=form, customer=customer)


@blueprint.post("/<int:customer_id>/status")
@change
def status(customer_id: int):
    wanted = request.form.get("status", "")
    if wanted not in CUSTOMER_STATUSES:
        abort(400)
    database().run(
        lambda s: set_customer_status(
            s, customer_id, wanted, actor=actor(), address=client_address()
        )
    )
    flash(_("Customer is now %(status)s.", status=STATUS_LABELS[wanted]), "success")
    return redirect(url_for("customers.detail", customer_id=customer_id))


@blueprint.post("/<int:customer_id>/portal-link")
@change
def portal_link(customer_id: int):
    """A one-time link (and its QR code) for the customer's first access to the portal,
    or a forgotten password. Shown once, on this answer: the token is never stored."""
    settings = settings_in_effect()
    try:
        token, expires_at = database().run(
            lambda s: issue_portal_link(s, customer_id, actor=actor(), address=client_address())
        )
    except NotFound:
        abort(404)
    link = portal_link_url(settings.portal_address, token)
    with database().transaction() as session:
        customer = session.get(Customer, customer_id)
        return render_template(
            "customers/portal_link.html",
            customer=customer,
            link=link,
            qr=Markup(qr_svg(link)),
            expires_at=expires_at,
        )


@blueprint.post("/<int:customer_id>/identities")
@change
def add_identity(customer_id: int):
    form = IdentityForm()
    settings = settings_in_effect()
    with database().transaction() as session:
        _customer, account = _load(session, customer_id)
    if form.validate_on_submit():
        try:
            database().run(
                lambda s: staff_add_identity(
                    s,
                    account.id,
                    form.kind.data,
                    form.value.data,
                    actor=actor(),
                    address=client_address(),
                    country_code=settings.country_code,
                    trunk_prefix=settings.trunk_prefix,
                )
            )
        except WalletError as error:
            field = form.kind if "kind" in str(error) else form.value
            field.errors.append(explain(error))
        else:
            flash(_("Identity added."), "success")
            return redirect(url_for("customers.detail", customer_id=customer_id))
    return _detail_page(customer_id, form)


@blueprint.post("/<int:customer_id>/identities/<int:identity_id>/remove")
@change
def drop_identity(customer_id: int, identity_id: int):
    with database().transaction() as session:
        _customer, account = _load(session, customer_id)
        identity = session.get(SipIdentity, identity_id)
        if identity is None or identity.account_id != account.id:
            abort(404)
    database().run(
        lambda s: remove_identity(s, identity_id, actor=actor(), address=client_address())
    )
    flash(_("Identity removed."), "success")
    return redirect(url_for("customers.detail", customer_id=customer_id))


def _money_action(customer_id: int, form: Form, template: str, perform):
    """Shared flow of top-up, adjustment and transfer: validate, run the wallet service
    with the form's key, say whether it was new or a repeat, back to the customer."""
    with database().transaction() as session:
        customer, account = _load(session, customer_id)
    if form.validate_on_submit():
        try:
            entry, is_new = database().run(lambda s: perform(s, account))
        except WalletError as error:
            form.amount.errors.append(explain(error))
        else:
            if is_new:
                flash(
                    _(
                        "Done: %(amount)s. New balance %(balance)s.",
                        amount=money(entry.amount),
                        balance=money(entry.balance_after),
                    ),
                    "success",
                )
            else:
                flash(_("This form was already submitted; nothing more was changed."), "warning")
            return redirect(url_for("customers.detail", customer_id=customer_id))
    return render_template(template, form=form, customer=customer, account=account)


@blueprint.route("/<int:customer_id>/top-up", methods=["GET", "POST"])
@allowed("top_up")
def top_up(customer_id: int):
    form = TopUpForm()
    return _money_action(
        customer_id,
        form,
        "customers/top_up.html",
        lambda s, account: staff_top_up(
            s,
            account.id,
            form.amount.data,
            key=f"web-topup:{form.key.data}",
            method=form.method.data,
            reference=form.reference.data,
            note=form.note.data,
            actor=actor(),
            address=client_address(),
        ),
    )


@blueprint.route("/<int:customer_id>/adjust", methods=["GET", "POST"])
@allowed("adjust")
def adjust(customer_id: int):
    form = AdjustForm()
    return _money_action(
        customer_id,
        form,
        "customers/adjust.html",
        lambda s, account: staff_adjust(
            s,
            account.id,
            form.amount.data,
            key=f"web-adjust:{form.key.data}",
            reason=form.reason.data,
            actor=actor(),
            address=client_address(),
        ),
    )


@blueprint.route("/<int:customer_id>/transfer", methods=["GET", "POST"])
@allowed("transfer")
def transfer(customer_id: int):
    form = TransferForm()
    return _money_action(
        customer_id,
        form,
        "customers/transfer.html",
        lambda s, account: staff_transfer(
            s,
            account.id,
            form.to_account.data,
            form.amount.data,
            key=f"web-transfer:{form.key.data}",
            note=form.note.data,
            actor=actor(),
            address=client_address(),
        ),
    )
