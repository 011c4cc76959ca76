"""Dataverse end to end against the sandbox in its default mode: the real connector, the bundled
`dynamics365` profile, sync and the outbox dispatcher, under the connector issue's fault mix."""

from __future__ import annotations

import functools
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.base import Attachment
from connector.dataverse import DataverseClient, note_annotation_id
from connector.dataverse.client import customer_contact_id
from mappings import load_profile
from mappings.model import CaseStatus, MemberCase
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store, count_cases
from portal_extensions.store.outbox import (
    WriteKind,
    backlog,
    queue_create_case,
    queue_note,
    queue_update_case,
    queue_with_reason,
)
from portal_extensions.store.schema import cases, sync_problems
from tests.connector.dataverse_cases import member_case
from tests.store.index_lookup import get_case
from tests.store.sandbox_helpers import crm_settings

DYNAMICS = load_profile("dynamics365")
#: The connector issue's fault mix: commit-then-lose-the-answer on every write, 503/429 and
#: connection resets everywhere.
FAULTS = (
    "*:503=0.05,429=0.05,retry_after=0,reset=0.03;"
    "incidents.PATCH:lose_response=0.3;"
    "contacts.PATCH:lose_response=0.3;"
    "annotations.PATCH:lose_response=0.3;"
    "CloseIncident:lose_response=0.3"
)

#: Seeded cases last changed well before any sync of the test (not in its own second).
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def dataverse_client(handle: Any, **overrides: Any) -> DataverseClient:
    settings = crm_settings(
        handle,
        kind="dynamics365",
        endpoint=handle.dataverse_url,
        auth_endpoint=None,
        username=None,
        password=None,
        token_url=handle.token_url,
        client_id=handle.client_id,
        client_secret=handle.client_secret,
        auth_mode="oauth2",
        **overrides,
    )
    return DataverseClient(settings, resolver=lambda _host: [])


class Died(BaseException):
    """A process death: not an Exception, so nothing in the dispatcher handles it."""


def _dispatch_until_idle(
    open_store: Any, handle: Any, rng: random.Random
) -> tuple[dict[str, int], int]:
    offset = timedelta(0)
    deaths = 0
    pending: dict[str, int] = {}
    for _ in range(400):

        def checkpoint(name: str) -> None:
            if name in ("claimed", "delivered", "failed") and rng.random() < 0.1:
                raise Died(name)

        dispatcher = Dispatcher(
            open_store(),  # a fresh process: nothing held in memory
            dataverse_client(handle),
            DYNAMICS,
            clock=functools.partial(lambda skew: datetime.now(UTC) + skew, offset),
            backoff_initial=0,
            backoff_max=0,
            max_attempts=1000,
            checkpoint=checkpoint,
        )
        try:
            dispatcher.run_until_idle(limit=4)
        except Died:
            deaths += 1
            offset += timedelta(minutes=3)  # the dead process's lease runs out
        dispatcher.client.close()
        dispatcher.store.close()
        store = open_store()
        with store.read() as conn:
            pending = backlog(conn)
        store.close()
        if pending["queued"] == pending["sent"] == 0:
            break
    return pending, deaths


