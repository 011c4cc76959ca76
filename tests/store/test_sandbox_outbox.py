"""The outbox against the sandbox CRM with injected faults and simulated process deaths."""

from __future__ import annotations

import functools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connector.lagan import note_marker
from mappings import load_profile
from mappings.model import MemberCase
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.store import Store
from portal_extensions.store.outbox import (
    WriteKind,
    backlog,
    queue_create_case,
    queue_note,
    queue_with_reason,
)
from tests.store.sandbox_helpers import lagan_client

LAGAN = load_profile("lagan")
FAULTS = (
    "createCase:lose_response=0.3,503=0.1;"
    "updateCase:lose_response=0.3,503=0.1;"
    "closeCases:lose_response=0.25;"
    "createNotes:lose_response=0.3,503=0.1;"
    "searchForCases:503=0.1"
)


def _skewed_now(skew: timedelta) -> datetime:
    return datetime.now(UTC) + skew


class Died(BaseException):
    """A process death: not an Exception, so nothing in the dispatcher handles it."""


def _new_cases(handle, count: int) -> list[MemberCase]:
    client = lagan_client(handle)
    made: list[MemberCase] = []
    for ref in sorted(handle.store.cases)[:count]:
        seeded = LAGAN.to_caseload(client.get_case(ref))
        made.append(
            MemberCase.model_validate(
                {
                    **seeded.model_dump(),
                    "portal_id": uuid.uuid4(),
                    "crm_reference": None,
                    "notes": [],
                    "status": "open",
                    "closed_at": None,
                    "closure_reason": None,
                    "title": f"New enquiry {len(made)}",
                }
            )
        )
    client.close()
    return made


@pytest.mark.sandbox_crm(cases=30, seed=21)
def test_every_queued_write_reaches_the_crm_exactly_once_despite_faults_and_deaths(
    open_store, sandbox_crm
) -> None:
    rng = random.Random(5)
    store: Store = open_store()
    cases = _new_cases(sandbox_crm, 10)
    notes: list[str] = []
    closed: list[str] = []
    with store.write() as conn:
        for n, case in enumerate(cases):
            queue_create_case(conn, case, actor="cllr-0001")
            notes.append(queue_note(conn, str(case.portal_id), f"Visited site {n}", actor="u1"))
            if n % 3 == 0:
                queue_with_reason(
                    conn, WriteKind.CLOSE_CASE, str(case.portal_id), "resolved", actor="u1"
                )
                closed.append(str(case.portal_id))
    sandbox_crm.set_faults(FAULTS, seed=3)

    offset = timedelta(0)
    deaths = 0
    for _ in range(300):

        def checkpoint(name: str) -> None:
            if name in ("claimed", "delivered", "failed") and rng.random() < 0.12:
                raise Died(name)

        dispatcher = Dispatcher(
            open_store(),  # a fresh process: nothing held in memory
            lagan_client(sandbox_crm),
            LAGAN,
            clock=functools.partial(_skewed_now, offset),
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
        with store.read() as conn:
            pending = backlog(conn)
        if pending["queued"] == pending["sent"] == 0:
            break
    assert pending == {
        "queued": 0,
        "sent": 0,
        "confirmed": 10 + 10 + len(closed),
        "needs_attention": 0,
    }
    assert deaths >= 3
    for case in cases:
        assert sandbox_crm.count_cases(PortalId=str(case.portal_id)) == 1
    for key in notes:
        marker = note_marker(key)
        assert sum(marker in note["text"] for note in sandbox_crm.store.notes.values()) == 1
    for portal_id in closed:
        [crm_case] = sandbox_crm.find_cases(PortalId=portal_id)
        assert crm_case["status"] == "closed"
