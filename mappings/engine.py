"""The mapping engine: raw CRM record <-> `MemberCase`, driven by a compiled mapping file.

Everything that can be decided once (paths, converters, value maps, which fields each payload
carries) is decided when the file is loaded (`mappings.loader`), so mapping one record is a
loop over prepared rules and one `MemberCase.model_validate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mappings.errors import (
    ConversionError,
    FieldProblem,
    RecordMappingError,
    UnmappedValueError,
)
from mappings.model import Category, Constituent, MemberCase
from mappings.paths import CrmPath, PathCache
from mappings.schemas import CrmSchema
from mappings.spec import FieldSpec, MappingSpec, UnmappedPolicy, ValueMapSpec

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)
Converter = Callable[[Any], Any]
Extract = Callable[[dict[str, Any], PathCache], Any]  # raw record -> raw value


def code_key(value: Any) -> str:
    """The lookup key of a CRM code: text, so `1` (JSON) and `"1"` (SOAP) find the same entry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


class ValueMap:
    """A compiled value map: CRM code <-> caseload value, with its unmapped policy."""

    __slots__ = ("forward", "name", "originals", "policy", "reverse")

    def __init__(self, name: str, spec: ValueMapSpec) -> None:
        self.name = name
        self.policy: UnmappedPolicy = spec.unmapped
        self.forward: dict[str, str] = {code_key(k): v for k, v in spec.values.items()}
        self.originals: dict[str, Any] = {code_key(k): k for k in spec.values}  # as written
        self.reverse: dict[str, Any] = {}
        for code, value in spec.values.items():
            self.reverse.setdefault(value, code)  # the first code listed wins
        self.reverse.update(spec.outbound)

    def inbound(self, raw: Any) -> Any:
        hit = self.forward.get(code_key(raw))
        if hit is not None:
            return hit
        if self.policy.kind == "default":
            return self.policy.default
        if self.policy.kind == "keep_raw":
            return raw
        raise UnmappedValueError(self.name, code_key(raw), "inbound")

    def outbound(self, value: Any) -> Any:
        text = getattr(value, "value", value)
        hit = self.reverse.get(text)
        if hit is not None:
            return hit
        if self.policy.kind == "keep_raw":
            return text
        raise UnmappedValueError(self.name, str(text), "outbound")


@dataclass(slots=True)
class FieldRule:
    """One caseload field, compiled: where it is read and written, and how it is converted."""

    name: str
    target: tuple[str, ...]
    optional_parent: tuple[str, ...] | None
    inbound: bool
    read_path: CrmPath | None  # None for computed fields
    record_path: CrmPath | None  # where `to_record` writes: the path, or a first_of's first
    extract: Extract  # raw record -> raw value (path or compute)
    read: Converter  # raw value -> caseload value
    record_write: Converter | None  # caseload value -> raw value at `record_path`
    required: bool
    has_default: bool
    default: Any
    out_path: CrmPath | None = None
    out_write: Converter | None = None
    out_create: bool = False
    out_update: bool = False
    spec: FieldSpec | None = field(default=None, repr=False)
    # A guarded `first_of` (`when`) is inverted by writing its condition too: (path, code).
    record_guard: tuple[CrmPath, Any] | None = None

    @property
    def crm_source(self) -> str | None:
        return self.read_path.text if self.read_path is not None else None


def _assign(data: dict[str, Any], target: tuple[str, ...], value: Any) -> None:
    node = data
    for part in target[:-1]:
        node = node.setdefault(part, {})
    node[target[-1]] = value


def _lookup(case: Any, target: tuple[str, ...]) -> Any:
    node = case
    for part in target:
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


@dataclass(slots=True)
class ItemSource:
    """One CRM source of a list field's items: a repeated element (or the record itself)."""

    path: CrmPath | None  # None: the enclosing record is the one item
    condition: Extract | None  # an item is kept when this gives a value (a compiled `when`)
    mapper: RecordMapper
    model: type[BaseModel]
    when_path: CrmPath | None = None  # the `when` path and its first code, for `to_record`
    when_code: Any = None


@dataclass(slots=True)
class ListRule:
    """A list-of-records caseload field (`notes`), filled item by item from its sources."""

    name: str
    target: tuple[str, ...]
    sources: list[ItemSource]


