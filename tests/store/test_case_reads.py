"""The case index as a viewer reads it, on SQLite and PostgreSQL: every list, count, bucket,
page, look-up and search agrees with the in-memory reference (`tests/portal/fakes.py`), which
applies the access policy's Python form to the same cases."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from mappings.model import COUNCIL_ZONE
from portal_extensions.access import Role, holds, visibility
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_types import Bucket, Whose
from portal_extensions.store.cases import mark_removed, update_local_case
from portal_extensions.store.database import Store
from portal_extensions.store.schema import cases
from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.fakes import MemoryCaseRepository
from tests.portal.web_fixtures import CASES, stored
from tests.store.seeding import ALL


def _reference() -> MemoryCaseRepository:
    return MemoryCaseRepository(stored(case, queued=case is ALL[0]) for case in ALL)


@pytest.fixture
def store(read_only_council: Store) -> Store:
    return read_only_council


@pytest.mark.parametrize("whose", list(Whose))
@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_store_lists_match_the_reference_for_every_bucket(store, name, whose) -> None:
    reference = _reference()
    repository = StoreCaseRepository(store)
    viewer = VIEWERS[name]
    others = [other for other in Whose if other is not whose]
    for bucket in Bucket:
        expected = reference.list_visible(
            viewer, NOW, bucket, limit=100, whose=whose, also_count=others
        )
        got = repository.list_visible(
            viewer, NOW, bucket, limit=100, whose=whose, also_count=others
        )
        assert dict(got.counts) == dict(expected.counts), (name, bucket)
        assert [r.portal_id for r in got.rows] == [r.portal_id for r in expected.rows]
        assert [r.queued for r in got.rows] == [r.queued for r in expected.rows]
        assert got.rows == expected.rows  # every column of a row, as the reference has it
        assert got.total == expected.total
        assert {k: dict(v) for k, v in got.other_counts.items()} == {
            k: dict(v) for k, v in expected.other_counts.items()
        }
        assert set(got.other_counts) == set(others)
    for ward in ("W1", "W2"):
        expected = reference.list_visible(
            viewer, NOW, Bucket.OPEN, limit=100, ward_id=ward, whose=whose
        )
        got = repository.list_visible(
            viewer, NOW, Bucket.OPEN, limit=100, ward_id=ward, whose=whose
        )
        assert [r.portal_id for r in got.rows] == [r.portal_id for r in expected.rows]
        assert dict(got.counts) == dict(expected.counts)
    if viewer.role is not Role.ADMINISTRATOR and whose is Whose.ALL:
        assert reference.list_visible(viewer, NOW, Bucket.OPEN, limit=100).total > 0


def test_a_member_lists_cases_they_cover_apart_from_their_own(store) -> None:
    repository = StoreCaseRepository(store)
    reference = MemoryCaseRepository(stored(case) for case in ALL)
    dave = VIEWERS["dave"]
    for cases_of in (repository, reference):
        own = cases_of.list_visible(dave, NOW, Bucket.OPEN, limit=100, whose=Whose.OWN)
        covering = cases_of.list_visible(dave, NOW, Bucket.OPEN, limit=100, whose=Whose.COVERING)
        everything = cases_of.list_visible(dave, NOW, Bucket.OPEN, limit=100)
        assert {r.member_id for r in own.rows} == {"dave"}
        # alice's cover is current; bob's ended yesterday, so it is in no list of dave's
        assert [r.title for r in covering.rows] == ["Cover during holiday"]
        titles = {r.title for r in everything.rows}
        assert "Cover during holiday" in titles and "Cover that ended" not in titles
        # bob's ward-shared case is in alice's whole list, not in her own or covered cases
        alice = VIEWERS["alice"]
        assert "Late reply" in {
            r.title for r in cases_of.list_visible(alice, NOW, Bucket.OPEN, limit=100).rows
        }
        for whose in (Whose.OWN, Whose.COVERING):
            listing = cases_of.list_visible(alice, NOW, Bucket.OPEN, limit=100, whose=whose)
            assert "Late reply" not in {r.title for r in listing.rows}
    ended = next(case for case in ALL if case.title == "Cover that ended")
    assert ended.sharing.until is not None
    day_before = datetime.combine(ended.sharing.until, datetime.min.time(), tzinfo=COUNCIL_ZONE)
    then = repository.list_visible(dave, day_before, Bucket.OPEN, limit=100, whose=Whose.COVERING)
    assert {r.title for r in then.rows} == {"Cover during holiday", "Cover that ended"}


@pytest.mark.parametrize("name", ["alice", "bob", "team_leader"])
def test_store_list_pages_match_the_reference_at_every_offset(store, name) -> None:
    # A list merges the newest rows of each access part (own, ward, party, named cover); every
    # page, at every offset, must still be the reference's page, with overlapping parts (an own
    # case shared with the ward) shown and counted once.
    reference = _reference()
    repository = StoreCaseRepository(store)
    viewer = VIEWERS[name]
    for bucket in (Bucket.OPEN, Bucket.OVERDUE):
        total = reference.list_visible(viewer, NOW, bucket, limit=100).total
        assert repository.list_visible(viewer, NOW, bucket, limit=100).total == total
        for limit in (1, 2, 3):
            for offset in range(total + 1):
                expected = reference.list_visible(viewer, NOW, bucket, limit=limit, offset=offset)
                got = repository.list_visible(viewer, NOW, bucket, limit=limit, offset=offset)
                assert [r.portal_id for r in got.rows] == [r.portal_id for r in expected.rows]
    assert reference.list_visible(viewer, NOW, Bucket.OPEN, limit=100).total >= 3


def test_store_buckets_are_not_all_empty(store) -> None:
    listing = StoreCaseRepository(store).list_visible(
        VIEWERS["team_leader"], NOW, Bucket.RECENTLY_CLOSED, limit=10
    )
    assert [r.title for r in listing.rows] == ["Closed last week"]
    assert listing.counts[Bucket.OVERDUE] == 1
    assert listing.counts[Bucket.AWAITING_SERVICE] == 1


def test_store_get_returns_the_case_its_facts_and_queued_state(store) -> None:
    repository = StoreCaseRepository(store)
    got = repository.get(ALL[0].portal_id)
    assert got is not None and got.queued and got.case == ALL[0]
    assert got.facts == stored(ALL[0]).facts
    assert repository.get(uuid.uuid4()) is None


def test_store_search_matches_only_through_visible_fields(store) -> None:
    repository = StoreCaseRepository(store)
    officer = VIEWERS["officer_s1"]
    leader = VIEWERS["team_leader"]
    found = repository.search_visible(leader, NOW, "resident housing", limit=10)
    assert [r.title for r in found] == ["Housing adaptation"]
    assert repository.search_visible(officer, NOW, "resident housing", limit=10) == []
    assert [r.title for r in repository.search_visible(officer, NOW, "housing", limit=10)] == [
        "Housing adaptation"
    ]
    assert repository.search_visible(VIEWERS["dave"], NOW, "pothole", limit=10) == []


SEARCHES = [
    "street",
    "pot",
    "resident",
    "first note",
    "details of bins",
    "Sam",
    "cleared",
    "zzz",
    *(str(case.crm_reference) for case in ALL[:10]),  # a CRM reference finds its case
    f" {ALL[1].crm_reference} ",
]


def test_store_search_finds_a_case_by_its_crm_reference_only_for_who_may_see_it(store) -> None:
    repository = StoreCaseRepository(store)
    light = next(case for case in ALL if case.title == "Broken street light")
    pothole = next(case for case in ALL if case.title == "Pothole on High Street")
    bob = VIEWERS["bob"]  # alice's ward colleague: her light is shared, carol's pothole is not
    found = repository.search_visible(bob, NOW, f" {light.crm_reference} ", limit=10)
    assert [row.title for row in found] == ["Broken street light"]
    assert repository.search_visible(bob, NOW, str(pothole.crm_reference), limit=10) == []


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_store_search_finds_what_the_reference_finds_for_every_viewer(store, name) -> None:
    # The index's full-text search (FTS5 on SQLite, tsvector on PostgreSQL) narrows, then the
    # visible-fields rule decides: together they must find exactly the reference's cases.
    reference = _reference()
    repository = StoreCaseRepository(store)
    viewer = VIEWERS[name]
    for text in SEARCHES:
        expected = reference.search_visible(viewer, NOW, text, limit=100)
        got = repository.search_visible(viewer, NOW, text, limit=100)
        assert {r.portal_id for r in got} == {r.portal_id for r in expected}, text
        assert len(got) == len(expected), text
    assert repository.search_visible(viewer, NOW, "", limit=10) == []


LOOKUPS = ["resident-bin", "RESIDENT", "sam", "x"]


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_store_finds_residents_among_the_cases_the_viewer_may_see(store, name) -> None:
    # The store narrows in SQL (a name part, a whole email, a postcode) and may return a few
    # more than the matching rule; it never returns a case the viewer may not see, and never
    # misses one the rule matches.
    reference = _reference()
    repository = StoreCaseRepository(store)
    viewer = VIEWERS[name]
    rule = visibility(viewer, NOW)
    visible = {case.portal_id for case in ALL if holds(rule, stored(case).facts)}
    for text in LOOKUPS:
        expected = reference.find_by_constituent(viewer, NOW, text, limit=100)
        got = repository.find_by_constituent(viewer, NOW, text, limit=100)
        got_ids = [s.case.portal_id for s in got]
        assert {s.case.portal_id for s in expected} <= set(got_ids), text
        assert set(got_ids) <= visible, text
        newest_first = [s.case.received_at for s in got]
        assert newest_first == sorted(newest_first, reverse=True), text
    if viewer.role is Role.TEAM_LEADER:
        assert reference.find_by_constituent(viewer, NOW, "resident", limit=100)
    assert repository.find_by_constituent(viewer, NOW, "x", limit=10) == []


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_access_and_buckets_depend_on_the_council_day_not_the_time(name) -> None:
    # The store caches each list's statements per viewer and council day; that is only right
    # while neither the access rule nor a bucket looks at the time of day.
    from portal_extensions.access import council_day, visibility_parts

    viewer = VIEWERS[name]
    day = council_day(NOW)
    early = datetime.combine(day, datetime.min.time(), tzinfo=COUNCIL_ZONE)
    late = early + timedelta(hours=23, minutes=59)
    assert council_day(late) == day
    assert visibility_parts(viewer, early) == visibility_parts(viewer, late)
    # (`bucket_clause` takes the council day itself, so a bucket cannot look at the time.)


def test_a_cached_list_moves_on_with_the_day(store) -> None:
    repository = StoreCaseRepository(store)
    viewer = VIEWERS["team_leader"]
    today = repository.list_visible(viewer, NOW, Bucket.RECENTLY_CLOSED, limit=10)
    assert [r.title for r in today.rows] == ["Closed last week"]
    later = repository.list_visible(
        viewer, NOW + timedelta(days=40), Bucket.RECENTLY_CLOSED, limit=10
    )
    assert later.rows == [] and later.counts[Bucket.RECENTLY_CLOSED] == 0


def test_the_count_of_another_list_is_held_like_the_list_counts(council) -> None:
    # My caseload shows a member's own cases and how many they cover: that second count comes
    # from the held counts while the index is unchanged, and moves on when it changes.
    repository = StoreCaseRepository(council)
    dave = VIEWERS["dave"]
    statements: list[str] = []
    sa.event.listen(
        council.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )

    def covering_open() -> int:
        listing = repository.list_visible(
            dave, NOW, Bucket.OPEN, limit=10, whose=Whose.OWN, also_count=[Whose.COVERING]
        )
        return listing.other_counts[Whose.COVERING][Bucket.OPEN]

    assert covering_open() == 1
    first = len(statements)
    assert covering_open() == 1
    again = len(statements) - first
    assert again < first, "the second read reuses the held counts"
    covered = next(case for case in ALL if case.title == "Cover during holiday")
    with council.write() as conn:
        mark_removed(conn, cases.c.portal_id == str(covered.portal_id), reason="t", now=NOW)
    assert covering_open() == 0


def test_held_counts_follow_every_change_to_the_index(council) -> None:
    repository = StoreCaseRepository(council)
    alice = VIEWERS["alice"]
    before = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts == before
    with council.write() as conn:  # one of alice's open cases leaves the index
        mark_removed(conn, cases.c.portal_id == str(CASES[0].portal_id), reason="t", now=NOW)
    after = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert after[Bucket.OPEN] == before[Bucket.OPEN] - 1
    shared = next(case for case in ALL if case.title == "Late reply")  # bob's, ward, overdue
    assert shared.authority is not None
    withdrawn = shared.model_copy(
        update={"authority": shared.authority.model_copy(update={"withdrawn_at": NOW})}
    )
    with council.write() as conn:
        assert update_local_case(conn, withdrawn, now=NOW)
    later = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert later[Bucket.OVERDUE] == after[Bucket.OVERDUE] - 1
