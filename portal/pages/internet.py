"""Internet: the packages the customer may buy (greyed, with what is missing, when the
credit is short), buying or renewing from the wallet after a confirmation step, auto-renew
on or off, and the hotspot logins with their password and what the router holds.

Buying goes through the same service as the admin's (hotspot.backoffice.staff_buy_package,
audited, with the customer as actor); the confirmation form carries an idempotency key,
so a double submit buys once.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import get_decimal_symbol
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hotspot.backoffice import (
    split_rate_limit,
    staff_buy_package,
    staff_create_login,
    staff_set_auto_renew,
)
from hotspot.waiting import Waiting, why_waiting
from portal.access import MenuEntry, actor, client_address, customer, me, mine, run_as_me
from portal.ui import explain, new_form_key, valid_form_key
from wallet.errors import IdempotencyConflict, WalletError
from wallet.hotspot_models import InternetPackage, Subscription
from wallet.internet import UsernameTaken, not_over, username_from_name
from wallet.ledger import utcnow

blueprint = Blueprint("internet", __name__, url_prefix="/internet")
MENU = MenuEntry(30, _l("Internet"), "internet.index")


@dataclass(frozen=True)
class Offer:
    """A package as the customer sees it, with what their credit lacks for it."""

    id: int
    name: str
    description: str
    price: int
    download: str
    upload: str
    limit_uptime: int | None
    limit_bytes_total: int | None
    validity_value: int
    validity_unit: str
    devices: int | None
    missing: int


@dataclass(frozen=True)
class LoginView:
    id: int
    username: str
    password: str
    status: str
    subscriptions: list[Subscription]
    waiting: dict[int, Waiting]  # why each subscription that has not started waits


def waiting_reasons(session, subscriptions, now) -> dict[int, Waiting]:
    """Why each of these subscriptions that waits for its start waits (by id)."""
    settings = current_app.extensions["pulsa.settings"]
    return why_waiting(
        session,
        subscriptions,
        sync_on=bool(settings.router_key),
        sync_seconds=settings.hotspot_sync_seconds,
        now=now,
    )


def _offer(package: InternetPackage, available: int) -> Offer:
    mark = get_decimal_symbol(get_locale() or "en")
    speed = split_rate_limit(package.rate_limit, mark) if package.rate_limit else None
    return Offer(
        id=package.id,
        name=package.name,
        description=package.description,
        price=package.price,
        download=speed.download if speed else "",
        upload=speed.upload if speed else "",
        limit_uptime=package.limit_uptime,
        limit_bytes_total=package.limit_bytes_total,
        validity_value=package.validity_value,
        validity_unit=package.validity_unit,
        devices=package.shared_users,
        missing=max(0, package.price - available),
    )


def _offers(my) -> list[Offer]:
    available = my.account().available
    packages = my.session.execute(
        select(InternetPackage)
        .where(InternetPackage.active.is_(True))
        .order_by(InternetPackage.price, InternetPackage.name)
    ).scalars()
    return [_offer(package, available) for package in packages]


def _logins(my) -> list[LoginView]:
    now = utcnow()
    views = []
    for login in my.logins():
        subscriptions = list(
            my.session.execute(
                select(Subscription)
                .where(
                    Subscription.login_id == login.id,
                    Subscription.status == "active",
                    not_over(now),
                )
                .order_by(Subscription.starts_at, Subscription.id)
            ).scalars()
        )
        for subscription in subscriptions:
            subscription.package  # loaded while the session is open  # noqa: B018
        views.append(
            LoginView(
                login.id,
                login.username,
                login.password,
                login.status,
                subscriptions,
                waiting_reasons(my.session, subscriptions, now),
            )
        )
    return views


@blueprint.get("/")
@customer
def index():
    with mine() as my:
        return render_template(
            "internet/index.html",
            offers=_offers(my),
            logins=_logins(my),
            available=my.account().available,
            now=utcnow(),
            suggested_username=username_from_name(me().name),
        )


@blueprint.post("/login")
@customer
def make_login():
    """The customer makes their first hotspot login (the admin's service, audited with
    the customer as actor); a second one is the operator's to give."""
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "").strip()
    customer_id = me().customer_id
    address = client_address()
    try:
        run_as_me(
            lambda my: staff_create_login(
                my.session,
                customer_id,
                username,
                password or None,
                actor=actor(),
                address=address,
                only_if_none=True,
            )
        )
    except UsernameTaken as taken:
        flash(
            _(
                "The user name %(name)s is taken. %(suggestion)s is free.",
                name=taken.username,
                suggestion=taken.suggestion,
            ),
            "error",
        )
    except WalletError:
        flash(
            _(
                "This login cannot be made. A user name uses letters, digits and . _ - @ + "
                "only, a password has no spaces or quotes, and a second login is given by us."
            ),
            "error",
        )
    else:
        flash(_("Your hotspot login is ready. Buy a package for it below."), "success")
    return redirect(url_for("internet.index"))


