"""A store holding the fixture council (tests/portal/access_fixtures.py): its parties, wards,
members, an officer, one account per fixture viewer, and the cases a test asks for.

`seed` fills any store (SQLite or PostgreSQL); `seeded_store` opens a SQLite file and seeds it,
for tests that only need a real store behind the portal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from mappings.model import CaseStatus, MemberCase, Sharing, SharingLevel
from portal_extensions.access import Role
from portal_extensions.store import IndexedCase, upsert_cases
from portal_extensions.store.database import Store
from portal_extensions.store.schema import (
    members,
    officers,
    outbox,
    parties,
    roles,
    user_roles,
    users,
    wards,
)
from tests.portal.access_fixtures import MEMBERS, NOW, VIEWERS
from tests.portal.web_fixtures import CASES, make_case

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
"""The web fixtures' cases and a few more that reach every bucket and an ended cover. The
first has a write waiting for the CRM (`seed`)."""


def seed(store: Store, seeded: Sequence[MemberCase]) -> Store:
    """Fill `store` with the fixture council, its accounts and these cases; the first case gets
    a queued write in the outbox."""
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
        for name, viewer in sorted(VIEWERS.items()):
            user_id = conn.execute(
                sa.insert(users)
                .values(
                    username=name,
                    display_name=name,
                    member_id=viewer.member_id,
                    officer_id="o1" if viewer.service_ids else None,
                    password_hash=None,
                    active=True,
                    created_at=NOW,
                )
                .returning(users.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(user_roles).values(
                    user_id=user_id,
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


def seeded_store(path: Path, seeded: Sequence[MemberCase]) -> Store:
    """A SQLite store at `path` holding the fixture council, its accounts and these cases."""
    return seed(Store.open(f"sqlite:///{path}"), seeded)


__all__ = ["ALL", "seed", "seeded_store"]
