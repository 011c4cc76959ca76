"""The portal's own stylesheet, script, fonts and images (`web/assets.py` loads them), served
to anyone with an ETag so a browser revalidates rather than downloads again."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from portal_extensions.web.deps import PortalDep
from portal_extensions.web.guard import page_router, public
from portal_extensions.web.refusals import NotFound

page = page_router()


@page.get("/assets/{name}")
@public
def asset(request: Request, portal: PortalDep, name: str) -> Response:
    found = portal.assets.get(name)
    if found is None:
        raise NotFound
    headers = {"ETag": found.etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


__all__ = ["page"]
