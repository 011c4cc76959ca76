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


BIND = "@odata.bind"
#: `Prefer` value that makes Dataverse say which table each lookup points at.
LOOKUP_ANNOTATIONS = 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'
#: Single-valued navigation properties of polymorphic lookups: property -> lookup column.
POLYMORPHIC = {"customerid_contact": "customerid", "customerid_account": "customerid"}
#: The navigation property of a polymorphic lookup that binds a record of each entity set.
BIND_BY_SET = {
    ("customerid", "contacts"): "customerid_contact",
    ("customerid", "accounts"): ("customerid_account"),
}
_BOUND = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*)\(([0-9a-fA-F-]{36})\)$")


def lookup_of(navigation: str) -> str:
    """The lookup column a single-valued navigation property sets (`customerid_account` ->
    `customerid`; `primarycontactid` -> itself)."""
    return POLYMORPHIC.get(navigation, navigation)


def bound_id(value: Any) -> tuple[str, str] | None:
    """(entity set, id) of an `@odata.bind` value such as `/contacts(<guid>)`."""
    match = _BOUND.match(str(value))
    return (match.group(1), match.group(2).lower()) if match else None


def bind_key(key: str, value: Any) -> str:
    """The `<navigation>@odata.bind` key that binds `value`: for a polymorphic lookup, the
    navigation property of the entity set the value names (an account binds through
    `customerid_account`, never `customerid_contact`)."""
    bound = bound_id(value)
    lookup = lookup_of(key.removesuffix(BIND))
    if bound is not None and lookup != key.removesuffix(BIND):
        navigation = BIND_BY_SET.get((lookup, bound[0]))
        if navigation is not None:
            return navigation + BIND
    return key


def same_value(have: Any, want: Any) -> bool:
    """Whether a column already holds a value (times compared as instants, text exactly)."""
    if have == want:
        return True
    if have in (None, "") and want in (None, ""):
        return True
    if isinstance(have, str) and isinstance(want, str) and "T" in have and "T" in want:
        try:
            a = datetime.fromisoformat(have.replace("Z", "+00:00"))
            b = datetime.fromisoformat(want.replace("Z", "+00:00"))
        except ValueError:
            return False
        if a.tzinfo is None or b.tzinfo is None:
            return False
        return a == b
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    if isinstance(have, int | float) and isinstance(want, int | float):
        return float(have) == float(want)
    return False


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


__all__ = [
    "BIND",
    "GUID",
    "KIND",
    "LOOKUP_ANNOTATIONS",
    "TokenExpired",
    "bind_key",
    "bound_id",
    "iso",
    "lookup_of",
    "odata_error",
    "odata_str",
    "same_value",
    "strip_annotations",
]
