"""What every screen shares: the site's display settings, money and time formatting,
pagination, and the idempotency keys of money forms."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app, g, request
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from rating.money import micro_to_decimal
from wallet.display import (
    money_compact_text,
    money_text,
    number_compact_text,
    number_text,
)
from wallet.errors import InsufficientFunds
from wallet.site_settings import SiteConfig, load_site_config
from wallet.text import whole_number

PER_PAGE = 25
_KEY = re.compile(r"^[0-9a-f]{32}$")
#: The largest whole number taken from a form, a filter or an address: a signed 64-bit
#: integer, what the database's BIGINT ids and counts hold.
#: Days outside these are mistakes, and near the ends of the calendar a day's bounds
#: (its next day, its time in another zone) cannot even be computed.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)


def site() -> SiteConfig:
    """The runtime settings, read once per request (a change shows on the next page)."""
    if "site" not in g:
        from webadmin.access import database

        with database().transaction() as session:
            g.site = load_site_config(session, current_app.extensions["pulsa.settings"])
    return g.site


def settings():
    """pulsa's settings with the operator's choices of the Settings and setup screens
    applied (country code, currency, time zone, call mode...), once per request."""
    if "settings_in_effect" not in g:
        from wallet.site_settings import settings_with

        g.settings_in_effect = settings_with(site(), current_app.extensions["pulsa.settings"])
    return g.settings_in_effect


def currency() -> str:
    return site().currency


def money(micro: int | None, with_currency: bool = True) -> str:
    """An amount in the reader's language: "IDR 85,000" in English, "Rp85.000" in
    Indonesian (wallet.display.money_text, shared with the portal and the bots)."""
    if micro is None:
        return ""
    return money_text(
        int(micro),
        precision=site().display_precision,
        currency=currency(),
        locale=locale_name(),
        with_currency=with_currency,
    )


def locale_name() -> str:
    return str(get_locale() or "en")


def money_short(micro: int | float) -> str:
    """An amount written short, for a chart's axis: "Rp1,5 jt", "IDR 1.5M"."""
    return money_compact_text(int(micro), currency=currency(), locale=locale_name())


def count_text(value: int | float) -> str:
    """A count or quantity with the reader's separators: "1.234" (id), "1,234" (en);
    "12,5" (id) for a number with a decimal."""
    decimals = 0 if float(value).is_integer() else 1
    return number_text(value, locale=locale_name(), decimals=decimals)


def day(value: date | None) -> str:
    """A day in the reader's language: "4 Des 2026" (id), "Dec 4, 2026" (en)."""
    if value is None:
        return ""
    return format_date(value, "medium", locale=locale_name())


def count_short(value: int | float) -> str:
    return number_compact_text(value, locale=locale_name())


def explain(error: BaseException) -> str:
    """A refusal as the operator reads it: amounts in their currency and precision (the
    services' own messages carry raw micro-units), anything else as it was said."""
    if isinstance(error, InsufficientFunds) and error.needed is not None:
        return _(
            "Not enough credit: %(available)s available, %(needed)s needed.",
            available=money(error.available or 0),
            needed=money(error.needed),
        )
    return str(error)


def money_plain(micro: int | None) -> str:
    """An amount as typed in a form field (no grouping, no currency)."""
    if micro is None:
        return ""
    return str(micro_to_decimal(int(micro)))


def zone() -> ZoneInfo:
    return ZoneInfo(site().timezone)


def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored naive-UTC moment in the operator's time zone."""
    if moment is None:
        return ""
    return moment.replace(tzinfo=UTC).astimezone(zone()).strftime(fmt)


def local_moment(moment: datetime | None) -> datetime | None:
    """A stored naive-UTC moment as the operator's wall-clock time, naive, to the second:
    what a spreadsheet's date cell holds (a CSV file writes it 2026-12-04 10:15:00)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone()).replace(tzinfo=None, microsecond=0)


def utc_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Local calendar days [start, end] as naive-UTC bounds [from, to)."""
    tz = zone()

    def bound(day: date) -> datetime:
        return datetime.combine(day, time(0), tz).astimezone(UTC).replace(tzinfo=None)

    return (
        bound(start) if start else None,
        bound(end + timedelta(days=1)) if end else None,
    )


def today_local() -> date:
    return datetime.now(UTC).astimezone(zone()).date()


def new_form_key() -> str:
    """A fresh key for a money form, put in a hidden field when the form is rendered:
    submitting the same rendered form twice sends the same key, which credits once."""
    return secrets.token_hex(16)


def valid_form_key(text: str | None) -> bool:
    return bool(text) and bool(_KEY.match(text))


@dataclass
class Page:
    items: list
    number: int
    total: int
    per_page: int
    # Two lists on one screen each keep their page in a query argument of their own.
    arg: str = "page"
    # The screen's own address, for its pager links when a form's POST route renders it.
    path: str | None = None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(arg: str = "page") -> int:
    return max(1, whole_number(request.args.get(arg)) or 1)


def paginate(
    session: Session,
    statement: Select,
    per_page: int = PER_PAGE,
    *,
    arg: str = "page",
    path: str | None = None,
) -> Page:
    """One page of `statement`'s rows, its number read from the query argument `arg`;
    `path` is the screen's address when the page is rendered by another route."""
    number = page_number(arg)
    total = session.execute(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    number = min(number, pages)
    rows = session.execute(statement.limit(per_page).offset((number - 1) * per_page))
    items = list(rows.scalars()) if len(statement.column_descriptions) == 1 else list(rows.all())
    return Page(items, number, total, per_page, arg, path)


def page_url(number: int, arg: str = "page", path: str | None = None) -> str:
    from urllib.parse import urlencode

    # A screen rendered by a form's POST route (errors shown beside its fields) links to
    # its own address, without the query of that POST.
    args = request.args.to_dict(flat=False) if request.method == "GET" else {}
    args[arg] = [str(number)]
    return f"{path or request.path}?{urlencode(args, doseq=True)}"


def page_url_with(**changes: str) -> str:
    """This page's address with some query arguments changed (export, print links)."""
    from urllib.parse import urlencode

    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        args[key] = [value]
    args.pop("page", None) if "format" in changes or "print" in changes else None
    return f"{request.path}?{urlencode(args, doseq=True)}"


def filter_errors() -> dict[str, str]:
    """The refusals of this request's list filters, by query argument, shown beside the
    filter's field (the list is shown without that filter)."""
    if "filter_errors" not in g:
        g.filter_errors = {}
    return g.filter_errors


def parse_day(text: str | None, name: str | None = None) -> date | None:
    """A day typed as YYYY-MM-DD, or None when empty or not a day between FIRST_DAY and
    LAST_DAY; with `name`, a list filter, a refusal is reported beside that field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if text.isascii() and len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        if name:
            filter_errors()[name] = _(
                "Enter a day between %(first)s and %(last)s as YYYY-MM-DD.",
                first=FIRST_DAY.isoformat(),
                last=LAST_DAY.isoformat(),
            )
        return None
    return day


def _preload_site() -> None:
    # Read before the view opens its own transaction: templates rendered inside that
    # transaction must not open a second one (on SQLite it would wait for the first).
    if request.endpoint not in (None, "static"):
        site()


def init_ui(app) -> None:
    app.before_request(_preload_site)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["money_plain"] = money_plain
    app.jinja_env.filters["number"] = count_text
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["local"] = local
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["page_url_with"] = page_url_with
    app.jinja_env.globals["site"] = site
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["currency"] = currency
    app.jinja_env.globals["filter_errors"] = filter_errors
