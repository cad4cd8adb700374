"""CSV and Excel downloads, safe to open in a spreadsheet.

A name such as `=HYPERLINK(...)` or `+1-2` typed by a customer must stay text: every
text cell that starts with a character a spreadsheet reads as a formula gets a leading
apostrophe in CSV, and is written as an explicit string cell in Excel. Numbers stay
numbers (money as exact decimals of the currency unit, never float).

Text stored before control characters were refused on input (a name with U+0001) is
written with those characters replaced: an Excel file cannot hold them at all, and a
download must not fail for one odd name. The CSV part is `wallet.spreadsheet`, shared
with the customer portal.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from flask import Response
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font

from wallet.spreadsheet import csv_bytes, neutralize
from wallet.text import printable

__all__ = ["XLSX_TYPE", "csv_bytes", "download", "neutralize", "xlsx_bytes"]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31] or "Sheet"
    sheet.append([printable(str(h)) for h in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.data_type = TYPE_STRING
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                # Never a formula: openpyxl would otherwise write "=..." as one.
                cell.data_type = TYPE_STRING
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: object) -> object:
    if isinstance(value, Decimal | int | float | datetime | date) or value is None:
        return value
    return printable(str(value))


def download(
    fmt: str, filename: str, title: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A CSV (`fmt` "csv") or Excel ("xlsx") attachment."""
    if fmt == "xlsx":
        body, mimetype, ext = xlsx_bytes(title, header, rows), XLSX_TYPE, "xlsx"
    else:
        body, mimetype, ext = csv_bytes(header, rows), "text/csv", "csv"
    # Werkzeug adds "; charset=utf-8" to a text/ type by itself.
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{ext}"'
    return response
