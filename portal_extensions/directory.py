"""The directory: wards, parties, members, services (with member-officer contact and response
target) and officers, imported from a YAML or CSV file; categories from the CRM's code book.

Every record is validated with the caseload model before anything is written, and the whole
file is imported in one transaction: a file with one bad line changes nothing, and the error
names the file, the line (CSV) or entry (YAML), the field and the fix.

YAML or JSON: a mapping with lists `parties`, `wards`, `members`, `officers`, `services`; JSON is
what `caseload sandbox directory` prints, so the sandbox's own export imports as it is (`council`
and unknown per-entry keys such as `role` are ignored). CSV: one row per record with a `record`
column (`party`, `ward`, `member`, `officer`, `service`) and the columns `id, name, party_id,
ward_id, email, phone, service_id, member_officer_id, response_target_working_days`. The format
is described for administrators in docs/operations.md, with docs/examples/directory.yaml.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mappings.model import Category, Member, Officer, Service, Ward
from portal_extensions.store.audit import record_event
from portal_extensions.store.database import Store
from portal_extensions.store.directory import save_categories, save_directory

KINDS = ("party", "ward", "officer", "service", "member")


class DirectoryError(ValueError):
    """The directory file is invalid; `problems` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported\n{listing}{more}")


class Party(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class Directory(BaseModel):
    parties: list[Party] = Field(default_factory=list)
    wards: list[Ward] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)
    officers: list[Officer] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    member_parties: dict[str, str] = Field(default_factory=dict)  # member id -> party id


class ImportReport(BaseModel):
    parties: int
    wards: int
    members: int
    officers: int
    services: int

    def summary(self) -> str:
        return (
            f"imported {self.wards} wards, {self.parties} parties, {self.members} members, "
            f"{self.services} services, {self.officers} officers"
        )


def _pick(entry: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: entry[n] for n in names if entry.get(n) not in (None, "")}


def _problem(where: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "entry"
        out.append(f"{where}: {loc}: {err['msg']}")
    return out


def build_directory(entries: Iterable[tuple[str, str, dict[str, Any]]], source: str) -> Directory:
    """Validate (kind, where, fields) entries into a consistent `Directory`, or raise."""
    problems: list[str] = []
    directory = Directory()
    officer_rows: dict[str, Officer] = {}
    pending_services: list[tuple[str, dict[str, Any]]] = []
    pending_members: list[tuple[str, dict[str, Any]]] = []
    party_names: dict[str, str] = {}
    for kind, where, entry in entries:
        try:
            if kind == "party":
                party = Party.model_validate(_pick(entry, "id", "name"))
                directory.parties.append(party)
                party_names[party.id] = party.name
            elif kind == "ward":
                directory.wards.append(Ward.model_validate(_pick(entry, "id", "name")))
            elif kind == "officer":
                officer = Officer.model_validate(
                    _pick(entry, "id", "name", "email", "phone", "service_id")
                )
                officer_rows[officer.id] = officer
                directory.officers.append(officer)
            elif kind == "service":
                pending_services.append((where, entry))
            elif kind == "member":
                pending_members.append((where, entry))
            else:
                problems.append(f"{where}: record {kind!r} is not one of {', '.join(KINDS)}")
        except ValidationError as exc:
            problems.extend(_problem(where, exc))
    ward_ids = {w.id for w in directory.wards}
    for where, entry in pending_members:
        party_id = str(entry.get("party_id") or "")
        party_name = entry.get("party") or party_names.get(party_id)
        if not party_id and party_name:
            party_id = next((k for k, v in party_names.items() if v == party_name), "")
        if party_id not in party_names:
            problems.append(
                f"{where}: party_id {party_id or '(empty)'!r} is not a party in the file; "
                "add it under parties"
            )
            continue
        try:
            member = Member.model_validate(
                {**_pick(entry, "id", "name", "ward_id", "email"), "party": party_names[party_id]}
            )
        except ValidationError as exc:
            problems.extend(_problem(where, exc))
            continue
        if member.ward_id not in ward_ids:
            problems.append(f"{where}: ward_id {member.ward_id!r} is not a ward in the file")
            continue
        directory.members.append(member)
        directory.member_parties[member.id] = party_id
    for where, entry in pending_services:
        officer_id = str(entry.get("member_officer_id") or "")
        member_officer = officer_rows.get(officer_id)
        if member_officer is None:
            problems.append(
                f"{where}: member_officer_id {officer_id or '(empty)'!r} is not an officer in "
                "the file; add the officer (with name and email) under officers"
            )
            continue
        try:
            directory.services.append(
                Service.model_validate(
                    {
                        **_pick(entry, "id", "name", "response_target_working_days"),
                        "member_officer": member_officer,
                    }
                )
            )
        except ValidationError as exc:
            problems.extend(_problem(where, exc))
    for label, ids in (
        ("ward", [w.id for w in directory.wards]),
        ("party", [p.id for p in directory.parties]),
        ("member", [m.id for m in directory.members]),
        ("officer", [o.id for o in directory.officers]),
        ("service", [s.id for s in directory.services]),
    ):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"{source}: {label} id(s) listed twice: {', '.join(duplicates)}")
    if problems:
        raise DirectoryError(source, problems)
    return directory


