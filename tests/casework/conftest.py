"""Casework called directly, with no web front: the fixture council in a real store (a SQLite
file), its cases read and written through the store's own ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mappings.model import MemberCase
from portal_extensions.access import Action, Viewer
from portal_extensions.casework.cases import VisibleCase, open_case
from portal_extensions.store import events_for
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.database import Store
from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.web_fixtures import CASES, OPTIONS
from tests.store.seeding import seeded_store


@dataclass
class Council:
    """The store and the ports casework works through (the enquiry form's choices are the web
    fixtures': the store's code book is not what these tests are about)."""

    store: Store
    cases: StoreCaseRepository
    writes: StoreCaseWrites
    audit: StoreAuditTrail

    def open(self, who: str, case: MemberCase, action: Action | None = None) -> VisibleCase:
        return open_case(
            VIEWERS[who],
            str(case.portal_id),
            cases=self.cases,
            audit=self.audit,
            now=NOW,
            action=action,
        )

    def viewer(self, who: str) -> Viewer:
        return VIEWERS[who]

    def events(self, case: MemberCase) -> list[tuple[str, str, str]]:
        """(actor, action, outcome) of each audit event about the case, oldest first."""
        with self.store.read() as conn:
            return [
                (event.actor, event.action, str(event.detail.get("outcome", "")))
                for event in events_for(conn, str(case.portal_id))
            ]

    def kinds_queued(self, case: MemberCase) -> list[str]:
        return [write.kind for write in self.writes.pending(case.portal_id)]

    def stored(self, case: MemberCase) -> MemberCase:
        found = self.cases.get(case.portal_id)
        assert found is not None
        return found.case


@pytest.fixture
def council(tmp_path: Path) -> Council:
    store = seeded_store(tmp_path / "casework.sqlite", CASES)
    return Council(
        store, StoreCaseRepository(store), StoreCaseWrites(store), StoreAuditTrail(store)
    )


__all__ = ["OPTIONS", "Council"]
