"""`caseload mappings`: validate, preview, diff and start mapping files before any CRM call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mappings import (
    Mapping,
    MappingError,
    MappingFileError,
    RecordFormatError,
    RecordMappingError,
    bundled_profiles,
    load_profile,
    validate_file,
)
from mappings.xml_records import parse_lagan_xml

app = typer.Typer(
    help="Check and try out CRM mapping files (mappings/profiles/*.yaml).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

RECORD_SUFFIXES = (".json", ".xml")


def _console() -> Console:
    # Created per command so output goes to the stream in use now (CliRunner swaps it).
    return Console(highlight=False, soft_wrap=True, width=160)


def _load(file: str) -> Mapping:
    """Load a mapping or exit 1 after printing every problem."""
    try:
        return load_profile(file)
    except MappingFileError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=False)
        typer.echo(f"{file}: invalid ({len(exc.problems)} problems)")
        raise typer.Exit(1) from None
    except MappingError as exc:
        typer.echo(str(exc))
        raise typer.Exit(1) from None


def read_record(path: Path) -> dict[str, Any]:
    """A raw CRM record from a JSON file, or from a Lagan SOAP/XML file."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xml" or data.lstrip().startswith(b"<"):
        return parse_lagan_xml(data)
    try:
        record = json.loads(data)
    except json.JSONDecodeError as exc:
        raise RecordFormatError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(record, dict):
        raise RecordFormatError(
            f"{path}: a record must be a JSON object, not {type(record).__name__}"
        )
    return {k: v for k, v in record.items() if not k.startswith("@odata.")}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _mapped_output(mapping: Mapping, record: dict[str, Any]) -> dict[str, Any]:
    case = mapping.to_caseload(record)
    return _flatten(case.model_dump(mode="json"))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="mapping files (or bundled profile names)")],
) -> None:
    """Check mapping files; print every problem with its line and column. Exit 1 if any."""
    failed = False
    bundled = bundled_profiles()
    for file in files:
        if not file.exists() and str(file) in bundled:
            file = bundled[str(file)]
        problems = validate_file(file)
        if problems:
            failed = True
            for problem in problems:
                typer.echo(str(problem))
            typer.echo(f"{file}: invalid ({len(problems)} problem{'s' * (len(problems) != 1)})")
        else:
            typer.echo(f"{file}: ok")
    if failed:
        raise typer.Exit(1)


