"""A report table: the one shape every figure takes on its way to a page, a chart, a CSV file,
a workbook or a PDF, so all of them show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Final


class Withheld(Enum):
    """A figure left out of a published report so that no small group can be picked out."""

    MARK = "[c]"

    def __str__(self) -> str:
        return self.value


WITHHELD: Final = Withheld.MARK
Value = str | int | float | None | Withheld
"""A cell: a label, a count, a figure (None: nothing to show, e.g. no answers yet to time)."""


@dataclass(frozen=True, slots=True)
class Chart:
    """How a table is drawn: which value columns (by index into `headings`) as which kind."""

    kind: str  # "bar" or "line"
    columns: tuple[int, ...]
    description: str  # the chart's accessible name


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of one label and its figures, with an optional total row.

    `counts` are the columns holding counts (what suppression looks at); `derived` the columns
    computed from them (medians, shares), withheld with any count of their row."""

    key: str
    title: str
    headings: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    total: tuple[Value, ...] | None = None
    counts: tuple[int, ...] = ()
    derived: tuple[int, ...] = ()
    chart: Chart | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def with_cells(
        self, rows: tuple[tuple[Value, ...], ...], total: tuple[Value, ...] | None
    ) -> Table:
        return replace(self, rows=rows, total=total)

    def column(self, index: int) -> list[Value]:
        return [row[index] for row in self.rows]


def text(value: Value) -> str:
    """A cell as a person reads it (pages, CSV files and the PDF alike)."""
    if value is None:
        return "–"
    if isinstance(value, Withheld):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


__all__ = ["WITHHELD", "Chart", "Table", "Value", "Withheld", "text"]