def _confirmation(package_id: int, key: str, login_id: int | None, error: str | None = None):
    with mine() as my:
        package = my.session.get(InternetPackage, package_id)
        if package is None or not package.active:
            abort(404)
        logins = [login for login in my.logins() if login.status == "active"]
        offer = _offer(package, my.account().available)
        return render_template(
            "internet/confirm.html",
            offer=offer,
            logins=logins,
            chosen=login_id or (logins[0].id if logins else None),
            key=key,
            error=error,
        ), (400 if error else 200)


@blueprint.get("/buy/<int:package_id>")
@customer
def confirm(package_id: int):
    login_id = request.args.get("login", "")
    return _confirmation(package_id, new_form_key(), int(login_id) if login_id.isdigit() else None)


@blueprint.post("/buy/<int:package_id>")
@customer
def buy(package_id: int):
    key = request.form.get("key", "")
    login_text = request.form.get("login", "")
    auto_renew = request.form.get("auto_renew") == "1"
    if not valid_form_key(key):
        return _confirmation(
            package_id, new_form_key(), None, _("This form expired. Please try again.")
        )
    if not login_text.isdigit():
        return _confirmation(package_id, key, None, _("Choose the hotspot login to use."))
    login_id = int(login_text)
    customer_id = me().customer_id
    address = client_address()

    def work(my):
        my.login(login_id)  # 404 unless it is this customer's
        package = my.session.get(InternetPackage, package_id)
        if package is None or not package.active:
            abort(404)
        subscription, new = staff_buy_package(
            my.session,
            login_id,
            package_id,
            key=f"portal-buy:{customer_id}:{key}",
            auto_renew=auto_renew,
            actor=actor(),
            address=address,
        )
        return new, subscription.awaits_start

    try:
        new, waits = run_as_me(work)
    except IdempotencyConflict:
        return _confirmation(
            package_id, new_form_key(), login_id, _("This form expired. Please try again.")
        )
    except WalletError as error:
        return _confirmation(package_id, key, login_id, explain(error))
    if new and waits:
        # Not "enjoy": it cannot be used before a router takes it (the page says why).
        flash(_("Bought. The package waits for the router; its validity starts then."), "info")
    elif new:
        flash(_("Bought. Enjoy your internet!"), "success")
    else:
        flash(_("This purchase was made already; nothing more was charged."), "info")
    return redirect(url_for("internet.index"))


@blueprint.post("/subscriptions/<int:subscription_id>/auto-renew")
@customer
def auto_renew(subscription_id: int):
    enabled = request.form.get("enabled") == "1"
    address = client_address()

    def work(my):
        subscription = my.subscription(subscription_id)  # 404 unless it is this customer's
        return staff_set_auto_renew(
            my.session, subscription.id, enabled, actor=actor(), address=address
        )

    try:
        run_as_me(work)
    except WalletError as error:
        flash(explain(error), "error")
    else:
        flash(_("Auto-renew is on.") if enabled else _("Auto-renew is off."), "success")
    return redirect(url_for("internet.index"))
