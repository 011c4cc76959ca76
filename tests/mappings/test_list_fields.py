"""List-of-records fields (`notes` from the CRM's timeline), party and code-book sections:
mapped item by item, checked with file positions, and one bad item never loses its case."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from mappings import FieldProblem, Mapping, RecordMappingError
from mappings.model import NoteKind
from tests.mappings.conftest import MINIMAL_DYNAMICS, messages_of, problems_of, record

SECRET_TEXT = "Mrs Jones of 4 Elm Road is unwell"


def _lagan_case(notes: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    raw = copy.deepcopy(record("lagan_case.json"))
    raw["Notes"] = {"Note": notes}
    raw["Events"] = {"CaseEvent": events}
    return raw


def test_lagan_notes_and_events_become_timeline_entries_of_the_right_kind(
    lagan: Mapping,
) -> None:
    raw = _lagan_case(
        [
            {
                "NoteID": "7",
                "Text": "Called back",
                "Created": "2025-03-05T09:00:00Z",
                "CreatedBy": {"UserID": "u1", "UserName": "Pat Officer"},
            }
        ],
        [
            {
                "EventTitle": "Closed: Fixed",
                "Created": "2025-03-06T10:00:00Z",
                "AdditionalInfo": "Filled",
            },
            {
                "EventTitle": "Service response",
                "Created": "2025-03-05T12:00:00",
                "HandledBy": {"UserID": "roads-7"},
            },
        ],
    )
    notes = lagan.to_caseload(raw).notes
    assert [(n.kind, n.author, n.text, n.crm_note_id) for n in notes] == [
        (NoteKind.NOTE, "Pat Officer", "Called back", "7"),
        (NoteKind.STATUS_CHANGE, "Lagan", "Closed: Fixed: Filled", None),
        (NoteKind.SERVICE_RESPONSE, "roads-7", "Service response", None),
    ]
    assert notes[2].created_at.isoformat() == "2025-03-05T12:00:00+00:00"  # naive: London, GMT


def test_a_dataverse_file_annotation_is_its_own_entry_holding_the_file(
    dynamics: Mapping,
) -> None:
    raw = copy.deepcopy(record("dynamics365_case.json"))
    raw["Incident_Annotation"] = [
        {
            "annotationid": "a-1",
            "notetext": "See photo",
            "isdocument": False,
            "createdon": "2025-03-05T09:00:00Z",
        },
        {
            "annotationid": "a-2",
            "notetext": "See photo",
            "isdocument": True,
            "filename": "p.png",
            "mimetype": "image/png",
            "filesize": 12,
            "createdon": "2025-03-05T09:00:01Z",
        },
    ]
    notes = dynamics.to_caseload(raw).notes
    assert [(n.crm_note_id, n.text, len(n.attachments)) for n in notes] == [
        ("a-1", "See photo", 0),
        ("a-2", "", 1),
    ]
    file = notes[1].attachments[0]
    assert (file.crm_document_id, file.filename, file.media_type, file.size_bytes) == (
        "a-2",
        "p.png",
        "image/png",
        12,
    )
    case = dynamics.to_caseload(raw)
    assert dynamics.to_caseload(dynamics.to_record(case)) == case  # the inverse holds lists


def test_a_bad_note_is_left_out_and_reported_by_index_without_its_text(
    lagan: Mapping, caplog: pytest.LogCaptureFixture
) -> None:
    raw = _lagan_case(
        [
            {"NoteID": "1", "Text": "fine", "Created": "2025-03-05T09:00:00Z"},
            {"NoteID": "2", "Text": SECRET_TEXT, "Created": "not a time"},
            {"NoteID": "3", "Text": SECRET_TEXT},
        ],
        [],
    )
    found: list[FieldProblem] = []
    case = lagan.to_caseload(raw, item_problems=found)
    assert [n.crm_note_id for n in case.notes] == ["1"]
    assert [(p.field, p.crm_path, p.kind) for p in found] == [
        ("notes[1].created_at", "Notes.Note[1].Created", "conversion"),
        ("notes[2].created_at", "Notes.Note[2].Created", "missing"),
    ]
    assert all(SECRET_TEXT not in str(p) for p in found)
    with caplog.at_level(logging.WARNING, logger="mappings.engine"):
        assert len(lagan.to_caseload(raw).notes) == 1
    assert "notes[1].created_at" in caplog.text and SECRET_TEXT not in caplog.text


def test_a_case_level_problem_still_fails_the_record_naming_its_field(lagan: Mapping) -> None:
    raw = _lagan_case([], [])
    del raw["CoreDetails"]["Title"]
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    assert [p.field for p in caught.value.problems] == ["title"]


NOTES_SPEC = """\
  notes:
    items:
      - path: Incident_Annotation
        fields:
          text: {path: notetext, default: ""}
          author: {default: CRM}
          created_at: {path: createdon}
