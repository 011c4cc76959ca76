"""The caseload record model and the mapping engine between CRM records and caseload records.

Public parts: `load_profile` / `load_mapping` / `validate_file` give a `Mapping`, whose
`to_caseload(raw)` and `to_crm(case, for_update=...)` translate records; every failure is a
`MappingError` (`MappingFileError` for a bad file, `RecordMappingError` for a bad record).
"""

from mappings.engine import Mapping, ValueMap
from mappings.errors import (
    ConversionError,
    FieldProblem,
    MappingError,
    MappingFileError,
    Problem,
    ProfileNotFoundError,
    RecordFormatError,
    RecordMappingError,
    UnmappedValueError,
)
from mappings.loader import (
    bundled_profiles,
    load_mapping,
    load_profile,
    parse_mapping,
    validate_file,
)
from mappings.model import (
    Authority,
    CaseStatus,
    Channel,
    Constituent,
    Location,
    MemberCase,
    Note,
    Priority,
    RaisedBy,
    Sharing,
    SharingLevel,
)

__all__ = [
    "Authority",
    "CaseStatus",
    "Channel",
    "Constituent",
    "ConversionError",
    "FieldProblem",
    "Location",
    "Mapping",
    "MappingError",
    "MappingFileError",
    "MemberCase",
    "Note",
    "Priority",
    "Problem",
    "ProfileNotFoundError",
    "RaisedBy",
    "RecordFormatError",
    "RecordMappingError",
    "Sharing",
    "SharingLevel",
    "UnmappedValueError",
    "ValueMap",
    "bundled_profiles",
    "load_mapping",
    "load_profile",
    "parse_mapping",
    "validate_file",
]
