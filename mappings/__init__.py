"""The caseload record model and the mapping engine between CRM records and caseload records.

Public parts: `load_profile` / `load_mapping` / `validate_file` give a `Mapping`, whose
`to_caseload(raw)` and `to_crm(case, for_update=...)` translate records, and whose
`reference_of(raw)` and `modified_at(raw)` read a raw case's CRM reference and last change;
every failure is a `MappingError` (`MappingFileError` for a bad file, `RecordMappingError` for a
bad record, `UnknownCRMError` for a CRM kind without a schema module). `crm_kinds()` and
`schema_for(kind)` (`mappings.schemas`) give the schema of each CRM.
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
    UnknownCRMError,
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
from mappings.schemas import crm_kinds, schema_for

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
    "UnknownCRMError",
    "UnmappedValueError",
    "ValueMap",
    "bundled_profiles",
    "crm_kinds",
    "load_mapping",
    "load_profile",
    "parse_mapping",
    "schema_for",
    "validate_file",
]
