"""Reading mapping files: YAML with positions, shape checks, meaning checks, then compilation.

Every problem of a file is collected before anything is raised, each with its line and column,
so an administrator fixes a file in one pass. The only I/O in `mappings` is reading these files.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from mappings.convert import COMPATIBLE, make_reader, make_writer
from mappings.engine import (
    Extract,
    FieldRule,
    ItemSource,
    ListRule,
    Mapping,
    RecordMapper,
    ValueMap,
    code_key,
)
from mappings.errors import (
    ConversionError,
    MappingFileError,
    Problem,
    ProfileNotFoundError,
    UnknownCRMError,
)
from mappings.extract import (
    chain,
    concat,
    first_of,
    formatted,
    leaf_code,
    nothing,
    single,
    template,
    when,
)
from mappings.fieldpaths import ModelField, list_item_model, model_fields
from mappings.model import Category, Constituent, MemberCase
from mappings.paths import CrmPath, PathSyntaxError
from mappings.schemas import CrmSchema, schema_for
from mappings.spec import (
    ComputeOp,
    ComputeSpec,
    Direction,
    FieldSpec,
    FieldType,
    ItemsSpec,
    MappingSpec,
    SectionSpec,
    ValueMapSpec,
)
from mappings.yaml_text import indent_hint, plain, plain_problem

PROFILE_DIR = "profiles"
MODEL_FIELDS: dict[str, ModelField] = model_fields(MemberCase)
Loc = tuple[str | int, ...]


def bundled_profiles() -> dict[str, Path]:
    """Name -> file of every profile shipped in `mappings/profiles/`."""
    folder = resources.files("mappings") / PROFILE_DIR
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in folder.iterdir()
        if str(entry).endswith(".yaml")
    }


def load_profile(path_or_name: str | Path) -> Mapping:
    """Load a mapping file by path, or a bundled profile by name (`lagan`, `dynamics365`)."""
    candidate = Path(path_or_name)
    if candidate.is_file():
        return load_mapping(candidate)
    bundled = bundled_profiles()
    if str(path_or_name) in bundled:
        return load_mapping(bundled[str(path_or_name)])
    close = difflib.get_close_matches(str(path_or_name), sorted(bundled), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    raise ProfileNotFoundError(
        f"no mapping file or bundled profile called {str(path_or_name)!r}"
        f" (bundled: {', '.join(sorted(bundled))}){hint}"
    )


def load_mapping(path: str | Path) -> Mapping:
    """Read, validate and compile one mapping file; raise `MappingFileError` with every problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingFileError(
            file, [Problem(file, 0, 0, "", f"cannot read the file ({exc.strerror})")]
        ) from None
    return parse_mapping(text, file)


def validate_file(path: str | Path) -> list[Problem]:
    """Every problem of one mapping file; an empty list when it is valid."""
    try:
        load_mapping(path)
    except MappingFileError as exc:
        return exc.problems
    return []


def parse_mapping(text: str, file: str = "<mapping>") -> Mapping:
    """Validate and compile mapping text; `file` names it in problems."""
    return _Compiler(file, text).compile()