@pytest.mark.sandbox_crm(cases=20, seed=23)
def test_creates_notes_updates_closes_and_reopens_reach_dataverse_exactly_once_under_faults(
    open_store, sandbox_crm
) -> None:
    store: Store = open_store()
    residents = [p["contactid"] for p in sandbox_crm.store.parties.values()][:12]
    made = [member_case(residents[n] if n % 2 else None, title=f"Enquiry {n}") for n in range(12)]
    notes: dict[str, str] = {}
    closed: list[MemberCase] = []
    reopened: list[MemberCase] = []
    with store.write() as conn:
        for n, case in enumerate(made):
            queue_create_case(conn, case, actor="cllr-0001")
            files = [Attachment(name=f"photo-{n}.jpg", content_type="image/jpeg", content=b"x" * n)]
            notes[
                queue_note(conn, str(case.portal_id), f"Visit {n}", actor="u1", attachments=files)
            ] = str(case.portal_id)
            changed = case.model_copy(update={"title": f"Enquiry {n} (updated)"})
            queue_update_case(conn, changed, actor="u1")
            if n % 3 == 0:
                queue_with_reason(
                    conn, WriteKind.CLOSE_CASE, str(case.portal_id), f"Resolved {n}", actor="u1"
                )
                closed.append(case)
                if n % 2 == 0:
                    queue_with_reason(
                        conn,
                        WriteKind.REOPEN_CASE,
                        str(case.portal_id),
                        "It came back",
                        actor="u1",
                    )
                    reopened.append(case)
    writes = len(made) * 3 + len(closed) + len(reopened)
    plan = sandbox_crm.set_faults(FAULTS, seed=7)

    pending, deaths = _dispatch_until_idle(open_store, sandbox_crm, random.Random(9))

    sandbox_crm.set_faults(None)
    assert pending == {"queued": 0, "sent": 0, "confirmed": writes, "needs_attention": 0}
    assert deaths >= 3
    crm = sandbox_crm.store
    for n, case in enumerate(made):
        (crm_case,) = sandbox_crm.find_cases(PortalId=str(case.portal_id))
        assert crm_case["title"] == f"Enquiry {n} (updated)"
        party = crm.party(crm_case["party"])
        if n % 2:
            assert party["contactid"] == residents[n]
        else:
            assert party["contactid"] == customer_contact_id(str(case.portal_id))
        expected = "open"
        if case in closed:
            expected = "reopened" if case in reopened else "closed"
        assert crm_case["status"] == expected
        if expected == "closed":
            assert crm_case["form"]["ClosureReason"] == f"Resolved {n}"
        reopens = [e for e in crm_case.get("events", []) if e["EventTitle"] == "Reopened"]
        closes = [e for e in crm_case.get("events", []) if e["EventTitle"].startswith("Closed")]
        assert len(closes) == (1 if case in closed else 0)
        assert len(reopens) == (1 if case in reopened else 0)
    assert sum(p["surname"] == "Lovelace" for p in crm.parties.values()) == len(made) // 2
    for key in notes:
        for index in (0, 1):  # the text and its file, once each
            wanted = note_annotation_id(key, index)
            assert sum(n["annotationid"] == wanted for n in crm.notes.values()) == 1
    injected = {e.fault for e in plan.events}
    assert {"lose_response", "503", "429", "reset"} <= injected


@pytest.mark.slow
@pytest.mark.sandbox_crm(cases=10_000, seed=41, anchor=ANCHOR)
def test_a_full_sync_indexes_10000_cases_and_an_incremental_one_picks_up_all_50_changes(
    tmp_path: Path, sandbox_crm
) -> None:
    """The done-when run, bounded: SQLite only (every query also runs on PostgreSQL in the
    smaller tests above); `python -m benchmarks dataverse_sync` measures it on either."""
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    client = dataverse_client(sandbox_crm)
    syncer = Syncer(store, client, DYNAMICS, batch_size=2000)
    started = time.perf_counter()
    report = syncer.run()
    seconds = time.perf_counter() - started
    assert (report.fetched, report.unmapped, report.problems) == (10_000, 0, 0)
    with store.read() as conn:
        assert count_cases(conn) == 10_000
        before = dict(conn.execute(sa.select(cases.c.crm_reference, cases.c.version)).all())
    assert set(before) == {c["incidentid"] for c in sandbox_crm.store.cases.values()}
    assert seconds < 120, f"the 10k sync took {seconds:.0f} s"

    crm = sandbox_crm.store
    crm.clock = lambda: datetime.now(UTC) - timedelta(seconds=30)  # changed before this sync
    refs = sorted(crm.cases)
    changed: list[str] = []
    for n, ref in enumerate(refs[7::200][:50]):
        case = crm.cases[ref]
        if n % 3 == 0:
            crm.update_case(ref, {"title": f"Changed in Dynamics {n}"})
        elif n % 3 == 1 and case["status"] != "closed":
            crm.close_case(ref, f"Resolved in Dynamics {n}", None)
        elif n % 3 == 1:
            crm.reopen_case(ref, "reactivated")
        else:
            crm.add_note(0, ref, f"Phoned the resident {n}", author="officer-3")
        changed.append(case["incidentid"])
    second = syncer.run()
    with store.read() as conn:
        after = dict(conn.execute(sa.select(cases.c.crm_reference, cases.c.version)).all())
        first = get_case(conn, crm_reference=changed[0])
        problems = conn.execute(sa.select(sa.func.count()).select_from(sync_problems)).scalar()
    assert {ref for ref in after if after[ref] != before[ref]} == set(changed)
    assert (second.upserts.updated, second.upserts.inserted, second.unmapped) == (50, 0, 0)
    assert first is not None and first.title == "Changed in Dynamics 0"
    assert problems == 0
    client.close()
    store.close()


