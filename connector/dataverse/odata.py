"""The Dataverse Web API's wire format: OData literals and times, annotations, error answers.

Errors are mapped once, here, from the HTTP status and the OData `error.code`; the message is
the CRM's own words cut short, never the body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from connector.errors import (
    CRMAuthError,
    CRMConflict,
    CRMContractError,
    CRMError,
    CRMNotFound,
    CRMRejected,
    CRMUnavailable,
)
from connector.resilience import error_for_status

KIND = "dynamics365"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def odata_str(value: str) -> str:
    """A string literal for an OData URL ('' escapes a quote)."""
    return "'" + quote(value.replace("'", "''"), safe="") + "'"


def strip_annotations(record: dict[str, Any]) -> dict[str, Any]:
    """The record without OData annotations (`@odata.*`, `<property>@odata.*`), also inside
    expanded related records and collections."""
    return {k: _strip_value(v) for k, v in record.items() if "@odata." not in k}


def _strip_value(value: Any) -> Any:
    if isinstance(value, dict):
        return strip_annotations(value)
    if isinstance(value, list):
        return [_strip_value(item) for item in value]
    return value


def iso(moment: datetime) -> str:
    """A time for an OData filter: UTC, whole seconds, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenExpired(CRMAuthError):
    """401 with a token we hold: renew once and repeat."""


def odata_error(resp: requests.Response, operation: str) -> CRMError:
    """An OData error answer as a typed error (code and message, never the body)."""
    request_id = resp.headers.get("x-ms-service-request-id") or resp.headers.get("REQ_ID")
    transient = error_for_status(
        resp.status_code,
        crm=KIND,
        operation=operation,
        retry_after=resp.headers.get("Retry-After"),
        request_id=request_id,
    )
    if transient is not None:
        return transient
    code, message = None, f"HTTP {resp.status_code}"
    try:
        error = resp.json().get("error", {})
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or message)[:200]
    except (ValueError, AttributeError):
        pass
    status = resp.status_code
    cls: type[CRMError]
    if status == 401:
        cls = TokenExpired
    elif status == 403:
        cls = CRMAuthError
    elif status == 404:
        cls = CRMNotFound
    elif status in (409, 412):
        cls = CRMConflict
    elif 400 <= status < 500:
        cls = CRMRejected
    elif status >= 500:
        cls = CRMUnavailable
    else:
        cls = CRMContractError
    return cls(
        message,
        crm=KIND,
        operation=operation,
        crm_code=code,
        request_id=request_id,
        status=status,
    )


__all__ = ["GUID", "KIND", "TokenExpired", "iso", "odata_error", "odata_str", "strip_annotations"]
