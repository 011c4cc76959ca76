"""Reading cases for a viewer: lists and single cases, the one path the pages, the JSON API
and any later reader (reminders, reports) share, so each applies the access policy the same
way and writes the same audit events.

Nothing here knows about requests: each call takes the viewer, the parts it reads through
(`CaseRepository`, `AuditTrail`) and the time, and refuses with `CaseNotFound` or
`ActionRefused`, which the caller turns into its own answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from portal_extensions.access import (
    Action,
    Role,
    Viewer,
    acting_for,
    can_act,
    can_view_case,
    project_case,
    role_fields,
)
from portal_extensions.casework.auditing import record
from portal_extensions.casework.errors import ActionRefused, CaseNotFound
from portal_extensions.casework.ports import AuditTrail, CaseRepository
from portal_extensions.store.audit import Outcome
from portal_extensions.store.case_types import (
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
)


def parse_bucket(value: str | None) -> Bucket:
    """The chosen group of a list; anything unknown is the open cases."""
    try:
        return Bucket(value) if value else Bucket.OPEN
    except ValueError:
        return Bucket.OPEN


def page_whose_choices(viewer: Viewer) -> tuple[Whose, ...]:
    """The `whose` lists a viewer may choose between on My caseload, the default first.

    A member's own cases come first; the colleagues' cases naming them as cover are a list of
    their own, and cases shared with the ward are on the ward page. Every other role holds no
    cases of its own, so sees one list of everything they may see.
    """
    return (Whose.OWN, Whose.COVERING) if viewer.role is Role.MEMBER else (Whose.ALL,)


def api_whose_choices(viewer: Viewer) -> tuple[Whose, ...]:
    """As `page_whose_choices` (the same default as the page), and a member may also ask for
    everything they may see at once (`all`)."""
    return (Whose.OWN, Whose.COVERING, Whose.ALL) if viewer.role is Role.MEMBER else (Whose.ALL,)


def parse_whose(value: str | None, choices: tuple[Whose, ...]) -> Whose:
    """The chosen list; anything not among `choices` is the default (the first), so a
    hand-edited or out-of-date link shows the usual list, not an error."""
    return next((each for each in choices if each.value == value), choices[0])


def for_viewer(viewer: Viewer, rows: list[CaseSummary]) -> list[CaseSummary]:
    """A list's or a search's rows as the viewer may see them: without the resident's name for
    a role that may not see who the resident is (a service officer)."""
    if "constituent" in role_fields(viewer):
        return rows
    return [replace(row, resident=None) for row in rows]


def list_cases(
    viewer: Viewer,
    bucket: Bucket,
    offset: int,
    *,
    cases: CaseRepository,
    audit: AuditTrail,
    now: datetime,
    limit: int,
    recently_closed_days: int,
    ward_id: str | None = None,
    whose: Whose = Whose.ALL,
) -> CaseListing:
    """One page of the viewer's cases, audited as a view of their caseload (or of a ward).

    On a member's other lists, the bucket counts of the cases they cover come back too
    (`CaseListing.other_counts`), read with the list's counts, for the link to them; on the
    covering list itself its own counts say as much."""
    covers = viewer.role is Role.MEMBER and whose is not Whose.COVERING
    listing = cases.list_visible(
        viewer,
        now,
        bucket,
        limit=limit,
        offset=max(offset, 0),
        recently_closed_days=recently_closed_days,
        ward_id=ward_id,
        whose=whose,
        also_count=(Whose.COVERING,) if covers and ward_id is None else (),
    )
    record(
        audit,
        viewer,
        now,
        "view_ward" if ward_id else "view_caseload",
        Outcome.ALLOWED,
        subject_type="ward" if ward_id else "caseload",
        subject_id=ward_id,
    )
    return replace(listing, rows=for_viewer(viewer, listing.rows))


@dataclass(frozen=True, slots=True)
class VisibleCase:
    """A case opened for a viewer: what they may see of it and do to it, decided once, so a
    page, the API and the change that follows all work from the same answer."""

    stored: StoredCase
    fields: dict[str, Any]  # only what the viewer may see, JSON-ready
    on_behalf_of: str | None  # the member the viewer acts for (audit), None for their own
    actions: frozenset[Action]  # what the viewer may do to it now


def open_case(
    viewer: Viewer,
    portal_id: str,
    *,
    cases: CaseRepository,
    audit: AuditTrail,
    now: datetime,
    action: Action | None = None,
) -> VisibleCase:
    """The case as the viewer may see it, or `CaseNotFound` (for missing and refused alike).

    With an `action`, the viewer must also be allowed to take it (else `ActionRefused`: they
    can see the case, so saying no leaks nothing). Refusals are audited here; an allowed view
    is audited as `view_case`, an allowed action by the write that follows.
    """
    audit_action = action.value if action else "view_case"
    try:
        case_id = uuid.UUID(portal_id)
    except ValueError:
        raise CaseNotFound from None
    stored = cases.get(case_id)
    if stored is None or not can_view_case(viewer, stored.facts, now):
        record(
            audit,
            viewer,
            now,
            audit_action,
            Outcome.REFUSED,
            subject_type="case",
            subject_id=str(case_id),
        )
        raise CaseNotFound
    on_behalf_of = acting_for(viewer, stored.facts)
    if action is not None:
        if not can_act(viewer, stored.facts, action, now):
            record(
                audit,
                viewer,
                now,
                audit_action,
                Outcome.REFUSED,
                subject_type="case",
                subject_id=str(case_id),
                on_behalf_of=on_behalf_of,
            )
            raise ActionRefused(action)
    else:
        record(
            audit,
            viewer,
            now,
            "view_case",
            Outcome.ALLOWED,
            subject_type="case",
            subject_id=str(case_id),
            on_behalf_of=on_behalf_of,
        )
    return VisibleCase(
        stored,
        project_case(viewer, stored.case, stored.facts, now),
        on_behalf_of,
        frozenset(a for a in Action if can_act(viewer, stored.facts, a, now)),
    )


__all__ = [
    "VisibleCase",
    "api_whose_choices",
    "for_viewer",
    "list_cases",
    "open_case",
    "page_whose_choices",
    "parse_bucket",
    "parse_whose",
]
