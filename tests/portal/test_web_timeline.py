"""Case pages name members, wards, services and categories; the timeline merges the CRM's notes
(labelled by kind) with writes still waiting for it; waiting files can be downloaded."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from mappings.model import AttachmentRef, Note, NoteKind
from portal_extensions.store.case_writes import CheckedFile, StoreCaseWrites, split_queued_file_id
from portal_extensions.store.directory import StoreDirectory
from portal_extensions.store.schema import wards
from tests.portal.access_fixtures import NOW
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.web_fixtures import CASES, make_case, stored

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
HOUSING = next(c for c in CASES if c.title == "Housing adaptation")
LETTER = b"Dear Councillor,\nThe lamp post is still out.\n"


def _token(client) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


# ------------------------------------------------------------------------------------- names


def test_the_case_page_shows_names_from_the_directory(client) -> None:
    sign_in(client, "alice")
    shown = page_text(client.get(f"/cases/{BROKEN_LIGHT.portal_id}").text)
    assert "Member Cllr Alice" in shown
    assert "Ward Abbey" in shown
    assert "Service Highways" in shown


def test_an_id_the_directory_does_not_know_is_shown_as_it_is(client, built) -> None:
    case = make_case("alice", "Parking on the verge", category="parking", service="S9")
    built.repository.put(stored(case))
    sign_in(client, "alice")
    shown = page_text(client.get(f"/cases/{case.portal_id}").text)
    assert "Category parking" in shown and "Service S9" in shown
    known = make_case("alice", "Pavement cracked", category="roads")
    built.repository.put(stored(known))
    assert "Category Roads and pavements" in page_text(client.get(f"/cases/{known.portal_id}").text)


def test_lists_and_the_ward_view_name_members_and_wards(client) -> None:
    sign_in(client, "ms_alice")
    caseload = page_text(client.get("/caseload").text)
    assert "Broken street light Cllr Alice" in caseload
    ward = client.get("/ward", params={"ward": "W1"}).text
    assert "Ward: Abbey" in page_text(ward)
    assert '<option value="W2">Castle</option>' in ward


def test_the_api_keeps_ids_and_gives_names_beside_them(client) -> None:
    sign_in(client, "alice")
    rows = client.get("/api/v1/caseload").json()["cases"]
    assert {(r["member_id"], r["member_name"]) for r in rows} == {("alice", "Cllr Alice")}
    case = client.get(f"/api/v1/cases/{BROKEN_LIGHT.portal_id}").json()
    assert case["case"]["member_id"] == "alice" and case["case"]["service_id"] == "S1"
    assert case["names"] == {
        "members": {"alice": "Cllr Alice"},
        "wards": {"W1": "Abbey"},
        "services": {"S1": "Highways"},
        "categories": {"Street cleaning": "Street cleaning"},
    }


# ---------------------------------------------------------------------------------- timeline


def _note(kind: NoteKind, days_ago: int, text: str, document: str | None = None) -> Note:
    files = (
        [
            AttachmentRef(
                crm_document_id=document,
                filename=f"{document}.pdf",
                media_type="application/pdf",
                size_bytes=2048,
            )
        ]
        if document
        else []
    )
    return Note(
        kind=kind,
        author="carol" if kind is NoteKind.NOTE else "crm-user-17",
        text=text,
        created_at=NOW - timedelta(days=days_ago),
        attachments=files,
    )


def test_the_timeline_labels_each_kind_and_merges_waiting_writes_newest_first(
    client, built
) -> None:
    notes = [  # stored oldest first, as a CRM lists them, except one out of order
        _note(NoteKind.NOTE, 5, "Met the resident at surgery"),
        _note(NoteKind.STATUS_CHANGE, 4, "Status changed to With service"),
        _note(NoteKind.CORRESPONDENCE, 1, "Letter to the resident", "DOC-9"),
        _note(NoteKind.SERVICE_RESPONSE, 2, "Highways will repair it on Friday", "DOC-8"),
    ]
    case = make_case("alice", "Lamp post leaning", notes=notes, received_at=NOW - timedelta(days=9))
    built.repository.put(stored(case))
    sign_in(client, "alice")
    page = client.get(f"/cases/{case.portal_id}")
    posted = client.post(
        f"/cases/{case.portal_id}/notes",
        data={"text": "Chased Highways by phone", "csrf_token": csrf_from(page.text)},
    )
    # Back to the top of the case, where the success banner says the note was added.
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/cases/{case.portal_id}"
    html = client.get(f"/cases/{case.portal_id}").text
    shown = page_text(html[html.index('id="timeline"') :])
    expected = [
        "Note by u-alice, 15 June 2026 at 12:00pm Waiting for the CRM Chased Highways by phone",
        "Letter or email by crm-user-17, 14 June 2026 at 12:00pm Letter to the resident",
        "Reply from a service by crm-user-17, 13 June 2026 at 12:00pm Highways will repair it",
        "Status changed by crm-user-17, 11 June 2026 at 12:00pm Status changed to With service",
        "Note by Cllr Carol, 10 June 2026 at 12:00pm Met the resident at surgery",
    ]
    positions = [shown.index(entry) for entry in expected]
    assert positions == sorted(positions)
    for document in ("DOC-8", "DOC-9"):
        assert f'href="/cases/{case.portal_id}/attachments/{document}" download' in html


def test_the_api_lists_a_waiting_note_with_its_text_and_files(client) -> None:
    sign_in(client, "alice")
    client.post(
        f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/attachments",
        data={"text": "The resident's letter"},
        files={"file": ("letter.txt", LETTER, "text/plain")},
        headers={"X-CSRF-Token": _token(client)},
    )
    [pending] = client.get(f"/api/v1/cases/{BROKEN_LIGHT.portal_id}").json()["pending"]
    [file] = pending["files"]
    assert (pending["kind"], pending["text"]) == ("attach", "The resident's letter")
    assert (file["name"], file["media_type"], file["size_bytes"]) == (
        "letter.txt",
        "text/plain",
        len(LETTER),
    )
    assert client.get(file["href"]).content == LETTER


# ---------------------------------------------------------------------------- queued files


def _upload(client, case_id: uuid.UUID) -> str:
    """Upload the letter through the page; the queued file's link from the timeline."""
    page = client.get(f"/cases/{case_id}")
    response = client.post(
        f"/cases/{case_id}/attachments",
        data={"csrf_token": csrf_from(page.text)},
        files={"file": ("letter.txt", LETTER, "application/octet-stream")},
    )
    assert response.status_code == 303
    links = re.findall(
        r'href="(/cases/[^"]+/queued-files/[^"]+)"', client.get(f"/cases/{case_id}").text
    )
    assert len(links) == 1
    return str(links[0])


