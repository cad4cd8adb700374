"""The tariff CSV format: reading it with line-numbered errors, and writing it back.

    prefix,description,connection_fee,price_per_minute,initial_block,increment,minimum_duration,band
    62811,Telkomsel,0,1500,60,60,0,peak

Money columns are in currency units, read as rates by `rating.money.parse_rate` with the
currency's decimals: for IDR (no decimals) "1.200" and "1,200" are 1200, "1.2" or "0,5" are
fractions, and a fraction of exactly three digits is written with a fourth ("1.1250") so
that it does not read as thousands; for a currency with decimals a lone separator before
three digits is refused as ambiguous. Up to 12 decimals, rounded up to the micro-unit.
A value with a comma is quoted, as CSV requires ("1,200"). Durations are whole seconds.
Only `prefix` and `price_per_minute` are required; `grace` and `max_duration` may be added.
`*` or an empty prefix is the catch-all; an empty band means any time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from rating.money import MAX_TEXT, AmountError, micro_to_decimal, parse_rate
from rating.tariff import MAX_PREFIX_DIGITS, Rate, RatingError

COLUMNS = (
    "prefix",
    "description",
    "connection_fee",
    "price_per_minute",
    "initial_block",
    "increment",
    "minimum_duration",
    "band",
    "grace",
    "max_duration",
)
REQUIRED = ("prefix", "price_per_minute")
#: A duration of more than 9 digits (over 31 years) is a mistake.
MAX_SECONDS_DIGITS = 9
DEFAULTS = {"initial_block": 60, "increment": 60, "minimum_duration": 0, "grace": 0}


class TariffFileError(ValueError):
    """Every problem of a tariff file, each with its line number."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]}{more}")


def read_rates_csv(text: str, *, precision: int = 0) -> list[Rate]:
    """Parse a whole tariff file; raise TariffFileError listing every bad line.

    `precision` is the currency's decimals (0 for IDR, the default currency): it decides
    how the money columns' separators are read.
    """
    # Universal newlines: a lone "\r" (an old Mac export) ends a line instead of making
    # csv refuse the whole file.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=None))
    try:
        return _read_rates(reader, precision)
    except csv.Error as error:
        raise TariffFileError([f"line {reader.line_num}: {error}"]) from None


def _read_rates(reader, precision: int) -> list[Rate]:
    header = next(reader, None)
    if header is None:
        raise TariffFileError(["line 1: the file is empty"])
    names = [h.strip().lower() for h in header]
    errors = [f"line 1: unknown column {n!r}" for n in names if n not in COLUMNS]
    errors += [f"line 1: missing column {n!r}" for n in REQUIRED if n not in names]
    if errors:
        raise TariffFileError(errors)
    rates: list[Rate] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            errors.append(f"line {line}: expected {len(names)} fields, found {len(row)}")
            continue
        try:
            rate = _rate_from_row(
                dict(zip(names, (c.strip() for c in row), strict=True)), precision
            )
        except (ValueError, RatingError) as error:
            errors.append(f"line {line}: {error}")
            continue
        key = (rate.prefix, rate.band)
        if key in seen:
            errors.append(
                f"line {line}: prefix {rate.prefix or '*'} band {rate.band or '(any)'} "
                f"already on line {seen[key]}"
            )
            continue
        seen[key] = line
        rates.append(rate)
    if errors:
        raise TariffFileError(errors)
    if not rates:
        raise TariffFileError(["line 2: the file has no rates"])
    return rates


def write_rates_csv(rates: Iterable[Rate]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rate in sorted(rates, key=lambda r: (r.prefix, r.band)):
        writer.writerow(
            [
                rate.prefix or "*",
                _neutralize(rate.description),
                _rate_text(rate.connection_fee),
                _rate_text(rate.price_per_minute),
                rate.initial_block,
                rate.increment,
                rate.minimum_duration,
                rate.band,
                rate.grace,
                "" if rate.max_duration is None else rate.max_duration,
            ]
        )
    return out.getvalue()


def _rate_from_row(row: dict[str, str], precision: int) -> Rate:
    prefix = row["prefix"]
    if prefix in ("*", ""):
        prefix = ""
    elif not (prefix.isascii() and prefix.isdigit()):
        raise ValueError(f"prefix must be digits only: {prefix!r}")
    elif len(prefix) > MAX_PREFIX_DIGITS:
        raise ValueError(f"prefix longer than {MAX_PREFIX_DIGITS} digits: {prefix!r}")
    max_duration = row.get("max_duration", "")
    return Rate(
        prefix=prefix,
        description=row.get("description", ""),
        connection_fee=_money(row, "connection_fee", precision),
        price_per_minute=_money(row, "price_per_minute", precision, required=True),
        initial_block=_seconds(row, "initial_block"),
        increment=_seconds(row, "increment"),
        minimum_duration=_seconds(row, "minimum_duration"),
        grace=_seconds(row, "grace"),
        max_duration=_seconds(row, "max_duration") if max_duration else None,
        band=row.get("band", "").lower(),
    )


def _money(row: dict[str, str], column: str, precision: int, required: bool = False) -> int:
    text = row.get(column, "")
    if not text:
        if required:
            raise ValueError(f"{column} is required")
        return 0
    try:
        value = parse_rate(text, precision=precision)
    except AmountError as error:
        raise ValueError(f"{column}: {error}") from None
    if value < 0:
        raise ValueError(f"{column} must be zero or more: {text!r}")
    return value


def _seconds(row: dict[str, str], column: str) -> int:
    text = row.get(column, "")
    if not text:
        return DEFAULTS.get(column, 0)
    # ASCII digits only ("²".isdigit() is true), and few enough to be a duration.
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_SECONDS_DIGITS:
        raise ValueError(f"{column} must be whole seconds: {text[:MAX_TEXT]!r}")
    return int(text)


def _rate_text(micro: int) -> str:
    """A rate as `read_rates_csv` reads it back whatever the currency: no grouping, and a
    fraction of exactly three digits written with a fourth ("1.1250", not "1.125")."""
    text = str(micro_to_decimal(micro))
    return text + "0" if len(text.partition(".")[2]) == 3 else text


def _neutralize(text: str) -> str:
    """Keep spreadsheet programs from running a description as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