def _close(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def _spec_class(root: type[BaseModel], loc: Loc) -> type[BaseModel]:
    """The spec model that holds the last key of `loc` (for suggesting known keys)."""
    cls = root
    for part in loc:
        info = cls.model_fields.get(str(part))
        if info is None:
            break
        annotation = info.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                cls = candidate
                break
    return cls


class _Compiler:
    """Collects problems while checking one file, then builds the `Mapping`."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.problems: list[Problem] = []
        self.tree: Any = None
        self.reported_fields: set[str] = set()
        self.unparsed_maps: set[str] = set()  # defined, but broken (already reported)

    # -- positions -----------------------------------------------------------------------------

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        node = self.tree
        line, column = 0, 0
        if isinstance(node, CommentedMap | CommentedSeq):
            line, column = node.lc.line, node.lc.col
        for depth, part in enumerate(loc):
            last = depth == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                where = node.lc.key(part) if (last and key) else node.lc.value(part)
                if not last:
                    where = node.lc.key(part)
                line, column = where
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, column = node.lc.item(part)
                node = node[part]
            else:
                break
        return line + 1, column + 1

    def report(
        self, loc: Loc, message: str, suggestion: str | None = None, *, key: bool = False
    ) -> None:
        line, column = self.position(loc, key=key)
        where = ".".join(str(part) for part in loc)
        self.problems.append(Problem(self.file, line, column, where, message, suggestion))

    def report_validation(self, exc: ValidationError, prefix: Loc, cls: type[BaseModel]) -> None:
        for error in exc.errors(include_url=False):
            loc: Loc = (*prefix, *error["loc"])
            kind = error["type"]
            if kind == "extra_forbidden":
                name = str(error["loc"][-1])
                allowed = sorted(_spec_class(cls, error["loc"][:-1]).model_fields)
                where = ".".join(str(p) for p in loc[:-1]) or "the file"
                self.report(
                    loc,
                    f"unknown key `{name}` in {where}",
                    _close(name, allowed) or f"allowed keys: {', '.join(allowed)}",
                    key=True,
                )
            elif kind == "missing":
                self.report(loc[:-1], f"missing required key `{loc[-1]}`", key=True)
            else:
                message = error["msg"].removeprefix("Value error, ")
                suggestion = None
                expected = (error.get("ctx") or {}).get("expected")
                if isinstance(expected, str) and isinstance(error.get("input"), str):
                    options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",")]
                    suggestion = _close(error["input"], options)
                self.report(loc, message, suggestion)

    # -- the passes ----------------------------------------------------------------------------

    def compile(self) -> Mapping:
        try:
            self.tree = YAML(typ="rt", pure=True).load(self.text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            problem = exc.problem or "invalid YAML"
            meaning, suggestion = plain_problem(problem)
            message = f"YAML syntax error: {meaning}"
            duplicate = re.search(r'duplicate key "([^"]*)"', problem)
            hint = indent_hint(self.text)
            if duplicate is not None:
                message = f"duplicate key `{duplicate.group(1)}`"
                suggestion = "a key may appear once in a block: merge the two entries"
            elif hint is not None and 0 < hint[0] <= line:  # parsers notice late, never early
                line, column, suggestion = hint
                message = "YAML syntax error: bad indentation"
            self.problems.append(Problem(self.file, line, column, "", message, suggestion))
            raise MappingFileError(self.file, self.problems) from None
        if not isinstance(self.tree, CommentedMap):
            self.problems.append(
                Problem(self.file, 1, 1, "", "a mapping file must be a YAML mapping (`crm: ...`)")
            )
            raise MappingFileError(self.file, self.problems)
        # Top-level `x-...` keys hold YAML anchors for reuse (`<<: *name`); they map nothing.
        data = {k: v for k, v in plain(self.tree).items() if not str(k).startswith("x-")}
        try:
            spec = MappingSpec.model_validate(data)
        except ValidationError as exc:
            self.report_validation(exc, (), MappingSpec)
            spec = None
        schema = self.schema(data.get("crm"))
        zone = self.zone(spec)
        value_maps = self.check_value_maps(data.get("value_maps"))
        field_specs = self.check_field_specs(data.get("fields"))
        rules: list[FieldRule] = []
        lists: list[ListRule] = []
        constants: list[tuple[CrmPath, Any, bool, bool]] = []
        sections: dict[str, RecordMapper | None] = {"parties": None, "code_book": None}
        if spec is not None and schema is not None and zone is not None:
            rules, lists = self.check_fields(spec, schema, zone, field_specs, value_maps)
            constants = self.check_constants(spec, schema)
            for section, model, record in (
                ("parties", Constituent, "party"),
                ("code_book", Category, "code_book"),
            ):
                body: SectionSpec | None = getattr(spec, section)
                if body is not None:
                    sub_rules, sub_lists = self.compile_fields(
                        body.fields,
                        (section, "fields"),
                        model,
                        schema.section(record),
                        zone,
                        value_maps,
                        spec,
                    )
                    sections[section] = RecordMapper(sub_rules, sub_lists)
        if self.problems or spec is None or schema is None:
            self.problems.sort(key=lambda p: (p.line, p.column))
            raise MappingFileError(self.file, self.problems)
        return Mapping(
            source=self.file,
            spec=spec,
            schema=schema,
            field_specs=field_specs,
            value_maps=value_maps,
            rules=rules,
            constants=constants,
            lists=lists,
            parties=sections["parties"],
            code_book=sections["code_book"],
        )

    def schema(self, crm: Any) -> CrmSchema | None:
        """The named CRM's schema; None (the spec check has reported it) when there is none."""
        try:
            return schema_for(crm) if isinstance(crm, str) else None
        except UnknownCRMError:
            return None

    def zone(self, spec: MappingSpec | None) -> ZoneInfo | None:
        name = spec.defaults.timezone if spec else "Europe/London"
        return self.to_zone(name, ("defaults", "timezone"))

    def to_zone(self, name: str, loc: Loc) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.report(loc, f"unknown time zone `{name}`", "use an IANA name like `Europe/London`")
            return None

    def check_value_maps(self, raw: Any) -> dict[str, ValueMap]:
        compiled: dict[str, ValueMap] = {}
        if not isinstance(raw, dict):
            return compiled
        for name, body in raw.items():
            try:
                vm_spec = ValueMapSpec.model_validate(body)
            except ValidationError as exc:
                self.report_validation(exc, ("value_maps", name), ValueMapSpec)
                self.unparsed_maps.add(str(name))
                continue
            compiled[str(name)] = ValueMap(str(name), vm_spec)
            seen: dict[str, Any] = {}
            for code in vm_spec.values:
                key = code_key(code)
                if key in seen and seen[key] != code:
                    self.report(
                        ("value_maps", name, "values", code),
                        f"CRM code `{code}` is listed twice (as {seen[key]!r} and {code!r})",
                        key=True,
                    )
                seen[key] = code
        return compiled

    def check_field_specs(self, raw: Any) -> dict[str, FieldSpec]:
        specs: dict[str, FieldSpec] = {}
        if not isinstance(raw, dict):
            return specs
        # Fields whose settings are broken are reported once, not again as "missing".
        self.reported_fields = {str(name) for name in raw}
        for name, body in raw.items():
            if body is None:
                self.report(("fields", name), "field has no settings", "give it at least a `path`")
                continue
            try:
                specs[str(name)] = FieldSpec.model_validate(body)
                self.reported_fields.discard(str(name))
            except ValidationError as exc:
                self.report_validation(exc, ("fields", name), FieldSpec)
        return specs

    def compile_path(self, text: str, loc: Loc) -> CrmPath | None:
        try:
            return CrmPath(text)
        except PathSyntaxError as exc:
            self.report(loc, f"bad CRM path: {exc}")
            return None

    def check_fields(
        self,
        spec: MappingSpec,
        schema: CrmSchema,
        zone: ZoneInfo,
        field_specs: dict[str, FieldSpec],
        value_maps: dict[str, ValueMap],
    ) -> tuple[list[FieldRule], list[ListRule]]:
        rules: list[FieldRule] = []
        lists: list[ListRule] = []
        known = sorted(MODEL_FIELDS)
        written: dict[str, str] = {}
        for name, fspec in field_specs.items():
            loc: Loc = ("fields", name)
            model_field = MODEL_FIELDS.get(name)
            if model_field is None:
                last = name.rsplit(".", 1)[-1]
                suggestion = _close(name, known) or _close(
                    last, [k for k in known if k.rsplit(".", 1)[-1] == last] or known
                )
                self.report(loc, f"unknown field `{name}`", suggestion, key=True)
                if suggestion is not None:  # `titel` -> `title`: one problem, not two
                    self.reported_fields.add(suggestion.split("`")[1])
                continue
            if fspec.items is not None:
                list_rule = self.compile_list(
                    name,
                    fspec,
                    model_field,
                    MemberCase,
                    ("fields", name),
                    schema,
                    zone,
                    value_maps,
                    spec,
                )
                if list_rule is not None:
                    lists.append(list_rule)
                continue
            rule = self.compile_field(
                name, fspec, model_field, spec, schema, zone, value_maps, written
            )
            if rule is not None:
                rules.append(rule)
        self.check_required(field_specs, spec.defaults.direction, ("fields",))
        return rules, lists

    def compile_fields(
        self,
        raw: dict[str, Any],
        loc: Loc,
        model: type[BaseModel],
        schema: CrmSchema,
        zone: ZoneInfo,
        value_maps: dict[str, ValueMap],
        spec: MappingSpec,
    ) -> tuple[list[FieldRule], list[ListRule]]:
        """The inbound rules of a sub-record (list item, party, code): its own field names."""
        fields_map = model_fields(model)
        specs: dict[str, FieldSpec] = {}
        broken: set[str] = set()
        for name, body in raw.items():
            name = str(name)
            if body is None:
                self.report((*loc, name), "field has no settings", "give it at least a `path`")
                broken.add(name)
                continue
            try:
                specs[name] = FieldSpec.model_validate(body)
            except ValidationError as exc:
                self.report_validation(exc, (*loc, name), FieldSpec)
                broken.add(name)
        rules: list[FieldRule] = []
        lists: list[ListRule] = []
        for name, fspec in specs.items():
            floc: Loc = (*loc, name)
            model_field = fields_map.get(name)
            if model_field is None:
                self.report(
                    floc,
                    f"unknown field `{name}` of {model.__name__}",
                    _close(name, sorted(fields_map)),
                    key=True,
                )
                broken.add(name)
                continue
            if fspec.items is not None:
                list_rule = self.compile_list(
                    name, fspec, model_field, model, floc, schema, zone, value_maps, spec
                )
                if list_rule is not None:
                    lists.append(list_rule)
                continue
            if fspec.direction is not None and fspec.direction is not Direction.INBOUND:
                self.report(
                    (*floc, "direction"),
                    f"fields of a {model.__name__} are read only (CRM -> caseload)",
                    "leave `direction` out or use `direction: inbound`",
                )
                continue
            rule = self.compile_field(
                name,
                fspec,
                model_field,
                spec,
                schema,
                zone,
                value_maps,
                {},
                loc=floc,
                inbound_only=True,
            )
            if rule is not None:
                rules.append(rule)
        self.check_required(specs, Direction.INBOUND, loc, fields_map=fields_map, reported=broken)
        return rules, lists

    def compile_list(
        self,
        name: str,
        fspec: FieldSpec,
        model_field: ModelField,
        model: type[BaseModel],
        loc: Loc,
        schema: CrmSchema,
        zone: ZoneInfo,
        value_maps: dict[str, ValueMap],
        spec: MappingSpec,
    ) -> ListRule | None:
        """A list-of-records field: each `items` source compiled against its item's schema."""
        if fspec.direction is not None and fspec.direction is not Direction.INBOUND:
            self.report(
                (*loc, "direction"),
                f"list field `{name}` is read only: the CRM's own records are written by their"
                " own operations (notes through `add_note`), never by a case update",
                "leave `direction` out or use `direction: inbound`",
            )
        item_model = list_item_model(model, model_field.parts)
        if item_model is None:
            self.report(
                (*loc, "items"),
                f"`{name}` is not a list of records, so it cannot take `items`",
                "give it a `path` (with `type: list` and `separator` for text lists)",
            )
            return None
        sources: list[ItemSource] = []
        for index, items in enumerate(fspec.items or []):
            source = self.compile_items(
                items, (*loc, "items", index), item_model, schema, zone, value_maps, spec
            )
            if source is not None:
                sources.append(source)
        return ListRule(name, model_field.parts, sources)

    def compile_items(
        self,
        items: ItemsSpec,
        loc: Loc,
        item_model: type[BaseModel],
        schema: CrmSchema,
        zone: ZoneInfo,
        value_maps: dict[str, ValueMap],
        spec: MappingSpec,
    ) -> ItemSource | None:
        path: CrmPath | None = None
        item_schema = schema  # no `path`: the enclosing record is the one item
        if items.path is not None:
            path = self.compile_path(items.path, (*loc, "path"))
            if path is None:
                return None
            found = schema.item_schema(path)
            if isinstance(found, tuple):
                self.report(
                    (*loc, "path"), f"cannot read items at `{path.text}`: {found[0]}", found[1]
                )
                return None
            item_schema = found
        condition: Extract | None = None
        when_path: CrmPath | None = None
        if items.when is not None:
            when_loc: Loc = (*loc, "when", "path")
            when_path = self.compile_path(items.when.path, when_loc)
            if when_path is not None and self.check_crm_read(item_schema, when_path, when_loc):
                codes = frozenset(code_key(c) for c in items.when.equals)
                condition = when(when_path, codes, _always)
            else:
                when_path = None
        rules, lists = self.compile_fields(
            items.fields, (*loc, "fields"), item_model, item_schema, zone, value_maps, spec
        )
        return ItemSource(
            path,
            condition,
            RecordMapper(rules, lists),
            item_model,
            when_path,
            items.when.equals[0] if items.when is not None else None,
        )

    def check_required(
        self,
        field_specs: dict[str, FieldSpec],
        default: Direction,
        loc: Loc,
        *,
        fields_map: dict[str, ModelField] = MODEL_FIELDS,
        reported: set[str] | None = None,
    ) -> None:
        inbound = {
            name
            for name, fspec in field_specs.items()
            if (fspec.direction or default) in (Direction.INBOUND, Direction.BOTH)
        } | (self.reported_fields if reported is None else reported)
        parents = {fields_map[n].optional_parent for n in inbound if n in fields_map}
        for name, model_field in fields_map.items():
            needed = model_field.reachable_required or (
                model_field.required and model_field.optional_parent in parents
            )
            if needed and name not in inbound:
                where = ".".join(str(part) for part in loc)
                self.report(
                    loc,
                    f"required caseload field `{name}` has no inbound mapping",
                    f"add `{where}.{name}` with a `path`, a `compute` or a `default`",
                    key=True,
                )

    def compile_field(
        self,
        name: str,
        fspec: FieldSpec,
        model_field: ModelField,
        spec: MappingSpec,
        schema: CrmSchema,
        zone: ZoneInfo,
        value_maps: dict[str, ValueMap],
        written: dict[str, str],
        *,
        loc: Loc | None = None,
        inbound_only: bool = False,
    ) -> FieldRule | None:
        loc = loc or ("fields", name)
        before = len(self.problems)
        direction = (
            Direction.INBOUND if inbound_only else fspec.direction or spec.defaults.direction
        )
        inbound = direction in (Direction.INBOUND, Direction.BOTH)
        outbound = direction in (Direction.OUTBOUND, Direction.BOTH)
        if fspec.timezone is not None:
            zone = self.to_zone(fspec.timezone, (*loc, "timezone")) or zone
        declared = fspec.type or model_field.type
        if declared not in COMPATIBLE or model_field.type not in COMPATIBLE[declared]:
            self.report(
                (*loc, "type"),
                f"type `{declared}` cannot fill caseload field `{name}` (a {model_field.type})",
                f"use `type: {model_field.type}` or leave `type` out",
            )
        # A CRM date-time feeding a caseload date is read as the day in the field's zone.
        read_kind = model_field.type if declared is FieldType.DATETIME else declared
        value_map = self.resolve_value_map(fspec.value_map, (*loc, "value_map"), value_maps)
        if value_map is not None:
            self.check_value_map_targets(value_map, model_field, (*loc, "value_map"))
        reader = make_reader(read_kind, zone, fspec.separator)
        record_writer = make_writer(declared, zone, fspec.separator, schema.text_leaves)
        read: Callable[[Any], Any] = reader
        record_write: Callable[[Any], Any] | None = record_writer
        if value_map is not None:
            read = chain(value_map.inbound, reader)
            record_write = leaf_code(value_map.outbound, schema.text_leaves)
        read_path: CrmPath | None = None
        record_path: CrmPath | None = None
        extract: Extract = nothing
        if fspec.path is not None:
            read_path = record_path = self.compile_path(fspec.path, (*loc, "path"))
            if read_path is not None:
                extract = single(read_path)
                if inbound and not self.check_crm_read(schema, read_path, (*loc, "path")):
                    return None  # one problem per path: the write check would repeat it
        elif fspec.compute is not None:
            # `first_of` is inverted by writing its first path; other computations are not.
            if fspec.compute.op is ComputeOp.FIRST_OF and fspec.compute.paths:
                record_path = self.compile_path(fspec.compute.paths[0], (*loc, "compute"))
            else:
                record_write = None
            if outbound and (fspec.outbound is None or fspec.outbound.path is None):
                self.report(
                    (*loc, "compute"),
                    "a computed field cannot be written back to the CRM",
                    "add `direction: inbound`, or name where it is written (`outbound.path`)",
                )
            extract = self.compile_compute(fspec.compute, schema, (*loc, "compute"))
        has_default = "default" in fspec.model_fields_set and fspec.default is not None
        default = None
        if has_default:
            try:
                default = make_reader(model_field.type, zone, fspec.separator)(fspec.default)
            except ConversionError as exc:
                self.report((*loc, "default"), f"default {exc}")
            if model_field.enum is not None and str(default) not in model_field.choices:
                self.report(
                    (*loc, "default"),
                    f"default `{default}` is not a valid {name}"
                    f" (choose one of {', '.join(model_field.choices)})",
                    _close(str(default), model_field.choices),
                )
        guard: tuple[CrmPath, Any] | None = None
        if fspec.compute is not None and fspec.compute.when is not None and record_path:
            when_path = self.compile_path(fspec.compute.when.path, (*loc, "compute", "when"))
            if when_path is not None:
                code = fspec.compute.when.equals[0]
                guard = (when_path, code_key(code) if schema.text_leaves else code)
        rule = FieldRule(
            name=name,
            target=model_field.parts,
            optional_parent=model_field.optional_parent,
            inbound=inbound,
            read_path=read_path,
            record_path=record_path,
            extract=extract,
            read=read,
            record_write=record_write if record_path is not None else None,
            required=fspec.required,
            has_default=has_default,
            default=default,
            spec=fspec,
            record_guard=guard,
        )
        if outbound:
            self.compile_outbound(rule, fspec, model_field, schema, zone, value_maps, written)
        return rule if len(self.problems) == before else None

    def compile_outbound(
        self,
        rule: FieldRule,
        fspec: FieldSpec,
        model_field: ModelField,
        schema: CrmSchema,
        zone: ZoneInfo,
        value_maps: dict[str, ValueMap],
        written: dict[str, str],
    ) -> None:
        loc: Loc = ("fields", rule.name)
        out = fspec.outbound
        path_loc: Loc = (*loc, "outbound", "path") if out and out.path else (*loc, "path")
        out_path = rule.read_path
        if out is not None and out.path is not None:
            out_path = self.compile_path(out.path, path_loc)
        if out_path is None:
            if fspec.compute is None and fspec.path is not None:
                return  # the path itself was bad; already reported
            if fspec.compute is None:
                self.report(loc, "an outbound field needs a `path` or `outbound.path`", key=True)
            return
        create = schema.check_write(out_path, for_update=False)
        update = schema.check_write(out_path, for_update=True)
        if create is not None and update is not None:
            advice = "add `direction: inbound`, or give `outbound: {path: ...}`"
            close = create[1] if create[1] and create[1].startswith("did you mean") else None
            self.report(
                path_loc,
                f"outbound path `{out_path.text}` is not writable in {schema.title}: {create[0]}",
                close or advice,
            )
            return
        if out_path.text in written:
            self.report(
                path_loc,
                f"outbound path `{out_path.text}` is also written by `{written[out_path.text]}`",
                "give one of them `direction: inbound`",
            )
        written[out_path.text] = rule.name
        kind = (out.type if out else None) or fspec.type or model_field.type
        writer = make_writer(kind, zone, fspec.separator, schema.text_leaves)
        value_map = value_maps.get(fspec.value_map) if fspec.value_map else None
        if out is not None and out.value_map is not None:
            map_loc: Loc = (*loc, "outbound", "value_map")
            value_map = self.resolve_value_map(out.value_map, map_loc, value_maps)
            if value_map is not None:
                self.check_value_map_targets(value_map, model_field, map_loc)
        write: Callable[[Any], Any] = writer
        if value_map is not None:
            code_writer = leaf_code(value_map.outbound, schema.text_leaves)
            write = chain(code_writer, writer) if out and out.type else code_writer
        if out is not None and out.format is not None:
            if "{value}" not in out.format:
                self.report((*loc, "outbound", "format"), "a format must contain `{value}`")
            write = formatted(write, out.format)
        rule.out_path = out_path
        rule.out_write = write
        rule.out_create = create is None
        rule.out_update = update is None

    def resolve_value_map(
        self, name: str | None, loc: Loc, value_maps: dict[str, ValueMap]
    ) -> ValueMap | None:
        if name is None:
            return None
        found = value_maps.get(name)
        if found is None and name not in self.unparsed_maps:
            self.report(
                loc,
                f"value map `{name}` is not defined",
                _close(name, sorted(value_maps)) or "define it under `value_maps:`",
            )
        return found

    def check_value_map_targets(
        self, value_map: ValueMap, model_field: ModelField, loc: Loc
    ) -> None:
        if model_field.enum is None:
            return
        choices = model_field.choices
        vm_loc: Loc = ("value_maps", value_map.name)
        targets = [
            (code, value, (*vm_loc, "values", value_map.originals[code]))
            for code, value in value_map.forward.items()
        ]
        if value_map.policy.kind == "default" and value_map.policy.default is not None:
            targets.append(("(unmapped)", value_map.policy.default, (*vm_loc, "unmapped")))
        targets += [
            (code, value, (*vm_loc, "outbound", value))
            for value, code in _outbound_overrides(value_map)
        ]
        for code, value, where in targets:
            if value not in choices:
                self.report(
                    where,
                    f"value map `{value_map.name}` maps `{code}` to `{value}`, which is not a valid"
                    f" `{model_field.path}` (used by `fields.{model_field.path}`;"
                    f" choose one of {', '.join(choices)})",
                    _close(value, choices),
                )

    def check_crm_read(self, schema: CrmSchema, path: CrmPath, loc: Loc) -> bool:
        problem = schema.check_read(path)
        if problem is not None:
            self.report(loc, f"CRM path `{path.text}` cannot be read: {problem[0]}", problem[1])
        return problem is None

    def compile_compute(self, compute: ComputeSpec, schema: CrmSchema, loc: Loc) -> Extract:
        extract = self.compile_operation(compute, schema, loc)
        if compute.when is None:
            return extract
        condition = self.compile_path(compute.when.path, (*loc, "when", "path"))
        if condition is None:
            return extract
        self.check_crm_read(schema, condition, (*loc, "when", "path"))
        return when(condition, frozenset(code_key(c) for c in compute.when.equals), extract)

    def compile_operation(self, compute: ComputeSpec, schema: CrmSchema, loc: Loc) -> Extract:
        if compute.op is ComputeOp.TEMPLATE:
            assert compute.template is not None
            parts: list[tuple[str, CrmPath | None]] = []
            try:
                parsed = list(string.Formatter().parse(compute.template))
            except ValueError as exc:
                self.report((*loc, "template"), f"bad template: {exc}")
                return nothing
            for literal, placeholder, spec, conversion in parsed:
                if literal:
                    parts.append((literal, None))
                if placeholder is None:
                    continue
                if spec or conversion:
                    self.report(
                        (*loc, "template"),
                        f"placeholder `{{{placeholder}}}` may not carry a format or conversion",
                    )
                    continue
                path = self.compile_path(placeholder, (*loc, "template"))
                if path is not None:
                    self.check_crm_read(schema, path, (*loc, "template"))
                    parts.append(("", path))
            return template(parts)
        paths = []
        for index, text in enumerate(compute.paths):
            path = self.compile_path(text, (*loc, "paths", index))
            if path is not None:
                self.check_crm_read(schema, path, (*loc, "paths", index))
                paths.append(path)
        if compute.op is ComputeOp.FIRST_OF:
            return first_of(paths)
        return concat(paths, compute.separator)

    def check_constants(
        self, spec: MappingSpec, schema: CrmSchema
    ) -> list[tuple[CrmPath, Any, bool, bool]]:
        constants = []
        for text, value in spec.outbound_constants.items():
            loc: Loc = ("outbound_constants", text)
            path = self.compile_path(text, loc)
            if path is None:
                continue
            create = schema.check_write(path, for_update=False)
            update = schema.check_write(path, for_update=True)
            if create is not None and update is not None:
                self.report(
                    loc,
                    f"`{text}` is not writable in {schema.title}: {create[0]}",
                    create[1],
                    key=True,
                )
                continue
            leaf = code_key(value) if schema.text_leaves else value
            constants.append((path, leaf, create is None, update is None))
        return constants


def _always(_record: dict[str, Any], _cache: Any) -> Any:
    return True


def _outbound_overrides(value_map: ValueMap) -> list[tuple[str, str]]:
    forward_targets = set(value_map.forward.values())
    return [(v, code_key(c)) for v, c in value_map.reverse.items() if v not in forward_targets]


__all__ = [
    "MODEL_FIELDS",
    "bundled_profiles",
    "load_mapping",
    "load_profile",
    "parse_mapping",
    "validate_file",
]
