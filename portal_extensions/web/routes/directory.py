"""The council's services, their member officer and response target: the page and the JSON."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from portal_extensions.access import Page
from portal_extensions.web.deps import PortalDep
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render

page = page_router()
api = api_router()


@page.get("/directory")
@allow(Page.DIRECTORY)
def directory_page(request: Request, portal: PortalDep) -> Response:
    contacts = portal.directory.service_contacts()
    return render(request, "directory.html", {"contacts": contacts})


class ServiceContactOut(BaseModel):
    service_id: str  # what `POST /api/v1/cases/{portal_id}/service` takes
    service: str
    officer: str
    email: str
    phone: str | None
    response_target_working_days: int


@api.get("/directory", response_model=list[ServiceContactOut])
@allow(Page.DIRECTORY)
def directory(portal: PortalDep) -> list[ServiceContactOut]:
    """Council services, their member officer and response target."""
    return [
        ServiceContactOut.model_validate(contact, from_attributes=True)
        for contact in portal.directory.service_contacts()
    ]


__all__ = ["api", "page"]
