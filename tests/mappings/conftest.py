"""Shared fixtures for the mapping tests: bundled profiles, sample records, mapping-file helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mappings import Mapping, MappingFileError, Problem, load_profile, parse_mapping

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mappings"

# The smallest valid Dataverse mapping; tests append or replace lines to break it one way.
MINIMAL_DYNAMICS = """\
crm: dynamics365
record: member_case
value_maps:
  channel:
    unmapped: error
    values:
      1: phone
      2: email
fields:
  member_id:
    path: cr_memberid
  ward_id:
    path: cr_wardid
  constituent.surname:
    path: customerid_contact.lastname
    direction: inbound
  category:
    path: cr_categorycode
  title:
    path: title
  channel:
    path: caseorigincode
    value_map: channel
  received_at:
    path: createdon
    direction: inbound
"""


@pytest.fixture(scope="session")
def lagan() -> Mapping:
    return load_profile("lagan")


@pytest.fixture(scope="session")
def dynamics() -> Mapping:
    return load_profile("dynamics365")


def record(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def problems_of(text: str) -> list[Problem]:
    """Every problem `text` has as a mapping file (empty when it is valid)."""
    try:
        parse_mapping(text, "test.yaml")
    except MappingFileError as exc:
        return exc.problems
    return []


def messages_of(text: str) -> list[str]:
    return [str(problem) for problem in problems_of(text)]


@pytest.fixture
def write_mapping(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "mapping.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
