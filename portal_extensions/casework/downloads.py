"""Handing out a case's files: who may have which, and what type each is served as.

A file stored with the case in the CRM goes to viewers who may see the case's notes; a file
still waiting in the outbox also goes to the person who uploaded it. Anything else, and any
file that is not there, is `CaseNotFound`: the same answer as a case the viewer may not see,
so a refusal says nothing about what exists. Every file handed out is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal_extensions.access import Viewer
from portal_extensions.casework.attachments import served_media_type
from portal_extensions.casework.auditing import record
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.errors import CaseNotFound
from portal_extensions.casework.ports import AttachmentSource, AuditTrail, CaseWrites
from portal_extensions.store.audit import Outcome


@dataclass(frozen=True, slots=True)
class Download:
    name: str
    content: bytes
    media_type: str  # decided by the content (`attachments.served_media_type`)


def _handed_out(
    visible: VisibleCase, download: Download, viewer: Viewer, audit: AuditTrail, now: datetime
) -> Download:
    record(
        audit,
        viewer,
        now,
        "download_attachment",
        Outcome.ALLOWED,
        subject_type="case",
        subject_id=str(visible.stored.case.portal_id),
        on_behalf_of=visible.on_behalf_of,
    )
    return download


def stored_file(
    visible: VisibleCase,
    document_id: str,
    *,
    viewer: Viewer,
    source: AttachmentSource | None,
    audit: AuditTrail,
    now: datetime,
) -> Download:
    """A file of one of the case's notes, fetched from the CRM's document store (`source`;
    None when no CRM is configured, and then there is nothing to fetch)."""
    if "notes" not in visible.fields or source is None:
        raise CaseNotFound
    case = visible.stored.case
    ref = next(
        (
            attachment
            for note in case.notes
            for attachment in note.attachments
            if attachment.crm_document_id == document_id
        ),
        None,
    )
    content = source.fetch(case, document_id) if ref is not None else None
    if ref is None or content is None:
        raise CaseNotFound
    media_type = served_media_type(ref.filename, content, ref.media_type)
    return _handed_out(visible, Download(ref.filename, content, media_type), viewer, audit, now)


def queued_file(
    visible: VisibleCase,
    file_id: str,
    *,
    viewer: Viewer,
    writes: CaseWrites,
    audit: AuditTrail,
    now: datetime,
) -> Download:
    """A file uploaded through the portal that the CRM has not confirmed yet, from the
    outbox: for its uploader and for viewers who may see the case's notes."""
    found = writes.queued_file(visible.stored.case.portal_id, file_id)
    if found is None:
        raise CaseNotFound
    write, file = found
    if "notes" not in visible.fields and write.actor != viewer.user_id:
        raise CaseNotFound
    download = Download(file.name, file.content, served_media_type(file.name, file.content))
    return _handed_out(visible, download, viewer, audit, now)


__all__ = ["Download", "queued_file", "stored_file"]
