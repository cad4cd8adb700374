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
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date
from flask import Response
from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from wallet.spreadsheet import csv_bytes, neutralize
from wallet.text import printable
from webadmin.ui import currency, locale_name, site

__all__ = [
    "HEADER_ROW",
    "XLSX_TYPE",
    "csv_bytes",
    "download",
    "neutralize",
    "subtitle",
    "xlsx_bytes",
]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Where an Excel sheet's column titles are: under the title and the period line.
HEADER_ROW = 4
_MOMENT_FORMAT = "yyyy-mm-dd hh:mm:ss"
_DAY_FORMAT = "yyyy-mm-dd"
_MONTH_FORMAT = "mmm yyyy"
_WIDEST = 60


def _money_format(precision: int) -> str:
    return "#,##0" + ("." + "0" * precision if precision else "")


def xlsx_bytes(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    subtitle: str = "",
    money_columns: Collection[int] = (),
    total_columns: Collection[int] = (),
    total_label: str = "Total",
    precision: int = 0,
    month_columns: Collection[int] = (),
) -> bytes:
    """An Excel sheet as an operator hands it on: the title and, under it, `subtitle`
    (the period and the currency), the column titles at HEADER_ROW, one row per row with
    moments and days as Excel dates (the first days in `month_columns` shown as months),
    amounts (`money_columns`, 0-based) as numbers shown with the currency's decimals, a
    totals row summing `total_columns`, and columns as wide as what they hold."""
    book = Workbook()
    sheet = book.active
    sheet.title = _sheet_name(title)
    sheet.cell(1, 1, printable(title)).font = Font(bold=True, size=14)
    sheet.cell(1, 1).data_type = TYPE_STRING
    if subtitle:
        sheet.cell(2, 1, printable(subtitle)).data_type = TYPE_STRING
    for column, text in enumerate(header, start=1):
        cell = sheet.cell(HEADER_ROW, column, printable(str(text)))
        cell.font = Font(bold=True)
        cell.data_type = TYPE_STRING
    widths = [len(str(h)) for h in header]
    totals: dict[int, Decimal] = {i: Decimal(0) for i in total_columns}
    row_number = HEADER_ROW
    for row in rows:
        row_number += 1
        for index, value in enumerate(row):
            value = _xlsx_value(value)
            cell = sheet.cell(row_number, index + 1, value)
            if isinstance(value, str):
                # Never a formula: openpyxl would otherwise write "=..." as one.
                cell.data_type = TYPE_STRING
            elif isinstance(value, datetime):
                cell.number_format = _MOMENT_FORMAT
            elif isinstance(value, date):
                cell.number_format = _MONTH_FORMAT if index in month_columns else _DAY_FORMAT
            elif index in money_columns and value is not None:
                cell.number_format = _money_format(precision)
            if index in totals and isinstance(value, Decimal | int) and value is not None:
                totals[index] += Decimal(value)
            if index >= len(widths):
                widths.append(0)
            widths[index] = max(widths[index], _shown_width(value, index in money_columns))
    if totals:
        row_number += 1
        label_column = next(i for i in range(len(header) + 1) if i not in totals)
        label = sheet.cell(row_number, label_column + 1, total_label)
        label.font = Font(bold=True)
        label.data_type = TYPE_STRING
        for index, total in totals.items():
            cell = sheet.cell(row_number, index + 1, _plain(total))
            cell.font = Font(bold=True)
            if index in money_columns:
                cell.number_format = _money_format(precision)
            widths[index] = max(widths[index], _shown_width(total, index in money_columns))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, _WIDEST)
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str) -> str:
    # A sheet's name has at most 31 characters and none of []:*?/\ .
    name = "".join(" " if ch in "[]:*?/\\" else ch for ch in printable(title, " "))
    return name[:31].strip() or "Sheet"


def _plain(total: Decimal) -> Decimal | int:
    return int(total) if total == total.to_integral_value() else total


def _shown_width(value: object, grouped: bool) -> int:
    """About how many characters Excel shows for `value`."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return len(_MOMENT_FORMAT)
    if isinstance(value, date):
        return len(_DAY_FORMAT)
    if isinstance(value, Decimal | int | float):
        digits = len(f"{value:,}" if grouped else str(value))
        return digits
    return max((len(line) for line in str(value).splitlines()), default=0)


def _xlsx_value(value: object) -> object:
    if isinstance(value, Decimal | int | float | datetime | date) or value is None:
        return value
    return printable(str(value))


def subtitle(first: date | None = None, last: date | None = None, *, amounts: bool = True) -> str:
    """The line under an export's title: its period (the days asked for, in the
    reader's language, "1 Nov 2026 to 30 Nov 2026"; "all days" when none were) and the
    currency its amounts are in."""

    def day(value: date) -> str:
        return format_date(value, "medium", locale=locale_name())

    if first and last:
        period = gettext("%(first)s to %(last)s", first=day(first), last=day(last))
    elif first:
        period = gettext("from %(first)s", first=day(first))
    elif last:
        period = gettext("until %(last)s", last=day(last))
    else:
        period = gettext("all days")
    if not amounts:
        return period
    return gettext("%(period)s; amounts in %(currency)s", period=period, currency=currency())


def download(
    fmt: str,
    filename: str,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    subtitle: str = "",
    money_columns: Collection[int] = (),
    total_columns: Collection[int] = (),
    month_columns: Collection[int] = (),
) -> Response:
    """A CSV (`fmt` "csv") or Excel ("xlsx") attachment. The CSV file is the data alone
    (a header and the rows, for other programs); the Excel file has the title, the
    `subtitle` (period and currency), real dates, a totals row and fitted columns."""
    if fmt == "xlsx":
        body = xlsx_bytes(
            title,
            header,
            rows,
            subtitle=subtitle,
            money_columns=money_columns,
            total_columns=total_columns,
            total_label=gettext("Total"),
            precision=site().display_precision,
            month_columns=month_columns,
        )
        mimetype, ext = XLSX_TYPE, "xlsx"
    else:
        body, mimetype, ext = csv_bytes(header, rows), "text/csv", "csv"
    # Werkzeug adds "; charset=utf-8" to a text/ type by itself.
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{ext}"'
    return response
