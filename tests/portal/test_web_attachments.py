"""Attachments: recognised by content (not by name), safely named, size-limited, queued as a
note with files; downloads are access-checked and always served as attachments."""

from __future__ import annotations

import base64
import io
import warnings
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.casework.attachments import FileProblem, check_file, safe_filename, sniff
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.schema import outbox
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.web_fixtures import CASES, DOCUMENT_ID, build
from tests.store.seeding import seeded_store

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
HOUSING = next(c for c in CASES if c.title == "Housing adaptation")  # sent to S1, special
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
LIMIT = 10 * 1024 * 1024


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


DOCX = _zip("[Content_Types].xml", "word/document.xml")
XLSX = _zip("[Content_Types].xml", "xl/workbook.xml")


@pytest.mark.parametrize(
    ("name", "content", "media_type"),
    [
        ("letter.pdf", PDF, "application/pdf"),
        ("photo.PNG", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
        ("photo.jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (
            "report.docx",
            DOCX,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("sums.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("notes.txt", "Café opening hours\n".encode(), "text/plain"),
        ("reply.eml", b"From: a@example.org\r\nSubject: Bins\r\n\r\nHello", "message/rfc822"),
        (
            "reply.msg",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,
            "application/vnd.ms-outlook",
        ),
    ],
)
def test_allowed_files_are_recognised_by_their_content(name, content, media_type) -> None:
    checked = check_file(name, content, LIMIT)
    assert checked.media_type == media_type
    assert checked.content == content


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("invoice.pdf", b"MZ\x90\x00\x03" + b"\x00" * 40, "content is not a PDF"),
        ("report.docx", _zip("word/document.xml"), "content is not a DOCX"),
        ("report.docx", XLSX, "content is not a DOCX"),
        ("notes.txt", b"text\x00with a nul", "content is not a TXT"),
        ("photo.png", PDF, "content is not a PNG"),
        ("run.exe", b"MZ", "must be a PDF, PNG, JPEG"),
        ("no-extension", PDF, "must be a PDF, PNG, JPEG"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_files_whose_content_does_not_match_are_refused(name, content, problem) -> None:
    with pytest.raises(FileProblem, match=problem):
        check_file(name, content, LIMIT)


def test_the_size_limit_is_checked() -> None:
    with pytest.raises(FileProblem, match="smaller than 2 KB"):
        check_file("big.txt", b"a" * 2049, 2048)
    assert check_file("fits.txt", b"a" * 2048, 2048).name == "fits.txt"


def test_file_names_are_made_safe() -> None:
    assert safe_filename("../../etc/passwd.txt", "txt") == "passwd.txt"
    assert safe_filename("C:\\Users\\sam\\letter.pdf", "pdf") == "letter.pdf"
    assert safe_filename('a"b<script>\r\n.pdf', "pdf") == "a_b_script.pdf"
    assert safe_filename(".htaccess.txt", "txt") == "htaccess.txt"
    assert safe_filename("....pdf", "pdf") == "attachment.pdf"
    long = safe_filename("x" * 300 + ".pdf", "pdf")
    assert len(long) == 100 and long.endswith(".pdf")
    assert sniff(b"plain words") == {"txt"}


def test_a_member_attaches_a_file_and_sees_it_queued(built, client) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert "Attach a file" in page.text and 'enctype="multipart/form-data"' in page.text
    response = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/attachments",
        data={"text": "Photo of the lamp post", "csrf_token": csrf_from(page.text)},
        files={"file": ("../lamp post.pdf", PDF, "application/octet-stream")},
    )
    assert response.status_code == 303
    after = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    shown = page_text(after.text)
    assert "Note with files by u-alice" in shown and "Waiting for the CRM" in shown
    assert (
        "lamp post.pdf" in shown and f"/cases/{BROKEN_LIGHT.portal_id}/queued-files/" in after.text
    )
    writes = built.app.state.portal.writes
    [queued] = writes.files[BROKEN_LIGHT.portal_id]
    assert (queued.name, queued.media_type, queued.content) == (
        "lamp post.pdf",
        "application/pdf",
        PDF,
    )
    assert [e.action for e in built.audit.events if e.action == "attach"] == ["attach"]


def test_a_refused_file_is_reported_beside_the_field_and_the_note_is_kept(client) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    response = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/attachments",
        data={"text": "Renamed program", "csrf_token": csrf_from(page.text)},
        files={"file": ("invoice.pdf", b"MZ\x90\x00" * 10, "application/pdf")},
    )
    assert response.status_code == 422
    assert 'id="file-error"' in response.text and 'href="#file"' in response.text
    assert "content is not a PDF file" in response.text
    assert "Renamed program" in response.text


def test_the_size_limit_is_configurable_and_huge_bodies_are_refused_unread() -> None:
    client = TestClient(build(attachment_max_bytes=2048).app, follow_redirects=False)
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    url = f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/attachments"
    headers = {"X-CSRF-Token": token}
    big = client.post(url, headers=headers, files={"file": ("a.txt", b"a" * 3000, "text/plain")})
    assert big.status_code == 422 and "smaller than 2 KB" in big.json()["fields"]["file"]
    huge = client.post(
        url, headers=headers, files={"file": ("a.txt", b"a" * 300_000, "text/plain")}
    )
    assert huge.status_code == 413
    fine = client.post(url, headers=headers, files={"file": ("a.txt", b"a" * 100, "text/plain")})
    assert fine.status_code == 202 and fine.json()["queued"] is True


def test_a_download_is_an_attachment_of_the_right_type_and_access_checked(built, client) -> None:
    sign_in(client, "alice")
    url = f"/cases/{BROKEN_LIGHT.portal_id}/attachments/{DOCUMENT_ID}"
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert f'href="{url}"' in page.text
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == b"Letter about Broken street light"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"] == 'attachment; filename="letter.txt"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/cases/{BROKEN_LIGHT.portal_id}/attachments/NOPE").status_code == 404
    assert [e.outcome.value for e in built.audit.events if e.action == "download_attachment"] == [
        "allowed"
    ]
    officer = TestClient(built.app, follow_redirects=False)
    sign_in(officer, "officer_s1")  # may see the case, not its notes
    assert officer.get(f"/cases/{HOUSING.portal_id}").status_code == 200
    refused = officer.get(f"/cases/{HOUSING.portal_id}/attachments/{DOCUMENT_ID}")
    assert refused.status_code == 404


def test_without_a_crm_the_case_page_says_its_files_cannot_be_downloaded() -> None:
    client = TestClient(build(crm_files=False).app, follow_redirects=False)
    sign_in(client, "alice")
    url = f"/cases/{BROKEN_LIGHT.portal_id}/attachments/{DOCUMENT_ID}"
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert page.status_code == 200 and f'href="{url}"' not in page.text
    assert "letter.txt" in page.text
    assert "cannot be downloaded here, because no CRM is connected" in page_text(page.text)
    assert client.get(url).status_code == 404
    with_crm = TestClient(build().app, follow_redirects=False)
    sign_in(with_crm, "alice")
    assert "no CRM is connected" not in with_crm.get(f"/cases/{BROKEN_LIGHT.portal_id}").text


def test_the_store_queues_the_file_with_the_note(tmp_path: Path) -> None:
    store = seeded_store(tmp_path / "c.sqlite", CASES)
    checked = check_file("letter.pdf", PDF, LIMIT)
    key = StoreCaseWrites(store).attach(
        BROKEN_LIGHT.portal_id, "Letter", [checked], actor="u-alice", on_behalf_of=None
    )
    with store.read() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.idempotency_key == key)).one()
    assert row.kind == "attach" and row.state == "queued"
    [file] = row.payload["files"]
    assert file["name"] == "letter.pdf" and file["content_type"] == "application/pdf"
    assert base64.b64decode(file["content_b64"]) == PDF
