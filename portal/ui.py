"""What every portal page shares: the operator's display settings, money and dates in
the reader's language, durations and sizes, and the idempotency keys of money forms."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal
from babel.support import NullTranslations
from flask import current_app, g, request
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context

from messaging.wording import duration_text, money_text
from rating.money import parse_amount
from wallet.errors import InsufficientFunds
from wallet.site_settings import SiteConfig, load_site_config

_KEY = re.compile(r"^[0-9a-f]{32}$")
MICRO = Decimal(1_000_000)
_ENGLISH = Locale.parse("en")
#: A hotspot login's state in the customer's words.
LOGIN_STATUS_LABELS = {
    "active": _l("active"),
    "pending": _l("waiting for confirmation"),
    "disabled": _l("disabled"),
    "void": _l("cancelled"),
}


def site() -> SiteConfig:
    """The operator's runtime settings, read once per request."""
    if "site" not in g:
        from portal.access import database

        with database().transaction() as session:
            g.site = load_site_config(session, current_app.extensions["pulsa.settings"])
    return g.site


def currency() -> str:
    return site().currency


def reader_locale() -> Locale:
    """The reader's language as Babel's Locale, parsed once per request by Flask-Babel
    (not again for each amount and moment of a page, as its name would be)."""
    return get_locale() or _ENGLISH


@dataclass(frozen=True)
class Reading:
    """What writing a page for its reader takes from the request: their language, its
    translations and the operator's settings. Looked up once for a page (in its
    template's context, `_reading`) rather than for each amount, moment and text: each
    lookup goes through Flask's and Flask-Babel's context proxies, some microseconds, and a
    page of history writes 50 amounts, 25 moments and 80 texts (bench/portal.py)."""

    locale: Locale
    translations: NullTranslations
    site: SiteConfig
    # The locale's name ("id"): cheaper than the Locale as a cache key (hashed and
    # compared for each amount written).
    locale_name: str = ""

    def gettext(self, text: str, **values) -> str:
        """Flask-Babel's gettext, with these translations."""
        translated = self.translations.ugettext(text)
        return translated % values if values else translated


def reading() -> Reading:
    """The request's Reading now (under `force_locale` too)."""
    locale = reader_locale()
    return Reading(locale, get_translations(), site(), str(locale))


def _reading_of(context) -> Reading:
    found = context.get("_reading")
    return found if found is not None else reading()


def money(micro: int | None, with_currency: bool = True, *, by: Reading | None = None) -> str:
    """An amount in the operator's currency and precision, grouped the reader's way
    (Rp 12.500 in Indonesian, 12,500 in English): messaging.wording, as in the chats."""
    if micro is None:
        return ""
    config = by.site if by is not None else site()
    return money_text(
        micro,
        currency=config.currency if with_currency else "",
        precision=config.display_precision,
        locale=by.locale_name if by is not None else reader_locale(),
    )


def zone(config: SiteConfig | None = None) -> ZoneInfo:
    return ZoneInfo((config or site()).timezone)


def local_moment(moment: datetime, config: SiteConfig | None = None) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(zone(config))


def when(moment: datetime | None, style: str = "medium", *, by: Reading | None = None) -> str:
    """A stored naive-UTC moment in the operator's time zone, in the reader's language."""
    if moment is None:
        return ""
    if by is None:
        return format_datetime(local_moment(moment), style, locale=reader_locale())
    return format_datetime(local_moment(moment, by.site), style, locale=by.locale)


@pass_context
def _money_filter(context, micro: int | None, with_currency: bool = True) -> str:
    return money(micro, with_currency, by=_reading_of(context))


@pass_context
def _when_filter(context, moment: datetime | None, style: str = "medium") -> str:
    return when(moment, style, by=_reading_of(context))


# Jinja's `_()` and friends (installed by Flask-Babel to look the translations up for
# each text), with the page's Reading.


@pass_context
def _gettext(context, text: str) -> str:
    return _reading_of(context).translations.ugettext(text)


@pass_context
def _ngettext(context, singular: str, plural: str, count: int) -> str:
    return _reading_of(context).translations.ungettext(singular, plural, count)


@pass_context
def _pgettext(context, message_context: str, text: str) -> str:
    return _reading_of(context).translations.upgettext(message_context, text)


@pass_context
def _npgettext(context, message_context: str, singular: str, plural: str, count: int) -> str:
    translations = _reading_of(context).translations
    return translations.unpgettext(message_context, singular, plural, count)


def duration(seconds: int | None) -> str:
    """`3 min 12 s`, `2 h 5 min`, `45 s` (messaging.wording)."""
    if seconds is None:
        return ""
    # A whole number of hours or minutes without its "0 min" or "0 s" ("8 h", not
    # "8 h 0 min"); messaging.wording words the rest, as in the chats.
    if seconds >= 3600 and seconds % 3600 == 0:
        return _("%(h)s h", h=seconds // 3600)
    if 60 <= seconds < 3600 and seconds % 60 == 0:
        return _("%(m)s min", m=seconds // 60)
    return duration_text(seconds, _)


def data_size(size: int | None) -> str:
    if size is None:
        return ""
    for suffix, power in (("GB", 3), ("MB", 2), ("KB", 1)):
        if size >= 1024**power:
            value = Decimal(size) / Decimal(1024**power)
            text = format_decimal(value.quantize(Decimal("0.1")), locale=reader_locale())
            return f"{text} {suffix}"
    return f"{size} B"


def explain(error: BaseException) -> str:
    if isinstance(error, InsufficientFunds) and error.needed is not None:
        return _(
            "Not enough credit: %(available)s available, %(needed)s needed.",
            available=money(error.available or 0),
            needed=money(error.needed),
        )
    return str(error)


def amount_from(text: str) -> int:
    """An amount typed by the customer, in micro-units, through the one amount parser of
    rating.money, read with the site's currency and precision ("Rp 50.000" is 50000;
    raises rating.money.AmountError, a ValueError, for anything that is not an amount)."""
    return parse_amount(text or "", precision=site().display_precision, currency=currency())


def new_form_key() -> str:
    """A key put in a money form when it is rendered: submitting it twice acts once."""
    return secrets.token_hex(16)


def valid_form_key(text: str | None) -> bool:
    return bool(text) and bool(_KEY.match(text))


def _preload_site() -> None:
    # Read before a view opens its own transaction (SQLite allows one writer at a time).
    # For a signed-in customer it was read already, with their session (_read_site).
    if request.endpoint not in (None, "static"):
        site()


def _read_site(session, _principal) -> None:
    if "site" not in g:
        g.site = load_site_config(session, current_app.extensions["pulsa.settings"])


def init_ui(app) -> None:
    app.extensions["pulsa.portal_request_reads"].append(_read_site)
    app.before_request(_preload_site)
    app.context_processor(lambda: {"_reading": reading()})
    app.jinja_env.install_gettext_callables(
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    app.jinja_env.filters["money"] = _money_filter
    app.jinja_env.filters["when"] = _when_filter
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["data_size"] = data_size
    app.jinja_env.globals["site"] = site
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["login_statuses"] = LOGIN_STATUS_LABELS
