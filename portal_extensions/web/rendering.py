"""The Jinja environment: our templates plus govuk-frontend-jinja's macros, and the filters that
turn caseload values into plain English."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader, PrefixLoader

from mappings.model import COUNCIL_ZONE, CaseStatus

STATUS_TEXT = {
    CaseStatus.DRAFT: ("Draft", "govuk-tag--grey"),
    CaseStatus.QUEUED: ("Queued", "govuk-tag--grey"),
    CaseStatus.OPEN: ("Open", "govuk-tag--blue"),
    CaseStatus.WITH_SERVICE: ("With service", "govuk-tag--yellow"),
    CaseStatus.RESPONDED: ("Service replied", "govuk-tag--turquoise"),
    CaseStatus.CLOSED: ("Closed", "govuk-tag--green"),
    CaseStatus.REOPENED: ("Reopened", "govuk-tag--blue"),
}


WRITE_TEXT = {
    "create_case": "New case",
    "update_case": "Changes to the case",
    "add_note": "Note",
    "attach": "Note with files",
    "close_case": "Closing the case",
    "reopen_case": "Reopening the case",
}


def council_date(value: date | datetime | None) -> str:
    if value is None:
        return "Not set"
    if isinstance(value, datetime):
        value = value.astimezone(COUNCIL_ZONE).date()
    return f"{value.day} {value:%B %Y}"


def council_time(value: datetime | str | None) -> str:
    if value is None:
        return "Not set"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(COUNCIL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def _status(row: Any) -> tuple[str, str]:
    if getattr(row, "queued", False):
        return ("Waiting for the CRM", "govuk-tag--grey")
    if row.status == CaseStatus.QUEUED and getattr(row, "crm_reference", None):
        # Confirmed by the CRM; the next sync brings the CRM's own status.
        return ("Recorded in the CRM", "govuk-tag--blue")
    return STATUS_TEXT.get(CaseStatus(row.status), ("Unknown", "govuk-tag--grey"))


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("portal_extensions.web", "templates"),
                PrefixLoader(
                    {"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja", "templates")}
                ),
            ]
        ),
        autoescape=True,
        undefined=ChainableUndefined,  # the govuk macros read optional nested parameters
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["council_date"] = council_date
    env.filters["council_time"] = council_time
    env.filters["write_text"] = lambda kind: WRITE_TEXT.get(kind, "Change")
    env.filters["status_text"] = lambda row: _status(row)[0]
    env.filters["status_class"] = lambda row: _status(row)[1]
    return env
