"""Dataverse `$expand=Incident_Annotation(...)` on the sandbox REST front: each case's notes."""

from __future__ import annotations

import base64

import pytest

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.rest import ANNOTATION_COLUMNS, annotation
from tests.sandbox.test_rest_expand import _session

NOTES = "Incident_Annotation($select=annotationid,notetext,filename,filesize,isdocument)"


def test_annotation_columns_constant_matches_the_annotation_view(
    sandbox_crm: SandboxHandle,
) -> None:
    note = next(iter(sandbox_crm.store.notes.values()))
    assert tuple(annotation(sandbox_crm.store, note)) == ANNOTATION_COLUMNS


@pytest.mark.sandbox_crm(cases=5, seed=4)
def test_expand_gives_each_case_its_notes_with_file_sizes_and_no_bodies(
    sandbox_crm: SandboxHandle,
) -> None:
    store = sandbox_crm.store
    ref = sorted(store.cases)[0]
    store.add_note(
        0,
        ref,
        "With a file",
        attachment={
            "name": "a.txt",
            "mimetype": "text/plain",
            "body": base64.b64encode(b"hello").decode(),
        },
    )
    session = _session(sandbox_crm)
    page = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$expand": f"customerid_contact($select=lastname),{NOTES}", "$top": "5"},
        timeout=5,
    )
    assert page.status_code == 200, page.text
    for incident in page.json()["value"]:
        case = store.case_by_incident(incident["incidentid"])
        notes = incident["Incident_Annotation"]
        assert [n["annotationid"] for n in notes] == [
            store.notes[nid]["annotationid"] for nid in case["notes"]
        ]
        assert all(
            set(n) == {"annotationid", "notetext", "filename", "filesize", "isdocument"}
            for n in notes
        )
    one = session.get(
        f"{sandbox_crm.dataverse_url}incidents({store.cases[ref]['incidentid']})",
        params={"$expand": NOTES},
        timeout=5,
    ).json()
    file = one["Incident_Annotation"][-1]
    assert (file["notetext"], file["filename"], file["filesize"], file["isdocument"]) == (
        "With a file",
        "a.txt",
        5,
        True,
    )


def test_an_unknown_annotation_column_in_the_expand_is_a_400(sandbox_crm: SandboxHandle) -> None:
    r = _session(sandbox_crm).get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$expand": "Incident_Annotation($select=nottext)"},
        timeout=5,
    )
    assert r.status_code == 400 and "nottext" in r.text
