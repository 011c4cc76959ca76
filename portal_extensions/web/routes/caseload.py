"""The viewer's lists: My caseload (Cases, for staff) and the ward view, as pages and as JSON,
one group at a time (open, overdue, awaiting a service reply, recently closed)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from mappings.model import CaseStatus
from portal_extensions.access import Page, Role, Viewer, council_day, role_fields
from portal_extensions.casework.cases import (
    api_whose_choices,
    page_whose_choices,
    parse_bucket,
    parse_whose,
)
from portal_extensions.store.case_types import (
    Bucket,
    CaseListing,
    CaseSummary,
    Whose,
    is_overdue,
)
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, list_cases
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render
from portal_extensions.web.refusals import NotFound

page = page_router()
api = api_router()

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


def rows_context(portal: Portal, viewer: Viewer, rows: list[CaseSummary]) -> dict[str, Any]:
    """What `case_rows.html` needs beside the rows: the directory's names, which rows are
    overdue, and whether the viewer's role may see who the residents are."""
    today = council_day(portal.clock())
    return {
        "rows": rows,
        "names": portal.directory.names(),
        "overdue": {
            row.portal_id for row in rows if is_overdue(row.status, row.target_date, today)
        },
        "show_resident": "constituent" in role_fields(viewer),
    }


def _listing_page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    *,
    heading: str,
    list_path: str,
    view: str | None,
    offset: int,
    ward_id: str | None = None,
    ward_choices: list[dict[str, str]] | None = None,
    whose: Whose = Whose.ALL,
) -> Response:
    bucket = parse_bucket(view)
    listing = list_cases(portal, viewer, bucket, offset, ward_id, whose)
    size = portal.page_size
    offset = max(offset, 0)
    scope = {"ward": ward_id} if ward_choices else {}
    if whose is Whose.COVERING:
        scope["whose"] = whose.value
    return render(
        request,
        "caseload.html",
        {
            "heading": heading,
            "list_path": list_path,
            "scope_query": urlencode(scope) + "&" if scope else "",
            "ward": ward_id,
            "ward_choices": ward_choices or [],
            "whose_tabs": _whose_tabs(list_path, bucket, whose, listing),
            "buckets": [
                {
                    "value": each.value,
                    "label": BUCKET_LABELS[each],
                    "count": listing.counts[each],
                    "current": each is bucket,
                }
                for each in Bucket
            ],
            "current": bucket.value,
            "current_label": BUCKET_LABELS[bucket],
            **rows_context(portal, viewer, listing.rows),
            "total": listing.total,
            "previous_offset": max(offset - size, 0) if offset > 0 else None,
            "next_offset": offset + size if offset + size < listing.total else None,
        },
    )


def _whose_tabs(
    list_path: str, bucket: Bucket, whose: Whose, listing: CaseListing
) -> list[dict[str, Any]]:
    """A member's links between their own cases and the colleagues' cases they cover, keeping
    the group (open, overdue...) chosen. None while they cover no open case and are looking at
    their own, so a member who covers nobody sees the page as before."""
    if whose is Whose.OWN:
        covered = listing.other_counts.get(Whose.COVERING, {}).get(Bucket.OPEN, 0)
    elif whose is Whose.COVERING:
        covered = listing.counts[Bucket.OPEN]
    else:
        return []
    if whose is Whose.OWN and covered == 0:
        return []
    return [
        {
            "label": "Your cases",
            "href": f"{list_path}?{urlencode({'view': bucket.value})}",
            "current": whose is Whose.OWN,
        },
        {
            "label": f"Covering for colleagues ({covered})",
            "href": f"{list_path}?{urlencode({'whose': 'covering', 'view': bucket.value})}",
            "current": whose is Whose.COVERING,
        },
    ]


@page.get("/caseload")
@allow(Page.CASELOAD)
def caseload_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    view: str | None = None,
    offset: int = 0,
    whose: str | None = None,
) -> Response:
    """The viewer's cases. A member sees their own, and the cases they cover for colleagues on
    a list of its own (`?whose=covering`); other roles see every case they may."""
    return _listing_page(
        request,
        portal,
        viewer,
        heading=LIST_HEADINGS[viewer.role],
        list_path="/caseload",
        view=view,
        offset=offset,
        whose=parse_whose(whose, page_whose_choices(viewer)),
    )


