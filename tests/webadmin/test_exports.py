"""Exports keep text as text: nothing a customer types can become a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook

from webadmin.exports import HEADER_ROW, csv_bytes, neutralize, xlsx_bytes

DANGEROUS = ["=1+1", "+62812", "-2+3", "@SUM(A1)", "\t=x", "\r=x", '=HYPERLINK("http://x")']


def test_every_formula_start_gets_an_apostrophe_and_plain_text_is_left_alone():
    for text in DANGEROUS:
        assert neutralize(text) == "'" + text
    for text in ("Warung Bu Sari", "62812", "a=b", ""):
        assert neutralize(text) == text


def test_csv_cells_are_neutralized_but_numbers_stay_numbers():
    body = csv_bytes(["name", "amount"], [(text, Decimal("-1500.5")) for text in DANGEROUS])
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["'" + text for text in DANGEROUS]
    assert {row[1] for row in rows[1:]} == {"-1500.5"}


def test_excel_cells_hold_the_exact_text_as_strings_and_money_as_numbers():
    data = xlsx_bytes("T", ["name", "amount"], [(text, Decimal("12.5")) for text in DANGEROUS])
    sheet = load_workbook(io.BytesIO(data)).active
    for row, text in enumerate(DANGEROUS, start=HEADER_ROW + 1):
        cell = sheet.cell(row=row, column=1)
        assert cell.value == text.replace("\r", "\n") or cell.value == text
        assert cell.data_type == "s"
        assert sheet.cell(row=row, column=2).value == 12.5
