"""The caseload field paths a mapping may name, derived from the record model itself.

Deriving them (rather than listing them) means a field added to `MemberCase` is mappable at once,
and a field removed makes every mapping file that names it fail validation.
"""

from __future__ import annotations

import types
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from mappings.spec import FieldType

EnumClass = type[Enum]


@dataclass(frozen=True, slots=True)
class ModelField:
    """One leaf of the caseload model, as a mapping sees it."""

    path: str
    parts: tuple[str, ...]
    type: FieldType
    enum: EnumClass | None
    required: bool  # required in its own parent model
    optional_parent: tuple[str, ...] | None  # nearest enclosing model that may be absent
    reachable_required: bool  # required, and every enclosing model is required too

    @property
    def choices(self) -> list[str]:
        return [str(member.value) for member in self.enum] if self.enum else []


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Annotated and Optional; report whether None was allowed."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, nullable
            annotation = args[0]
        else:
            return annotation, nullable


def _leaf_type(annotation: Any) -> tuple[FieldType, type[Enum] | None]:
    if get_origin(annotation) in (list, tuple, set):
        return FieldType.LIST, None
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return FieldType.STRING, annotation
        if issubclass(annotation, bool):
            return FieldType.BOOL, None
        if issubclass(annotation, int):
            return FieldType.INT, None
        if issubclass(annotation, float):
            return FieldType.FLOAT, None
        if issubclass(annotation, datetime):
            return FieldType.DATETIME, None
        if issubclass(annotation, date):
            return FieldType.DATE, None
        if issubclass(annotation, uuid.UUID):
            return FieldType.UUID, None
    return FieldType.STRING, None


def model_fields(model: type[BaseModel]) -> dict[str, ModelField]:
    """Every leaf field path of `model`, dotted (`constituent.location.postcode`)."""
    found: dict[str, ModelField] = {}

    def walk(
        cls: type[BaseModel],
        prefix: tuple[str, ...],
        optional_parent: tuple[str, ...] | None,
        chain_required: bool,
    ) -> None:
        for name, info in cls.model_fields.items():
            annotation, nullable = _unwrap(info.annotation)
            parts = (*prefix, name)
            required = info.is_required()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                parent = parts if nullable else optional_parent
                walk(annotation, parts, parent, chain_required and required)
                continue
            kind, enum = _leaf_type(annotation)
            found[".".join(parts)] = ModelField(
                path=".".join(parts),
                parts=parts,
                type=kind,
                enum=enum,
                required=required,
                optional_parent=optional_parent,
                reachable_required=chain_required and required,
            )

    walk(model, (), None, True)
    return found


def list_item_model(model: type[BaseModel], parts: tuple[str, ...]) -> type[BaseModel] | None:
    """The record model held by the list field at `parts` (`Note` for `notes`), else None."""
    cls: type[BaseModel] = model
    annotation: Any = None
    for depth, name in enumerate(parts):
        info = cls.model_fields.get(name)
        if info is None:
            return None
        annotation, _ = _unwrap(info.annotation)
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            cls = annotation
    if get_origin(annotation) is not list:
        return None
    item, _ = _unwrap(get_args(annotation)[0])
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


__all__ = ["ModelField", "list_item_model", "model_fields"]
