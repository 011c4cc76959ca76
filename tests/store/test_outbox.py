"""The outbox and its dispatcher, against an in-memory CRM."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connector.base import Attachment
from connector.errors import CRMRejected, CRMTimeout, CRMUnavailable
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.store import Store, events_for
from portal_extensions.store.outbox import (
    OutboxState,
    WriteKind,
    backlog,
    entries_for_case,
    queue_create_case,
    queue_note,
    queue_with_reason,
    retry_entry,
)
from portal_extensions.store.schema import audit_events, outbox
from tests.store.fakes import FakeCRM, FakeMapping, new_case
from tests.store.index_lookup import get_case


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # writes queued now are due

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _dispatcher(store: Store, crm: FakeCRM, clock: Clock | None = None, **kw) -> Dispatcher:
    client: Any = crm  # duck-typed stand-in for a CRMClient
    return Dispatcher(
        store, client, FakeMapping(), clock=clock or Clock(), backoff_initial=10, **kw
    )


def _state(store: Store, key: str) -> tuple[str, str | None]:
    with store.read() as conn:
        row = conn.execute(
            sa.select(outbox.c.state, outbox.c.attention_reason).where(
                outbox.c.idempotency_key == key
            )
        ).one()
    return row.state, row.attention_reason


def test_a_write_and_its_audit_event_commit_or_vanish_together(store: Store) -> None:
    case = new_case()
    with pytest.raises(RuntimeError), store.write() as conn:
        queue_create_case(conn, case, actor="u1")
        raise RuntimeError("the request failed after queueing")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar() == 0
    with store.write() as conn:
        key = queue_create_case(conn, case, actor="u1", on_behalf_of="cllr-0001")
    with store.read() as conn:
        events = events_for(conn, str(case.portal_id))
        local = get_case(conn, portal_id=str(case.portal_id))
    assert key == str(case.portal_id)
    assert [(e.action, e.detail["idempotency_key"]) for e in events] == [
        ("outbox.create_case.queued", key)
    ]
    assert local is not None and local.status.value == "queued"


def test_dispatcher_creates_then_sends_the_note_and_close_in_order(store: Store) -> None:
    crm = FakeCRM()
    case = new_case()
    with store.write() as conn:
        queue_create_case(conn, case, actor="u1")
        note_key = queue_note(
            conn,
            str(case.portal_id),
            "Spoke to the resident",
            actor="u1",
            attachments=[Attachment(name="photo.jpg", content=b"\xff\xd8")],
        )
        queue_with_reason(conn, WriteKind.CLOSE_CASE, str(case.portal_id), "resolved", actor="u1")
    report = _dispatcher(store, crm).run_until_idle()
    ref = crm.find_case_by_key(str(case.portal_id))
    assert report.confirmed == 3 and ref is not None
    assert crm.records[ref]["notes"] == ["Spoke to the resident [photo.jpg]"]
    assert crm.note_keys == {note_key: ref}  # the outbox entry's key travels with the note
    assert (
        crm.calls.index("create_case") < crm.calls.index("add_note") < crm.calls.index("close_case")
    )
    with store.read() as conn:
        local = get_case(conn, portal_id=str(case.portal_id))
        states = {e.state for e in entries_for_case(conn, str(case.portal_id))}
        assert backlog(conn) == {"queued": 0, "sent": 0, "confirmed": 3, "needs_attention": 0}
    assert local is not None and local.crm_reference == ref
    assert states == {OutboxState.CONFIRMED}


@pytest.mark.parametrize("kind", [WriteKind.ADD_NOTE, WriteKind.UPDATE_CASE])
def test_only_closing_and_reopening_are_queued_with_a_reason_alone(
    store: Store, kind: WriteKind
) -> None:
    case = new_case()
    with store.write() as conn:
        queue_create_case(conn, case, actor="u1")
    with pytest.raises(ValueError, match="more than a reason"), store.write() as conn:
        queue_with_reason(conn, kind, str(case.portal_id), "resolved", actor="u1")
    with store.read() as conn:
        assert [e.kind for e in entries_for_case(conn, str(case.portal_id))] == ["create_case"]


def test_retryable_failure_waits_with_backoff_then_succeeds(store: Store) -> None:
    crm = FakeCRM()
    clock = Clock()
    dispatcher = _dispatcher(store, crm, clock)
    case = new_case()
    with store.write() as conn:
        key = queue_create_case(conn, case, actor="u1")
    crm.fail_next = [CRMUnavailable("down", crm="lagan", operation="createCase")]
    first = dispatcher.run_until_idle()
    assert first.retried == 1 and _state(store, key)[0] == "queued"
    assert dispatcher.run_until_idle().handled == 0  # not due yet
    clock.advance(13)
    assert dispatcher.run_until_idle().confirmed == 1
    assert _state(store, key)[0] == "confirmed"


def test_refused_write_needs_attention_with_a_reason_and_can_be_retried(store: Store) -> None:
    crm = FakeCRM()
    dispatcher = _dispatcher(store, crm)
    case = new_case()
    with store.write() as conn:
        key = queue_create_case(conn, case, actor="u1")
    crm.fail_next = [CRMRejected("ClassificationEventCode 999 is unknown", crm="lagan")]
    assert dispatcher.run_until_idle().needs_attention == 1
    state, reason = _state(store, key)
    assert state == "needs_attention" and reason is not None
    assert "999 is unknown" in reason and "code book" in reason
    with store.write() as conn:
        assert retry_entry(conn, key, actor="admin")
    assert dispatcher.run_until_idle().confirmed == 1


def test_unmappable_write_needs_attention_naming_the_field(store: Store) -> None:
    case = new_case(title="REJECT me")
    with store.write() as conn:
        key = queue_create_case(conn, case, actor="u1")
    _dispatcher(store, FakeCRM()).run_until_idle()
    state, reason = _state(store, key)
    assert state == "needs_attention" and reason is not None and "title" in reason


def test_too_many_retryable_failures_need_attention(store: Store) -> None:
    crm = FakeCRM()
    clock = Clock()
    dispatcher = _dispatcher(store, crm, clock, max_attempts=3)
    with store.write() as conn:
        key = queue_create_case(conn, new_case(), actor="u1")
    crm.fail_next = [CRMTimeout("slow", crm="lagan")] * 3
    for _ in range(3):
        dispatcher.run_until_idle()
        clock.advance(3600)
    state, reason = _state(store, key)
    assert state == "needs_attention" and reason is not None and "3 attempts" in reason


def test_note_whose_answer_was_lost_is_not_added_twice(store: Store) -> None:
    crm = FakeCRM()
    clock = Clock()
    dispatcher = _dispatcher(store, crm, clock)
    case = new_case()
    with store.write() as conn:
        queue_create_case(conn, case, actor="u1")
        queue_note(conn, str(case.portal_id), "Chased", actor="u1")
    crm.fail_after_write = [
        CRMTimeout("lost", crm="lagan"),  # the create's answer is lost
        CRMTimeout("lost", crm="lagan"),  # and so is the note's
    ]
    for _ in range(4):
        dispatcher.run_until_idle()
        clock.advance(3600)
    ref = crm.find_case_by_key(str(case.portal_id))
    assert ref is not None and len(crm.records[ref]["notes"]) == 1
    assert crm.calls.count("add_note") == 2  # the retry carried the same key, so added nothing
    assert sum(1 for r in crm.records.values() if r.get("portal_id") == str(case.portal_id)) == 1


def test_a_dispatcher_that_died_mid_call_is_taken_over_after_its_lease(store: Store) -> None:
    crm = FakeCRM()
    clock = Clock()
    with store.write() as conn:
        key = queue_create_case(conn, new_case(), actor="u1")

    class Died(BaseException):
        pass

    def die(name: str) -> None:
        if name == "delivered":
            raise Died

    with pytest.raises(Died):
        _dispatcher(store, crm, clock, checkpoint=die).run_once()
    assert _state(store, key)[0] == "sent"
    survivor = _dispatcher(store, crm, clock)
    assert survivor.run_until_idle().handled == 0  # lease still held
    clock.advance(121)
    assert survivor.run_until_idle().confirmed == 1
    assert len(crm.records) == 1  # created once, found by key the second time


def test_two_dispatchers_at_once_send_each_write_once(
    open_store: Callable[[], Store],
) -> None:
    crm = FakeCRM()
    lock = threading.Lock()
    store = open_store()
    keys = []
    with store.write() as conn:
        for n in range(30):
            keys.append(queue_create_case(conn, new_case(title=f"Case {n}"), actor="u1"))
    original = crm.create_case
    creates: list[str] = []

    def counting_create(payload, idempotency_key):
        with lock:
            creates.append(idempotency_key)
            return original(payload, idempotency_key)

    crm.create_case = counting_create  # type: ignore[method-assign]
    workers = [
        threading.Thread(target=_dispatcher(open_store(), crm).run_until_idle, kwargs={"limit": 3})
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(creates) == sorted(keys)
    with store.read() as conn:
        assert backlog(conn)["confirmed"] == 30


def test_serve_sends_writes_as_they_arrive_until_stopped(store: Store) -> None:
    crm = FakeCRM()
    client: Any = crm
    dispatcher = Dispatcher(store, client, FakeMapping())
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.serve, args=(stop,), kwargs={"idle_seconds": 0.02})
    worker.start()
    try:
        with store.write() as conn:
            key = queue_create_case(conn, new_case(), actor="u1")
        for _ in range(200):
            if _state(store, key)[0] == "confirmed":
                break
            stop.wait(0.02)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive() and _state(store, key)[0] == "confirmed"
