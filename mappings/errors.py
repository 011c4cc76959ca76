"""The mapping layer's errors: one root, one class per thing that can go wrong.

A bad mapping file yields every problem at once (`MappingFileError.problems`), each pointing at a
file, line and column. A CRM record that cannot be mapped yields every field problem of that
record at once (`RecordMappingError.problems`), naming the record by its CRM reference. Messages
carry codes and field names, never free-text values, because those may be personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A value that looks like a code (no spaces, short) is shown so an administrator can add it to
# the value map; anything else may be free text about a person and stays out of the message.
_CODE = re.compile(r"[A-Za-z0-9_.:/+-]{1,40}")


class MappingError(Exception):
    """Root of every error raised by `mappings`."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a mapping file, and where it is."""

    file: str
    line: int  # 1-based; 0 when the whole file is meant
    column: int  # 1-based
    field: str  # dotted location inside the file, e.g. `fields.status.value_map`
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{text}: {self.suggestion}" if self.suggestion else text


class MappingFileError(MappingError):
    """A mapping file is malformed or inconsistent; `problems` lists every problem found."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        count = len(problems)
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{file}: {count} problem{'s' if count != 1 else ''}\n{listing}")


class UnknownCRMError(MappingError, ValueError):
    """A CRM kind that no schema module in `mappings/schemas/` serves (there is no default)."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(
            f"unknown CRM {kind!r}: mappings has a schema for {', '.join(known) or 'no CRM'}"
        )


class ProfileNotFoundError(MappingError):
    """`load_profile` was given a name that is neither a file nor a bundled profile."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One caseload field of one record that could not be mapped."""

    field: str  # caseload field path, e.g. `status`
    crm_path: str | None  # where in the CRM record the value came from or goes to
    message: str
    # "unmapped" (a code missing from a value map), "conversion" (wrong type or format),
    # "missing" (a required value is absent) or "invalid" (refused by the caseload model).
    kind: str = "invalid"

    def __str__(self) -> str:
        source = f" ({self.crm_path})" if self.crm_path else ""
        return f"{self.field}{source}: {self.message}"


class RecordMappingError(MappingError):
    """A record could not be mapped; `problems` holds every field problem of that record."""

    def __init__(self, reference: str, direction: str, problems: list[FieldProblem]) -> None:
        self.reference = reference
        self.direction = direction
        self.problems = problems
        listing = "; ".join(str(p) for p in problems)
        super().__init__(f"cannot map {direction} record {reference}: {listing}")


class UnmappedValueError(MappingError):
    """A CRM code (or caseload value) has no entry in a value map whose policy is `error`."""

    def __init__(self, value_map: str, value: str, direction: str) -> None:
        self.value_map = value_map
        self.value = value
        self.direction = direction
        side = "CRM value" if direction == "inbound" else "caseload value"
        shown = repr(value) if _CODE.fullmatch(value) else f"({len(value)} characters, not shown)"
        super().__init__(
            f"{side} {shown} has no mapping in value map `{value_map}`"
            f" (policy `error`): add it to `value_maps.{value_map}`"
        )


class ConversionError(MappingError):
    """A value could not be converted to or from the declared type."""


class RecordFormatError(MappingError):
    """A raw record file (JSON or SOAP/XML) could not be read into the raw record shape."""


__all__ = [
    "ConversionError",
    "FieldProblem",
    "MappingError",
    "MappingFileError",
    "Problem",
    "ProfileNotFoundError",
    "RecordFormatError",
    "RecordMappingError",
    "UnknownCRMError",
    "UnmappedValueError",
]
