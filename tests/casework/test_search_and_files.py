"""Searching, looking up residents and attaching files, called directly: audited without the
words searched, only through what the viewer may see, and files checked by their content."""

from __future__ import annotations

import sqlalchemy as sa

from portal_extensions.access import Action
from portal_extensions.casework import attach_file, find_residents, search_cases
from portal_extensions.casework.results import Invalid, Queued
from portal_extensions.store.schema import audit_events
from tests.casework.conftest import Council
from tests.portal.access_fixtures import NOW
from tests.portal.fakes import MemoryPartySource
from tests.portal.web_fixtures import CASES

HOUSING = next(c for c in CASES if c.title == "Housing adaptation")
BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")


def _audited(council: Council, actor: str) -> list[tuple[str, str | None]]:
    with council.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_events.c.action, audit_events.c.subject_id)
            .where(audit_events.c.actor == actor)
            .order_by(audit_events.c.id)
        ).all()
    return [(row.action, row.subject_id) for row in rows]


def test_search_finds_only_through_visible_fields_and_is_audited_without_words(
    council: Council,
) -> None:
    def search(who: str, text: str) -> list[str]:
        rows = search_cases(
            council.viewer(who), text, cases=council.cases, audit=council.audit, now=NOW
        )
        return [row.title for row in rows]

    assert search("alice", "housing") == [HOUSING.title]
    assert search("officer_s1", "Resident-Housing") == []  # the resident's name is hidden
    assert search("officer_s1", "   ") == []
    assert _audited(council, "u-so") == [("search", None)]  # the blank search is not audited


def test_the_look_up_says_when_no_crm_was_searched(council: Council) -> None:
    found = find_residents(
        council.viewer("alice"),
        "Resident-Broken",
        cases=council.cases,
        parties=None,
        audit=council.audit,
        now=NOW,
        search_key=b"test key",
    )
    assert [m.name for m in found.matches] == ["Sam Resident-Broken str"]
    assert [p.title for p in found.matches[0].previous] == [BROKEN_LIGHT.title]
    assert not found.crm_connected and not found.crm_unavailable
    crm = find_residents(
        council.viewer("alice"),
        "Resident-Broken",
        cases=council.cases,
        parties=MemoryPartySource([]),
        audit=council.audit,
        now=NOW,
        search_key=b"test key",
    )
    assert crm.crm_connected
    assert _audited(council, "u-alice") == [("constituent_lookup", None)] * 2


def test_a_file_is_checked_by_its_content_before_it_is_queued(council: Council) -> None:
    visible = council.open("alice", BROKEN_LIGHT, Action.UPLOAD)
    viewer = council.viewer("alice")

    def attach(name: str, content: bytes, text: str = "") -> Queued | Invalid:
        return attach_file(
            visible, name, content, text, viewer=viewer, writes=council.writes, max_bytes=1024
        )

    assert attach("", b"") == Invalid({"file": "Choose a file"})
    assert attach("letter.pdf", b"MZ\x90\x00") == Invalid(
        {"file": "The file is called .pdf but its content is not a PDF file"}
    )
    assert attach("big.txt", b"x" * 1025) == Invalid({"file": "The file must be smaller than 1 KB"})
    assert attach("a.txt", b"fine", "n" * 20_001) == Invalid(
        {"file": "The note must be 20,000 characters or fewer"}
    )
    assert council.writes.pending(BROKEN_LIGHT.portal_id) == []
    queued = attach("../../Reply from Highways.txt", b"We will fix it")
    assert isinstance(queued, Queued)
    [write] = council.writes.pending(BROKEN_LIGHT.portal_id)
    assert write.text == "File attached: Reply from Highways.txt"
    assert [f.name for f in write.files] == ["Reply from Highways.txt"]
