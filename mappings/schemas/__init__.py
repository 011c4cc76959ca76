"""One schema module per CRM (`lagan.py`, `dataverse.py`, ...), found by the CRM kind it serves.

Each module of this package (except `base`) defines `SCHEMA`, an instance of its
`mappings.schemas.base.CrmSchema` subclass named by the CRM kind that mapping files write in
`crm:` and the connector registers (`lagan`, `dynamics365`). There is no default: looking up a
kind no module serves raises `UnknownCRMError` naming it and the kinds that exist. Adding a CRM
adds a module here; nothing else in `mappings` names a CRM.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from mappings.errors import UnknownCRMError
from mappings.schemas.base import CrmSchema

_NOT_SCHEMAS = frozenset({"base"})
_lock = threading.Lock()
_schemas: dict[str, CrmSchema] = {}


def _load() -> dict[str, CrmSchema]:
    """Import every schema module once and index its `SCHEMA` by CRM kind."""
    with _lock:
        if not _schemas:
            found: dict[str, CrmSchema] = {}
            for info in pkgutil.iter_modules(__path__):
                if info.name in _NOT_SCHEMAS or info.name.startswith("_"):
                    continue
                module = importlib.import_module(f"{__name__}.{info.name}")
                schema = getattr(module, "SCHEMA", None)
                if not isinstance(schema, CrmSchema):
                    raise TypeError(f"{module.__name__} defines no SCHEMA (a CrmSchema instance)")
                if schema.name in found:
                    raise TypeError(f"two schema modules serve the CRM kind {schema.name!r}")
                found[schema.name] = schema
            _schemas.update(found)
        return _schemas


def crm_kinds() -> tuple[str, ...]:
    """Every CRM kind a schema module serves, sorted (`("dynamics365", "lagan")` as shipped)."""
    return tuple(sorted(_load()))


def schema_for(kind: str) -> CrmSchema:
    """The schema of the CRM `kind`, or `UnknownCRMError` naming it and the known kinds."""
    schemas = _load()
    schema = schemas.get(kind)
    if schema is None:
        raise UnknownCRMError(kind, tuple(sorted(schemas)))
    return schema


__all__ = ["CrmSchema", "UnknownCRMError", "crm_kinds", "schema_for"]
