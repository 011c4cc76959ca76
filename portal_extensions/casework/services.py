"""Sending a case to a council service: the service is chosen from the directory, the reply is
due a number of working days later (the service's response target, counted without weekends
and the council nation's bank holidays), and the case becomes `with_service`.

The change is a new `ServiceRequest` on the case, written through `CaseWrites.update_case`, so
the index (and with it the service officers' lists) changes with the outbox row and its audit
event, and the CRM is told by the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mappings.model import CaseStatus, MemberCase, ServiceRequest
from portal_extensions.access import Viewer, council_day
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.ports import CaseWrites
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.casework.working_days import Nation, add_working_days
from portal_extensions.store.directory import ServiceContact


@dataclass
class ServiceChange:
    case: MemberCase | None
    errors: dict[str, str]
    conflict: str | None = None
    response_due: date | None = None


def service_change(
    case: MemberCase,
    service_id: str,
    contacts: list[ServiceContact],
    now: datetime,
    nation: Nation,
) -> ServiceChange:
    """The case sent to the chosen service, or the problem (beside the field, or a conflict)."""
    if not case.is_open:
        return ServiceChange(None, {}, "Reopen the case before sending it to a service")
    by_id = {contact.service_id: contact for contact in contacts if contact.service_id}
    contact = by_id.get(service_id.strip())
    if contact is None:
        return ServiceChange(None, {"service_id": "Select the service to send the case to"})
    due = add_working_days(council_day(now), contact.response_target_working_days, nation)
    request = ServiceRequest(
        service_id=contact.service_id,
        officer_id=contact.officer_id,
        sent_at=now,
        response_due=due,
    )
    changed = case.model_copy(
        update={
            "service_id": contact.service_id,
            "status": CaseStatus.WITH_SERVICE,
            "service_requests": [*case.service_requests, request],
        }
    )
    return ServiceChange(MemberCase.model_validate(changed.model_dump()), {}, response_due=due)


def send_to_service(
    visible: VisibleCase,
    service_id: str,
    *,
    viewer: Viewer,
    contacts: list[ServiceContact],
    writes: CaseWrites,
    now: datetime,
    nation: Nation,
) -> ChangeResult:
    """Send an opened case (`cases.open_case` with `Action.SEND_TO_SERVICE`) to a service and
    queue the change; `Queued.response_due` says when the reply is due."""
    change = service_change(visible.stored.case, service_id, contacts, now, nation)
    if change.conflict:
        return Conflict(change.conflict)
    if change.errors or change.case is None or change.response_due is None:
        return Invalid(change.errors)
    key = writes.update_case(
        change.case,
        change="send_to_service",
        actor=viewer.user_id,
        on_behalf_of=visible.on_behalf_of,
    )
    return Queued(change.case.portal_id, key, response_due=change.response_due)


__all__ = ["ServiceChange", "send_to_service", "service_change"]
