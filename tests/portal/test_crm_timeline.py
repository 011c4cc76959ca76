"""A sync of the sandbox CRM puts the CRM's own timeline into each case's notes, on both CRMs:
Lagan notes and case events, Dataverse annotations (a file annotation as its own entry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.base import Attachment
from connector.dataverse import DataverseClient, note_annotation_id
from connector.sandbox.store import CLOSED_STATUSES
from mappings import load_profile
from mappings.model import NoteKind
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store
from tests.connector.test_sandbox_integration import _dataverse
from tests.store.index_lookup import get_case
from tests.store.sandbox_helpers import lagan_client


def _synced(tmp_path: Path, client: Any, profile: str, ref: str) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    report = Syncer(store, client, load_profile(profile), batch_size=50).run()
    assert report.problems == 0, report.summary()
    with store.read() as conn:
        case = get_case(conn, crm_reference=ref)
    assert case is not None
    return case


@pytest.mark.sandbox_crm(cases=6, seed=5)
def test_a_lagan_sync_brings_the_crms_notes_and_events_into_the_case_timeline(
    sandbox_crm, tmp_path: Path
) -> None:
    crm = sandbox_crm.store
    crm.clock = lambda: datetime.now(UTC) - timedelta(minutes=1)
    ref = next(r for r in sorted(crm.cases) if crm.cases[r]["status"] not in CLOSED_STATUSES)
    crm.add_note(0, ref, "Officer visited the site.", author="officer-12")
    crm.close_case(ref, "Repaired", "Pothole filled")
    crm.reopen_case(ref, "Came back")

    case = _synced(tmp_path, lagan_client(sandbox_crm), "lagan", ref)

    written = [n for n in case.notes if n.text == "Officer visited the site."]
    assert len(written) == 1
    assert written[0].kind is NoteKind.NOTE
    assert written[0].author == "officer-12"
    assert written[0].crm_note_id is not None
    changes = [n.text for n in case.notes if n.kind is NoteKind.STATUS_CHANGE]
    assert "Closed: Repaired: Pothole filled" in changes
    assert "Reopened: Came back" in changes


@pytest.mark.sandbox_crm(cases=3, seed=5)
def test_a_dataverse_sync_brings_annotations_and_their_files_into_the_case_timeline(
    sandbox_crm, tmp_path: Path
) -> None:
    client: DataverseClient = _dataverse(sandbox_crm)
    ref = sorted(sandbox_crm.store.cases)[1]
    # Written a minute ago: a sync reads cases modified before the second it starts in.
    sandbox_crm.store.clock = lambda: datetime.now(UTC) - timedelta(minutes=1)
    incident = sandbox_crm.store.cases[ref]["incidentid"]
    client.add_note(
        incident,
        "Photos from the resident.",
        [Attachment(name="hole.jpg", content_type="image/jpeg", content=b"\xff\xd8" * 50)],
        idempotency_key="k-timeline-1",
    )

    case = _synced(tmp_path, client, "dynamics365", client.get_case(incident)["ticketnumber"])

    by_id = {n.crm_note_id: n for n in case.notes}
    text = by_id[note_annotation_id("k-timeline-1", 0)]
    assert text.text == "Photos from the resident." and text.attachments == []
    file = by_id[note_annotation_id("k-timeline-1", 1)]
    assert file.text == ""  # the file's own entry does not repeat the note's words
    assert [(a.filename, a.media_type, a.size_bytes) for a in file.attachments] == [
        ("hole.jpg", "image/jpeg", 100)
    ]
    assert file.attachments[0].crm_document_id == note_annotation_id("k-timeline-1", 1)
