"""Adding to a case's record: a note, or a file with a note. Both are queued for the CRM and
shown on the timeline as waiting until it confirms them."""

from __future__ import annotations

from portal_extensions.access import Viewer
from portal_extensions.casework.attachments import FileProblem, check_file
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.ports import CaseWrites
from portal_extensions.casework.results import Invalid, Queued

MAX_TEXT_LENGTH = 20_000
"""The longest note or reason the CRM is given (its text fields hold more; people do not)."""


def text_problem(text: str, missing: str) -> str | None:
    """Why a note or reason cannot be queued (`missing` when it is blank), or None."""
    if not text:
        return missing
    if len(text) > MAX_TEXT_LENGTH:
        return f"This must be {MAX_TEXT_LENGTH:,} characters or fewer"
    return None


def add_note(
    visible: VisibleCase, text: str, *, viewer: Viewer, writes: CaseWrites
) -> Queued | Invalid:
    """Queue a note on an opened case (`Action.ADD_NOTE`); a problem is reported as `note`."""
    text = text.strip()
    problem = text_problem(text, "Enter the note")
    if problem:
        return Invalid({"note": problem})
    case_id = visible.stored.case.portal_id
    key = writes.add_note(case_id, text, actor=viewer.user_id, on_behalf_of=visible.on_behalf_of)
    return Queued(case_id, key)


def attach_file(
    visible: VisibleCase,
    filename: str,
    content: bytes,
    text: str,
    *,
    viewer: Viewer,
    writes: CaseWrites,
    max_bytes: int,
) -> Queued | Invalid:
    """Queue a file (checked by its content, named safely) with an optional note on an opened
    case (`Action.UPLOAD`). No file at all is an empty name and no content. A problem with
    either is reported as `file`, beside the file field."""
    text = text.strip()
    if len(text) > MAX_TEXT_LENGTH:
        return Invalid({"file": f"The note must be {MAX_TEXT_LENGTH:,} characters or fewer"})
    try:
        checked = check_file(filename, content, max_bytes)
    except FileProblem as problem:
        return Invalid({"file": str(problem)})
    case_id = visible.stored.case.portal_id
    key = writes.attach(
        case_id,
        text or f"File attached: {checked.name}",
        [checked],
        actor=viewer.user_id,
        on_behalf_of=visible.on_behalf_of,
    )
    return Queued(case_id, key)


__all__ = ["MAX_TEXT_LENGTH", "add_note", "attach_file", "text_problem"]
