"""What the case index gives back to a reader: a stored case, list rows, buckets and lists.

Lists are always asked for *as a viewer*: a reader filters with `access.visible_cases_clause`
(SQL) or `access.visibility` (in memory), or with the parts of it granted for the reasons a
`Whose` choice names (`access.visibility_parts`), so a list never shows a case whose page
would refuse it. The buckets are defined once here (`in_bucket`), over indexed columns only,
so the store's SQL form (`case_reads.bucket_clause`) can match it exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase
from portal_extensions.access import CaseFacts, Reason


class Bucket(StrEnum):
    """The groups of My caseload. A case may be in several (overdue cases are also open)."""

    OPEN = "open"
    OVERDUE = "overdue"
    AWAITING_SERVICE = "awaiting_service"
    RECENTLY_CLOSED = "recently_closed"


class Whose(StrEnum):
    """Whose cases a list shows, of those the viewer may see.

    A member's own cases (`OWN`) are kept apart from the colleagues' cases that name them as
    cover (`COVERING`), so My caseload is not a mix of other members' work. `ALL` is every case
    the viewer may see, and the only choice for roles that hold no cases of their own.
    """

    OWN = "own"
    COVERING = "covering"
    ALL = "all"


WHOSE_REASONS: Mapping[Whose, frozenset[Reason] | None] = {
    Whose.OWN: frozenset({Reason.OWN_CASE}),
    Whose.COVERING: frozenset({Reason.NAMED_COVER}),
    Whose.ALL: None,  # every grant
}
"""The access grants (`access.visibility_parts`) each choice is made of."""


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as the index holds it: the record, its access facts and write state."""

    case: MemberCase
    facts: CaseFacts
    queued: bool  # written locally and not yet confirmed by the CRM


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One row of a list: only fields every role that can see the case may see, and the
    resident's name, which casework removes for a viewer who may not see it
    (`casework.cases.for_viewer`)."""

    portal_id: uuid.UUID
    crm_reference: str | None
    title: str
    member_id: str
    status: CaseStatus
    received_at: datetime
    target_date: date | None
    queued: bool
    resident: str | None = None


@dataclass(frozen=True, slots=True)
class CaseListing:
    rows: list[CaseSummary]
    counts: Mapping[Bucket, int]
    total: int  # cases in the chosen bucket, of which `rows` is one page
    # Bucket counts of the other lists asked for with `also_count` (for example how many cases
    # a member covers, shown beside their own), counted in the same read.
    other_counts: Mapping[Whose, Mapping[Bucket, int]] = field(default_factory=dict)


OPEN_STATUSES: frozenset[CaseStatus] = frozenset(CaseStatus) - {CaseStatus.CLOSED, CaseStatus.DRAFT}


def is_overdue(status: CaseStatus, target_date: date | None, today: date) -> bool:
    """Open and past its target date (the `Bucket.OVERDUE` rule, also marked on list rows)."""
    return status in OPEN_STATUSES and target_date is not None and target_date < today


def in_bucket(case: MemberCase, bucket: Bucket, today: date, recently_closed_days: int) -> bool:
    """The definition of each bucket, over indexed columns only (status, target_date,
    closed_at), so an SQL implementation can match it exactly."""
    is_open = case.status in OPEN_STATUSES
    if bucket is Bucket.OPEN:
        return is_open
    if bucket is Bucket.OVERDUE:
        return is_overdue(case.status, case.target_date, today)
    if bucket is Bucket.AWAITING_SERVICE:
        return case.status is CaseStatus.WITH_SERVICE
    closed_on = case.closed_at.astimezone(COUNCIL_ZONE).date() if case.closed_at else None
    return (
        case.status is CaseStatus.CLOSED
        and closed_on is not None
        and closed_on >= today - timedelta(days=recently_closed_days)
    )


def summarise(stored: StoredCase) -> CaseSummary:
    """The list row of a stored case (what every role that may see it may see)."""
    case = stored.case
    return CaseSummary(
        portal_id=case.portal_id,
        crm_reference=case.crm_reference,
        title=case.title,
        member_id=case.member_id,
        status=case.status,
        received_at=case.received_at,
        target_date=case.target_date,
        queued=stored.queued,
        resident=case.constituent.display_name,
    )


__all__ = [
    "OPEN_STATUSES",
    "WHOSE_REASONS",
    "Bucket",
    "CaseListing",
    "CaseSummary",
    "StoredCase",
    "Whose",
    "in_bucket",
    "is_overdue",
    "summarise",
]
