"""What a route gets from its request: the signed-in viewer, and the casework calls made for
them with the portal's parts and the time.

Thin on purpose: the rules are in `portal_extensions.casework`; this only reads the request.
Casework's refusals (`CaseNotFound`, `ActionRefused`) are answered by the app's handlers.
"""

from __future__ import annotations

from fastapi import Request, UploadFile

from portal_extensions.access import Action, Viewer
from portal_extensions.casework import cases as casework_cases
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.lookup import LookupResult, find_residents
from portal_extensions.casework.search import search_cases
from portal_extensions.store.case_types import Bucket, CaseListing, CaseSummary, Whose
from portal_extensions.web.app import NotFound, portal_of, viewer_of


def signed_in(request: Request) -> Viewer:
    viewer = viewer_of(request)
    if viewer is None:  # the guard has already refused; this keeps the type checker honest
        raise NotFound
    return viewer


def open_case(request: Request, portal_id: str, action: Action | None = None) -> VisibleCase:
    """`casework.cases.open_case` for the signed-in viewer."""
    portal = portal_of(request)
    return casework_cases.open_case(
        signed_in(request),
        portal_id,
        cases=portal.cases,
        audit=portal.audit,
        now=portal.clock(),
        action=action,
    )


def list_cases(
    request: Request,
    bucket: Bucket,
    offset: int,
    ward_id: str | None = None,
    whose: Whose = Whose.ALL,
) -> CaseListing:
    """`casework.cases.list_cases` for the signed-in viewer, one page at a time."""
    portal = portal_of(request)
    return casework_cases.list_cases(
        signed_in(request),
        bucket,
        offset,
        cases=portal.cases,
        audit=portal.audit,
        now=portal.clock(),
        limit=portal.page_size,
        recently_closed_days=portal.settings.recently_closed_days,
        ward_id=ward_id,
        whose=whose,
    )


def search(request: Request, text: str) -> list[CaseSummary]:
    """`casework.search.search_cases` for the signed-in viewer."""
    portal = portal_of(request)
    return search_cases(
        signed_in(request), text, cases=portal.cases, audit=portal.audit, now=portal.clock()
    )


def residents(request: Request, text: str) -> LookupResult:
    """`casework.lookup.find_residents` for the signed-in viewer."""
    portal = portal_of(request)
    return find_residents(
        signed_in(request),
        text,
        cases=portal.cases,
        parties=portal.parties,
        audit=portal.audit,
        now=portal.clock(),
    )


async def read_upload(request: Request, upload: UploadFile | None) -> tuple[str, bytes]:
    """An uploaded file's name and content, at most one byte over the configured limit (enough
    for casework to say it is too large); no file is an empty name and no content."""
    if upload is None:
        return "", b""
    limit = portal_of(request).settings.attachment_max_bytes
    return upload.filename or "", await upload.read(limit + 1)


__all__ = ["list_cases", "open_case", "read_upload", "residents", "search", "signed_in"]
