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

import re
from dataclasses import dataclass
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
    get_decimal_symbol,
    get_group_symbol,
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
    micro: int, *, precision: int, currency: str, locale: str | Locale, with_currency: bool = True
) -> str:
    """`micro` micro-units as the reader of `locale` reads an amount: "Rp85.000" (id),
    "IDR 85,000" (en), "-Rp5.000", "US$1.234,50"; without the currency, "85.000"."""
    value = display_amount(int(micro), precision)
    shape = _shape(locale, precision, currency if with_currency and currency else "")
    if shape is not None:
        return shape.text(value)
    return _babel_money_text(value, precision, currency, locale, with_currency)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What Babel writes around and between the digits of an amount for one language,
    precision and currency, worked out once: a page of history shows fifty amounts, and
    Babel works the pattern, the currency's symbol and the spacing out again for each
    (about 14 us each; this takes under 2). `_shape` builds one only for the plain patterns
    (groups of digits, a fixed number of decimals); tests/unit/test_display.py checks
    that it writes what Babel writes, in many languages and currencies."""

    prefixes: tuple[str, str]  # before the digits: of a positive amount, of a negative one
    suffixes: tuple[str, str]  # after them
    group: str  # between groups of digits
    decimal: str  # before the decimals
    sizes: tuple[int, int]  # digits in the last group, and in each group before it
    min_digits: int  # at least this many digits before the decimals
    precision: int  # decimals

    def text(self, value: Decimal) -> str:
        # `value` has `precision` decimals already (display_amount), as Babel would
        # round it; -0 keeps its sign, as in Babel.
        sign = 1 if value.is_signed() else 0
        whole, _, fraction = f"{abs(value):f}".partition(".")
        whole = whole.rjust(self.min_digits, "0")
        groups = []
        size = self.sizes[0]
        while len(whole) > size:
            groups.append(whole[-size:])
            whole = whole[:-size]
            size = self.sizes[1]
        groups.append(whole)
        number = self.group.join(reversed(groups))
        if self.precision:
            number += self.decimal + fraction
        return self.prefixes[sign] + number + self.suffixes[sign]


_QUOTED = re.compile(r"'([^']*)'")


@lru_cache(maxsize=64)
def _shape(locale: str | Locale, precision: int, currency: str) -> _Shape | None:
    """The shape of amounts in `locale` (None: a pattern Babel must write each time)."""
    key = _key(locale)
    pattern = _pattern(key, precision, bool(currency))
    if (
        pattern.scale
        or pattern.exp_prec
        or "@" in pattern.pattern
        or not pattern.number_pattern
        or pattern.frac_prec != (precision, precision)
        or min(pattern.grouping) <= 0
    ):
        return None
    parsed = _locale(key)
    prefixes, suffixes = [], []
    for sign in (0, 1):
        # What Babel does around a number, done on "0": the currency's code and symbol,
        # the quotes of the pattern, the space after a code.
        text = pattern.prefix[sign] + "0" + pattern.suffix[sign]
        if currency:
            if "¤¤¤" in text:
                return None  # the currency's name, which depends on the amount
            text = text.replace("¤¤", currency.upper())
            text = text.replace("¤", get_currency_symbol(currency, parsed))
        text = _QUOTED.sub(lambda match: match.group(1) or "'", text)
        if currency:
            text = _spaced_code(text, currency, key)
        digits = [at for at, ch in enumerate(text) if ch.isdigit()]
        if len(digits) != 1:
            return None
        prefixes.append(text[: digits[0]])
        suffixes.append(text[digits[0] + 1 :])
    group, decimal = get_group_symbol(parsed), get_decimal_symbol(parsed)
    if "'" in group + decimal:
        return None  # Babel takes quotes out of the whole text, the number's too (de_CH)
    return _Shape(
        tuple(prefixes),
        tuple(suffixes),
        group,
        decimal,
        pattern.grouping,
        pattern.int_prec[0],
        precision,
    )


def _babel_money_text(
    value: Decimal, precision: int, currency: str, locale: str | Locale, with_currency: bool
) -> str:
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
