"""The members' portal web front: pages, JSON API, sign-in and security.

`create_app(settings, accounts=..., cases=..., audit=..., health=...)` builds the ASGI app;
the store supplies `accounts` (`Accounts`), `cases` (`CaseRepository`), `audit` (`AuditTrail`)
and `health` (`HealthSource`).
"""

from portal_extensions.config import PortalSettings, SignInMode
from portal_extensions.web.app import RouteAccess, allow, create_app, public, route_access
from portal_extensions.web.auth import AccountBook, Accounts
from portal_extensions.web.ports import (
    AuditTrail,
    CaseWrites,
    EnquiryOptions,
    HealthSource,
    MemoryAuditTrail,
    MemoryCaseWrites,
    MemoryEnquiryOptions,
    MemorySessionRegistry,
    SessionRegistry,
)
from portal_extensions.web.repository import CaseRepository, MemoryCaseRepository

__all__ = [
    "AccountBook",
    "Accounts",
    "AuditTrail",
    "CaseRepository",
    "CaseWrites",
    "EnquiryOptions",
    "HealthSource",
    "MemoryAuditTrail",
    "MemoryCaseRepository",
    "MemoryCaseWrites",
    "MemoryEnquiryOptions",
    "MemorySessionRegistry",
    "PortalSettings",
    "RouteAccess",
    "SessionRegistry",
    "SignInMode",
    "allow",
    "create_app",
    "public",
    "route_access",
]