def test_a_queued_file_downloads_safely_for_those_who_see_the_notes(built, client) -> None:
    from fastapi.testclient import TestClient

    sign_in(client, "alice")
    link = _upload(client, BROKEN_LIGHT.portal_id)
    response = client.get(link)
    assert response.status_code == 200 and response.content == LETTER
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"] == 'attachment; filename="letter.txt"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    downloads = [e for e in built.audit.events if e.action == "download_attachment"]
    assert [(e.actor, e.subject_id) for e in downloads] == [
        ("u-alice", str(BROKEN_LIGHT.portal_id))
    ]
    answers = {}
    for who in ("bob", "team_leader", "officer_s1", "dave"):
        other = TestClient(built.app, follow_redirects=False)
        sign_in(other, who)
        answers[who] = other.get(link).status_code
    # bob: ward colleague (case shared with the ward); the officer sees the case, not its notes.
    assert answers == {"bob": 200, "team_leader": 200, "officer_s1": 404, "dave": 404}


def test_the_uploader_keeps_their_file_when_the_notes_are_hidden_from_them(built, client) -> None:
    from fastapi.testclient import TestClient

    sign_in(client, "alice")
    link = _upload(client, HOUSING.portal_id)
    assert HOUSING.authority is not None
    withdrawn = HOUSING.model_copy(
        update={"authority": HOUSING.authority.model_copy(update={"withdrawn_at": NOW})}
    )
    built.repository.put(stored(withdrawn))  # special details (notes) now hidden from everyone
    assert "notes" not in client.get(f"/api/v1/cases/{HOUSING.portal_id}").json()["case"]
    assert client.get(link).content == LETTER
    assert "Note with files by u-alice" in page_text(client.get(f"/cases/{HOUSING.portal_id}").text)
    leader = TestClient(built.app, follow_redirects=False)
    sign_in(leader, "team_leader")
    assert leader.get(link).status_code == 404


