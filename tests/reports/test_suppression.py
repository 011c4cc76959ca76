"""Small-count suppression: primary, secondary, totals and derived figures."""

from __future__ import annotations

from portal_extensions.reports.suppression import suppress
from portal_extensions.reports.tables import WITHHELD, Table, Value


def _table(rows: list[tuple[Value, ...]], total: tuple[Value, ...] | None, **kw) -> Table:
    return Table("t", "T", ("Label", "A"), tuple(rows), total, counts=(1,), **kw)


def test_a_count_below_the_threshold_is_withheld_and_zeros_and_larger_counts_are_shown() -> None:
    table = suppress(_table([("a", 0), ("b", 4), ("c", 5), ("d", 1), ("e", 30)], None), 5)
    assert [row[1] for row in table.rows] == [0, WITHHELD, 5, WITHHELD, 30]


def test_one_small_count_beside_a_total_takes_the_smallest_other_count_with_it() -> None:
    table = suppress(_table([("a", 2), ("b", 0), ("c", 9), ("d", 7)], ("Total", 18)), 5)
    assert [row[1] for row in table.rows] == [WITHHELD, 0, 9, WITHHELD]
    assert table.total == ("Total", 18)


def test_withheld_counts_that_add_up_to_less_than_the_threshold_take_another() -> None:
    table = suppress(_table([("a", 1), ("b", 2), ("c", 6), ("d", 8)], ("Total", 17)), 5)
    # 1 + 2 = 3 could still be read as "3 between a and b": c goes too (1 + 2 + 6 >= 5)
    assert [row[1] for row in table.rows] == [WITHHELD, WITHHELD, WITHHELD, 8]


def test_when_nothing_else_can_be_withheld_the_total_is() -> None:
    table = suppress(_table([("a", 3), ("b", 0)], ("Total", 3)), 5)
    assert table.rows == (("a", WITHHELD), ("b", 0))
    assert table.total == ("Total", WITHHELD)


def test_a_small_total_is_withheld_even_when_its_parts_are_zero_and_withheld() -> None:
    table = suppress(_table([("a", 2), ("b", 2)], ("Total", 4)), 5)
    assert table.total == ("Total", WITHHELD)


def test_figures_derived_from_a_row_with_a_withheld_count_are_withheld() -> None:
    table = Table(
        "t",
        "T",
        ("Service", "Sent", "Median"),
        (("a", 3, 4), ("b", 20, 6), ("c", 30, 2)),
        ("All", 53, 4),
        counts=(1,),
        derived=(2,),
    )
    published = suppress(table, 5)
    assert published.rows == (("a", WITHHELD, WITHHELD), ("b", WITHHELD, WITHHELD), ("c", 30, 2))
    assert published.total == ("All", 53, 4)


def test_a_threshold_of_one_withholds_nothing() -> None:
    table = _table([("a", 1), ("b", 2)], ("Total", 3))
    assert suppress(table, 1) == table
