"""Notes are exactly-once per idempotency key on both CRMs, whatever the sandbox does to them."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from connector.base import Attachment
from connector.dataverse import note_annotation_id
from connector.errors import CRMRejected
from connector.lagan import note_marker
from tests.connector.dataverse_cases import a_contact, create_payload
from tests.connector.test_sandbox_integration import _dataverse, _deliver, _lagan

NOTES = 320
#: 30% commit-then-lose-the-answer on the note write, 10% 503/429 and 5% resets everywhere.
FAULTS = (
    "*:503=0.05,429=0.05,retry_after=0,reset=0.05;"
    "createNotes:lose_response=0.3;"
    "annotations.PATCH:lose_response=0.3"
)


def _notes_with(handle: Any, needle: str) -> int:
    return sum(needle in note["text"] for note in handle.store.notes.values())


def _annotations_with_id(handle: Any, annotation_id: str) -> int:
    return sum(note["annotationid"] == annotation_id for note in handle.store.notes.values())


@pytest.mark.sandbox_crm(cases=8, seed=31)
def test_lagan_notes_under_faults_are_written_exactly_once_per_key(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    refs = [
        client.create_case(
            {"ClassificationEventCode": 101, "Title": f"Notes {n}"}, str(uuid.uuid4())
        )
        for n in range(8)
    ]
    plan = sandbox_crm.set_faults(FAULTS, seed=13)
    keys = [str(uuid.uuid4()) for _ in range(NOTES)]
    for n, key in enumerate(keys):
        ref = refs[n % len(refs)].reference
        _deliver(lambda k, ref=ref, n=n: client.add_note(ref, f"Note {n}", idempotency_key=k), key)
    sandbox_crm.set_faults(None)
    counts = [_notes_with(sandbox_crm, note_marker(key)) for key in keys]
    assert counts.count(0) == 0, "lost notes"
    assert max(counts) == 1, "duplicated notes"
    injected = Counter(e.fault for e in plan.events)
    assert injected["lose_response"] >= 60  # about 30% of the note writes lost their answer
    assert injected["reset"] + injected["503"] + injected["429"] >= 40


@pytest.mark.sandbox_crm(cases=8, seed=32)
def test_dataverse_notes_under_faults_are_written_exactly_once_per_key(sandbox_crm) -> None:
    client = _dataverse(sandbox_crm)
    contact = a_contact(sandbox_crm)
    refs = [
        client.create_case(create_payload(contact, title=f"Notes {n}"), str(uuid.uuid4()))
        for n in range(8)
    ]
    plan = sandbox_crm.set_faults(FAULTS, seed=14)
    keys = [str(uuid.uuid4()) for _ in range(NOTES)]
    for n, key in enumerate(keys):
        ref = refs[n % len(refs)].reference
        _deliver(lambda k, ref=ref, n=n: client.add_note(ref, f"Note {n}", idempotency_key=k), key)
    sandbox_crm.set_faults(None)
    counts = [_annotations_with_id(sandbox_crm, note_annotation_id(key, 0)) for key in keys]
    assert counts.count(0) == 0, "lost notes"
    assert max(counts) == 1, "duplicated notes"
    assert sum(note["parent_type"] == 0 for note in sandbox_crm.store.notes.values()) >= NOTES
    injected = Counter(e.fault for e in plan.events)
    assert injected["lose_response"] >= 60
    assert injected["reset"] + injected["503"] + injected["429"] >= 40


@pytest.mark.sandbox_crm(cases=3)
def test_lagan_same_key_again_adds_nothing_and_reads_hide_the_marker(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    ref = client.create_case({"ClassificationEventCode": 101, "Title": "Once"}, str(uuid.uuid4()))
    key = str(uuid.uuid4())
    files = [Attachment(name="p.txt", content=b"damp")]
    client.add_note(ref.reference, "Spoke to the resident.", files, idempotency_key=key)
    client.add_note(ref.reference, "Spoke to the resident.", files, idempotency_key=key)
    client.add_note(ref.reference, "Spoke to the resident.", idempotency_key=str(uuid.uuid4()))
    assert _notes_with(sandbox_crm, note_marker(key)) == 1
    assert len(sandbox_crm.store.documents) == 1  # the replay stopped before uploading again
    texts = [n["Text"] for n in client.get_case(ref.reference)["Notes"]["Note"]]
    assert texts.count("Spoke to the resident.") == 2
    assert not any("caseload:" in text for text in texts)
    assert client.get_case_via_zeep(ref.reference) == client.get_case(ref.reference)


@pytest.mark.sandbox_crm(cases=3)
def test_dataverse_same_key_again_adds_nothing(sandbox_crm) -> None:
    client = _dataverse(sandbox_crm)
    ref = client.create_case(create_payload(a_contact(sandbox_crm)), str(uuid.uuid4())).reference
    key = str(uuid.uuid4())
    files = [Attachment(name="a.txt", content=b"hello"), Attachment(name="b.txt", content=b"hi")]
    before = len(sandbox_crm.store.notes)
    client.add_note(ref, "Letter attached.", files, idempotency_key=key)
    client.add_note(ref, "Letter attached.", files, idempotency_key=key)
    assert len(sandbox_crm.store.notes) == before + 3  # the text and one per file, once each
    for index in range(3):
        assert _annotations_with_id(sandbox_crm, note_annotation_id(key, index)) == 1


@pytest.mark.sandbox_crm(cases=2)
def test_lagan_refuses_a_note_key_that_could_break_its_marker(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    ref = client.create_case({"ClassificationEventCode": 101, "Title": "Key"}, str(uuid.uuid4()))
    with pytest.raises(CRMRejected):
        client.add_note(ref.reference, "text", idempotency_key="a]b")
    with pytest.raises(CRMRejected):
        client.add_note(ref.reference, "text", idempotency_key="")
