"""Internet logins and subscriptions: each customer's hotspot username, the packages
bought for it (from the customer's wallet, charged once per form), extensions by days
(free with a reason, or paid) with their history, auto-renew, and expiry dates."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from hotspot.backoffice import (
    account_of_login,
    staff_buy_package,
    staff_create_login,
    staff_extend,
    staff_set_auto_renew,
    staff_set_login_status,
)
from wallet import permissions
from wallet.errors import WalletError
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Subscription,
    SubscriptionExtension,
)
from wallet.internet import LOGIN_STATUSES, MAX_EXTENSION_DAYS, UsernameTaken
from wallet.ledger import utcnow
from wallet.models import Account, Customer
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import FormKeyField, MoneyField, WholeNumberField, options
from webadmin.hotspot_ui import (
    LOGIN_STATUS_LABELS,
    SUBSCRIPTION_STATUS_LABELS,
    install,
    waiting_reasons,
)
from webadmin.ui import explain, local, money, new_form_key, paginate, whole_number
from webcommon.forms import Form

blueprint = Blueprint("subscriptions", __name__, url_prefix="/internet")
blueprint.record_once(install)
SCREEN = Screen(
    permissions.SUBSCRIPTIONS,
    _l("Internet logins"),
    "subscriptions.index",
    order=74,
    description=_l("Customers' hotspot logins: buy, extend, auto-renew, expiry"),
)


class LoginForm(Form):
    account = WholeNumberField(
        _l("Account number"),
        validators=[DataRequired(message=_l("Enter an account number.")), NumberRange(min=1)],
    )
    username = StringField(_l("Hotspot user name"), validators=[DataRequired(), Length(max=64)])
    password = StringField(_l("Password"), validators=[Optional(), Length(max=64)])


class BuyForm(Form):
    key = FormKeyField()
    package = SelectField(_l("Package"), choices=[])
    auto_renew = BooleanField(_l("Renew from the balance when it ends"))


class ExtendForm(Form):
    key = FormKeyField()
    days = WholeNumberField(
        _l("Days to add"),
        validators=[
            InputRequired(message=_l("Enter a number of days.")),
            NumberRange(1, MAX_EXTENSION_DAYS),
        ],
    )
    price = MoneyField(_l("Price (0: free)"), allow_zero=True, default=0)
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=200)])


def _login(session, login_id: int) -> HotspotLogin:
    login = session.get(HotspotLogin, login_id)
    if login is None or login.kind != "customer":
        abort(404)
    return login


def _package_choices(session) -> list:
    packages = session.execute(
        select(InternetPackage)
        .where(InternetPackage.active.is_(True))
        .order_by(InternetPackage.price, InternetPackage.name)
    ).scalars()
    return options((str(p.id), f"{p.name} · {money(p.price)}") for p in packages)


@blueprint.get("/")
@view
def index():
    text = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    statement = (
        select(HotspotLogin, Customer)
        .join(Customer, Customer.id == HotspotLogin.customer_id)
        .where(HotspotLogin.kind == "customer")
        .order_by(HotspotLogin.id.desc())
    )
    if text:
        pattern = f"%{text}%"
        statement = statement.where(
            or_(
                HotspotLogin.username.ilike(pattern),
                Customer.name.ilike(pattern),
                Customer.phone.ilike(pattern),
            )
        )
    if status in LOGIN_STATUSES:
        statement = statement.where(HotspotLogin.status == status)
    now = utcnow()
    with database().transaction() as session:
        page = paginate(session, statement)
        ids = [login.id for login, _customer in page.items]
        until = dict(
            session.execute(
                select(Subscription.login_id, func.max(Subscription.ends_at))
                .where(
                    Subscription.login_id.in_(ids),
                    Subscription.status == "active",
                    Subscription.awaits_start.is_(False),
                    Subscription.ends_at > now,
                )
                .group_by(Subscription.login_id)
            ).all()
        )
        waiting_subscriptions = session.execute(
            select(Subscription)
            .where(
                Subscription.login_id.in_(ids),
                Subscription.status == "active",
                Subscription.awaits_start.is_(True),
            )
            .order_by(Subscription.starts_at, Subscription.id)
        ).scalars()
        reasons = waiting_reasons(session, list(waiting_subscriptions), now)
        waiting = {}
        for subscription_id, reason in reasons.items():
            waiting.setdefault(session.get(Subscription, subscription_id).login_id, reason)
        return render_template(
            "subscriptions/index.html",
            page=page,
            until=until,
            waiting=waiting,
            statuses=LOGIN_STATUS_LABELS,
        )


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    form = LoginForm()
    if request.method == "GET" and whole_number(request.args.get("account")) is not None:
        form.account.data = whole_number(request.args["account"])
    if form.validate_on_submit():
        with database().transaction() as session:
            account = session.get(Account, form.account.data)
            customer_id = account.customer_id if account is not None else None
        if customer_id is None:
            form.account.errors.append(_("No account with this number."))
        else:
            try:
                login_id = database().run(
                    lambda s: (
                        staff_create_login(
                            s,
                            customer_id,
                            form.username.data,
                            form.password.data,
                            actor=actor(),
                            address=client_address(),
                        ).id
                    )
                )
            except UsernameTaken as taken:
                form.username.errors.append(
                    _(
                        "The user name %(name)s is taken. %(suggestion)s is free.",
                        name=taken.username,
                        suggestion=taken.suggestion,
                    )
                )
                form.username.data = taken.suggestion
            except WalletError as error:
                form.username.errors.append(explain(error))
            else:
                flash(_("Hotspot login created. Buy a package for it below."), "success")
                return redirect(url_for("subscriptions.detail", login_id=login_id))
    return render_template("subscriptions/new.html", form=form)


@blueprint.get("/<int:login_id>")
@view
def detail(login_id: int):
    return _detail_page(login_id)


def _detail_page(login_id: int, buy_form: BuyForm | None = None):
    """The login's page; a purchase form given (submitted, with its errors) is shown as
    sent."""
    now = utcnow()
    here = url_for("subscriptions.detail", login_id=login_id)
    with database().transaction() as session:
        login = _login(session, login_id)
        account = account_of_login(session, login)
        subscriptions = paginate(
            session,
            select(Subscription)
            .where(Subscription.login_id == login.id)
            .order_by(Subscription.starts_at.desc(), Subscription.id.desc()),
            arg="subscriptions_page",
            path=here,
        )
        extensions = paginate(
            session,
            select(SubscriptionExtension)
            .join(Subscription, Subscription.id == SubscriptionExtension.subscription_id)
            .where(Subscription.login_id == login.id)
            .order_by(SubscriptionExtension.id.desc()),
            arg="extensions_page",
            path=here,
        )
        if buy_form is None:
            buy_form = BuyForm(formdata=None)
            buy_form.package.choices = _package_choices(session)
            if login.package_id is not None:
                buy_form.package.data = str(login.package_id)
        return render_template(
            "subscriptions/detail.html",
            waiting=waiting_reasons(session, subscriptions.items, now),
            login=login,
            customer=login.customer,
            account=account,
            subscriptions=subscriptions,
            extensions=extensions,
            buy_form=buy_form,
            now=now,
            statuses=LOGIN_STATUS_LABELS,
            sub_statuses=SUBSCRIPTION_STATUS_LABELS,
        )


@blueprint.post("/<int:login_id>/buy")
@change
def buy(login_id: int):
    with database().transaction() as session:
        _login(session, login_id)
        choices = _package_choices(session)
    form = BuyForm()
    form.package.choices = choices
    if not form.validate_on_submit():
        if form.key.errors:
            # The key is a hidden field: its error shows beside the package, and the form
            # comes back with a fresh key so that sending it again can work.
            form.package.errors = [*form.package.errors, *form.key.errors]
            form.key.data = new_form_key()
        return _detail_page(login_id, form)
    try:
        subscription, is_new, balance = database().run(
            lambda s: _buy(s, login_id, int(form.package.data), form)
        )
    except WalletError as error:
        with database().transaction() as session:
            still_sold_here = _login(session, login_id).status == "active"
        if not still_sold_here:
            # Disabled meanwhile: the page has no purchase form to show the refusal on.
            flash(explain(error), "error")
            return redirect(url_for("subscriptions.detail", login_id=login_id))
        form.package.errors = [*form.package.errors, explain(error)]
        return _detail_page(login_id, form)
    else:
        if is_new and subscription.awaits_start:
            flash(
                _(
                    "Bought %(package)s for %(price)s. Its validity starts when a router "
                    "takes it. New balance %(balance)s.",
                    package=subscription.package.name,
                    price=money(subscription.price),
                    balance=money(balance),
                ),
                "success",
            )
        elif is_new:
            flash(
                _(
                    "Bought %(package)s for %(price)s, valid from %(start)s to %(end)s. "
                    "New balance %(balance)s.",
                    package=subscription.package.name,
                    price=money(subscription.price),
                    start=local(subscription.starts_at),
                    end=local(subscription.ends_at),
                    balance=money(balance),
                ),
                "success",
            )
        else:
            flash(_("This form was already submitted; nothing more was charged."), "warning")
    return redirect(url_for("subscriptions.detail", login_id=login_id))


def _buy(session, login_id: int, package_id: int, form: BuyForm):
    subscription, is_new = staff_buy_package(
        session,
        login_id,
        package_id,
        key=f"web-buy:{form.key.data}",
        auto_renew=form.auto_renew.data,
        actor=actor(),
        address=client_address(),
    )
    subscription.package  # noqa: B018 - loaded for the message, after the session ends
    account = session.get(Account, subscription.account_id)
    return subscription, is_new, account.balance if account is not None else 0


@blueprint.post("/<int:login_id>/status")
@change
def status(login_id: int):
    wanted = request.form.get("status", "")
    if wanted not in ("active", "disabled"):
        abort(400)
    with database().transaction() as session:
        _login(session, login_id)
    try:
        database().run(
            lambda s: staff_set_login_status(
                s, login_id, wanted, actor=actor(), address=client_address()
            )
        )
    except WalletError as error:
        flash(explain(error), "error")
    else:
        flash(
            _(
                "The login is now %(status)s; the routers follow at the next sync.",
                status=LOGIN_STATUS_LABELS[wanted],
            ),
            "success",
        )
    return redirect(url_for("subscriptions.detail", login_id=login_id))


def _subscription(session, subscription_id: int) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.login.kind != "customer":
        abort(404)
    return subscription


@blueprint.route("/subscriptions/<int:subscription_id>/extend", methods=["GET", "POST"])
@change
def extend(subscription_id: int):
    with database().transaction() as session:
        subscription = _subscription(session, subscription_id)
        login = subscription.login
        customer = login.customer
        package = subscription.package
        account = session.get(Account, subscription.account_id) if subscription.account_id else None
    form = ExtendForm()
    if form.validate_on_submit():
        price = form.price.data or 0
        if price == 0 and not (form.reason.data or "").strip():
            form.reason.errors.append(_("A free extension needs a reason (trial, reward ...)."))
        else:
            try:
                extension, is_new = database().run(
                    lambda s: staff_extend(
                        s,
                        subscription_id,
                        form.days.data,
                        key=f"web-extend:{form.key.data}",
                        price=price,
                        reason=form.reason.data or "",
                        actor=actor(),
                        address=client_address(),
                    )
                )
            except WalletError as error:
                form.days.errors.append(explain(error))
            else:
                if is_new:
                    flash(
                        _(
                            "Extended by %(days)s days: it now ends %(end)s.",
                            days=extension.days,
                            end=local(extension.new_ends_at),
                        ),
                        "success",
                    )
                else:
                    flash(
                        _("This form was already submitted; nothing more was changed."),
                        "warning",
                    )
                return redirect(url_for("subscriptions.detail", login_id=login.id))
    return render_template(
        "subscriptions/extend.html",
        form=form,
        subscription=subscription,
        login=login,
        customer=customer,
        package=package,
        account=account,
    )


@blueprint.post("/subscriptions/<int:subscription_id>/auto-renew")
@change
def auto_renew(subscription_id: int):
    enabled = request.form.get("enabled") == "1"
    with database().transaction() as session:
        login_id = _subscription(session, subscription_id).login_id
    try:
        database().run(
            lambda s: staff_set_auto_renew(
                s, subscription_id, enabled, actor=actor(), address=client_address()
            )
        )
    except WalletError as error:
        flash(explain(error), "error")
    else:
        flash(
            _("Auto-renew is on: it renews from the balance when it ends.")
            if enabled
            else _("Auto-renew is off."),
            "success",
        )
    return redirect(url_for("subscriptions.detail", login_id=login_id))