@pytest.mark.sandbox_crm(cases=40, seed=43, anchor=ANCHOR)
def test_account_customers_and_social_origins_are_indexed_and_an_unmappable_case_is_reported(
    store: Store, sandbox_crm
) -> None:
    crm = sandbox_crm.store
    refs = sorted(crm.cases)
    society = crm.add_party({"type": "C2", "name": "Fenmarsh Allotment Society"})
    crm.cases[refs[0]]["party"] = society["ref"]
    crm.cases[refs[1]]["form"]["Channel"] = "Facebook"
    crm.cases[refs[2]]["form"]["Channel"] = "Twitter"
    crm.cases[refs[3]]["form"]["Channel"] = "IoT"
    crm.cases[refs[4]]["form"]["Channel"] = ""  # no origin: the profile cannot say which
    client = dataverse_client(sandbox_crm)
    report = Syncer(store, client, DYNAMICS, batch_size=10).run()
    client.close()
    assert (report.fetched, report.unmapped) == (40, 1)
    assert "1 could not be mapped" in report.summary()
    with store.read() as conn:
        assert count_cases(conn) == 39
        account = get_case(conn, crm_reference=crm.cases[refs[0]]["incidentid"])
        social = [get_case(conn, crm_reference=crm.cases[r]["incidentid"]) for r in refs[1:4]]
        (problem,) = conn.execute(sa.select(sync_problems)).all()
    assert account is not None
    assert account.constituent.surname == "Fenmarsh Allotment Society"
    assert account.constituent.crm_party_id == society["contactid"]
    assert all(c is not None and c.channel.value == "online" for c in social)
    assert problem.crm_reference == crm.cases[refs[4]]["incidentid"]
    assert problem.field == "channel"


@pytest.mark.sandbox_crm(cases=6, seed=44, anchor=ANCHOR)
def test_status_and_category_come_from_statuscode_and_the_choice_column(
    store: Store, sandbox_crm
) -> None:
    client = dataverse_client(sandbox_crm)
    Syncer(store, client, DYNAMICS).run()
    client.close()
    statuses = {
        "open": CaseStatus.OPEN,
        "reopened": CaseStatus.OPEN,  # Dataverse shows a reactivated case as In Progress
        "draft": CaseStatus.DRAFT,
        "open-service": CaseStatus.WITH_SERVICE,
        "responded": CaseStatus.RESPONDED,
        "closed": CaseStatus.CLOSED,
    }
    codes = {c["CodeID"]: c["CodeKey"] for c in sandbox_crm.store.codebook}
    with store.read() as conn:
        for source in sandbox_crm.store.cases.values():
            case = get_case(conn, crm_reference=source["incidentid"])
            assert case is not None
            assert case.status is statuses[source["status"]]
            assert case.category == codes[source["category"]]
            assert case.crm_number is not None and case.crm_number.startswith("CAS-")
            assert case.crm_number != case.crm_reference
