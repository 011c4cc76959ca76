"""CSV and XLSX exports: every cell that a spreadsheet would run as a formula is text."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from portal_extensions.reports.exports import neutralise, table_csv, workbook
from portal_extensions.reports.tables import WITHHELD, Table

HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _table() -> Table:
    rows = tuple((label, n + 1) for n, label in enumerate([*HOSTILE, "Roads", "Bins"]))
    return Table(
        "volumes-by-category",
        "Cases by category",
        ("Category", "Received"),
        (*rows, ("Small", WITHHELD)),
        ("Total", 99),
        counts=(1,),
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_start_is_neutralised(value: str) -> None:
    assert neutralise(value) == "'" + value
    assert neutralise("Roads") == "Roads"


def test_csv_keeps_numbers_as_numbers_and_makes_formulas_text() -> None:
    rows = list(csv.reader(io.StringIO(table_csv(_table()))))
    assert rows[0] == ["Category", "Received"]
    labels = [row[0] for row in rows[1:]]
    for value in HOSTILE:
        assert "'" + value in labels
    assert all(not label.startswith(("=", "+", "-", "@", "\t", "\r")) for label in labels)
    assert rows[-2] == ["Small", "[c]"] and rows[-1] == ["Total", "99"]


def test_xlsx_has_a_sheet_per_table_with_text_cells_and_numbers() -> None:
    other = Table(
        "trend", "Cases: received/closed [by month]", ("Month", "Received"), (("May", 3),)
    )
    book = openpyxl.load_workbook(io.BytesIO(workbook([_table(), other], ["Report", "Period"])))
    assert len(book.sheetnames) == 2 and book.sheetnames[0] == "Cases by category"
    assert not any(ch in book.sheetnames[1] for ch in "[]:*?/\\")
    sheet = book["Cases by category"]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert all(cell.data_type in ("s", "n") for cell in cells)  # never "f" (a formula)
    texts = {cell.value for cell in cells if cell.data_type == "s"}
    for value in HOSTILE:
        assert "'" + value in texts
    numbers = [cell.value for cell in cells if cell.data_type == "n"]
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 8, 99]
    assert "[c]" in texts
