"""The members' portal web front: pages, JSON API, sign-in and security.

`create_app(settings, accounts=..., cases=..., audit=..., health=...)` builds the ASGI app;
the store supplies `accounts` (`Accounts`), `cases` (`CaseRepository`), `audit` (`AuditTrail`)
and `health` (`HealthSource`).
"""

from portal_extensions.config import PortalSettings, SignInMode
from portal_extensions.web.app import RouteAccess, allow, create_app, public, route_access
from portal_extensions.web.auth import Account, AccountBook, Accounts, hash_password
from portal_extensions.web.ports import (
    AuditTrail,
    CaseWrites,
    Choice,
    EnquiryOptions,
    HealthCheck,
    HealthSource,
    MemberChoice,
    MemoryAuditTrail,
    MemoryCaseWrites,
    MemoryEnquiryOptions,
    MemorySessionRegistry,
    Outcome,
    PendingWrite,
    PortalAuditEvent,
    SessionRegistry,
)
from portal_extensions.web.repository import (
    Bucket,
    CaseListing,
    CaseRepository,
    CaseSummary,
    MemoryCaseRepository,
    StoredCase,
    in_bucket,
)

__all__ = [
    "Account",
    "AccountBook",
    "Accounts",
    "AuditTrail",
    "Bucket",
    "CaseListing",
    "CaseRepository",
    "CaseSummary",
    "CaseWrites",
    "Choice",
    "EnquiryOptions",
    "HealthCheck",
    "HealthSource",
    "MemberChoice",
    "MemoryAuditTrail",
    "MemoryCaseRepository",
    "MemoryCaseWrites",
    "MemoryEnquiryOptions",
    "MemorySessionRegistry",
    "Outcome",
    "PendingWrite",
    "PortalAuditEvent",
    "PortalSettings",
    "RouteAccess",
    "SessionRegistry",
    "SignInMode",
    "StoredCase",
    "allow",
    "create_app",
    "hash_password",
    "in_bucket",
    "public",
    "route_access",
]
