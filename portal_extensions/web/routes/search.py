"""Searching the cases the viewer may see, in the fields they may see: the page and the JSON
call, over `casework.search.search_cases`.

The words are posted, never put in the address: they are often a resident's name, which must
not reach browser history, web server or proxy logs. The results page is the POST's answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from portal_extensions.access import Page, Viewer
from portal_extensions.casework.search import MAX_QUERY_LENGTH, SEARCH_LIMIT
from portal_extensions.store.case_types import CaseSummary
from portal_extensions.web import deps
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render
from portal_extensions.web.routes.caseload import CaseRowOut, case_rows, rows_context

page = page_router()
api = api_router()


def _search_page(
    request: Request, portal: Portal, viewer: Viewer, query: str, rows: list[CaseSummary]
) -> Response:
    return render(
        request,
        "search.html",
        {
            "query": query[:MAX_QUERY_LENGTH],
            "searched": bool(query.strip()),
            **rows_context(portal, viewer, rows),
            "limit": SEARCH_LIMIT,
        },
    )


@page.get("/search")
@allow(Page.SEARCH)
def search_form(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    return _search_page(request, portal, viewer, "", [])


@page.post("/search")
@allow(Page.SEARCH)
def search_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    q: Annotated[str, Form()] = "",
) -> Response:
    """The cases matching the words; only the first 200 characters are searched, so a longer
    entry is no dead end."""
    return _search_page(request, portal, viewer, q, deps.search(portal, viewer, q))


class SearchOut(BaseModel):
    cases: list[CaseRowOut]


class SearchIn(BaseModel):
    text: Annotated[str, Field(max_length=400)]


@api.post("/search", response_model=SearchOut)
@allow(Page.SEARCH)
def search(portal: PortalDep, viewer: ViewerDep, query: SearchIn) -> SearchOut:
    """Cases the viewer may see matching every word of `text` in fields they may see. Posted,
    so the words (often a resident's name) are never in an address or a log."""
    rows = deps.search(portal, viewer, query.text)
    return SearchOut(cases=case_rows(rows, portal.directory.names()))


__all__ = ["api", "page"]
