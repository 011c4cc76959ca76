"""Sync against the sandbox CRM through the real connector and the Lagan mapping profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connector.factory import case_event_parser
from connector.sandbox.push import event_xml
from mappings import load_profile
from portal_extensions.jobs.events import refresh_from_event
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store, count_cases, events_for, index_hash
from portal_extensions.store.schema import cases
from tests.store.index_lookup import get_case
from tests.store.sandbox_helpers import lagan_client

LAGAN = load_profile("lagan")


def _syncer(store: Store, handle, **kwargs) -> Syncer:
    return Syncer(store, lagan_client(handle), LAGAN, batch_size=200, **kwargs)


def _form(case: dict[str, Any]) -> dict[str, str]:
    form: dict[str, str] = case["form"]
    return form


@pytest.mark.sandbox_crm(cases=2000, seed=3)
def test_sync_of_2000_seeded_cases_indexes_every_case_then_touches_only_the_10_changed(
    store: Store, sandbox_crm
) -> None:
    syncer = _syncer(store, sandbox_crm)
    report = syncer.run()
    crm_cases = sandbox_crm.store.cases
    assert report.fetched == 2000 and report.problems == 0
    with store.read() as conn:
        assert count_cases(conn) == 2000
        indexed = set(conn.execute(sa.select(cases.c.crm_reference)).scalars())
        assert indexed == set(crm_cases)
        for ref in ("101000000001", "101000000777", "101000002000"):
            source = crm_cases[ref]
            case = get_case(conn, crm_reference=ref)
            assert case is not None
            assert case.title == source["title"]
            assert str(case.portal_id) == _form(source)["PortalId"]
            assert case.member_id == _form(source)["MemberId"]
            assert case.ward_id == _form(source)["WardId"]
            assert case.service_id == _form(source)["ServiceId"]
            assert case.sharing.level.value == _form(source)["Sharing"]
            assert case.constituent.crm_party_id == source["party"]
            assert case.received_at.isoformat().startswith(source["opened"][:19])
        before = dict(conn.execute(sa.select(cases.c.crm_reference, cases.c.version)).all())

    changed = sorted(crm_cases)[5::200]
    assert len(changed) == 10
    for ref in changed:
        sandbox_crm.store.update_case(ref, {"title": f"Changed in the CRM {ref}"})
    second = syncer.run()
    with store.read() as conn:
        after = dict(conn.execute(sa.select(cases.c.crm_reference, cases.c.version)).all())
        case = get_case(conn, crm_reference=changed[0])
    assert {ref for ref in after if after[ref] != before[ref]} == set(changed)
    assert second.upserts.updated == 10 and second.upserts.inserted == 0
    assert case is not None and case.title == f"Changed in the CRM {changed[0]}"


@pytest.mark.sandbox_crm(cases=150, seed=5)
def test_full_sync_reconciles_cases_deleted_or_merged_in_the_crm(store: Store, sandbox_crm) -> None:
    syncer = _syncer(store, sandbox_crm)
    syncer.run()
    with sandbox_crm.store.lock:
        gone = sandbox_crm.store.cases.pop("101000000010")
    report = syncer.run(full=True)
    with store.read() as conn:
        row = conn.execute(
            sa.select(cases.c.removed_at, cases.c.removed_reason).where(
                cases.c.crm_reference == gone["ref"]
            )
        ).one()
        assert count_cases(conn) == 149
    assert report.removed == 1 and row.removed_at is not None
    assert "deleted or merged" in row.removed_reason


@pytest.mark.sandbox_crm(cases=40, seed=9)
def test_a_pushed_case_event_refreshes_that_case_from_the_crm_not_from_the_event(
    store: Store, sandbox_crm
) -> None:
    syncer = _syncer(store, sandbox_crm)
    syncer.run()
    case = sandbox_crm.store.update_case("101000000004", {"title": "Pushed change"})
    # What the event claims is never read: only the reference it names.
    body = event_xml("PopulatedUpdateCaseEvent", {**case, "title": "Forged in the event"})
    parse = case_event_parser(syncer.client.kind)
    assert parse is not None
    reference = parse(body).reference

    first = refresh_from_event(syncer, reference)
    again = refresh_from_event(syncer, reference)
    with store.read() as conn:
        refreshed = get_case(conn, crm_reference="101000000004")
        audited = [e.detail for e in events_for(conn, reference) if e.action == "crm.case_event"]
    assert (reference, first, again) == ("101000000004", "updated", "unchanged")
    assert refreshed is not None and refreshed.title == "Pushed change"
    assert audited == [{"outcome": "updated"}, {"outcome": "unchanged"}]


@pytest.mark.sandbox_crm(cases=120, seed=4)
def test_sync_killed_by_sigkill_and_rerun_converges(
    database, open_store, sandbox_crm_server, tmp_path
) -> None:
    """A real `kill -9` of a sync process mid-run, then a re-run, gives the clean index."""
    import os
    import signal
    import subprocess
    import sys
    import time

    clean = Store.open(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    _syncer(clean, sandbox_crm_server).run(full=True)
    with clean.read() as conn:
        expected = index_hash(conn)
    clean.close()

    sandbox_crm_server.crm.set_faults("searchAndRetrieveCaseDetails:latency=150ms")
    store = open_store()
    env = {
        **os.environ,
        "CHILD_DB_URL": database.url,
        "CHILD_DB_SCHEMA": database.schema or "",
        "CHILD_FL": sandbox_crm_server.fl_url,
        "CHILD_FLAUTH": sandbox_crm_server.flauth_url,
        "CHILD_USER": sandbox_crm_server.username,
        "CHILD_PASSWORD": sandbox_crm_server.password,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.sync_child"], env=env, cwd=os.getcwd()
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with store.read() as conn:
                if count_cases(conn) >= 20:
                    break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    with store.read() as conn:
        assert 0 < count_cases(conn) < 120  # really killed half way
    sandbox_crm_server.crm.set_faults(None)
    _syncer(open_store(), sandbox_crm_server, overlap=timedelta(minutes=5)).run()
    with store.read() as conn:
        assert index_hash(conn) == expected


class Killed(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the code under test handles it."""


