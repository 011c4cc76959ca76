"""What a route gets from its request, as typed FastAPI dependencies: the portal's parts
(`PortalDep`), the signed-in viewer (`ViewerDep`) and their account (`AccountDep`); and the
casework calls made for that viewer with the portal's parts and the time.

A handler names what it uses in its signature (`portal: PortalDep, viewer: ViewerDep`) instead
of digging in the request, so what a route reads is visible where it is declared. The
dependencies only read what the guard (`web.guard`), which runs first, has already resolved.
Thin on purpose: the rules are in `portal_extensions.casework`. Casework's refusals
(`CaseNotFound`, `ActionRefused`) are answered by the app's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, UploadFile
from jinja2 import Environment

from portal_extensions.access import Action, Viewer
from portal_extensions.casework import cases as casework_cases
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.lookup import LookupResult, find_residents
from portal_extensions.casework.ports import (
    AccountAdmin,
    Accounts,
    AttachmentSource,
    AuditTrail,
    CaseRepository,
    CaseWrites,
    DirectorySource,
    EnquiryOptions,
    HealthSource,
    PartySource,
    SessionRegistry,
)
from portal_extensions.casework.search import search_cases
from portal_extensions.config import PortalSettings
from portal_extensions.reports.service import Reports
from portal_extensions.store.accounts import Account
from portal_extensions.store.audit import Outcome, PortalAuditEvent
from portal_extensions.store.case_types import Bucket, CaseListing, CaseSummary, Whose
from portal_extensions.web.assets import Asset
from portal_extensions.web.auth import SignInThrottle
from portal_extensions.web.refusals import SignInRequired

#: Returns when the store answers a trivial query and raises otherwise (`/healthz`).
Liveness = Callable[[], object]


@dataclass
class Portal:
    """The portal's parts, shared by every request (`app.state.portal`)."""

    settings: PortalSettings
    accounts: Accounts
    account_admin: AccountAdmin  # the account pages' reads and changes
    cases: CaseRepository
    writes: CaseWrites
    enquiry_options: EnquiryOptions
    directory: DirectorySource
    audit: AuditTrail
    health: HealthSource
    liveness: Liveness
    clock: Callable[[], datetime]
    throttle: SignInThrottle
    assets: dict[str, Asset]
    templates: Environment
    sessions: SessionRegistry
    reports: Reports  # volumes, timeliness and the scrutiny report, for a viewer
    parties: PartySource | None = None  # the CRM's people, for the resident look-up
    attachments: AttachmentSource | None = None  # stored files' content, for downloads
    page_size: int = 50
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(
        self,
        request: Request,
        action: str,
        outcome: Outcome,
        *,
        subject_type: str,
        subject_id: str | None = None,
        on_behalf_of: str | None = None,
        actor: str | None = None,
    ) -> None:
        """An audit event by the request's viewer (or `actor`, or 'anonymous')."""
        viewer = current_viewer(request)
        self.audit.record(
            PortalAuditEvent(
                at=self.clock(),
                actor=actor or (viewer.user_id if viewer else "anonymous"),
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                outcome=outcome,
                on_behalf_of=on_behalf_of,
            )
        )


def portal_of(request: Request) -> Portal:
    """The portal's parts (a dependency: `PortalDep`)."""
    portal: Portal = request.app.state.portal
    return portal


def current_viewer(request: Request) -> Viewer | None:
    """Who is signed in, as the guard found them; None for nobody (`MaybeViewerDep`)."""
    viewer = getattr(request.state, "viewer", None)
    return viewer if isinstance(viewer, Viewer) else None


def signed_in_viewer(request: Request) -> Viewer:
    """The signed-in viewer (`ViewerDep`). The guard has refused anybody else before a route
    that is not public runs; a public route that takes this dependency asks for sign-in."""
    viewer = current_viewer(request)
    if viewer is None:
        raise SignInRequired
    return viewer


def signed_in_account(request: Request) -> Account:
    """The signed-in viewer's account (`AccountDep`), as the guard found it."""
    account = getattr(request.state, "account", None)
    if not isinstance(account, Account):
        raise SignInRequired
    return account


PortalDep = Annotated[Portal, Depends(portal_of)]
MaybeViewerDep = Annotated[Viewer | None, Depends(current_viewer)]
ViewerDep = Annotated[Viewer, Depends(signed_in_viewer)]
AccountDep = Annotated[Account, Depends(signed_in_account)]


def open_case(
    portal: Portal, viewer: Viewer, portal_id: str, action: Action | None = None
) -> VisibleCase:
    """`casework.cases.open_case` for the viewer."""
    return casework_cases.open_case(
        viewer, portal_id, cases=portal.cases, audit=portal.audit, now=portal.clock(), action=action
    )


def list_cases(
    portal: Portal,
    viewer: Viewer,
    bucket: Bucket,
    offset: int,
    ward_id: str | None = None,
    whose: Whose = Whose.ALL,
) -> CaseListing:
    """`casework.cases.list_cases` for the viewer, one page at a time."""
    return casework_cases.list_cases(
        viewer,
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


def search(portal: Portal, viewer: Viewer, text: str) -> list[CaseSummary]:
    """`casework.search.search_cases` for the viewer."""
    return search_cases(viewer, text, cases=portal.cases, audit=portal.audit, now=portal.clock())


def residents(portal: Portal, viewer: Viewer, text: str) -> LookupResult:
    """`casework.lookup.find_residents` for the viewer."""
    return find_residents(
        viewer,
        text,
        cases=portal.cases,
        parties=portal.parties,
        audit=portal.audit,
        now=portal.clock(),
        search_key=portal.settings.secret_key.get_secret_value().encode(),
    )


async def read_upload(portal: Portal, upload: UploadFile | None) -> tuple[str, bytes]:
    """An uploaded file's name and content, at most one byte over the configured limit (enough
    for casework to say it is too large); no file is an empty name and no content."""
    if upload is None:
        return "", b""
    limit = portal.settings.attachment_max_bytes
    return upload.filename or "", await upload.read(limit + 1)


__all__ = [
    "AccountDep",
    "Liveness",
    "MaybeViewerDep",
    "Portal",
    "PortalDep",
    "ViewerDep",
    "current_viewer",
    "list_cases",
    "open_case",
    "portal_of",
    "read_upload",
    "residents",
    "search",
    "signed_in_account",
    "signed_in_viewer",
]
