"""Type conversion between CRM values and caseload values, built once per field.

Readers accept what CRMs actually send (Lagan sends every leaf as text; Dataverse sends JSON
types). Writers produce text for CRMs whose raw records hold text (`text_leaves`), JSON types
otherwise. Times are written in UTC with a `Z`; naive CRM times are read in the field's zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from mappings.errors import ConversionError
from mappings.spec import FieldType

Converter = Callable[[Any], Any]

_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


def _kind(value: Any) -> str:
    return type(value).__name__


def _parse_datetime(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConversionError("is not an ISO 8601 date and time") from None
    else:
        raise ConversionError(f"expected a date and time, got {_kind(value)}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def make_reader(kind: FieldType, zone: ZoneInfo, separator: str | None) -> Converter:
    """A function turning one raw CRM value into the caseload value of `kind`."""

    def read_string(value: Any) -> Any:
        if type(value) is str:  # nearly always: a fast exit for the hot loop
            return value
        if isinstance(value, dict | list):
            raise ConversionError(f"expected text, got a {_kind(value)}")
        return str(value)

    def read_int(value: Any) -> Any:
        if isinstance(value, bool):
            raise ConversionError("expected a whole number, got a boolean")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ConversionError("is not a whole number") from None

    def read_decimal(value: Any) -> Any:
        if isinstance(value, bool):
            raise ConversionError("expected a number, got a boolean")
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ConversionError("is not a number") from None

    def read_float(value: Any) -> Any:
        if isinstance(value, bool):
            raise ConversionError("expected a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConversionError("is not a number") from None

    def read_bool(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConversionError('is not a boolean (expected "0"/"1" or "true"/"false")')

    def read_date(value: Any) -> Any:
        if isinstance(value, datetime):
            return _parse_datetime(value, zone).astimezone(zone).date()
        if isinstance(value, date):
            return value
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                raise ConversionError("is not an ISO 8601 date") from None
        return _parse_datetime(value, zone).astimezone(zone).date()

    def read_datetime(value: Any) -> Any:
        return _parse_datetime(value, zone)

    def read_uuid(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value).strip())
        except ValueError:
            raise ConversionError("is not a UUID") from None

    split_on = separator or ","

    def read_list(value: Any) -> Any:
        if isinstance(value, list):
            return [str(item) for item in value]
        if isinstance(value, str):
            return [part.strip() for part in value.split(split_on) if part.strip()]
        raise ConversionError(f"expected a list or text, got {_kind(value)}")

    readers: dict[FieldType, Converter] = {
        FieldType.STRING: read_string,
        FieldType.INT: read_int,
        FieldType.DECIMAL: read_decimal,
        FieldType.FLOAT: read_float,
        FieldType.BOOL: read_bool,
        FieldType.DATE: read_date,
        FieldType.DATETIME: read_datetime,
        FieldType.UUID: read_uuid,
        FieldType.LIST: read_list,
    }
    return readers[kind]


def make_writer(
    kind: FieldType, zone: ZoneInfo, separator: str | None, text_leaves: bool
) -> Converter:
    """A function turning one caseload value into the CRM value of `kind`."""

    def as_leaf(value: Any) -> Any:
        return str(value) if text_leaves else value

    def write_string(value: Any) -> Any:
        return value.value if isinstance(value, Enum) else str(value)

    def write_int(value: Any) -> Any:
        return as_leaf(int(value))

    def write_decimal(value: Any) -> Any:
        return str(value) if text_leaves else float(value)

    def write_float(value: Any) -> Any:
        return as_leaf(float(value))

    def write_bool(value: Any) -> Any:
        flag = bool(value)
        return ("1" if flag else "0") if text_leaves else flag

    def write_date(value: Any) -> Any:
        if isinstance(value, datetime):
            value = _parse_datetime(value, zone).astimezone(zone).date()
        return value.isoformat()

    def write_datetime(value: Any) -> Any:
        moment = _parse_datetime(value, zone).astimezone(UTC)
        return moment.isoformat().replace("+00:00", "Z")

    def write_uuid(value: Any) -> Any:
        return str(value)

    joiner = separator

    def write_list(value: Any) -> Any:
        items = [item.value if isinstance(item, Enum) else str(item) for item in value]
        if joiner is not None or text_leaves:
            return (joiner or ",").join(items)
        return items

    writers: dict[FieldType, Converter] = {
        FieldType.STRING: write_string,
        FieldType.INT: write_int,
        FieldType.DECIMAL: write_decimal,
        FieldType.FLOAT: write_float,
        FieldType.BOOL: write_bool,
        FieldType.DATE: write_date,
        FieldType.DATETIME: write_datetime,
        FieldType.UUID: write_uuid,
        FieldType.LIST: write_list,
    }
    return writers[kind]


#: Declared type -> the caseload model types it can feed.
COMPATIBLE: dict[FieldType, frozenset[FieldType]] = {
    FieldType.STRING: frozenset({FieldType.STRING}),
    FieldType.INT: frozenset({FieldType.INT, FieldType.FLOAT, FieldType.STRING}),
    FieldType.DECIMAL: frozenset({FieldType.FLOAT, FieldType.STRING}),
    FieldType.FLOAT: frozenset({FieldType.FLOAT, FieldType.STRING}),
    FieldType.BOOL: frozenset({FieldType.BOOL}),
    FieldType.DATE: frozenset({FieldType.DATE}),
    FieldType.DATETIME: frozenset({FieldType.DATETIME, FieldType.DATE}),
    FieldType.UUID: frozenset({FieldType.UUID, FieldType.STRING}),
    FieldType.LIST: frozenset({FieldType.LIST}),
}

__all__ = ["COMPATIBLE", "Converter", "make_reader", "make_writer"]