def test_an_unknown_or_foreign_queued_file_is_not_found(client) -> None:
    sign_in(client, "alice")
    link = _upload(client, BROKEN_LIGHT.portal_id)
    file_id = link.rsplit("/", 1)[1]
    other_case = next(c for c in CASES if c.title == "Fly-tipping behind the shops")
    assert client.get(f"/cases/{other_case.portal_id}/queued-files/{file_id}").status_code == 404
    assert client.get(link[:-1] + "7").status_code == 404
    assert client.get(f"/cases/{BROKEN_LIGHT.portal_id}/queued-files/nonsense").status_code == 404


# ---------------------------------------------------------------------------- the store's side


def test_the_store_lists_waiting_files_and_hands_back_their_content(tmp_path: Path) -> None:
    from tests.store.seeding import seeded_store

    store = seeded_store(tmp_path / "portal.db", CASES[:2])  # the first has a stray write
    writes = StoreCaseWrites(store)
    key = writes.attach(
        BROKEN_LIGHT.portal_id,
        "Two files",
        [CheckedFile("a.txt", "text/plain", b"x" * 10), CheckedFile("b.txt", "text/plain", LETTER)],
        actor="ms_alice",
        on_behalf_of="alice",
    )
    writes.close(BROKEN_LIGHT.portal_id, "Fixed", actor="alice", on_behalf_of=None)
    attach, close = writes.pending(BROKEN_LIGHT.portal_id)
    assert (attach.kind, attach.key, attach.text, attach.actor) == (
        "attach",
        key,
        "Two files",
        "ms_alice",
    )
    assert [(f.name, f.size_bytes) for f in attach.files] == [("a.txt", 10), ("b.txt", len(LETTER))]
    assert (close.kind, close.text, close.files) == ("close_case", "Fixed", ())
    found = writes.queued_file(BROKEN_LIGHT.portal_id, attach.files[1].file_id)
    assert found is not None and found[1] == CheckedFile("b.txt", "text/plain", LETTER)
    assert found[0].actor == "ms_alice"
    assert split_queued_file_id(attach.files[1].file_id) == (key, 1)
    assert writes.queued_file(BROKEN_LIGHT.portal_id, f"{key}.2") is None
    assert writes.queued_file(uuid.uuid4(), attach.files[0].file_id) is None
    assert writes.queued_file(BROKEN_LIGHT.portal_id, "no-position") is None
    [stray] = writes.pending(CASES[0].portal_id)  # a payload that is not a note: no text
    assert (stray.kind, stray.text, stray.files) == ("add_note", None, ())


def test_the_store_directorys_names_are_cached_for_their_lifetime(tmp_path: Path) -> None:
    from tests.store.seeding import seeded_store

    store = seeded_store(tmp_path / "portal.db", CASES[:1])
    now = [0.0]
    directory = StoreDirectory(store, names_ttl_seconds=60, clock=lambda: now[0])
    names = directory.names()
    assert (names.ward("W1"), names.member("alice"), names.member("zed")) == (
        "Ward W1",
        "Alice",
        "zed",
    )
    with store.write() as conn:
        conn.execute(sa.update(wards).where(wards.c.id == "W1").values(name="Abbey"))
    now[0] = 59.0
    assert directory.names().ward("W1") == "Ward W1"  # no query: the cached names
    now[0] = 61.0
    assert directory.names().ward("W1") == "Abbey"
    with store.write() as conn:
        conn.execute(sa.update(wards).where(wards.c.id == "W1").values(name="Abbey Hill"))
    directory.forget_names()
    assert directory.names().ward("W1") == "Abbey Hill"


def test_a_download_is_served_as_the_type_its_content_shows() -> None:
    from portal_extensions.casework.attachments import served_media_type

    pdf = b"%PDF-1.7\n"
    assert served_media_type("scan", pdf, "application/pdf") == "application/pdf"
    assert served_media_type("scan.pdf", pdf) == "application/pdf"
    assert served_media_type("page.html", b"<script>x</script>", "text/html") == (
        "application/octet-stream"
    )
    assert served_media_type("letter.pdf", b"MZ\x90\x00\x00") == "application/octet-stream"
    assert served_media_type("notes.txt", b"plain words", "application/pdf") == "text/plain"
