"""Talking to the CRM: SOAP and REST clients, auth, deadlines, retries, residency, CRM errors.

Public parts:
- `CRMClient` (the interface), `build_client(settings)`, `load_crm_settings(path)`,
  `CRMSettings`, `check_connection(settings)` (`caseload crm check`);
- records: `RawCase`, `RawParty`, `RawPayload`, `CaseRef`, `PartyRef`, `Attachment`,
  `HealthReport`, `HealthCheck`;
- errors: `CRMError` and its subclasses (`connector.errors`).
"""

from connector.base import (
    Attachment,
    CasePage,
    CaseRef,
    CRMClient,
    CRMKind,
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
from connector.factory import build_client, reset_clients
from connector.health import check_connection
from connector.resilience import CRMCircuitOpen
from connector.settings import CRMSettings, SettingsError, load_crm_settings

__all__ = [
    "Attachment",
    "CRMAuthError",
    "CRMCircuitOpen",
    "CRMClient",
    "CRMConflict",
    "CRMContractError",
    "CRMError",
    "CRMKind",
    "CRMNotFound",
    "CRMRejected",
    "CRMSettings",
    "CRMTimeout",
    "CRMUnavailable",
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
    "build_client",
    "check_connection",
    "load_crm_settings",
    "reset_clients",
]