"""


def test_a_minimal_list_field_is_valid_and_maps() -> None:
    assert problems_of(MINIMAL_DYNAMICS + NOTES_SPEC) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            NOTES_SPEC.replace("Incident_Annotation", "Incident_Annotations"),
            "test.yaml:29:15: fields.notes.items.0.path: cannot read items at"
            " `Incident_Annotations`",
        ),
        (
            NOTES_SPEC.replace("createdon}", "createdon}\n          colour: {path: subject}"),
            "test.yaml:34:11: fields.notes.items.0.fields.colour: unknown field `colour` of Note",
        ),
        (
            NOTES_SPEC.replace("path: notetext", "path: notetxt"),
            "test.yaml:31:24: fields.notes.items.0.fields.text.path: CRM path `notetxt` cannot"
            " be read",
        ),
        (
            NOTES_SPEC.replace("    items:", "    direction: both\n    items:"),
            "fields.notes.direction: list field `notes` is read only",
        ),
        (
            NOTES_SPEC.replace("          created_at: {path: createdon}\n", ""),
            "fields.notes.items.0.fields: required caseload field `created_at` has no inbound",
        ),
        (
            "  flags:\n    items:\n      - path: Incident_Annotation\n        fields: {}\n",
            "fields.flags.items: `flags` is not a list of records",
        ),
    ],
)
def test_list_field_mistakes_are_reported_with_their_place(spec: str, expected: str) -> None:
    messages = messages_of(MINIMAL_DYNAMICS + spec)
    assert any(expected in m for m in messages), messages


def test_parties_map_lagan_briefs_and_individuals_and_dataverse_contacts(
    lagan: Mapping, dynamics: Mapping
) -> None:
    brief = {
        "ObjectID": {"ObjectType": "C1", "ObjectReference": "1000001"},
        "ObjectDescription": "Priya Hughes",
        "Details": "19 Church Street, FM1 9UX",
    }
    person = lagan.to_constituent(brief)
    assert (person.crm_party_id, person.surname, person.location.address) == (
        "1000001",
        "Priya Hughes",
        "19 Church Street, FM1 9UX",
    )
    individual = {
        **brief,
        "Name": [{"Title": "Dr", "Forename": "Priya", "Surname": "Hughes"}],
        "ContactEmails": [{"EmailAddress": "priya@example.org"}],
        "ContactPostals": [{"AddressLine": "Church Street", "Postcode": "fm19ux"}],
    }
    person = lagan.to_constituent(individual)
    assert (person.display_name, person.email, person.location.postcode) == (
        "Dr Priya Hughes",
        "priya@example.org",
        "FM1 9UX",
    )
    contact = dynamics.to_constituent(
        {
            "contactid": "c-1",
            "firstname": "Jo",
            "lastname": "Walker",
            "emailaddress1": "jo@example.org",
            "address1_postalcode": "NE2 1AB",
        }
    )
    assert (contact.crm_party_id, contact.display_name, contact.location.postcode) == (
        "c-1",
        "Jo Walker",
        "NE2 1AB",
    )
    with pytest.raises(RecordMappingError) as caught:
        dynamics.to_constituent({"contactid": "c-2"})
    assert [p.field for p in caught.value.problems] == ["surname"]


def test_code_books_map_from_both_crm_shapes(lagan: Mapping, dynamics: Mapping) -> None:
    code = lagan.to_category(
        {"CodeID": "101", "CodeKey": "roads", "CodeValue": "Roads", "CodeGroup1": "Highways"}
    )
    assert (code.code, code.name, code.group) == ("roads", "Roads", "Highways")
    option = dynamics.to_category(
        {
            "Value": 101,
            "ExternalValue": "roads",
            "Label": {"UserLocalizedLabel": {"Label": "Roads", "LanguageCode": 1033}},
        }
    )
    assert (option.code, option.name, option.group) == ("roads", "Roads", None)
    with pytest.raises(RecordMappingError) as caught:
        dynamics.to_category({"Label": {"UserLocalizedLabel": None}})
    assert sorted(p.field for p in caught.value.problems) == ["code", "name"]


def test_a_section_path_the_crm_record_lacks_is_reported() -> None:
    spec = MINIMAL_DYNAMICS + "parties:\n  fields:\n    surname: {path: lastnam}\n"
    assert any(
        "parties.fields.surname.path: CRM path `lastnam` cannot be read" in m
        for m in messages_of(spec)
    )