def read_directory_file(path: Path) -> Directory:
    """Read and validate a YAML (.yaml/.yml), JSON (.json) or CSV (.csv) directory file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DirectoryError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return build_directory(_csv_entries(text, str(path)), str(path))
    if suffix in (".yaml", ".yml"):
        return build_directory(_yaml_entries(text, str(path)), str(path))
    if suffix == ".json":
        return build_directory(_json_entries(text, str(path)), str(path))
    raise DirectoryError(str(path), ["the file must end in .csv, .yaml, .yml or .json"])


def _csv_entries(text: str, source: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "record" not in reader.fieldnames:
        raise DirectoryError(source, ["line 1: the header must include a `record` column"])
    for row in reader:
        entry = {k: (v or "").strip() for k, v in row.items() if k}
        yield entry.get("record", "").lower(), f"{source} line {reader.line_num}", entry


def _yaml_entries(text: str, source: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise DirectoryError(source, [f"not valid YAML: {exc}"]) from None
    return _document_entries(document, source)


def _json_entries(text: str, source: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryError(
            source, [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
        ) from None
    return _document_entries(document, source)


def _document_entries(document: Any, source: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """The entries of a parsed YAML or JSON directory, checked for shape as they are read."""
    if not isinstance(document, dict):
        raise DirectoryError(source, ["the top level must be a mapping of lists"])
    for kind, key in (
        ("party", "parties"),
        ("ward", "wards"),
        ("officer", "officers"),
        ("service", "services"),
        ("member", "members"),
    ):
        items = document.get(key) or []
        if not isinstance(items, list):
            raise DirectoryError(source, [f"{key} must be a list"])
        for index, item in enumerate(items):
            where = f"{source} {key}[{index}]"
            if not isinstance(item, dict):
                raise DirectoryError(source, [f"{where}: must be a mapping"])
            yield kind, where, item


def import_directory(store: Store, directory: Directory, *, actor: str) -> ImportReport:
    """Insert or update every record of `directory` in one transaction (nothing is deleted)."""
    with store.write() as conn:
        save_directory(
            conn,
            parties_rows=[p.model_dump() for p in directory.parties],
            wards_rows=[w.model_dump() for w in directory.wards],
            officers_rows=[
                {
                    "id": o.id,
                    "name": o.name,
                    "email": str(o.email),
                    "phone": o.phone,
                    "service_id": o.service_id,
                }
                for o in directory.officers
            ],
            services_rows=[
                {
                    "id": s.id,
                    "name": s.name,
                    "member_officer_id": s.member_officer.id,
                    "response_target_working_days": s.response_target_working_days,
                }
                for s in directory.services
            ],
            members_rows=[
                {
                    "id": m.id,
                    "name": m.name,
                    "party_id": directory.member_parties[m.id],
                    "ward_id": m.ward_id,
                    "email": str(m.email) if m.email else None,
                }
                for m in directory.members
            ],
        )
        report = ImportReport(
            parties=len(directory.parties),
            wards=len(directory.wards),
            members=len(directory.members),
            officers=len(directory.officers),
            services=len(directory.services),
        )
        record_event(
            conn,
            actor=actor,
            action="directory.imported",
            subject_type="directory",
            subject_id=None,
            detail=report.model_dump(),
        )
    return report


def import_code_book(store: Store, codes: Sequence[Category], *, actor: str) -> int:
    """Store the CRM's case categories; returns how many.

    `codes` are already mapped (`Mapping.to_category` over `CRMClient.code_book()`, e.g.
    `Runtime.categories()`): reading either CRM's code-book shape is the profile's job.
    """
    now = datetime.now(UTC)
    rows = [
        {
            "code": code.code,
            "name": code.name,
            "group_name": code.group or None,
            "updated_at": now,
        }
        for code in codes
    ]
    with store.write() as conn:
        save_categories(conn, rows)
        record_event(
            conn,
            actor=actor,
            action="directory.code_book_imported",
            subject_type="directory",
            subject_id=None,
            detail={"count": len(rows)},
        )
    return len(rows)


__all__ = [
    "Directory",
    "DirectoryError",
    "ImportReport",
    "build_directory",
    "import_code_book",
    "import_directory",
    "read_directory_file",
]
