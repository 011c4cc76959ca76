"""Report tables as CSV and XLSX files, safe to open in a spreadsheet.

A label that begins with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is a formula to Excel, LibreOffice and Google
Sheets, and a category name or ward name comes from the CRM: such a cell is written with a
leading apostrophe, so it is shown as text and never run (OWASP's advice for CSV injection).
Numbers are written as numbers. The workbook is written by openpyxl, with every text cell
typed as a string, and the same neutralising, so a copy of it saved as CSV is safe too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font

from portal_extensions.reports.tables import Table, Value, Withheld, text

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")


def neutralise(cell: str) -> str:
    """A text cell that no spreadsheet will read as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _cell(value: Value) -> str | int | float:
    if isinstance(value, bool):  # pragma: no cover - tables hold no booleans
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, Withheld):
        return value
    return neutralise(text(value))


def _lines(table: Table) -> list[Sequence[Value]]:
    return [table.headings, *table.rows, *([table.total] if table.total is not None else [])]


def table_csv(table: Table) -> str:
    """One table as CSV (UTF-8 text; the caller adds a byte-order mark for Excel if wanted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in _lines(table):
        writer.writerow([_cell(value) for value in line])
    return out.getvalue()


def _sheet_name(title: str, taken: set[str]) -> str:
    base = _SHEET_UNSAFE.sub(" ", title).strip()[:28] or "Table"
    name, n = base, 1
    while name.casefold() in taken:
        n += 1
        name = f"{base[:25]} {n}"
    taken.add(name.casefold())
    return name


def workbook(tables: Sequence[Table], heading: Sequence[str]) -> bytes:
    """Every table on a sheet of its own; `heading` (report, period, scope) above each."""
    book = Workbook()
    for sheet in book.worksheets:
        book.remove(sheet)
    taken: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(_sheet_name(table.title, taken))
        lines: list[Sequence[Value]] = [[line] for line in heading]
        lines += [[table.title], [], *_lines(table), *[[note] for note in table.notes]]
        for r, line in enumerate(lines, start=1):
            for c, value in enumerate(line, start=1):
                written = _cell(value)
                cell = sheet.cell(row=r, column=c, value=written)
                if isinstance(written, str):
                    cell.data_type = TYPE_STRING  # text, never a formula
        header_row = len(heading) + 3
        for cell in sheet[header_row]:
            cell.font = bold
        sheet.column_dimensions["A"].width = 36
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = ["neutralise", "table_csv", "workbook"]
