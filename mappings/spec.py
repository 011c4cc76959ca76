"""The mapping file format, as pydantic models: what an administrator may write, and nothing else.

These models check the shape of a file (`extra="forbid"`, so a misspelt key is refused).
Whether the file makes sense against the caseload model and the CRM (field paths exist, value
maps are defined, outbound paths are writable) is checked in `mappings.validation`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(StrEnum):
    INBOUND = "inbound"  # CRM -> caseload only
    OUTBOUND = "outbound"  # caseload -> CRM only
    BOTH = "both"


class FieldType(StrEnum):
    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    UUID = "uuid"
    LIST = "list"


class UnmappedPolicy(Spec):
    """What to do with a code that a value map does not list."""

    kind: Literal["error", "default", "keep_raw"]
    default: str | None = None


def _parse_policy(value: Any) -> Any:
    """Accept the three written forms: `error`, `keep_raw`, or `{default: X}`."""
    if isinstance(value, str):
        if value in ("error", "keep_raw"):
            return {"kind": value}
        raise ValueError(
            f"unknown unmapped policy {value!r}: use `error`, `keep_raw` or `default: X`"
        )
    if isinstance(value, dict):
        if set(value) == {"default"}:
            return {"kind": "default", "default": value["default"]}
        if "kind" in value:
            return value
        raise ValueError("an unmapped policy mapping must be exactly `default: X`")
    if isinstance(value, UnmappedPolicy):
        return value
    raise ValueError("unmapped policy must be `error`, `keep_raw` or `default: X`")


Policy = Annotated[UnmappedPolicy, BeforeValidator(_parse_policy)]
Code = str | int | bool


class ValueMapSpec(Spec):
    """CRM code -> caseload value, with an explicit policy for codes not listed."""

    description: str | None = None
    unmapped: Policy
    values: dict[Code, str] = Field(min_length=1)
    # caseload value -> CRM code, where the reverse of `values` is ambiguous or missing.
    outbound: dict[str, Code] = Field(default_factory=dict)


class ComputeOp(StrEnum):
    CONCAT = "concat"  # the present values of `paths`, joined by `separator`
    FIRST_OF = "first_of"  # the first present value of `paths`
    TEMPLATE = "template"  # `template` with `{CRM.path}` placeholders filled in


class WhenSpec(Spec):
    """A condition on the CRM record: the value at `path` is one of `equals`."""

    path: str
    equals: list[Code] = Field(min_length=1)


class ComputeSpec(Spec):
    """A small declarative computation over CRM paths (inbound only; never evaluated as code)."""

    op: ComputeOp
    paths: list[str] = Field(default_factory=list)
    separator: str = " "
    template: str | None = None
    when: WhenSpec | None = None  # compute only for records meeting it; absent otherwise

    @model_validator(mode="after")
    def _operands(self) -> ComputeSpec:
        if self.op is ComputeOp.TEMPLATE:
            if not self.template:
                raise ValueError("`op: template` needs a `template`")
            if self.paths:
                raise ValueError("`op: template` takes its paths from the template, not `paths`")
        elif len(self.paths) < (1 if self.when else 2):
            raise ValueError(
                f"`op: {self.op}` needs at least two `paths` (one is enough with `when`)"
            )
        elif self.template is not None:
            raise ValueError(f"`template` applies only to `op: template`, not `op: {self.op}`")
        return self


class OutboundSpec(Spec):
    """Where and how a field is written when it differs from where it is read."""

    path: str | None = None
    type: FieldType | None = None
    value_map: str | None = None
    format: str | None = None  # e.g. "/contacts({value})" for a Dataverse lookup binding


class ItemsSpec(Spec):
    """One CRM source of a list of sub-records (`notes`): each item mapped by its own fields.

    `path` names a repeated element or array (`Notes.Note`, `Incident_Annotation`); without it
    the enclosing record is the one item (used for a file on a Dataverse annotation). `when`
    keeps only items meeting it. `fields` are keyed by the sub-record's field paths and read
    relative to the item.
    """

    description: str | None = None
    path: str | None = None
    when: WhenSpec | None = None
    fields: dict[str, Any]  # each checked as FieldSpec, so one bad field hides no other


class FieldSpec(Spec):
    """How one caseload field is read from, and written to, the CRM record."""

    description: str | None = None
    path: str | None = None
    compute: ComputeSpec | None = None
    type: FieldType | None = None  # inferred from the caseload model when omitted
    value_map: str | None = None
    default: Any = None
    required: bool = False
    direction: Direction | None = None  # `defaults.direction` when omitted
    timezone: str | None = None  # zone of naive CRM times; `defaults.timezone` when omitted
    separator: str | None = None  # for `type: list` held in one CRM string
    outbound: OutboundSpec | None = None
    items: list[ItemsSpec] | None = None  # a list of sub-records, concatenated in this order

    @model_validator(mode="after")
    def _source(self) -> FieldSpec:
        if self.items is not None:
            others = {"path", "compute", "type", "value_map", "default", "separator", "outbound"}
            extra = sorted(others & self.model_fields_set)
            if extra:
                raise ValueError(f"a field with `items` takes no `{extra[0]}`")
            if not self.items:
                raise ValueError("`items` needs at least one source")
            return self
        if self.path is not None and self.compute is not None:
            raise ValueError("give either `path` or `compute`, not both")
        if self.path is None and self.compute is None and "default" not in self.model_fields_set:
            raise ValueError("a field needs a `path`, a `compute` or a `default`")
        return self


class Defaults(Spec):
    """Settings shared by every field unless the field says otherwise."""

    timezone: str = "Europe/London"
    direction: Direction = Direction.BOTH


class SectionSpec(Spec):
    """A further CRM record kind the profile maps inbound (`parties`, `code_book`)."""

    description: str | None = None
    fields: dict[str, Any]  # each checked as FieldSpec


class MappingSpec(Spec):
    """One mapping file: a CRM, the record it maps, and its fields."""

    crm: str  # a CRM kind with a schema module in mappings/schemas/ (checked below)
    record: Literal["member_case"]
    description: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    value_maps: dict[str, Any] = Field(default_factory=dict)  # each checked as ValueMapSpec
    fields: dict[str, Any]  # each checked as FieldSpec, so one bad field hides no other
    # CRM path -> value written into every outbound payload (e.g. the Lagan form name).
    outbound_constants: dict[str, Code] = Field(default_factory=dict)
    # CRM party record (Lagan FWTIndividual / FWTObjectBriefDetails, Dataverse contact)
    # -> `Constituent`; CRM code-book entry (Lagan FWTCode, Dataverse option) -> `Category`.
    parties: SectionSpec | None = None
    code_book: SectionSpec | None = None

    @field_validator("crm")
    @classmethod
    def _known_crm(cls, crm: str) -> str:
        # Imported here: the schema registry imports the schema modules, which need only
        # `mappings.paths`, but keeping this file free of them keeps it the format alone.
        from mappings.schemas import crm_kinds

        known = crm_kinds()
        if crm not in known:
            # `expected` in the same form as pydantic's literal errors, so the loader offers
            # the nearest kind as a suggestion.
            raise PydanticCustomError(
                "unknown_crm",
                "unknown CRM `{crm}`: mappings has a schema for {expected}",
                {"crm": crm, "expected": " or ".join(repr(kind) for kind in known)},
            )
        return crm


__all__ = [
    "ComputeOp",
    "ComputeSpec",
    "Defaults",
    "Direction",
    "FieldSpec",
    "FieldType",
    "ItemsSpec",
    "MappingSpec",
    "OutboundSpec",
    "SectionSpec",
    "UnmappedPolicy",
    "ValueMapSpec",
    "WhenSpec",
]
