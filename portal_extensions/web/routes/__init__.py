"""The portal's routes, one module per feature: its page and JSON endpoint side by side over
the same `casework` call. `ROUTERS` is every router `create_app` includes, in order; the CRM's
push-event route (`crm_events`) is added by `runtime` only when a CRM is configured."""

from __future__ import annotations

from fastapi import APIRouter

from portal_extensions.web.routes import (
    accounts,
    assets,
    case,
    caseload,
    closing,
    directory,
    enquiries,
    files,
    health,
    notes,
    reports,
    responses,
    search,
    services,
    sharing,
    sign_in,
)

ROUTERS: tuple[APIRouter, ...] = (
    sign_in.page,
    sign_in.api,
    caseload.page,
    caseload.api,
    case.page,
    case.api,
    notes.page,
    notes.api,
    files.page,
    files.api,
    closing.page,
    closing.api,
    sharing.page,
    sharing.api,
    services.page,
    services.api,
    responses.page,
    responses.api,
    enquiries.page,
    enquiries.api,
    search.page,
    search.api,
    reports.page,
    reports.api,
    directory.page,
    directory.api,
    health.page,
    health.api,
    accounts.page,
    accounts.api,
    assets.page,
)

__all__ = ["ROUTERS"]