@page.get("/ward")
@allow(Page.WARD)
def ward_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    ward: str | None = None,
    view: str | None = None,
    offset: int = 0,
) -> Response:
    """A ward's cases that the viewer may see: their own and what colleagues shared."""
    names = portal.directory.names()
    if viewer.role is Role.MEMBER:
        return _listing_page(
            request,
            portal,
            viewer,
            heading=f"Your ward: {names.ward(viewer.ward_id)}" if viewer.ward_id else "Your ward",
            list_path="/ward",
            view=view,
            offset=offset,
            ward_id=viewer.ward_id,
        )
    wards = sorted(
        {member.ward_id for member in portal.enquiry_options.members()},
        key=lambda ward_id: names.ward(ward_id).casefold(),
    )
    chosen = ward if ward in wards else (wards[0] if wards else None)
    if chosen is None:
        raise NotFound
    return _listing_page(
        request,
        portal,
        viewer,
        heading=f"Ward: {names.ward(chosen)}",
        list_path="/ward",
        view=view,
        offset=offset,
        ward_id=chosen,
        ward_choices=[{"value": w, "text": names.ward(w)} for w in wards],
    )


class CaseRowOut(BaseModel):
    portal_id: uuid.UUID
    crm_reference: str | None
    title: str
    member_id: str
    member_name: str  # the directory's name, or the id when the directory does not know it
    status: CaseStatus
    received_at: datetime
    target_date: date | None
    queued: bool
    resident: str | None = None  # null for a viewer who may not see who the resident is


def case_rows(rows: list[CaseSummary], names: DirectoryNames) -> list[CaseRowOut]:
    """A list's or a search's rows as JSON, each member's name beside their id."""
    return [
        CaseRowOut(
            portal_id=row.portal_id,
            crm_reference=row.crm_reference,
            title=row.title,
            member_id=row.member_id,
            member_name=names.member(row.member_id),
            status=row.status,
            received_at=row.received_at,
            target_date=row.target_date,
            queued=row.queued,
            resident=row.resident,
        )
        for row in rows
    ]


class CaseListOut(BaseModel):
    bucket: Bucket
    whose: Whose
    counts: dict[Bucket, int]
    # Open cases a member covers for colleagues (null for roles that cover nobody, and on lists
    # other than My caseload).
    covering_open: int | None = None
    total: int
    offset: int
    cases: list[CaseRowOut]


@api.get("/caseload", response_model=CaseListOut)
@allow(Page.CASELOAD)
def caseload(
    portal: PortalDep,
    viewer: ViewerDep,
    view: str | None = None,
    offset: int = 0,
    whose: str | None = None,
) -> CaseListOut:
    """The viewer's cases in one group (open, overdue, awaiting_service, recently_closed).

    Every case the viewer may see by default (`whose=all`); a member may ask for only their own
    cases (`whose=own`, as My caseload shows them) or the colleagues' cases naming them as
    cover (`whose=covering`). Other roles always get `all`; a value the viewer cannot choose
    gives the default list, as on the page.
    """
    bucket = parse_bucket(view)
    chosen = parse_whose(whose, api_whose_choices(viewer))
    listing = list_cases(portal, viewer, bucket, offset, whose=chosen)
    covering: int | None = None
    if chosen is Whose.COVERING:
        covering = listing.counts[Bucket.OPEN]
    elif Whose.COVERING in listing.other_counts:
        covering = listing.other_counts[Whose.COVERING][Bucket.OPEN]
    return CaseListOut(
        bucket=bucket,
        whose=chosen,
        counts=dict(listing.counts),
        covering_open=covering,
        total=listing.total,
        offset=max(offset, 0),
        cases=case_rows(listing.rows, portal.directory.names()),
    )


@api.get("/ward", response_model=CaseListOut)
@allow(Page.WARD)
def ward(
    portal: PortalDep,
    viewer: ViewerDep,
    ward: str | None = None,
    view: str | None = None,
    offset: int = 0,
) -> CaseListOut:
    """A ward's cases the viewer may see (a member's own ward; staff name one)."""
    wards = sorted({m.ward_id for m in portal.enquiry_options.members()})
    if viewer.role is Role.MEMBER:
        ward_id = viewer.ward_id
    else:
        ward_id = ward if ward in wards else (wards[0] if wards and ward is None else None)
    if not ward_id:
        raise NotFound
    bucket = parse_bucket(view)
    listing = list_cases(portal, viewer, bucket, offset, ward_id)
    return CaseListOut(
        bucket=bucket,
        whose=Whose.ALL,
        counts=dict(listing.counts),
        total=listing.total,
        offset=max(offset, 0),
        cases=case_rows(listing.rows, portal.directory.names()),
    )


__all__ = ["CaseListOut", "CaseRowOut", "api", "case_rows", "page", "rows_context"]
