"""Dataverse payloads as the portal sends them: a caseload record through the bundled profile.

Connector tests send these, never hand-made JSON, so what the sandbox (or a fake server) checks
is what the outbox would really write.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mappings import MemberCase, load_profile
from mappings.model import Channel, Constituent

DYNAMICS = load_profile("dynamics365")


def member_case(contact_id: str | None = None, **overrides: Any) -> MemberCase:
    """A new enquiry for an existing resident (`contact_id`) or a new one (None)."""
    values: dict[str, Any] = {
        "portal_id": uuid.uuid4(),
        "member_id": "cllr-0001",
        "ward_id": "ward-01",
        "constituent": Constituent(
            crm_party_id=contact_id,
            forename="Ada",
            surname="Lovelace",
            email="ada@example.org",
            phone="01632 960123",
        ),
        "category": "roads",
        "title": "Pothole outside number 4",
        "description": "Deep enough to lose a wheel in.",
        "channel": Channel.EMAIL,
        "received_at": datetime.now(UTC) - timedelta(days=1),
    }
    values.update(overrides)
    return MemberCase(**values)


def create_payload(contact_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The create payload the outbox sends for `member_case(contact_id, **overrides)`."""
    return DYNAMICS.to_crm(member_case(contact_id, **overrides))


def update_payload(case: MemberCase) -> dict[str, Any]:
    """The update payload the outbox sends for a changed case."""
    return DYNAMICS.to_crm(case, for_update=True)


def a_contact(handle: Any) -> str:
    """The id of a seeded resident (a contact, not an organisation)."""
    return str(next(p["contactid"] for p in handle.store.parties.values() if p.get("type") != "C2"))
