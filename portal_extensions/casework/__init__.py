"""The application layer: what members and staff do with cases, free of HTTP.

Record an enquiry (`enquiries`), open, list and search cases for a viewer, audited (`cases`,
`search`, `lookup`), a case's timeline (`timeline`), notes and files (`notes`, `attachments`,
`downloads`), sending to a service (`services`, counting `working_days`), closing and
reopening (`closing`), sharing and authority (`consent`), a service's reply (`responses`), and
accounts as administrators manage them (`accounts`). Each call takes the viewer, the
ports it works through (`ports`) and the time; a change answers `Queued`, `Conflict` or
`Invalid` (`results`), and a case the viewer may not see or change raises `CaseNotFound` or
`ActionRefused` (`errors`).

Imports point one way: the web front imports casework; casework imports the store's types and
the access policy, never the web front.
"""

from portal_extensions.casework.cases import (
    VisibleCase,
    api_whose_choices,
    list_cases,
    open_case,
    page_whose_choices,
    parse_bucket,
    parse_whose,
)
from portal_extensions.casework.closing import close_case, reopen_case
from portal_extensions.casework.consent import (
    AuthorityDecision,
    AuthorityForm,
    SharingForm,
    change_authority,
    change_sharing,
)
from portal_extensions.casework.downloads import Download, queued_file, stored_file
from portal_extensions.casework.enquiries import EnquiryForm, build_case, record_enquiry
from portal_extensions.casework.errors import ActionRefused, CaseNotFound, CaseworkError
from portal_extensions.casework.lookup import LookupResult, ResidentMatch, find_residents
from portal_extensions.casework.notes import MAX_TEXT_LENGTH, add_note, attach_file
from portal_extensions.casework.ports import (
    AccountAdmin,
    Accounts,
    AttachmentSource,
    AuditTrail,
    CaseRepository,
    CaseWrites,
    DirectorySource,
    EnquiryOptions,
    HealthSource,
    PartySearchUnavailable,
    PartySource,
    SessionRegistry,
)
from portal_extensions.casework.responses import ResponseView, respond, response_view
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.casework.search import SEARCH_LIMIT, search_cases
from portal_extensions.casework.services import send_to_service
from portal_extensions.casework.timeline import TimelineEntry, own_pending, timeline
from portal_extensions.casework.working_days import Nation, add_working_days, is_working_day

__all__ = [
    "MAX_TEXT_LENGTH",
    "SEARCH_LIMIT",
    "AccountAdmin",
    "Accounts",
    "ActionRefused",
    "AttachmentSource",
    "AuditTrail",
    "AuthorityDecision",
    "AuthorityForm",
    "CaseNotFound",
    "CaseRepository",
    "CaseWrites",
    "CaseworkError",
    "ChangeResult",
    "Conflict",
    "DirectorySource",
    "Download",
    "EnquiryForm",
    "EnquiryOptions",
    "HealthSource",
    "Invalid",
    "LookupResult",
    "Nation",
    "PartySearchUnavailable",
    "PartySource",
    "Queued",
    "ResidentMatch",
    "ResponseView",
    "SessionRegistry",
    "SharingForm",
    "TimelineEntry",
    "VisibleCase",
    "add_note",
    "add_working_days",
    "api_whose_choices",
    "attach_file",
    "build_case",
    "change_authority",
    "change_sharing",
    "close_case",
    "find_residents",
    "is_working_day",
    "list_cases",
    "open_case",
    "own_pending",
    "page_whose_choices",
    "parse_bucket",
    "parse_whose",
    "queued_file",
    "record_enquiry",
    "reopen_case",
    "respond",
    "response_view",
    "search_cases",
    "send_to_service",
    "stored_file",
    "timeline",
]
