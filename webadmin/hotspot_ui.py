"""What the internet screens (routers, packages, internet logins, registrations,
vouchers, hotspot pages, the registration portal) share: labels, the router keyring,
template filters for durations, sizes and speeds, and their dashboard tiles (the
customer page lists hotspot logins by itself). Each of those blueprints installs this
once with `blueprint.record_once(install)`."""

from __future__ import annotations

from babel.numbers import get_decimal_symbol
from flask import current_app, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotspot.backoffice import format_data_quota, split_rate_limit
from hotspot.credentials import CredentialError, RouterKeyring
from hotspot.driver import RouterAuthError, RouterError, RouterUnreachable
from hotspot.waiting import Waiting, why_waiting
from wallet.hotspot_models import HotspotLogin, InternetPackage, Router, Subscription
from wallet.internet import not_over

UNIT_LABELS = {
    "minutes": _l("minutes"),
    "hours": _l("hours"),
    "days": _l("days"),
    "months": _l("months"),
}
LOGIN_STATUS_LABELS = {
    "active": _l("Active"),
    "pending": _l("Pending"),
    "disabled": _l("Disabled"),
    "void": _l("Voided"),
}
SUBSCRIPTION_STATUS_LABELS = {
    "active": _l("Active"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
}
VOUCHER_STATUS_LABELS = {
    "new": _l("New"),
    "sold": _l("Sold"),
    "used": _l("Used"),
    "redeemed": _l("Redeemed"),
    "void": _l("Voided"),
}


def keyring() -> RouterKeyring | None:
    """The key router passwords are encrypted with; None when PULSA_ROUTER_KEY is unset
    or malformed (the screens then say so and what to do)."""
    try:
        return RouterKeyring(current_app.extensions["pulsa.settings"].router_key)
    except CredentialError:
        return None


def speeds(rate_limit: str | None):
    """A package's speeds as the reader writes them (`split_rate_limit` with the decimal
    mark of the page's language: "1,5 Mbps" in Indonesian)."""
    return split_rate_limit(rate_limit, get_decimal_symbol(get_locale() or "en"))


def speed_text(rate_limit: str | None) -> str:
    """ "5 Mbps down, 1 Mbps up": how every page and the voucher sheet say a speed."""
    if not rate_limit:
        return ""
    parts = speeds(rate_limit)
    return _("%(down)s down, %(up)s up", down=parts.download, up=parts.upload)


def validity_text(value: int, unit: str) -> str:
    """ "1 day", "7 days" (one text each, so that each language words both)."""
    one = {
        "minutes": _l("%(num)s minute"),
        "hours": _l("%(num)s hour"),
        "days": _l("%(num)s day"),
        "months": _l("%(num)s month"),
    }
    many = {
        "minutes": _l("%(num)s minutes"),
        "hours": _l("%(num)s hours"),
        "days": _l("%(num)s days"),
        "months": _l("%(num)s months"),
    }
    return str((one if value == 1 else many).get(unit, many["days"])) % {"num": value}


def package_summary(package: InternetPackage) -> str:
    """What a package gives, in the reader's language: "1 day · 5 GB · 2h online ·
    5 Mbps down, 1 Mbps up" (the voucher sheet's line)."""
    parts = [validity_text(package.validity_value, package.validity_unit)]
    if package.limit_bytes_total:
        parts.append(_("%(size)s of data", size=format_data_quota(package.limit_bytes_total) + "B"))
    if package.limit_uptime:
        parts.append(_("%(time)s online", time=duration(package.limit_uptime)))
    if package.rate_limit:
        parts.append(speed_text(package.rate_limit))
    return " · ".join(parts)


def waiting_reasons(session, subscriptions, now) -> dict[int, Waiting]:
    """Why each of these subscriptions that waits for its start waits (by id), for
    `subscriptions/_waiting.html`."""
    settings = current_app.extensions["pulsa.settings"]
    return why_waiting(
        session,
        subscriptions,
        sync_on=bool(settings.router_key),
        sync_seconds=settings.hotspot_sync_seconds,
        now=now,
    )


def packages_of_logins(
    session: Session, login_ids: list[int], now
) -> dict[int, tuple[Subscription, Waiting | None]]:
    """Each login's running (or next, or waiting) package and, when it waits for its
    start, why: for the customer page."""
    found: dict[int, tuple[Subscription, Waiting | None]] = {}
    if not login_ids:
        return found
    subscriptions = list(
        session.execute(
            select(Subscription)
            .where(
                Subscription.login_id.in_(login_ids),
                Subscription.status == "active",
                not_over(now),
            )
            .order_by(Subscription.starts_at, Subscription.id)
        ).scalars()
    )
    reasons = waiting_reasons(session, subscriptions, now)
    for subscription in subscriptions:
        subscription.package  # noqa: B018 - loaded for the page
        found.setdefault(subscription.login_id, (subscription, reasons.get(subscription.id)))
    return found


def router_timeout() -> float:
    return float(current_app.extensions["pulsa.settings"].router_timeout_seconds)


def router_problem(router_name: str, where: str, error: Exception) -> str:
    """A message a person can act on, for a router pulsa could not talk to."""
    detail = getattr(error, "message", None) or str(error)
    if isinstance(error, CredentialError):
        return _(
            "The stored password of router %(name)s cannot be decrypted: PULSA_ROUTER_KEY "
            "is not the key it was saved with. Enter the password again.",
            name=router_name,
        )
    if isinstance(error, RouterAuthError):
        return _(
            "Router %(name)s (%(where)s) refused the API user name or password: %(detail)s",
            name=router_name,
            where=where,
            detail=detail,
        )
    if isinstance(error, RouterUnreachable):
        return _(
            "Router %(name)s cannot be reached at %(where)s: %(detail)s. Check that it is on "
            "and connected, that its API service is enabled (IP > Services: api 8728 or "
            "api-ssl 8729) and allows this server's address, and that no firewall blocks "
            "the port.",
            name=router_name,
            where=where,
            detail=detail,
        )
    if isinstance(error, RouterError):
        return _(
            "Router %(name)s (%(where)s) answered with an error: %(detail)s",
            name=router_name,
            where=where,
            detail=detail,
        )
    return detail


def duration(seconds: int | None) -> str:
    """`93784` -> `1d 2h` (English), `1 hari 2 jam` (Indonesian); short and readable,
    for uptimes and quotas: days and hours, or hours and minutes, or seconds."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return _("%(n)ss", n=seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [_("%(n)sd", n=days)] if days else []
    if hours:
        parts.append(_("%(n)sh", n=hours))
    if minutes and not days:
        parts.append(_("%(n)sm", n=minutes))
    return " ".join(parts) or _("%(n)sm", n=0)


def size(count: int | None) -> str:
    """Bytes for people: `1536` -> `1.5 KiB`."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def rate(bits_per_second: int | None) -> str:
    if bits_per_second is None:
        return "—"
    value = float(bits_per_second)
    for unit in ("bps", "kbps", "Mbps", "Gbps"):
        if value < 1000 or unit == "Gbps":
            return f"{value:.0f} {unit}" if unit == "bps" else f"{value:.1f} {unit}"
        value /= 1000
    return ""  # pragma: no cover


def _tiles(session) -> list[tuple[str, object, str | None]]:
    tiles = []
    pending = session.execute(
        select(func.count())
        .select_from(HotspotLogin)
        .where(HotspotLogin.status == "pending", HotspotLogin.kind == "customer")
    ).scalar_one()
    if pending:
        url = url_for("registrations.index") if current_user.can("registrations") else None
        tiles.append((_("Hotspot registrations to confirm"), pending, url))
    failing = session.execute(
        select(func.count())
        .select_from(Router)
        .where(Router.enabled.is_(True), Router.last_sync_ok.is_(False))
    ).scalar_one()
    if failing:
        url = url_for("routers.index") if current_user.can("routers") else None
        tiles.append((_("Routers failing to sync"), failing, url))
    return tiles


def install(state) -> None:
    """Filters and dashboard tiles, once per app."""
    app = state.app
    if app.extensions.get("pulsa.hotspot_ui"):
        return
    app.extensions["pulsa.hotspot_ui"] = True
    app.jinja_env.filters["hs_duration"] = duration
    app.jinja_env.globals["validity"] = validity_text
    app.jinja_env.filters["hs_size"] = size
    app.jinja_env.filters["hs_rate"] = rate
    app.jinja_env.globals["hs_units"] = UNIT_LABELS
    app.jinja_env.globals["hs_speed_text"] = speed_text
    app.extensions["pulsa.dashboard_tiles"].append(_tiles)
