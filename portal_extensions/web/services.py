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
from portal_extensions.access import council_day
from portal_extensions.store.directory import ServiceContact
from portal_extensions.web.working_days import Nation, add_working_days


@dataclass
class ServiceChange:
    case: MemberCase | None
    errors: dict[str, str]
    conflict: str | None = None
    response_due: date | None = None


def send_to_service(
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


__all__ = ["ServiceChange", "send_to_service"]
