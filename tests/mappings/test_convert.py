"""Type conversion: what CRMs send in, what they are sent out."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from mappings.convert import make_reader, make_writer
from mappings.errors import ConversionError
from mappings.spec import FieldType

LONDON = ZoneInfo("Europe/London")


def read(kind: FieldType, value: object, separator: str | None = None) -> object:
    return make_reader(kind, LONDON, separator)(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("0", False), ("true", True), ("FALSE", False), (True, True), (0, False)],
)
def test_booleans_accept_zero_one_and_words(raw: object, expected: bool) -> None:
    assert read(FieldType.BOOL, raw) is expected


def test_a_boolean_that_is_neither_is_refused() -> None:
    with pytest.raises(ConversionError, match='expected "0"/"1" or "true"/"false"'):
        read(FieldType.BOOL, "maybe")


def test_naive_crm_time_is_read_in_the_configured_zone() -> None:
    moment = read(FieldType.DATETIME, "2025-07-01T09:00:00")
    assert moment == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)  # BST is UTC+1


def test_zoned_crm_time_keeps_its_zone() -> None:
    assert read(FieldType.DATETIME, "2025-07-01T09:00:00Z") == datetime(2025, 7, 1, 9, tzinfo=UTC)


def test_naive_time_uses_another_zone_when_the_field_says_so() -> None:
    reader = make_reader(FieldType.DATETIME, ZoneInfo("Europe/Dublin"), None)
    assert reader("2025-01-10T12:00:00").utcoffset().total_seconds() == 0


def test_a_date_time_feeding_a_date_is_the_day_in_the_council_zone() -> None:
    # 23:30 UTC on 1 July is 00:30 on 2 July in London.
    assert read(FieldType.DATE, "2025-07-01T23:30:00Z") == date(2025, 7, 2)
    assert read(FieldType.DATE, "2025-07-01") == date(2025, 7, 1)


def test_bad_dates_and_times_are_refused() -> None:
    with pytest.raises(ConversionError, match="not an ISO 8601 date and time"):
        read(FieldType.DATETIME, "yesterday")
    with pytest.raises(ConversionError, match="not an ISO 8601 date"):
        read(FieldType.DATE, "2025-13-01")


def test_numbers_from_text_and_json() -> None:
    assert read(FieldType.INT, " 42 ") == 42
    assert read(FieldType.INT, 7) == 7
    assert read(FieldType.FLOAT, "545123.5") == 545123.5
    assert read(FieldType.DECIMAL, "1.10") == Decimal("1.10")
    with pytest.raises(ConversionError, match="not a whole number"):
        read(FieldType.INT, "4.5")
    with pytest.raises(ConversionError, match="got a boolean"):
        read(FieldType.INT, True)


def test_uuid_and_list() -> None:
    value = uuid.uuid4()
    assert read(FieldType.UUID, str(value)) == value
    assert read(FieldType.LIST, "a; b;;c", ";") == ["a", "b", "c"]
    assert read(FieldType.LIST, ["x", 1]) == ["x", "1"]
    with pytest.raises(ConversionError, match="not a UUID"):
        read(FieldType.UUID, "nope")


def test_writers_give_text_leaves_for_soap_and_json_types_for_rest() -> None:
    assert make_writer(FieldType.BOOL, LONDON, None, True)(True) == "1"
    assert make_writer(FieldType.BOOL, LONDON, None, False)(True) is True
    assert make_writer(FieldType.INT, LONDON, None, True)(101) == "101"
    assert make_writer(FieldType.LIST, LONDON, None, True)(["a", "b"]) == "a,b"
    assert make_writer(FieldType.LIST, LONDON, None, False)(["a", "b"]) == ["a", "b"]


def test_times_are_written_in_utc_with_a_z() -> None:
    moment = datetime(2025, 7, 1, 10, 0, tzinfo=LONDON)
    assert make_writer(FieldType.DATETIME, LONDON, None, True)(moment) == "2025-07-01T09:00:00Z"


def test_a_date_written_as_date_time_is_midnight_in_the_council_zone() -> None:
    writer = make_writer(FieldType.DATETIME, LONDON, None, True)
    assert writer(date(2025, 7, 2)) == "2025-07-01T23:00:00Z"
    assert read(FieldType.DATE, writer(date(2025, 7, 2))) == date(2025, 7, 2)
