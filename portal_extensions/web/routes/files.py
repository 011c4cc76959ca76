"""A case's files: uploading one (the page's form and the JSON call, over
`casework.attach_file`) and downloading one, stored with the case in the CRM or still waiting
in the outbox. A file is always served as a download under a plain, safe name."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from portal_extensions import casework
from portal_extensions.access import Action, Page, Viewer
from portal_extensions.casework import downloads
from portal_extensions.casework.attachments import safe_filename
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import ChangeResult
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case, read_upload
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.routes.case import ProblemsOut, QueuedOut, json_answer, page_answer
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()

UploadField = Annotated[UploadFile | None, File()]
TextField = Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)]


async def _attach(
    portal: Portal, viewer: Viewer, portal_id: str, upload: UploadFile | None, text: str
) -> tuple[VisibleCase, ChangeResult]:
    """Open the case for an upload, read the file and queue it as a note (both formats)."""
    visible = open_case(portal, viewer, portal_id, Action.UPLOAD)
    filename, content = await read_upload(portal, upload)
    result = casework.attach_file(
        visible,
        filename,
        content,
        text,
        viewer=viewer,
        writes=portal.writes,
        max_bytes=portal.settings.attachment_max_bytes,
    )
    return visible, result


@case_form(page, "/cases/{portal_id}/attachments", Action.UPLOAD)
async def upload_attachment_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    file: UploadField = None,
    text: TextField = "",
) -> Response:
    """Attach a file (checked by its content) to the case, as a note queued for the CRM."""
    visible, result = await _attach(portal, viewer, portal_id, file, text)
    return page_answer(request, portal, viewer, visible, result, {"file_note": text.strip()})


@case_change(
    api,
    "/cases/{portal_id}/attachments",
    Action.UPLOAD,
    responses={422: {"model": ProblemsOut}, 413: {"description": "Larger than allowed"}},
)
async def upload_attachment(
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    file: UploadField = None,
    text: TextField = "",
) -> QueuedOut | JSONResponse:
    """Attach a file (multipart `file`, optional `text`) as a note queued for the CRM. PDF,
    PNG, JPEG, Word, Excel, text, .eml or .msg, checked by content; size limit configured."""
    _, result = await _attach(portal, viewer, portal_id, file, text)
    return json_answer(result, "Check the file")


def content_disposition(filename: str) -> str:
    """An `attachment` header for a sanitised name (ASCII, no quotes to escape)."""
    extension = filename.rsplit(".", 1)[-1].casefold() if "." in filename else "bin"
    plain = safe_filename(filename, extension if extension.isalnum() else "bin")
    return f'attachment; filename="{plain}"'


def _download(found: downloads.Download) -> Response:
    """A file as a download: never shown inline, never cached, never sniffed (the app's
    headers add `nosniff`)."""
    return Response(
        found.content,
        media_type=found.media_type,
        headers={
            "Content-Disposition": content_disposition(found.name),
            "Cache-Control": "no-store",
        },
    )


@page.get("/cases/{portal_id}/attachments/{document_id}")
@allow(Page.CASE, case_param="portal_id")
def download_attachment(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, document_id: str
) -> Response:
    """A file stored with the case, as a download (never shown inline), for viewers who may
    see the case's notes. Anything else is 'not found'."""
    visible = open_case(portal, viewer, portal_id)
    found = downloads.stored_file(
        visible,
        document_id,
        viewer=viewer,
        source=portal.attachments,
        audit=portal.audit,
        now=portal.clock(),
    )
    return _download(found)


@page.get("/cases/{portal_id}/queued-files/{file_id}")
@allow(Page.CASE, case_param="portal_id")
def download_queued_file(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, file_id: str
) -> Response:
    """A file uploaded through the portal that the CRM has not confirmed yet, from the outbox:
    for the uploader and for viewers who may see the case's notes (as confirmed files).
    Anything else is 'not found'."""
    visible = open_case(portal, viewer, portal_id)
    found = downloads.queued_file(
        visible,
        file_id,
        viewer=viewer,
        writes=portal.writes,
        audit=portal.audit,
        now=portal.clock(),
    )
    return _download(found)


__all__ = ["api", "content_disposition", "page"]