@app.command()
def preview(
    file: Annotated[str, typer.Argument(help="mapping file, or a bundled profile name")],
    record: Annotated[Path, typer.Option("--record", help="CRM record: JSON, or Lagan SOAP/XML")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print the caseload record as JSON")
    ] = False,
) -> None:
    """Map one CRM record with a mapping file and show the caseload record it becomes."""
    mapping = _load(file)
    try:
        raw = read_record(record)
        case = mapping.to_caseload(raw)
    except OSError as exc:
        typer.echo(f"{record}: cannot read the record ({exc.strerror})")
        raise typer.Exit(1) from None
    except RecordMappingError as exc:
        typer.echo(f"record {exc.reference} cannot be mapped ({len(exc.problems)} problems):")
        for problem in exc.problems:
            typer.echo(f"  {problem}")
        raise typer.Exit(1) from None
    except MappingError as exc:
        typer.echo(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(case.model_dump_json(indent=2))
        return
    sources = {rule.name: rule.crm_source or "(computed)" for rule in mapping.rules}
    table = Table(title=f"{record.name} via {Path(mapping.source).name}", title_justify="left")
    table.add_column("caseload field")
    table.add_column("value")
    table.add_column("from CRM")
    for name, value in _flatten(case.model_dump(mode="json")).items():
        if value is None or value == []:
            continue
        source = sources.get(name, "(model default)")
        table.add_row(
            Text(name),
            Text(json.dumps(value) if isinstance(value, list) else str(value)),
            Text(source),
        )
    _console().print(table)


def _spec_dict(mapping: Mapping) -> dict[str, dict[str, Any]]:
    return {
        "fields": {
            name: spec.model_dump(mode="json", exclude_unset=True)
            for name, spec in mapping.field_specs.items()
        },
        "value_maps": {
            name: {
                "unmapped": vm.policy.model_dump(mode="json", exclude_none=True),
                "values": vm.forward,
                "outbound": {k: str(v) for k, v in vm.reverse.items()},
            }
            for name, vm in mapping.value_maps.items()
        },
        "outbound_constants": {k: v for k, v in mapping.spec.outbound_constants.items()},
        "defaults": {"defaults": mapping.spec.defaults.model_dump(mode="json")},
    }


def _record_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in RECORD_SUFFIXES)


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="the mapping file as it was")],
    new: Annotated[str, typer.Argument(help="the mapping file as it is now")],
    records: Annotated[
        Path | None, typer.Option("--records", help="folder of sample CRM records to map with both")
    ] = None,
) -> None:
    """Show fields added, removed and changed, and how mapped sample records change."""
    before, after = _load(old), _load(new)
    if before.crm != after.crm:
        typer.echo(f"crm: {before.crm} -> {after.crm}")
    old_spec, new_spec = _spec_dict(before), _spec_dict(after)
    changes = 0
    for section in ("defaults", "fields", "value_maps", "outbound_constants"):
        was, now = old_spec[section], new_spec[section]
        for name in sorted(set(was) | set(now)):
            label = name if section == "defaults" else f"{section}.{name}"
            if name not in was:
                typer.echo(f"+ {label}: {json.dumps(now[name], sort_keys=True)}")
            elif name not in now:
                typer.echo(f"- {label}")
            elif was[name] != now[name]:
                typer.echo(f"~ {label}: {_describe_change(was[name], now[name])}")
            else:
                continue
            changes += 1
    if not changes:
        typer.echo("no mapping changes")
    if records is None:
        return
    for path in _record_files(records):
        try:
            raw = read_record(path)
        except (OSError, MappingError) as exc:
            typer.echo(f"{path.name}: cannot read ({exc})")
            continue
        results = []
        for mapping in (before, after):
            try:
                results.append(_mapped_output(mapping, raw))
            except RecordMappingError as exc:
                results.append({"(error)": "; ".join(str(p) for p in exc.problems)})
        first, second = results
        moved = [
            (key, first.get(key), second.get(key))
            for key in sorted(set(first) | set(second))
            if first.get(key) != second.get(key) and key != "portal_id"
        ]
        if not moved:
            typer.echo(f"{path.name}: mapped output unchanged")
            continue
        typer.echo(f"{path.name}: {len(moved)} mapped field(s) change")
        for key, was_value, now_value in moved:
            typer.echo(f"  {key}: {json.dumps(was_value)} -> {json.dumps(now_value)}")


def _describe_change(was: Any, now: Any) -> str:
    """Only the settings that differ, each as `setting old -> new` (nested maps flattened)."""
    if not (isinstance(was, dict) and isinstance(now, dict)):
        return f"{_shown(was)} -> {_shown(now)}"
    before, after = _flatten(was), _flatten(now)
    return "; ".join(
        f"{key} {_shown(before.get(key))} -> {_shown(after.get(key))}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    )


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


STARTER_HEADER = """\
# Starter mapping for {profile}, written by `caseload mappings init`.
# It is the bundled profile: change paths, value maps and defaults to match your council's CRM,
# then check it with `caseload mappings validate {target}` and try it on a record with
# `caseload mappings preview {target} --record RECORD.json`.
#
# Field entries: `caseload.field.path: {{path, type, value_map, default, required, direction,
# timezone, separator, compute, outbound: {{path, type, value_map, format}}}}`.
# Value map policies for codes not listed: `error`, `keep_raw` or `{{default: VALUE}}`.
#
"""


@app.command()
def init(
    profile: Annotated[str, typer.Option("--profile", help="lagan or dynamics365")],
    output: Annotated[
        Path | None, typer.Option("--output", help="file to write (default: print)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write a commented starter mapping file for a CRM profile."""
    bundled = bundled_profiles()
    if profile not in bundled:
        typer.echo(f"unknown profile {profile!r}: choose one of {', '.join(sorted(bundled))}")
        raise typer.Exit(2)
    target = str(output) if output else f"{profile}.yaml"
    text = STARTER_HEADER.format(profile=profile, target=target) + bundled[profile].read_text(
        encoding="utf-8"
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        typer.echo(f"{output} exists; pass --force to overwrite it")
        raise typer.Exit(1)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}; check it with `caseload mappings validate {output}`")
