"""Opening and listing cases for a viewer, called directly: a private case answers exactly as
a missing one, a refusal to act is open, and every read and refusal is audited."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from portal_extensions.access import Action
from portal_extensions.casework import (
    add_note,
    api_whose_choices,
    list_cases,
    own_pending,
    page_whose_choices,
    parse_bucket,
    parse_whose,
)
from portal_extensions.casework.cases import open_case
from portal_extensions.casework.errors import ActionRefused, CaseNotFound
from portal_extensions.casework.results import Invalid, Queued
from portal_extensions.store.case_types import Bucket, Whose
from portal_extensions.store.schema import audit_events
from tests.casework.conftest import Council
from tests.portal.access_fixtures import NOW
from tests.portal.web_fixtures import CASES, make_case

FLY_TIPPING = next(c for c in CASES if c.title == "Fly-tipping behind the shops")
BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
NOISE = next(c for c in CASES if c.title == "Noise from a pub")


def test_a_private_case_answers_exactly_as_a_missing_one(council: Council) -> None:
    never = make_case("alice", "Never indexed")
    with pytest.raises(CaseNotFound) as private:
        council.open("bob", FLY_TIPPING)
    with pytest.raises(CaseNotFound) as missing:
        council.open("bob", never)
    assert type(private.value) is type(missing.value) and str(private.value) == str(missing.value)
    assert ("u-bob", "view_case", "refused") in council.events(FLY_TIPPING)
    assert ("u-bob", "view_case", "refused") in council.events(never)


def test_an_address_that_is_not_a_case_id_is_not_found_and_not_looked_up(
    council: Council,
) -> None:
    with pytest.raises(CaseNotFound):
        open_case(
            council.viewer("alice"),
            "../../etc/passwd",
            cases=council.cases,
            audit=council.audit,
            now=NOW,
        )


def test_a_shared_case_can_be_read_but_not_changed_by_a_ward_colleague(
    council: Council,
) -> None:
    visible = council.open("bob", BROKEN_LIGHT)
    assert Action.ADD_NOTE not in visible.actions
    with pytest.raises(ActionRefused):
        council.open("bob", BROKEN_LIGHT, Action.ADD_NOTE)
    assert council.events(BROKEN_LIGHT)[-2:] == [
        ("u-bob", "view_case", "allowed"),
        ("u-bob", "add_note", "refused"),
    ]


def test_a_note_is_queued_for_the_members_services_on_the_members_behalf(
    council: Council,
) -> None:
    visible = council.open("ms_alice", BROKEN_LIGHT, Action.ADD_NOTE)
    viewer = council.viewer("ms_alice")
    assert add_note(visible, "  ", viewer=viewer, writes=council.writes) == Invalid(
        {"note": "Enter the note"}
    )
    result = add_note(visible, "Chased Highways", viewer=viewer, writes=council.writes)
    assert isinstance(result, Queued)
    [write] = council.writes.pending(BROKEN_LIGHT.portal_id)
    assert (write.kind, write.text, write.actor) == ("add_note", "Chased Highways", "u-ms")


def test_waiting_writes_are_shown_to_viewers_of_the_notes_and_to_their_author(
    council: Council,
) -> None:
    visible = council.open("officer_s1", BROKEN_LIGHT)
    assert "notes" not in visible.fields
    mine = add_note(
        council.open("alice", BROKEN_LIGHT, Action.ADD_NOTE),
        "For the file",
        viewer=council.viewer("alice"),
        writes=council.writes,
    )
    assert isinstance(mine, Queued)
    pending = council.writes.pending(BROKEN_LIGHT.portal_id)
    assert own_pending(visible, pending, council.viewer("officer_s1")) == []
    owner = council.open("alice", BROKEN_LIGHT)
    assert own_pending(owner, pending, council.viewer("alice")) == pending


def test_a_members_list_is_their_own_cases_with_a_count_of_those_they_cover(
    council: Council,
) -> None:
    alice, dave = council.viewer("alice"), council.viewer("dave")
    assert page_whose_choices(dave) == (Whose.OWN, Whose.COVERING)
    assert parse_whose("nonsense", page_whose_choices(dave)) is Whose.OWN
    assert parse_whose("all", api_whose_choices(dave)) is Whose.ALL
    assert parse_bucket("nonsense") is Bucket.OPEN
    listing = list_cases(
        dave,
        Bucket.OPEN,
        0,
        cases=council.cases,
        audit=council.audit,
        now=NOW,
        limit=50,
        recently_closed_days=30,
        whose=Whose.OWN,
    )
    assert [row.title for row in listing.rows] == [NOISE.title]
    assert listing.other_counts[Whose.COVERING][Bucket.OPEN] == 1  # alice's holiday cover
    ward = list_cases(
        alice,
        Bucket.OPEN,
        -5,
        cases=council.cases,
        audit=council.audit,
        now=NOW,
        limit=2,
        recently_closed_days=30,
        ward_id="W1",
    )
    assert len(ward.rows) == 2 and ward.total > 2 and ward.other_counts == {}


def test_listing_is_audited_as_a_view_of_the_caseload_or_the_ward(council: Council) -> None:
    for ward_id in (None, "W2"):
        list_cases(
            council.viewer("team_leader"),
            Bucket.OPEN,
            0,
            cases=council.cases,
            audit=council.audit,
            now=NOW,
            limit=10,
            recently_closed_days=30,
            ward_id=ward_id,
        )
    with council.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_events.c.action, audit_events.c.subject_type, audit_events.c.subject_id)
            .where(audit_events.c.actor == "u-tl")
            .order_by(audit_events.c.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("view_caseload", "caseload", None),
        ("view_ward", "ward", "W2"),
    ]


def test_a_random_uuid_is_not_found(council: Council) -> None:
    with pytest.raises(CaseNotFound):
        open_case(
            council.viewer("team_leader"),
            str(uuid.uuid4()),
            cases=council.cases,
            audit=council.audit,
            now=NOW,
        )
