"""Home: the balance, what is available now (credit reserved by calls in progress shown
as such), calls in progress, internet packages, a low-balance notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, send_file, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Select, bindparam, select

from hotspot.waiting import Waiting
from messaging.notifications import kind_label, recent_notices, render_notice
from portal.access import MenuEntry, customer, me, mine, public
from portal.pages.internet import waiting_reasons
from portal.ui import site
from wallet.errors import NotFound
from wallet.hotspot_models import HotspotLogin, InternetPackage, Subscription
from wallet.internet import not_over
from wallet.ledger import utcnow
from wallet.models import Call, Hold
from wallet.payments import proof_file
from wallet.usage import Usage, usage_of

blueprint = Blueprint("home", __name__)
MENU = MenuEntry(10, _l("Home"), "home.index")


@dataclass(frozen=True)
class LiveCall:
    dialled: str
    started: datetime
    answered: datetime | None
    reserved: int


@dataclass(frozen=True)
class PackageNow:
    login: str
    package: str
    starts_at: datetime
    ends_at: datetime
    running: bool
    seconds_left: int
    limit_uptime: int | None
    limit_bytes_total: int | None
    auto_renew: bool
    waiting: Waiting | None = None  # why it has not started, while it waits
    # What the routers counted for it (None: not read yet), and when it was read.
    used_uptime: int | None = None
    used_bytes: int | None = None
    usage_read_at: datetime | None = None

    @property
    def uptime_left(self) -> int | None:
        if self.limit_uptime is None or self.used_uptime is None:
            return None
        return max(0, self.limit_uptime - self.used_uptime)

    @property
    def bytes_left(self) -> int | None:
        if self.limit_bytes_total is None or self.used_bytes is None:
            return None
        return max(0, self.limit_bytes_total - self.used_bytes)


@blueprint.get("/")
@public
def root():
    return redirect(url_for("home.index"))


# The home page's queries are built once and run with the customer's ids: building a
# statement took about as much CPU as running it, on the page customers see most.


@cache
def _live_calls_query() -> Select:
    return (
        select(Call, Hold)
        .outerjoin(Hold, Hold.id == Call.hold_id)
        .where(
            Call.account_id == bindparam("account_id"),
            Call.status.in_(("authorized", "answered")),
        )
        .order_by(Call.authorized_at)
    )


@cache
def _packages_query() -> Select:
    return (
        select(Subscription, HotspotLogin.username, InternetPackage.name)
        .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
        .join(InternetPackage, InternetPackage.id == Subscription.package_id)
        .where(
            HotspotLogin.customer_id == bindparam("customer_id"),
            Subscription.status == "active",
            not_over(bindparam("now")),
        )
        .order_by(Subscription.starts_at, Subscription.id)
    )


def live_calls(session, account_id: int) -> list[LiveCall]:
    rows = session.execute(_live_calls_query(), {"account_id": account_id}).all()
    return [
        LiveCall(
            dialled=call.dialled,
            started=call.authorized_at,
            answered=call.answered_at,
            reserved=(hold.remaining if hold is not None and hold.status == "open" else 0),
        )
        for call, hold in rows
    ]


def packages_now(session, customer_id: int, now: datetime) -> list[PackageNow]:
    """Each running or waiting (bought ahead) package of the customer's own logins."""
    rows = session.execute(_packages_query(), {"customer_id": customer_id, "now": now}).all()
    waiting = waiting_reasons(session, [row[0] for row in rows], now)
    used = usage_of(session, [row[0].id for row in rows])
    nothing = Usage(None, None, None)  # type: ignore[arg-type]
    return [
        PackageNow(
            login=username,
            package=name,
            starts_at=subscription.starts_at,
            ends_at=subscription.ends_at,
            running=subscription.starts_at <= now,
            seconds_left=int(
                (subscription.ends_at - max(now, subscription.starts_at)).total_seconds()
            ),
            limit_uptime=subscription.limit_uptime,
            limit_bytes_total=subscription.limit_bytes_total,
            auto_renew=subscription.auto_renew,
            waiting=waiting.get(subscription.id),
            used_uptime=used.get(subscription.id, nothing).uptime_seconds,
            used_bytes=used.get(subscription.id, nothing).bytes_total,
            usage_read_at=used.get(subscription.id, nothing).read_at,
        )
        for subscription, username, name in rows
    ]


@blueprint.get("/home")
@customer
def index():
    now = utcnow()
    with mine() as my:
        account = my.account()
        calls = live_calls(my.session, my.account_id)
        packages = packages_now(my.session, my.customer_id, now)
        balance, held, available = account.balance, account.held, account.available
        locale = str(get_locale() or "en")
        notices = [
            (notice.created_at, kind_label(notice.kind, locale), render_notice(notice, locale))
            for notice in recent_notices(my.session, my.customer_id, limit=5)
        ]
    threshold = site().low_balance_threshold
    # Other parts (messaging's announcements) add panels: principal -> HTML.
    providers = current_app.extensions["pulsa.portal_home_panels"]
    panels = [Markup(provider(me())) for provider in providers]
    return render_template(
        "home/index.html",
        balance=balance,
        held=held,
        available=available,
        low=threshold > 0 and available < threshold,
        threshold=threshold,
        calls=calls,
        packages=packages,
        panels=panels,
        notices=notices,
    )


@blueprint.get("/logo")
@public
def logo():
    relative = site().logo_path
    if not relative:
        abort(404)
    try:
        path = proof_file(Path(current_app.config["UPLOAD_FOLDER"]), relative)
    except NotFound:
        abort(404)
    return send_file(path, max_age=3600)
