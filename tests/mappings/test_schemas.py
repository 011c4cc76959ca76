"""One schema module per CRM, found by kind: no default, so an unknown CRM is named, not guessed.

Before, any CRM that was not Lagan was silently checked as Dataverse; now a mapping file, the
schema look-up and `Mapping` all refuse a kind no module in `mappings/schemas/` serves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mappings import (
    Mapping,
    MappingFileError,
    UnknownCRMError,
    crm_kinds,
    load_profile,
    parse_mapping,
    schema_for,
)
from mappings.paths import CrmPath
from mappings.schemas.dataverse import DataverseSchema
from mappings.schemas.lagan import LaganSchema
from tests.mappings.conftest import MINIMAL_DYNAMICS, record


def test_each_crm_kind_has_its_own_schema_module() -> None:
    assert crm_kinds() == ("dynamics365", "lagan")
    assert isinstance(schema_for("lagan"), LaganSchema)
    assert isinstance(schema_for("dynamics365"), DataverseSchema)


@pytest.mark.parametrize("kind", ["salesforce", "Lagan", "dataverse", ""])
def test_looking_up_an_unknown_kind_names_it_and_the_known_kinds(kind: str) -> None:
    with pytest.raises(UnknownCRMError) as refused:
        schema_for(kind)
    assert refused.value.kind == kind
    assert refused.value.known == ("dynamics365", "lagan")
    assert f"unknown CRM {kind!r}" in str(refused.value)
    assert "dynamics365, lagan" in str(refused.value)


def test_a_mapping_file_for_an_unknown_crm_is_refused_by_name() -> None:
    text = MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: salesforce")
    with pytest.raises(MappingFileError) as refused:
        parse_mapping(text, "test.yaml")
    (problem,) = refused.value.problems
    assert (problem.line, problem.field) == (1, "crm")
    assert "unknown CRM `salesforce`" in problem.message
    assert "'dynamics365' or 'lagan'" in problem.message


def test_a_crm_that_is_not_a_name_is_refused() -> None:
    text = MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: [lagan]")
    with pytest.raises(MappingFileError) as refused:
        parse_mapping(text, "test.yaml")
    assert [p.field for p in refused.value.problems] == ["crm"]


def test_a_section_keeps_its_crms_rules() -> None:
    notes = schema_for("lagan").section("Notes.Note")
    assert isinstance(notes, LaganSchema) and notes.record == "Notes.Note"
    assert notes.check_read(CrmPath("Text")) is None
    assert notes.check_read(CrmPath("Txt")) == (
        "FWTNote has no element `Txt`",
        "did you mean `Text`?",
    )
    annotations = schema_for("dynamics365").item_schema(CrmPath("Incident_Annotation"))
    assert isinstance(annotations, DataverseSchema)
    assert annotations.check_read(CrmPath("notetext")) is None


def test_the_dataverse_profile_reads_modifiedon_as_the_modified_time(dynamics: Mapping) -> None:
    raw = record("dynamics365_case.json")
    assert dynamics.modified_at(raw) == datetime(2025, 3, 20, 16, 0, tzinfo=UTC)
    assert dynamics.modified_at({**raw, "modifiedon": "2025-03-20T16:00:00"}) == datetime(
        2025, 3, 20, 16, 0, tzinfo=UTC
    )
    assert dynamics.modified_at({**raw, "modifiedon": "yesterday"}) is None
    assert dynamics.modified_at({k: v for k, v in raw.items() if k != "modifiedon"}) is None


def test_the_lagan_profile_has_no_modified_time_to_read(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    assert lagan.modified_at(raw) is None
    # Not even where a record happens to carry such an element: FL's contract gives none.
    assert lagan.modified_at({**raw, "AuditDetails": {"LastModified": "2025-03-20T16:00Z"}}) is None


def test_modified_at_follows_the_crm_not_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "council.yaml"
    path.write_text(MINIMAL_DYNAMICS, encoding="utf-8")
    mapping = load_profile(path)
    assert mapping.modified_at({"modifiedon": "2025-01-02T03:04:05Z"}) == datetime(
        2025, 1, 2, 3, 4, 5, tzinfo=UTC
    )
