"""Closing a case with the reason, and reopening a closed one: the one home of their
preconditions, shared by the case page and the JSON API."""

from __future__ import annotations

from mappings.model import CaseStatus
from portal_extensions.access import Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.notes import text_problem
from portal_extensions.casework.ports import CaseWrites
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued


def close_case(
    visible: VisibleCase, reason: str, *, viewer: Viewer, writes: CaseWrites
) -> ChangeResult:
    """Queue closing an opened case (`Action.CLOSE`). A closed case is a conflict; a missing
    or overlong reason is reported as `close`."""
    case = visible.stored.case
    if not case.is_open:
        return Conflict("This case is already closed")
    reason = reason.strip()
    problem = text_problem(reason, "Enter why the case is being closed")
    if problem:
        return Invalid({"close": problem})
    key = writes.close(
        case.portal_id, reason, actor=viewer.user_id, on_behalf_of=visible.on_behalf_of
    )
    return Queued(case.portal_id, key)


def reopen_case(
    visible: VisibleCase, reason: str, *, viewer: Viewer, writes: CaseWrites
) -> ChangeResult:
    """Queue reopening an opened case (`Action.REOPEN`). A case that is not closed is a
    conflict; a missing or overlong reason is reported as `reopen`."""
    case = visible.stored.case
    if case.status is not CaseStatus.CLOSED:
        return Conflict("This case is not closed")
    reason = reason.strip()
    problem = text_problem(reason, "Enter why the case is being reopened")
    if problem:
        return Invalid({"reopen": problem})
    key = writes.reopen(
        case.portal_id, reason, actor=viewer.user_id, on_behalf_of=visible.on_behalf_of
    )
    return Queued(case.portal_id, key)


__all__ = ["close_case", "reopen_case"]