class RecordMapper:
    """The inbound rules of one record kind: a case, a list item, a party or a code."""

    __slots__ = ("lists", "optional_parents", "record_rules", "rules", "sources")

    def __init__(self, rules: list[FieldRule], lists: list[ListRule]) -> None:
        self.rules = [r for r in rules if r.inbound]
        self.record_rules = [r for r in self.rules if r.record_write is not None]
        self.lists = lists
        self.optional_parents = {r.optional_parent for r in self.rules if r.optional_parent}
        self.sources = {r.name: r.crm_source for r in rules}

    def fill(
        self, raw: dict[str, Any], item_problems: list[FieldProblem]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """The model data read from `raw`, and its field problems; bad list items go to
        `item_problems` and are left out."""
        data: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        present: set[tuple[str, ...]] = set()
        cache: PathCache = {}
        for rule in self.rules:
            try:
                value = rule.extract(raw, cache)
            except ConversionError as exc:
                problems.append(FieldProblem(rule.name, rule.crm_source, str(exc), "conversion"))
                continue
            if value is None or value == "":
                if rule.has_default:
                    _assign(data, rule.target, rule.default)
                elif rule.required:
                    problems.append(
                        FieldProblem(
                            rule.name, rule.crm_source, "required value is missing", "missing"
                        )
                    )
                continue
            try:
                value = rule.read(value)
            except (ConversionError, UnmappedValueError) as exc:
                problems.append(FieldProblem(rule.name, rule.crm_source, str(exc), _kind(exc)))
                continue
            if rule.optional_parent is not None:
                present.add(rule.optional_parent)
            target = rule.target
            if len(target) == 1:
                data[target[0]] = value
            else:
                _assign(data, target, value)
        for parent in self.optional_parents - present:
            node = data
            for part in parent[:-1]:
                node = node.get(part, {})
            node.pop(parent[-1], None)
        for list_rule in self.lists:
            items = _map_items(list_rule, raw, cache, item_problems)
            if items:
                _assign(data, list_rule.target, items)
        return data, problems

    def to_record(self, obj: Any, problems: list[FieldProblem]) -> dict[str, Any]:
        """The raw record (read shape) this mapper reads back as `obj`."""
        record: dict[str, Any] = {}
        for rule in self.record_rules:
            value = _lookup(obj, rule.target)
            if value is None:
                continue
            assert rule.record_path is not None and rule.record_write is not None
            try:
                rule.record_path.set(record, rule.record_write(value))
            except (ConversionError, UnmappedValueError) as exc:
                problems.append(
                    FieldProblem(rule.name, rule.record_path.text, str(exc), _kind(exc))
                )
            if rule.record_guard is not None and rule.record_guard[0].get(record) is None:
                rule.record_guard[0].set(record, rule.record_guard[1])
        for list_rule in self.lists:
            for index, item in enumerate(_lookup(obj, list_rule.target) or []):
                _item_record(list_rule, index, item, record, problems)
        return record


def _item_record(
    rule: ListRule,
    index: int,
    item: BaseModel,
    record: dict[str, Any],
    problems: list[FieldProblem],
) -> None:
    chosen: tuple[ItemSource, dict[str, Any]] | None = None
    for source in rule.sources:
        found: list[FieldProblem] = []
        written = source.mapper.to_record(item, found)
        if found:
            continue
        if source.when_path is not None:
            source.when_path.set(written, source.when_code)
        if chosen is None:
            chosen = (source, written)
        back, back_problems = source.mapper.fill(written, [])
        if not back_problems:
            try:
                if source.model.model_validate(back) == item:
                    chosen = (source, written)
                    break
            except ValidationError:
                pass
    if chosen is None:
        problems.append(FieldProblem(f"{rule.name}[{index}]", None, "cannot be written back"))
        return
    source, written = chosen
    if source.path is None:
        record.update(written)  # the enclosing record is the item (a file on its annotation)
        return
    items = source.path.get(record)
    if not isinstance(items, list):
        items = []
        source.path.set(record, items)
    items.append(written)


def _map_items(
    rule: ListRule, raw: dict[str, Any], cache: PathCache, item_problems: list[FieldProblem]
) -> list[BaseModel]:
    out: list[BaseModel] = []
    for source in rule.sources:
        if source.path is None:
            found: Any = [raw]
        else:
            found = source.path.get(raw, cache)
            if found is None or found == "":
                continue
            if isinstance(found, dict):
                found = [found]
        if not isinstance(found, list):
            where = source.path.text if source.path is not None else "(record)"
            item_problems.append(
                FieldProblem(rule.name, where, "expected a list of records", "conversion")
            )
            continue
        for index, item in enumerate(found):
            at = f"{rule.name}[{index}]" if source.path is not None else rule.name
            crm_at = f"{source.path.text}[{index}]" if source.path is not None else None
            if not isinstance(item, dict):
                item_problems.append(FieldProblem(at, crm_at, "is not a record", "conversion"))
                continue
            if source.condition is not None and source.condition(item, {}) is None:
                continue
            nested: list[FieldProblem] = []
            data, problems = source.mapper.fill(item, nested)
            for problem in nested:  # nested lists (a note's attachments) report under the item
                item_problems.append(_under(problem, at, crm_at))
            if not problems:
                try:
                    out.append(source.model.model_validate(data))
                    continue
                except ValidationError as exc:
                    for error in exc.errors(include_input=False, include_url=False):
                        name = ".".join(str(part) for part in error["loc"]) or "record"
                        problems.append(
                            FieldProblem(name, source.mapper.sources.get(name), _message(error))
                        )
            item_problems.extend(_under(p, at, crm_at) for p in problems)
    return out


def _under(problem: FieldProblem, at: str, crm_at: str | None) -> FieldProblem:
    crm_path = problem.crm_path
    if crm_at is not None:
        crm_path = f"{crm_at}.{crm_path}" if crm_path else crm_at
    return FieldProblem(f"{at}.{problem.field}", crm_path, problem.message, problem.kind)


class Mapping:
    """A loaded, validated mapping file for one CRM; thread-safe and reusable for every record."""

    def __init__(
        self,
        *,
        source: str,
        spec: MappingSpec,
        schema: CrmSchema,
        field_specs: dict[str, FieldSpec],
        value_maps: dict[str, ValueMap],
        rules: list[FieldRule],
        constants: list[tuple[CrmPath, Any, bool, bool]],
        lists: list[ListRule] | None = None,
        parties: RecordMapper | None = None,
        code_book: RecordMapper | None = None,
    ) -> None:
        self.source = source
        self.spec = spec
        self.schema = schema
        self.field_specs = field_specs
        self.value_maps = value_maps
        self.rules = rules
        self._inbound = [r for r in rules if r.inbound]
        self._case = RecordMapper(rules, lists or [])
        self._parties = parties
        self._code_book = code_book
        self._record_out = [r for r in self._inbound if r.record_write is not None]
        self._create_out = [r for r in rules if r.out_create]
        self._update_out = [r for r in rules if r.out_update]
        self._constants = constants
        self._sources = {r.name: r.crm_source for r in rules}
        reference = next((r for r in self._inbound if r.name == "crm_reference"), None)
        self._reference_path = reference.read_path if reference is not None else None
        modified = schema.modified_at_path
        self._modified_path = CrmPath(modified) if modified is not None else None

    @property
    def crm(self) -> str:
        return self.spec.crm

    def __repr__(self) -> str:
        return f"Mapping(crm={self.crm!r}, source={self.source!r}, fields={len(self.rules)})"

    def reference_of(self, raw: dict[str, Any]) -> str:
        """The CRM reference of a raw record, for naming it in errors."""
        value = self._reference_path.get(raw) if self._reference_path is not None else None
        return str(value) if value not in (None, "") else "(no CRM reference)"

    def modified_at(self, raw: dict[str, Any]) -> datetime | None:
        """When the CRM last changed this raw case, if the CRM's records say (else None).

        Where that time lives is the CRM schema's knowledge (`CrmSchema.modified_at_path`:
        Dataverse's `modifiedon`); Lagan cases carry none, and sync keeps its place by the
        connector's `CasePage.complete_until` instead. A value that is not an ISO 8601 time
        counts as absent (the watermark then does not move on it); a time without a zone is
        UTC, as the CRMs send them.
        """
        if self._modified_path is None:
            return None
        value = self._modified_path.get(raw)
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str) and value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
        else:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def to_caseload(
        self, raw: dict[str, Any], *, item_problems: list[FieldProblem] | None = None
    ) -> MemberCase:
        """Map one raw CRM record to a caseload record, or raise with every field problem.

        An item of a list field (one CRM note) that cannot be mapped is left out rather than
        losing the whole case: its problems (named `notes[3].created_at`, with the CRM path and
        the item's index) are appended to `item_problems` when given, and logged (codes and
        field names only) when not.
        """
        found: list[FieldProblem] = []
        data, problems = self._case.fill(raw, found)
        try:
            case = MemberCase.model_validate(data)
        except ValidationError as exc:
            reported = {p.field for p in problems}
            for error in exc.errors(include_input=False, include_url=False):
                name = ".".join(str(part) for part in error["loc"]) or "record"
                if name in reported:
                    continue
                problems.append(FieldProblem(name, self._sources.get(name), _message(error)))
        if problems:
            raise RecordMappingError(self.reference_of(raw), "inbound", problems)
        if found:
            if item_problems is not None:
                item_problems.extend(found)
            else:
                log.warning(
                    "record %s: %d list item(s) left out: %s",
                    self.reference_of(raw),
                    len({p.field.split("]", 1)[0] for p in found}),
                    "; ".join(str(p) for p in found)[:2000],
                )
        return case

    def to_constituent(self, raw: dict[str, Any]) -> Constituent:
        """Map one CRM party record (`search_parties`/`get_party`) to a `Constituent`."""
        if self._parties is None:
            raise RecordMappingError(
                "(party)",
                "inbound",
                [FieldProblem("parties", None, f"{self.source} has no `parties` section")],
            )
        return self._section(self._parties, raw, Constituent, "crm_party_id")

    def to_category(self, raw: dict[str, Any]) -> Category:
        """Map one entry of the CRM's case-category code book (`code_book()`) to a `Category`."""
        if self._code_book is None:
            raise RecordMappingError(
                "(code book)",
                "inbound",
                [FieldProblem("code_book", None, f"{self.source} has no `code_book` section")],
            )
        return self._section(self._code_book, raw, Category, "code")

    def _section(self, mapper: RecordMapper, raw: dict[str, Any], model: type[_M], key: str) -> _M:
        found: list[FieldProblem] = []
        data, problems = mapper.fill(raw, found)
        problems.extend(found)
        reference = data.get(key)
        name = str(reference) if reference not in (None, "") else f"(no {key})"
        if not problems:
            try:
                return model.model_validate(data)
            except ValidationError as exc:
                for error in exc.errors(include_input=False, include_url=False):
                    field_name = ".".join(str(part) for part in error["loc"]) or "record"
                    problems.append(
                        FieldProblem(field_name, mapper.sources.get(field_name), _message(error))
                    )
        raise RecordMappingError(name, "inbound", problems)

    def to_crm(self, case: MemberCase, *, for_update: bool = False) -> dict[str, Any]:
        """The CRM create (or update) payload for `case`, in the raw record shape.

        Fields whose outbound path the chosen operation cannot write are left out (e.g. Lagan's
        `CaseReference` on create); `None` values are left out, so an update never blanks a
        CRM value it does not know.
        """
        rules = self._update_out if for_update else self._create_out
        payload: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for rule in rules:
            value = _lookup(case, rule.target)
            if value is None:
                continue
            assert rule.out_path is not None and rule.out_write is not None
            try:
                rule.out_path.set(payload, rule.out_write(value))
            except (ConversionError, UnmappedValueError) as exc:
                problems.append(FieldProblem(rule.name, rule.out_path.text, str(exc), _kind(exc)))
        for path, value, on_create, on_update in self._constants:
            if on_update if for_update else on_create:
                path.set(payload, value)
        if problems:
            raise RecordMappingError(_case_reference(case), "outbound", problems)
        return payload

    def to_record(self, case: MemberCase) -> dict[str, Any]:
        """The raw CRM record (read shape) that maps back to `case`: the inverse of `to_caseload`.

        Used to seed sandboxes and to prove that mapping out and back in preserves every field.
        A `first_of` writes its first path; other computed fields are not invertible and are
        left out. A list item is written to the first of its sources that reads it back
        unchanged (else the first source).
        """
        problems: list[FieldProblem] = []
        record = self._case.to_record(case, problems)
        if problems:
            raise RecordMappingError(_case_reference(case), "outbound", problems)
        return record


def _message(error: ErrorDetails) -> str:
    """pydantic's message for one refused value, without any part of the value itself."""
    message = error["msg"].removeprefix("Value error, ")
    # email-validator explains a bad address by quoting pieces of it: keep only the verdict.
    if message.startswith("value is not a valid email address"):
        return "is not a valid email address"
    return message


def _kind(exc: Exception) -> str:
    return "unmapped" if isinstance(exc, UnmappedValueError) else "conversion"


def _case_reference(case: MemberCase) -> str:
    return case.crm_reference or f"portal {case.portal_id}"


__all__ = [
    "Extract",
    "FieldRule",
    "ItemSource",
    "ListRule",
    "Mapping",
    "PathCache",
    "RecordMapper",
    "ValueMap",
    "code_key",
]