@pytest.mark.sandbox_crm(cases=200, seed=8)
def test_sandbox_sync_killed_at_20_random_points_converges_to_the_clean_index(
    open_store, sandbox_crm, tmp_path
) -> None:
    import random

    rng = random.Random(20)
    store = open_store()
    clean = Store.open(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    for index in (store, clean):  # both hold the CRM as it was, then the CRM moves on
        _syncer(index, sandbox_crm).run()
    for ref in sorted(sandbox_crm.store.cases)[::9]:
        sandbox_crm.store.update_case(ref, {"title": f"Changed {ref}"})
    with sandbox_crm.store.lock:
        sandbox_crm.store.cases.pop("101000000017")
    Syncer(clean, lagan_client(sandbox_crm), LAGAN, batch_size=20).run(full=True)
    with clean.read() as conn:
        expected = index_hash(conn)
    clean.close()

    kills = 0
    for _ in range(20):
        budget = {"left": rng.randint(1, 12)}

        def checkpoint(name: str, budget: dict[str, int] = budget) -> None:
            budget["left"] -= 1
            if budget["left"] <= 0:
                raise Killed(name)

        fresh = open_store()
        syncer = Syncer(
            fresh, lagan_client(sandbox_crm), LAGAN, batch_size=20, checkpoint=checkpoint
        )
        try:
            syncer.run(full=rng.random() < 0.6)
        except Killed:
            kills += 1
        fresh.close()
    _syncer(open_store(), sandbox_crm).run()  # a plain re-run, as after a real crash
    with store.read() as conn:
        assert index_hash(conn) == expected
    assert kills >= 15
