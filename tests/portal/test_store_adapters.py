"""The store-backed repository, accounts and audit agree with the in-memory reference."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, Sharing, SharingLevel
from portal_extensions.access import Role
from portal_extensions.store import IndexedCase, upsert_cases
from portal_extensions.store.audit import Outcome, PortalAuditEvent
from portal_extensions.store.case_types import Bucket, Whose
from portal_extensions.store.database import Store
from portal_extensions.store.schema import (
    cases,
    members,
    officers,
    outbox,
    parties,
    roles,
    user_roles,
    users,
    wards,
)
from portal_extensions.web import MemoryCaseRepository
from portal_extensions.web.store_adapters import StoreAccounts, StoreAuditTrail, StoreCaseRepository
from tests.portal.access_fixtures import MEMBERS, NOW, VIEWERS
from tests.portal.web_fixtures import CASES, make_case, stored

ALL = [
    *CASES,
    make_case(
        "alice",
        "Closed last week",
        status=CaseStatus.CLOSED,
        closed_at=NOW - timedelta(days=7),
        closure_reason="Fixed",
    ),
    make_case(
        "alice",
        "Closed long ago",
        status=CaseStatus.CLOSED,
        received_at=NOW - timedelta(days=120),
        closed_at=NOW - timedelta(days=90),
        closure_reason="Fixed",
    ),
    make_case(
        "bob", "Late reply", level=SharingLevel.WARD, target_date=(NOW - timedelta(days=2)).date()
    ),
    make_case(  # dave covered this until yesterday: no longer his to see
        "bob",
        "Cover that ended",
        sharing=Sharing(
            level=SharingLevel.NAMED, colleague_id="dave", until=(NOW - timedelta(days=1)).date()
        ),
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return seeded_store(tmp_path_factory.mktemp("store") / "caseload.sqlite", ALL)


def seeded_store(path: Path, seeded: list[MemberCase]) -> Store:
    """A SQLite store holding the fixture council, its accounts and these cases."""
    store = Store.open(f"sqlite:///{path}")
    with store.write() as conn:
        conn.execute(
            sa.insert(parties), [{"id": p.lower(), "name": p} for p in {m.party for m in MEMBERS}]
        )
        conn.execute(sa.insert(wards), [{"id": w, "name": f"Ward {w}"} for w in ("W1", "W2")])
        conn.execute(
            sa.insert(members),
            [
                {
                    "id": m.id,
                    "name": m.id.title(),
                    "party_id": m.party.lower(),
                    "ward_id": m.ward_id,
                }
                for m in MEMBERS
            ],
        )
        conn.execute(
            sa.insert(officers).values(
                id="o1", name="Street Lighting", email="sl@example.org", service_id="S1"
            )
        )

        known = set(conn.execute(sa.select(roles.c.name)).scalars())  # a migration may seed them
        missing = [{"name": r.value, "description": r.value} for r in Role if r.value not in known]
        if missing:
            conn.execute(sa.insert(roles), missing)
        for number, (name, viewer) in enumerate(sorted(VIEWERS.items()), start=1):
            conn.execute(
                sa.insert(users).values(
                    id=number,
                    username=name,
                    display_name=name,
                    member_id=viewer.member_id,
                    officer_id="o1" if viewer.service_ids else None,
                    password_hash=None,
                    active=True,
                    created_at=NOW,
                )
            )
            conn.execute(
                sa.insert(user_roles).values(
                    user_id=number,
                    role_name=viewer.role.value,
                    acting_for_member_id=next(iter(viewer.supported_member_ids), None),
                )
            )
        upsert_cases(conn, [IndexedCase(case, None) for case in seeded], now=NOW)
        conn.execute(
            sa.insert(outbox).values(
                idempotency_key=str(uuid.uuid4()),
                portal_id=str(seeded[0].portal_id),
                kind="add_note",
                payload={},
                state="queued",
                next_attempt_at=NOW,
                actor="alice",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return store


@pytest.mark.parametrize("whose", list(Whose))
@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_store_lists_match_the_reference_for_every_bucket(store, name, whose) -> None:
    reference = MemoryCaseRepository(stored(case, queued=case is ALL[0]) for case in ALL)
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


def test_the_count_of_another_list_is_held_like_the_list_counts(tmp_path) -> None:
    # My caseload shows a member's own cases and how many they cover: that second count comes
    # from the held counts while the index is unchanged, and moves on when it changes.
    from portal_extensions.store.cases import mark_removed

    store = seeded_store(tmp_path / "caseload.sqlite", ALL)
    repository = StoreCaseRepository(store)
    dave = VIEWERS["dave"]
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

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
    with store.write() as conn:
        mark_removed(conn, cases.c.portal_id == str(covered.portal_id), reason="t", now=NOW)
    assert covering_open() == 0


@pytest.mark.parametrize("name", ["alice", "bob", "team_leader"])
def test_store_list_pages_match_the_reference_at_every_offset(store, name) -> None:
    # A list merges the newest rows of each access part (own, ward, party, named cover); every
    # page, at every offset, must still be the reference's page, with overlapping parts (an own
    # case shared with the ward) shown and counted once.
    reference = MemoryCaseRepository(stored(case, queued=case is ALL[0]) for case in ALL)
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


def test_store_accounts_build_the_same_viewers(store) -> None:
    accounts = StoreAccounts(store)
    for name, viewer in VIEWERS.items():
        account = accounts.by_username(name.upper())
        assert account is not None, name
        assert account.viewer == replace(viewer, user_id=name)
        assert accounts.by_user_id(name) == account
    assert accounts.by_username("nobody") is None


def test_store_audit_records_outcome_without_content(store) -> None:
    StoreAuditTrail(store).record(
        PortalAuditEvent(
            at=datetime(2026, 6, 15, tzinfo=UTC),
            actor="bob",
            action="view_case",
            subject_type="case",
            subject_id="x-1",
            outcome=Outcome.REFUSED,
            on_behalf_of="alice",
        )
    )
    from portal_extensions.store import events_for

    with store.read() as conn:
        [event] = events_for(conn, "x-1")
    assert (event.actor, event.action, event.on_behalf_of) == ("bob", "view_case", "alice")
    assert event.detail == {"outcome": "refused"}


def test_store_writes_queue_a_note_in_the_outbox_and_show_it_pending(store) -> None:
    from portal_extensions.store import events_for
    from portal_extensions.web.store_adapters import StoreCaseWrites

    writes = StoreCaseWrites(store)
    target = ALL[1].portal_id
    key = writes.add_note(target, "Chased the service", actor="ms_alice", on_behalf_of="alice")
    [pending] = writes.pending(target)
    assert (pending.kind, pending.state, pending.actor) == ("add_note", "queued", "ms_alice")
    with store.read() as conn:
        events = events_for(conn, str(target))
    queued = [e for e in events if e.detail.get("idempotency_key") == key]
    assert [(e.actor, e.on_behalf_of) for e in queued] == [("ms_alice", "alice")]
    assert StoreCaseRepository(store).get(target).queued  # type: ignore[union-attr]


def test_store_enquiry_options_and_new_cases_are_queued(store) -> None:
    from portal_extensions.store.schema import categories, services
    from portal_extensions.web.store_adapters import StoreCaseWrites, StoreEnquiryOptions
    from tests.portal.web_fixtures import make_case

    with store.write() as conn:
        conn.execute(sa.insert(categories).values(code="roads", name="Roads", updated_at=NOW))
        conn.execute(
            sa.insert(services).values(
                id="S1", name="Highways", member_officer_id="o1", response_target_working_days=10
            )
        )
    options = StoreEnquiryOptions(store)
    assert [(c.value, c.text) for c in options.categories()] == [("roads", "Roads")]
    assert ("S1", "Highways") in [(c.value, c.text) for c in options.services()]
    assert {m.id: m.ward_id for m in options.members()}["dave"] == "W2"
    new = make_case("carol", "Brand new enquiry")
    StoreCaseWrites(store).create_case(new, actor="carol", on_behalf_of=None)
    got = StoreCaseRepository(store).get(new.portal_id)
    assert got is not None and got.queued and got.case.title == "Brand new enquiry"


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


def test_store_directory_lists_services_with_their_member_officer(store) -> None:
    from portal_extensions.store.schema import services
    from portal_extensions.web.store_adapters import StoreDirectory

    with store.write() as conn:
        conn.execute(
            sa.insert(services).values(
                id="S9", name="Parks", member_officer_id="o1", response_target_working_days=5
            )
        )
    contacts = StoreDirectory(store).service_contacts()
    parks = [c for c in contacts if c.service == "Parks"]
    assert [(c.officer, c.email, c.response_target_working_days) for c in parks] == [
        ("Street Lighting", "sl@example.org", 5)
    ]


class _FakeCRM:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def health(self):
        from connector.base import HealthCheck as Probe
        from connector.base import HealthReport

        return HealthReport(
            crm="lagan",
            checks=[Probe(name="auth", ok=self.ok, detail="token accepted" if self.ok else "401")],
        )


def test_store_health_reports_the_crm_sync_and_outbox(store) -> None:
    from portal_extensions.web.store_adapters import StoreHealth

    checks = {check.name: check for check in StoreHealth(store, _FakeCRM(True))()}  # type: ignore[arg-type]
    assert checks["CRM reachable"].ok and "auth: token accepted" in checks["CRM reachable"].detail
    assert not checks["Last sync from the CRM"].ok  # no sync has run in this store
    outbox = checks["Writes waiting for the CRM"]
    assert outbox.ok and re.fullmatch(r"[1-9][0-9]* waiting, 0 need attention", outbox.detail)
    down = {check.name: check for check in StoreHealth(store, _FakeCRM(False))()}  # type: ignore[arg-type]
    assert not down["CRM reachable"].ok
    unconfigured = {check.name: check for check in StoreHealth(store)()}
    assert "no CRM is configured" in unconfigured["CRM reachable"].detail


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


def test_held_counts_follow_every_change_to_the_index(tmp_path) -> None:
    from portal_extensions.store.cases import mark_removed, update_local_case

    store = seeded_store(tmp_path / "caseload.sqlite", ALL)
    repository = StoreCaseRepository(store)
    alice = VIEWERS["alice"]
    before = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts == before
    with store.write() as conn:  # one of alice's open cases leaves the index
        mark_removed(conn, cases.c.portal_id == str(CASES[0].portal_id), reason="t", now=NOW)
    after = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert after[Bucket.OPEN] == before[Bucket.OPEN] - 1
    shared = next(case for case in ALL if case.title == "Late reply")  # bob's, ward, overdue
    assert shared.authority is not None
    withdrawn = shared.model_copy(
        update={"authority": shared.authority.model_copy(update={"withdrawn_at": NOW})}
    )
    with store.write() as conn:
        assert update_local_case(conn, withdrawn, now=NOW)
    later = repository.list_visible(alice, NOW, Bucket.OPEN, limit=100).counts
    assert later[Bucket.OVERDUE] == after[Bucket.OVERDUE] - 1
