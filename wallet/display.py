"""Money, numbers and months as a reader of a given language reads them: one function per
thing, used by the web admin, the customer portal and the chat bots alike.

The amount itself (micro-units to the operator's precision, rounded half up) is
`rating.money.display_amount`; this module adds the language's side through Babel's
CLDR data: the separators (85.000 in Indonesian, 85,000 in English), where the currency
goes and what it is called (Rp in Indonesian, IDR in English, US$ or $ for dollars).

A currency written as its three-letter code is separated from the number by a space
("IDR 85,000", as an operator writes it); a symbol is written against it ("Rp85.000",
"$12.50"), as CLDR says for each language. No translation catalogue is needed: the words
come from the locale's data, so a bot with no catalogue of its own formats the same way.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.numbers import (
    NumberPattern,
    format_compact_currency,
    format_compact_decimal,
    get_currency_symbol,
    parse_pattern,
)

from rating.money import display_amount

#: Keys of the audit log's before/after records whose values are micro-units.
AUDIT_MONEY_KEYS = frozenset(
    {
        "amount",
        "balance",
        "from_balance",
        "to_balance",
        "credit_limit",
        "price",
        "sold_price",
        "cost",
        "held",
        "available",
        "low_balance_threshold",
        "min_credit",
        "connection_fee",
    }
)


def _locale(name: str | Locale | None) -> Locale:
    """`name` as Babel's Locale ("id", "en_US", "id-ID" or a Locale already parsed, as
    Flask-Babel's get_locale() gives); English when it is no language Babel knows."""
    if isinstance(name, Locale):
        return name
    return _parsed(str(name or "en"))


@lru_cache(maxsize=32)
def _parsed(name: str) -> Locale:
    try:
        return Locale.parse(name, sep="-" if "-" in name else "_")
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse("en")


@lru_cache(maxsize=64)
def _pattern(locale_name: str, precision: int, with_currency: bool) -> NumberPattern:
    locale = _locale(locale_name)
    source = (
        locale.currency_formats["standard"].pattern
        if with_currency
        else locale.decimal_formats[None].pattern
    )
    # A pattern "¤#,##0.00;(¤#,##0.00)" (accounting) is not used: the standard one
    # writes a minus sign.
    pattern = parse_pattern(source)
    pattern.frac_prec = (precision, precision)
    return pattern


def money_text(
    micro: int, *, precision: int, currency: str, locale: str, with_currency: bool = True
) -> str:
    """`micro` micro-units as the reader of `locale` reads an amount: "Rp85.000" (id),
    "IDR 85,000" (en), "-Rp5.000", "US$1.234,50"; without the currency, "85.000"."""
    value = display_amount(int(micro), precision)
    pattern = _pattern(_key(locale), precision, with_currency and bool(currency))
    if not (with_currency and currency):
        return pattern.apply(value, _locale(locale), decimal_quantization=False)
    text = pattern.apply(value, _locale(locale), currency=currency, currency_digits=False)
    return _spaced_code(text, currency, _key(locale))


def _spaced_code(text: str, currency: str, locale: str) -> str:
    """`text` with a space between the number and a currency written as its code."""
    symbol = get_currency_symbol(currency, _locale(locale))
    if symbol.isalpha() and symbol.upper() == currency.upper():
        # A code, not a symbol: "IDR 85,000", never "IDR85,000".
        at = text.find(symbol)
        if 0 <= at < _first_digit(text):
            after = at + len(symbol)
            if not text[after : after + 1].isspace():
                text = text[:after] + " " + text[after:]
        elif at > 0 and not text[at - 1].isspace():
            text = text[:at] + " " + text[at:]
    return text


def _key(locale: str | Locale | None) -> str:
    return str(locale or "en")


def _first_digit(text: str) -> int:
    return next((i for i, ch in enumerate(text) if ch.isdigit()), len(text))


def number_text(value: int | Decimal | float, *, locale: str, decimals: int = 0) -> str:
    """A count or a quantity with the language's separators: 1.234 (id), 1,234 (en)."""
    pattern = _pattern(_key(locale), decimals, False)
    return pattern.apply(Decimal(str(value)), _locale(locale), decimal_quantization=True)


def month_text(day: date, *, locale: str, with_year: bool = True) -> str:
    """A month as a month: "Des 2026" (id), "Dec 2026" (en); "Des" without the year."""
    return format_skeleton("yMMM" if with_year else "MMM", day, locale=_locale(locale))


def day_text(day: date, *, locale: str) -> str:
    """A day within a month, short: "4 Des" (id), "Dec 4" (en)."""
    return format_skeleton("MMMd", day, locale=_locale(locale))


def money_compact_text(micro: int, *, currency: str, locale: str) -> str:
    """An amount rounded to a short form for a chart's axis: "Rp1,5 jt" (id), "IDR 1.5M"
    (en)."""
    value = display_amount(int(micro), 0)
    text = format_compact_currency(value, currency, locale=_locale(locale), fraction_digits=1)
    return _spaced_code(text, currency, _key(locale))


def number_compact_text(value: int | float, *, locale: str) -> str:
    """A count rounded to a short form for a chart's axis: "1,5 rb" (id), "1.5K" (en)."""
    return format_compact_decimal(value, locale=_locale(locale), fraction_digits=1)
