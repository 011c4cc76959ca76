"""Writes from the portal, queued in the outbox with their audit events, on both backends."""

from __future__ import annotations

import sqlalchemy as sa

from portal_extensions.store import events_for
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import CheckedFile, StoreCaseWrites
from portal_extensions.store.schema import categories, services
from tests.portal.access_fixtures import NOW
from tests.portal.web_fixtures import make_case
from tests.store.seeding import ALL


def test_store_writes_queue_a_note_in_the_outbox_and_show_it_pending(council) -> None:
    writes = StoreCaseWrites(council)
    target = ALL[1].portal_id
    key = writes.add_note(target, "Chased the service", actor="ms_alice", on_behalf_of="alice")
    [pending] = writes.pending(target)
    assert (pending.kind, pending.state, pending.actor) == ("add_note", "queued", "ms_alice")
    assert pending.text == "Chased the service" and pending.key == key
    with council.read() as conn:
        events = events_for(conn, str(target))
    queued = [e for e in events if e.detail.get("idempotency_key") == key]
    assert [(e.actor, e.on_behalf_of) for e in queued] == [("ms_alice", "alice")]
    assert StoreCaseRepository(council).get(target).queued  # type: ignore[union-attr]


def test_a_queued_file_is_served_from_the_outbox_until_the_crm_has_it(council) -> None:
    writes = StoreCaseWrites(council)
    target = ALL[1].portal_id
    letter = CheckedFile("letter.txt", "text/plain", b"Dear resident")
    writes.attach(target, "Letter sent", [letter], actor="alice", on_behalf_of=None)
    [pending] = writes.pending(target)
    [queued] = pending.files
    assert (pending.kind, queued.name, queued.size_bytes) == ("attach", "letter.txt", 13)
    found = writes.queued_file(target, queued.file_id)
    assert found is not None and found[1] == letter and found[0].actor == "alice"
    assert writes.queued_file(target, queued.file_id + "9") is None
    assert writes.queued_file(ALL[2].portal_id, queued.file_id) is None  # another case's id


def test_store_enquiry_options_and_new_cases_are_queued(council) -> None:
    from portal_extensions.store.directory import StoreEnquiryOptions

    with council.write() as conn:
        conn.execute(sa.insert(categories).values(code="roads", name="Roads", updated_at=NOW))
        conn.execute(
            sa.insert(services).values(
                id="S1", name="Highways", member_officer_id="o1", response_target_working_days=10
            )
        )
    options = StoreEnquiryOptions(council)
    assert [(c.value, c.text) for c in options.categories()] == [("roads", "Roads")]
    assert ("S1", "Highways") in [(c.value, c.text) for c in options.services()]
    assert {m.id: m.ward_id for m in options.members()}["dave"] == "W2"
    new = make_case("carol", "Brand new enquiry")
    StoreCaseWrites(council).create_case(new, actor="carol", on_behalf_of=None)
    got = StoreCaseRepository(council).get(new.portal_id)
    assert got is not None and got.queued and got.case.title == "Brand new enquiry"
