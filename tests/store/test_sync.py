"""Sync against an in-memory CRM: batches, watermark, problems, removals, kill-and-rerun."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store, count_cases, index_hash
from portal_extensions.store.schema import cases, sync_problems, sync_state
from tests.store.fakes import FakeCRM, FakeMapping
from tests.store.index_lookup import get_case


class Killed(BaseException):
    """Stands for kill -9: not an Exception, so no handler in the code under test catches it."""


def _syncer(store: Store, crm: FakeCRM, **kwargs) -> Syncer:
    client: Any = crm  # duck-typed stand-in for a CRMClient
    return Syncer(store, client, FakeMapping(), batch_size=25, clock=crm.now, **kwargs)


def _versions(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(sa.select(cases.c.crm_reference, cases.c.version)).all())


def test_first_sync_indexes_every_case_in_batches(store: Store) -> None:
    crm = FakeCRM(120)
    crm.tick()
    report = _syncer(store, crm).run()
    with store.read() as conn:
        assert count_cases(conn) == 120
        case = get_case(conn, crm_reference="101000000007")
        state = conn.execute(sa.select(sync_state)).one()
    assert case is not None and case.title == "Graffiti on street 7"
    assert case.constituent.surname == "Surname7" and case.member_id == "cllr-0002"
    assert report.fetched == 120 and report.upserts.inserted == 120
    assert report.summary().startswith("synced 120 cases in ")
    assert state.watermark == crm.now() and state.full_run_id is None


def test_second_sync_touches_only_changed_cases(store: Store) -> None:
    crm = FakeCRM(100)
    syncer = _syncer(store, crm, overlap=timedelta(seconds=0))
    crm.tick()
    syncer.run()
    before = _versions(store)
    changed = sorted(crm.records)[::10]
    for ref in changed:
        crm.touch(ref, title="Updated in the CRM")
    crm.tick()
    report = syncer.run()
    after = _versions(store)
    assert report.fetched == 10 and report.upserts.updated == 10
    assert {ref for ref in after if after[ref] != before[ref]} == set(changed)


def test_overlap_rereads_without_rewriting(store: Store) -> None:
    crm = FakeCRM(30)
    syncer = _syncer(store, crm, overlap=timedelta(hours=1))
    crm.tick()
    syncer.run()
    report = syncer.run()
    assert report.fetched == 30 and report.upserts.unchanged == 30 and report.upserts.updated == 0


def test_unmappable_record_is_recorded_not_fatal_and_cleared_when_fixed(store: Store) -> None:
    crm = FakeCRM(20)
    crm.touch("101000000004", broken=True)
    crm.tick()
    syncer = _syncer(store, crm)
    report = syncer.run()
    with store.read() as conn:
        problem = conn.execute(sa.select(sync_problems)).one()
        assert count_cases(conn) == 19
    assert report.problems == 1
    assert (problem.crm_reference, problem.field) == ("101000000004", "member_id")
    assert problem.resolved_at is None
    crm.touch("101000000004", broken=False)
    crm.tick()
    syncer.run()
    with store.read() as conn:
        assert conn.execute(sa.select(sync_problems.c.resolved_at)).scalar_one() is not None
        assert count_cases(conn) == 20


def test_a_case_whose_timeline_item_cannot_be_mapped_is_indexed_and_the_item_recorded(
    store: Store,
) -> None:
    crm = FakeCRM(10)
    crm.touch("101000000004", bad_note=True)
    crm.tick()
    syncer = _syncer(store, crm)
    report = syncer.run()
    with store.read() as conn:
        problem = conn.execute(sa.select(sync_problems)).one()
        assert count_cases(conn) == 10  # the case is not lost for one bad note
    assert report.problems == 1
    assert problem.crm_reference == "101000000004" and problem.field == "notes[0].created_at"
    assert problem.message.startswith("left out:") and problem.resolved_at is None
    crm.touch("101000000004", bad_note=False)
    crm.tick()
    syncer.run()
    with store.read() as conn:
        assert conn.execute(sa.select(sync_problems.c.resolved_at)).scalar_one() is not None


def test_full_sync_marks_cases_deleted_or_merged_in_the_crm_as_removed(store: Store) -> None:
    crm = FakeCRM(40)
    crm.tick()
    syncer = _syncer(store, crm)
    syncer.run()
    crm.delete("101000000003")
    crm.delete("101000000011")
    crm.touch("101000000012", broken=True)  # unmappable is not the same as gone
    crm.tick()
    report = syncer.run(full=True)
    with store.read() as conn:
        removed = set(
            conn.execute(
                sa.select(cases.c.crm_reference).where(cases.c.removed_at.is_not(None))
            ).scalars()
        )
        assert count_cases(conn) == 38
    assert removed == {"101000000003", "101000000011"} and report.removed == 2


def test_refresh_case_updates_one_case_and_marks_a_missing_one_removed(store: Store) -> None:
    crm = FakeCRM(5)
    crm.tick()
    syncer = _syncer(store, crm)
    syncer.run()
    crm.touch("101000000002", title="Refreshed by an event")
    assert syncer.refresh_case("101000000002") == "updated"
    assert syncer.refresh_case("101000000002") == "unchanged"
    crm.delete("101000000001")
    assert syncer.refresh_case("101000000001") == "removed"
    with store.read() as conn:
        case = get_case(conn, crm_reference="101000000002")
        assert case is not None and case.title == "Refreshed by an event"
        assert count_cases(conn) == 4


@pytest.mark.parametrize("seed", [11])
def test_killed_at_20_random_points_rerun_converges_to_the_same_index(
    open_store: Callable[[], Store], database, tmp_path, seed: int
) -> None:
    """Kill a sync at 20 random checkpoints (mid-batch, after commit, while reconciling ...),
    re-run after each kill, and compare with an uninterrupted sync into a clean store."""
    rng = random.Random(seed)
    crm = FakeCRM(150)
    crm.tick()
    clean = Store.open(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    _syncer(clean, crm).run(full=True)
    for ref in sorted(crm.records)[::7]:
        crm.touch(ref, notes=["Chased the service"])
    crm.delete("101000000005")
    crm.tick()
    _syncer(clean, crm).run(full=True)
    with clean.read() as conn:
        expected = index_hash(conn)
    clean.close()

    store = open_store()
    # Start from an index that is out of date, as a real server would be.
    first = FakeCRM(150)
    first.tick()
    _syncer(store, first).run()
    kills = 0
    for _ in range(20):
        budget = rng.randint(1, 14)

        def checkpoint(name: str, state={"left": budget}) -> None:  # noqa: B006
            state["left"] -= 1
            if state["left"] <= 0:
                raise Killed(name)

        fresh = open_store()  # a new process: nothing carried over in memory
        try:
            _syncer(fresh, crm, checkpoint=checkpoint).run(full=rng.random() < 0.5)
        except Killed:
            kills += 1
        fresh.close()
    _syncer(open_store(), crm).run()
    with store.read() as conn:
        assert index_hash(conn) == expected
    assert kills >= 15  # most runs really were cut short
