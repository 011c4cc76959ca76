"""What every HTML page shares: the navigation, rendering a template with the page's frame, and
the message pages (refusals, not found), which a program calling the JSON API gets as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from portal_extensions.access import Page, Role, Viewer, may_open
from portal_extensions.web.deps import current_viewer, portal_of
from portal_extensions.web.guard import is_api
from portal_extensions.web.security import csrf_token

#: The pages the navigation links to, in order; each is shown iff the viewer may open it.
NAVIGATION: tuple[tuple[Page, str], ...] = (
    (Page.CASELOAD, "/caseload"),
    (Page.WARD, "/ward"),
    (Page.NEW_ENQUIRY, "/enquiries/new"),
    (Page.SEARCH, "/search"),
    (Page.DIRECTORY, "/directory"),
    (Page.REPORTS, "/reports"),
    (Page.SCRUTINY_REPORT, "/reports/scrutiny"),
    (Page.HEALTH, "/health"),
    (Page.ACCOUNTS, "/accounts"),
    (Page.NEW_ACCOUNT, "/accounts/new"),
)
_LINK_TEXT = {
    Page.CASELOAD: "Cases",
    Page.WARD: "Ward",
    Page.NEW_ENQUIRY: "New enquiry",
    Page.SEARCH: "Search",
    Page.DIRECTORY: "Directory",
    Page.REPORTS: "Reports",
    Page.SCRUTINY_REPORT: "Scrutiny report",
    Page.HEALTH: "Health",
    Page.ACCOUNTS: "Accounts",
    Page.NEW_ACCOUNT: "New account",
}


def caseload_name(viewer: Viewer) -> str:
    """What the viewer's own list is called: a member's caseload, everyone else's cases."""
    return "My caseload" if viewer.role is Role.MEMBER else _LINK_TEXT[Page.CASELOAD]


def navigation_links(viewer: Viewer | None) -> list[tuple[str, str]]:
    """(text, href) of each page in the navigation that the viewer may open."""
    if viewer is None:
        return []
    return [
        (caseload_name(viewer) if page is Page.CASELOAD else _LINK_TEXT[page], href)
        for page, href in NAVIGATION
        if may_open(viewer, page)
    ]


def navigation(request: Request) -> list[dict[str, Any]]:
    path = request.url.path
    return [
        {"text": text, "href": href, "current": path == href}
        for text, href in navigation_links(current_viewer(request))
    ]


#: The session key of the one-off message a page shows after a change (post, redirect, get):
#: a fixed sentence saying what was done, never personal data (the session cookie is signed,
#: not encrypted), kept with the path of the page it is for (`set_flash`).
FLASH = "flash"


def set_flash(request: Request, path: str, text: str) -> None:
    """Show `text` in a success banner on the next page, if that page is `path`."""
    request.session[FLASH] = {"path": path, "text": text}


def _take_flash(request: Request) -> str | None:
    """The success message left for this page; any message is used up by the next page
    rendered, so one meant for another page (a redirect not followed) is never shown late."""
    flash = request.session.pop(FLASH, None)
    if isinstance(flash, dict) and flash.get("path") == request.url.path:
        text = flash.get("text")
        return text if isinstance(text, str) else None
    return None


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A template in the page's frame: council name, viewer, CSRF token, navigation and the
    success message left by the change that led here (`FLASH`, shown once)."""
    portal = portal_of(request)
    values: dict[str, Any] = {
        "council_name": portal.settings.council_name,
        "viewer": current_viewer(request),
        "csrf_token": csrf_token(request.session),
        "navigation": navigation(request),
        "errors": [],
        "flash": _take_flash(request),
    }
    values.update(context or {})
    body = portal.templates.get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def message_page(
    request: Request, status_code: int, heading: str, paragraphs: Sequence[str]
) -> Response:
    if is_api(request):
        return JSONResponse({"error": heading, "detail": " ".join(paragraphs)}, status_code)
    return render(
        request, "message.html", {"heading": heading, "paragraphs": paragraphs}, status_code
    )


def not_found_response(request: Request) -> Response:
    return message_page(
        request,
        404,
        "Page not found",
        [
            "If you typed the web address, check it is correct. If you followed a link to a case,"
            " it may have been closed to you or removed."
        ],
    )


__all__ = [
    "FLASH",
    "NAVIGATION",
    "caseload_name",
    "message_page",
    "navigation",
    "navigation_links",
    "not_found_response",
    "render",
    "set_flash",
]
