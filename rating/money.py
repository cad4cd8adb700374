"""Micro-unit money: the one place where decimal amounts become integers.

Typed amounts ("Rp 50.000", "1,500.50", "-5") are read by `parse_amount` and tariff
prices by `parse_rate`, the same way everywhere (web admin, CLI, tariff CSV, settings).
Both read the text as characters only, bounded in length, and never hand it to
`Decimal` or `int` before it is known to be a short run of ASCII digits: an exponent
such as `1e20000000` is refused, never expanded.

How separators are read depends on the currency's decimals (its display precision):

- Dots and commas between groups of three digits are thousands separators: "50.000",
  "50,000" and "1.000.000" are whole numbers.
- When both a dot and a comma appear, the last one is the decimal mark: "1,500.50" and
  "1.500,50" are both one thousand five hundred and a half.
- A single dot or comma followed by exactly three digits ("1.200", "1,500") is a
  thousands separator for a currency without decimals (IDR): 1200, 1500. For a currency
  with decimals it could be either, so it is refused, showing both readings.
- Any other single separator is the decimal mark: "12.5", "12,5", "0.125".
- An amount has at most as many decimals as the currency shows ("1,5" is not a whole
  amount of IDR); a rate (a price per minute) may have up to 12, rounded up to the
  micro-unit. A rate with exactly three decimals writes a fourth, "1.1250", or leads with
  a zero, "0.125", so that it does not read as thousands.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

MICRO = 1_000_000
#: Largest whole number of currency units an amount or a rate may have: 99,999,999,999
#: units are 1e17 micro-units, so that sums of many of them still fit a signed 64-bit
#: BIGINT (9.2e18).
MAX_UNITS = 10**11 - 1
#: Longest text looked at; a longer one is refused without reading it.
MAX_TEXT = 64
#: Most decimals a rate may be written with (rounded up to the micro-unit).
MAX_RATE_DECIMALS = 12

# Symbols written before amounts, besides the currency's own code.
_SYMBOLS = {
    "IDR": ("rp.", "rp"),
    "USD": ("us$", "$"),
    "EUR": ("€",),
    "GBP": ("£",),
    "JPY": ("¥",),
    "MYR": ("rm",),
    "PHP": ("₱",),
    "INR": ("₹", "rs.", "rs"),
}
_NUMBER = re.compile(r"[0-9.,]+", re.ASCII)
_EXPONENT = re.compile(r"[0-9.,][eE]\s*[+-]?[0-9]", re.ASCII)


class AmountError(ValueError):
    """An amount that cannot be read; the message is for the person who typed it.

    `reason` names the problem (for translations) and `details` holds what the message
    shows: `text`, and where they apply `readings`, `lower`/`upper`, `decimals`,
    `currency`, `largest`.
    """

    def __init__(self, reason: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding towards +infinity (never under-charges)."""
    return -(-numerator // denominator)


def to_micro(amount: Decimal | int) -> int:
    """Convert an amount in currency units to micro-units, rounding up.

    Rounding is towards +infinity so that a price or a charge is never smaller than
    what was written: 0.0000001 becomes 1 micro-unit. For amounts computed by code;
    text typed by people goes through `parse_amount` or `parse_rate`.
    """
    value = amount if isinstance(amount, Decimal) else Decimal(amount)
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    # An exponent far out would make as_integer_ratio build an enormous integer.
    if value and abs(value.adjusted()) > 1000:
        raise ValueError(f"amount out of range: {amount!r}")
    # Exact integer arithmetic: `value * MICRO` in Decimal would first round to the
    # context's precision (28 digits by default), which can round down.
    numerator, denominator = value.as_integer_ratio()
    return ceil_div(numerator * MICRO, denominator)


def parse_amount(text: str, *, precision: int, currency: str = "") -> int:
    """An amount typed by a person, in micro-units (negative when written with "-").

    `precision` is the currency's decimals (IDR 0, USD 2): it decides how separators
    are read (see the module's docstring) and how many decimals may be written.
    Raises AmountError, whose message says how the text was understood.
    """
    return _parse(text, precision, currency, max_decimals=precision)


def parse_rate(text: str, *, precision: int, currency: str = "") -> int:
    """A price per unit (a tariff's price per minute or fee), in micro-units rounded up.

    Read like `parse_amount`, but with up to MAX_RATE_DECIMALS decimals whatever the
    currency: "1.200" for IDR is 1200, "0.5" or "1.2" is a fraction.
    """
    return _parse(text, precision, currency, max_decimals=MAX_RATE_DECIMALS)


def _parse(text: str, precision: int, currency: str, *, max_decimals: int) -> int:
    if len(text) > MAX_TEXT:
        raise AmountError(
            "too_long", f"{text[:20]!r}... is too long for an amount", text=text[:20] + "..."
        )
    shown = text.strip()
    if not shown:
        raise AmountError("empty", "enter an amount", text=shown)
    if any(not ch.isascii() and (ch.isdigit() or ch.isnumeric()) for ch in shown):
        raise AmountError(
            "digits", f"{shown!r} is not an amount: use the digits 0 to 9", text=shown
        )
    if _EXPONENT.search(shown):
        raise AmountError(
            "exponent",
            f"{shown!r} is not an amount: write the digits out, without an exponent",
            text=shown,
        )
    sign, number = _strip_sign_and_currency(shown, currency)
    whole, fraction = _split(shown, number, precision)
    whole = whole.lstrip("0")
    fraction = fraction.rstrip("0")
    if len(whole) > len(str(MAX_UNITS)):
        raise _too_large(shown)
    if len(fraction) > max_decimals:
        raise _too_precise(shown, whole, fraction, max_decimals, currency)
    units = int(whole or "0")
    if units > MAX_UNITS:
        raise _too_large(shown)
    # Up to MAX_RATE_DECIMALS digits: the fraction in micro-units, rounded up.
    scale = 10 ** max(len(fraction) - 6, 0)
    micro = units * MICRO + ceil_div(int(fraction.ljust(6, "0") or "0"), scale)
    return -micro if sign == "-" else micro


def _strip_sign_and_currency(shown: str, currency: str) -> tuple[str, str]:
    """The sign and the number of `shown`: one sign at most, before or after a currency
    written first ("-Rp 5.000", "Rp -5.000", "USD -2.50"), or a currency code last. A
    trailing ",-" ("Rp 50.000,-", no cents) is dropped."""
    rest = shown.lower()
    if rest.endswith((",-", ".-")):
        rest = rest[:-2].rstrip()
    if rest.count("-") + rest.count("+") > 1:
        raise AmountError("sign", f"{shown!r} is not an amount: one sign at most", text=shown)
    sign = ""
    if rest[:1] in ("+", "-"):
        sign, rest = rest[0], rest[1:].lstrip()
    marks = tuple(m for m in (currency.lower(), *_SYMBOLS.get(currency.upper(), ())) if m)
    for mark in marks:
        if rest.startswith(mark):
            rest = rest[len(mark) :].lstrip()
            break
    else:
        for mark in marks[:1]:
            if rest.endswith(mark):
                rest = rest[: -len(mark)].rstrip()
    if not sign and rest[:1] in ("+", "-"):
        sign, rest = rest[0], rest[1:].lstrip()
    if not _NUMBER.fullmatch(rest):
        raise AmountError("number", f"{shown!r} is not an amount", text=shown)
    return sign, rest


def _split(shown: str, number: str, precision: int) -> tuple[str, str]:
    """The whole and fractional digits of `number` (ASCII digits, dots and commas)."""
    if not number[-1].isdigit() or re.search(r"[.,]{2}", number):
        raise AmountError("number", f"{shown!r} is not an amount", text=shown)
    marks = [ch for ch in number if ch in ".,"]
    if not marks:
        return number, ""
    if len(set(marks)) == 2:
        decimal_mark = marks[-1]
        if marks.count(decimal_mark) > 1:
            raise _bad_groups(shown)
        whole, fraction = number.rsplit(decimal_mark, 1)
        return _grouped(shown, whole), fraction
    if len(marks) > 1:
        return _grouped(shown, number), ""
    head, tail = number.split(marks[0])
    groups_of_thousands = len(tail) == 3 and 1 <= len(head) <= 3 and not head.startswith("0")
    if not groups_of_thousands:
        return head, tail
    if precision == 0:
        return head + tail, ""
    as_thousands = head + tail
    as_fraction = f"{head}.{tail}"
    # A fraction written so that it cannot read as thousands: "1.5" or "1.1250".
    short = tail.rstrip("0")
    unambiguous = f"{head}.{short}" if len(short) < 3 else f"{as_fraction}0"
    raise AmountError(
        "ambiguous",
        f"{shown!r} could be {as_thousands} or {as_fraction}: "
        f"write {as_thousands} or {unambiguous} to say which",
        text=shown,
        readings=(as_thousands, as_fraction),
        suggestions=(as_thousands, unambiguous),
    )


def _grouped(shown: str, whole: str) -> str:
    """Digits grouped by thousands ("1.000.000"), as digits; refused when the groups
    are not one to three digits then threes."""
    if not whole:
        return ""
    groups = re.split(r"[.,]", whole)
    first, rest = groups[0], groups[1:]
    if not rest:
        return first
    if not 1 <= len(first) <= 3 or first.startswith("0") or any(len(g) != 3 for g in rest):
        raise _bad_groups(shown)
    return "".join(groups)


def _bad_groups(shown: str) -> AmountError:
    return AmountError(
        "groups",
        f"{shown!r} is not an amount: thousands separators go between groups of three "
        "digits, and a number has one decimal mark",
        text=shown,
    )


def _too_large(shown: str) -> AmountError:
    return AmountError(
        "too_large",
        f"{shown!r} is too large: at most {MAX_UNITS:,}",
        text=shown,
        largest=f"{MAX_UNITS:,}",
    )


def _too_precise(
    shown: str, whole: str, fraction: str, decimals: int, currency: str
) -> AmountError:
    reading = f"{whole or '0'}.{fraction}"
    if decimals == 0:
        lower = int(whole or "0")
        return AmountError(
            "not_whole",
            f"{shown!r} (read as {reading}) is not a whole amount of {currency or 'the currency'}: "
            f"write {lower} or {lower + 1}",
            text=shown,
            reading=reading,
            lower=str(lower),
            upper=str(lower + 1),
            currency=currency,
        )
    return AmountError(
        "decimals",
        f"{shown!r} (read as {reading}) has more than {decimals} decimals",
        text=shown,
        reading=reading,
        decimals=decimals,
        currency=currency,
    )


def micro_to_decimal(micro: int) -> Decimal:
    """The exact amount in currency units, without trailing zeros beyond the unit."""
    value = Decimal(micro) / MICRO
    normalized = value.normalize()
    # normalize() turns 100 into 1E+2; keep plain notation for humans and CSV files.
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() else normalized


def display_amount(micro: int, precision: int) -> Decimal:
    """The amount a person is shown: currency units with the operator's precision (IDR 0
    decimals, USD 2), half up. The pure part of every display of money; the words and
    separators of the reader's language are `wallet.display.money_text`'s."""
    quantum = Decimal(1).scaleb(-precision)
    return (Decimal(micro) / MICRO).quantize(quantum, rounding=ROUND_HALF_UP)


def format_money(micro: int, precision: int, currency: str = "") -> str:
    """An amount for logs and the command line, the same in every language (`IDR 85,000`);
    pages, files and chats use `wallet.display.money_text`, in the reader's language."""
    text = f"{display_amount(micro, precision):,.{precision}f}"
    return f"{currency} {text}".strip()
