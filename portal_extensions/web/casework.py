"""Reading cases for a viewer: the one path pages and the JSON API share, so both apply the
access policy the same way and write the same audit events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request

from mappings.model import NoteKind
from portal_extensions.access import (
    Action,
    Role,
    Viewer,
    acting_for,
    can_act,
    can_view_case,
    project_case,
)
from portal_extensions.store.audit import Outcome
from portal_extensions.store.case_types import Bucket, CaseListing, StoredCase, Whose
from portal_extensions.store.case_writes import PendingWrite
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.web.app import NotFound, Refused, portal_of, viewer_of
from portal_extensions.web.rendering import WRITE_TEXT

BUCKET_LABELS = {
    Bucket.OPEN: "Open",
    Bucket.OVERDUE: "Overdue",
    Bucket.AWAITING_SERVICE: "Awaiting a service reply",
    Bucket.RECENTLY_CLOSED: "Recently closed",
}
LIST_HEADINGS = {
    Role.MEMBER: "My caseload",
    Role.MEMBERS_SERVICES: "Cases of the members you support",
    Role.TEAM_LEADER: "All cases",
    Role.SERVICE_OFFICER: "Cases sent to your service",
}


def signed_in(request: Request) -> Viewer:
    viewer = viewer_of(request)
    if viewer is None:  # the guard has already refused; this keeps the type checker honest
        raise NotFound
    return viewer


def parse_bucket(value: str | None) -> Bucket:
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


def list_cases(
    request: Request,
    bucket: Bucket,
    offset: int,
    ward_id: str | None = None,
    whose: Whose = Whose.ALL,
) -> CaseListing:
    """One page of the viewer's cases. On a member's other lists, the bucket counts of the cases
    they cover come back too (`CaseListing.other_counts`), read with the list's counts, for
    the link to them; on the covering list itself its own counts say as much."""
    portal = portal_of(request)
    viewer = signed_in(request)
    covers = viewer.role is Role.MEMBER and whose is not Whose.COVERING
    listing = portal.cases.list_visible(
        viewer,
        portal.clock(),
        bucket,
        limit=portal.page_size,
        offset=max(offset, 0),
        recently_closed_days=portal.settings.recently_closed_days,
        ward_id=ward_id,
        whose=whose,
        also_count=(Whose.COVERING,) if covers and ward_id is None else (),
    )
    portal.record(
        request,
        "view_ward" if ward_id else "view_caseload",
        Outcome.ALLOWED,
        subject_type="ward" if ward_id else "caseload",
        subject_id=ward_id,
    )
    return listing


@dataclass(frozen=True, slots=True)
class VisibleCase:
    stored: StoredCase
    fields: dict[str, Any]  # only what the viewer may see, JSON-ready
    on_behalf_of: str | None  # the member the viewer acts for (audit), None for their own
    actions: frozenset[Action]  # what the viewer may do to it now


def open_case(request: Request, portal_id: str, action: Action | None = None) -> VisibleCase:
    """The case as the viewer may see it, or NotFound (for missing and refused alike).

    With an `action`, the viewer must also be allowed to take it (else `Refused`, 403: they can
    see the case, so saying no leaks nothing). Refusals are audited here; an allowed view is
    audited as `view_case`, an allowed action by the write that follows.
    """
    portal = portal_of(request)
    viewer = signed_in(request)
    audit_action = action.value if action else "view_case"
    try:
        case_id = uuid.UUID(portal_id)
    except ValueError:
        raise NotFound from None
    stored = portal.cases.get(case_id)
    now = portal.clock()
    if stored is None or not can_view_case(viewer, stored.facts, now):
        portal.record(
            request, audit_action, Outcome.REFUSED, subject_type="case", subject_id=str(case_id)
        )
        raise NotFound
    on_behalf_of = acting_for(viewer, stored.facts)
    if action is not None:
        if not can_act(viewer, stored.facts, action, now):
            portal.record(
                request,
                audit_action,
                Outcome.REFUSED,
                subject_type="case",
                subject_id=str(case_id),
                on_behalf_of=on_behalf_of,
            )
            raise Refused(
                403,
                "You cannot change this case",
                [
                    "You can read this case but not change it. Cases shared with you by a"
                    " colleague can only be changed by them, their named cover or Members'"
                    " Services; once the constituent withdraws their authority, a case can"
                    " only be closed."
                ],
            )
    else:
        portal.record(
            request,
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


# --------------------------------------------------------------------------------------------
# The case's timeline: the CRM's notes and the portal's writes still waiting for it, merged

NOTE_LABELS = {
    NoteKind.NOTE: "Note",
    NoteKind.SERVICE_RESPONSE: "Reply from a service",
    NoteKind.STATUS_CHANGE: "Status changed",
    NoteKind.CORRESPONDENCE: "Letter or email",
}


@dataclass(frozen=True, slots=True)
class TimelineFile:
    name: str
    size_kb: int
    href: str | None  # None when there is nothing to download yet (no document id)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    label: str
    author: str
    text: str | None
    files: tuple[TimelineFile, ...]
    waiting: str | None  # None: in the CRM; else "queued" or "needs attention"


def _aware(moment: datetime) -> datetime:
    """Naive times are UTC (as the store keeps them), so notes and writes sort together."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _kb(size_bytes: int) -> int:
    return max(1, -(-size_bytes // 1024))


def own_pending(
    visible: VisibleCase, pending: Iterable[PendingWrite], viewer: Viewer
) -> list[PendingWrite]:
    """The waiting writes this viewer may see: all of them with the notes, else their own."""
    if "notes" in visible.fields:
        return list(pending)
    return [write for write in pending if write.actor == viewer.user_id]


def timeline(
    visible: VisibleCase, pending: Iterable[PendingWrite], names: DirectoryNames
) -> list[TimelineEntry]:
    """Every entry newest first: the CRM's notes (labelled by kind, files downloadable by
    document id) and the portal's writes not yet confirmed (files downloadable from the
    outbox). `pending` must already be limited to what the viewer may see (`own_pending`)."""
    case_id = visible.stored.case.portal_id
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    for note in visible.fields.get("notes", []):
        at = _aware(datetime.fromisoformat(note["created_at"]))
        files = tuple(
            TimelineFile(
                item["filename"],
                _kb(item["size_bytes"]),
                f"/cases/{case_id}/attachments/{quote(item['crm_document_id'], safe='')}"
                if item.get("crm_document_id")
                else None,
            )
            for item in note.get("attachments", [])
        )
        try:
            label = NOTE_LABELS[NoteKind(note.get("kind", NoteKind.NOTE))]
        except ValueError:
            label = "Note"
        entry = TimelineEntry(at, label, names.member(note["author"]), note["text"], files, None)
        entries.append((at, 0, entry))
    for write in pending:
        files = tuple(
            TimelineFile(
                item.name,
                _kb(item.size_bytes),
                f"/cases/{case_id}/queued-files/{quote(item.file_id, safe='')}",
            )
            for item in write.files
        )
        waiting = "needs attention" if write.state == "needs_attention" else "queued"
        label = WRITE_TEXT.get(write.kind, "Change")
        entry = TimelineEntry(
            write.created_at, label, names.member(write.actor), write.text, files, waiting
        )
        entries.append((_aware(write.created_at), 1, entry))
    entries.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [entry for _, _, entry in entries]
