"""CSV that is safe to open in a spreadsheet, for every adapter's downloads (the admin's
exports, the customer's history).

A name such as `=HYPERLINK(...)` or `+1-2` typed by a customer must stay text: every
text cell that starts with a character a spreadsheet reads as a formula gets a leading
apostrophe, and control characters stored before they were refused on input are
replaced (`wallet.text.printable`). Numbers stay numbers (money as exact decimals of the
currency unit).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from wallet.text import printable

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralize(text: str) -> str:
    text = printable(text)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralize(str(h)) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    # A byte-order mark so that Excel opens UTF-8 names (Indonesian, accents) correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")
