"""Small-count suppression for published reports, with secondary suppression.

A published table must not let anyone pick out a handful of residents. So, column by column:

* primary: a count from 1 to `threshold - 1` is withheld (a zero is shown: it picks out nobody);
* secondary: where a column has a total, the withheld cells of that column must not be
  recoverable by subtraction, so while only one cell is withheld, or the withheld cells add up
  to less than the threshold, the smallest count still shown (above zero) is withheld too;
  when nothing is left to withhold, the total is withheld;
* a total below the threshold is withheld itself;
* figures derived from a row's counts (medians, shares) are withheld with any count of the row.

Zeros are never chosen for secondary suppression: withholding a zero beside one small count
would let the small count be worked out from the total all the same.
"""

from __future__ import annotations

from portal_extensions.reports.tables import WITHHELD, Table, Value


def _small(value: Value, threshold: int) -> bool:
    return isinstance(value, int) and 0 < value < threshold


def _count(value: Value) -> int:
    return value if isinstance(value, int) else 0


def suppress(table: Table, threshold: int) -> Table:
    """The table as published: small counts withheld, with secondary suppression."""
    rows = [list(row) for row in table.rows]
    total = list(table.total) if table.total is not None else None
    for column in table.counts:
        withheld = {i for i, row in enumerate(rows) if _small(row[column], threshold)}
        if total is not None:
            while withheld:
                hidden = sum(_count(rows[i][column]) for i in withheld)
                if len(withheld) > 1 and hidden >= threshold:
                    break
                shown = [
                    (int(value), i)
                    for i, row in enumerate(rows)
                    if i not in withheld and isinstance(value := row[column], int) and value > 0
                ]
                if not shown:
                    total[column] = WITHHELD
                    break
                withheld.add(min(shown)[1])
            if _small(total[column], threshold):
                total[column] = WITHHELD
        for i in withheld:
            rows[i][column] = WITHHELD
    for row in [*rows, *([total] if total is not None else [])]:
        if any(row[column] is WITHHELD for column in table.counts):
            for column in table.derived:
                row[column] = WITHHELD
    return table.with_cells(
        tuple(tuple(row) for row in rows), tuple(total) if total is not None else None
    )


__all__ = ["suppress"]
