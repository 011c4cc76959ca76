"""Searching cases as a viewer: only cases they may see, found only through what they may see
of them (the store's `search_visible` applies `store.search.matches_visible`), and audited
without the words searched, which often name a resident."""

from __future__ import annotations

from datetime import datetime

from portal_extensions.access import Viewer
from portal_extensions.casework.auditing import record
from portal_extensions.casework.cases import for_viewer
from portal_extensions.casework.ports import AuditTrail, CaseRepository
from portal_extensions.store.audit import Outcome
from portal_extensions.store.case_types import CaseSummary

SEARCH_LIMIT = 50
MAX_QUERY_LENGTH = 200


def search_cases(
    viewer: Viewer,
    text: str,
    *,
    cases: CaseRepository,
    audit: AuditTrail,
    now: datetime,
    limit: int = SEARCH_LIMIT,
) -> list[CaseSummary]:
    """The best `limit` matches of `text` (its first 200 characters) among the viewer's
    cases; nothing, and nothing audited, for a blank search."""
    if not text.strip():
        return []
    rows = cases.search_visible(viewer, now, text[:MAX_QUERY_LENGTH], limit=limit)
    record(audit, viewer, now, "search", Outcome.ALLOWED, subject_type="search")
    return for_viewer(viewer, rows)


__all__ = ["MAX_QUERY_LENGTH", "SEARCH_LIMIT", "search_cases"]
