"""Talking to the CRM: SOAP and REST clients, auth, deadlines, retries, residency, CRM errors.

Public parts:
- `CRMClient` (the interface), `build_client(settings)`, `CRMSettings` (read from
  caseload.toml by `portal_extensions.config`), `check_connection(settings)` (`caseload crm
  check`);
- the registry of CRM kinds the subpackages (`connector.lagan`, `connector.dataverse`) fill:
  `kinds()`, `register(...)`, `case_event_parser(kind)`, and `UnknownCRMKind`;
- records: `RawCase`, `RawParty`, `RawPayload`, `CaseRef`, `PartyRef`, `Attachment`,
  `HealthReport`, `HealthCheck`;
- errors: `CRMError` and its subclasses (`connector.errors`).
"""

from connector.base import (
    Attachment,
    CaseEvent,
    CasePage,
    CaseRef,
    CRMClient,
    HealthCheck,
    HealthReport,
    PartyRef,
    RawCase,
    RawParty,
    RawPayload,
)
from connector.errors import (
    CRMAuthError,
    CRMConflict,
    CRMContractError,
    CRMError,
    CRMNotFound,
    CRMRejected,
    CRMTimeout,
    CRMUnavailable,
    ResidencyViolation,
)
from connector.factory import (
    UnknownCRMKind,
    build_client,
    case_event_parser,
    kinds,
    register,
    reset_clients,
)
from connector.health import check_connection
from connector.resilience import CRMCircuitOpen
from connector.settings import CRMSettings, SettingsError

__all__ = [
    "Attachment",
    "CRMAuthError",
    "CRMCircuitOpen",
    "CRMClient",
    "CRMConflict",
    "CRMContractError",
    "CRMError",
    "CRMNotFound",
    "CRMRejected",
    "CRMSettings",
    "CRMTimeout",
    "CRMUnavailable",
    "CaseEvent",
    "CasePage",
    "CaseRef",
    "HealthCheck",
    "HealthReport",
    "PartyRef",
    "RawCase",
    "RawParty",
    "RawPayload",
    "ResidencyViolation",
    "SettingsError",
    "UnknownCRMKind",
    "build_client",
    "case_event_parser",
    "check_connection",
    "kinds",
    "register",
    "reset_clients",
]
