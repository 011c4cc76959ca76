"""Lagan failures as typed `CRMError`s: FWTException codes, SOAP faults and HTTP statuses.

Mapped once, here: the message is the CRM's own words (cut short), never the body.
"""

from __future__ import annotations

from typing import Any

import requests
import zeep.exceptions
from lxml import etree

from connector.errors import (
    CRMAuthError,
    CRMConflict,
    CRMContractError,
    CRMError,
    CRMNotFound,
    CRMRejected,
    CRMUnavailable,
)
from connector.lagan.xmlraw import SOAP_ENV, fault_to_dict, local, parse_document
from connector.resilience import error_for_status

#: The CRM kind Lagan registers (`connector.factory`), and names itself by in every error.
KIND = "lagan"

# FWTException ErrorCode -> error class (Lagan codes as used by the sandbox and seen in councils).
FAULT_CODES: dict[int, type[CRMError]] = {
    1000: CRMRejected,
    1001: CRMAuthError,
    1002: CRMAuthError,
    1003: CRMContractError,
    1004: CRMNotFound,
    1005: CRMRejected,
    1010: CRMConflict,
    1011: CRMConflict,
    1500: CRMUnavailable,
}
TOKEN_EXPIRED = {1002}


class LaganAuthExpired(CRMAuthError):
    """The FLAuth token expired: renew once and repeat the call."""


def fault_error(fault: dict[str, Any], operation: str) -> CRMError:
    """A SOAP fault as a typed error: ErrorCode decides; the message is the CRM's own words."""
    raw_code = fault.get("ErrorCode", "")
    code = int(raw_code) if str(raw_code).lstrip("-").isdigit() else None
    message = fault.get("ErrorMessage") or fault.get("faultstring") or "SOAP fault"
    message = message[:200]
    if code in TOKEN_EXPIRED:
        return LaganAuthExpired(message, crm=KIND, operation=operation, crm_code=str(code))
    cls = FAULT_CODES.get(code) if code is not None else None
    if cls is None:
        faultcode = str(fault.get("faultcode", ""))
        cls = CRMRejected if faultcode.endswith("Client") else CRMContractError
    return cls(message, crm=KIND, operation=operation, crm_code=str(code) if code else None)


def status_error(resp: requests.Response, operation: str) -> CRMError | None:
    """The error an HTTP status stands for (429/5xx retryable, 401/403 auth), else None."""
    request_id = resp.headers.get("X-Request-Id")
    err = error_for_status(
        resp.status_code,
        crm=KIND,
        operation=operation,
        retry_after=resp.headers.get("Retry-After"),
        request_id=request_id,
    )
    if err is not None:
        return err
    if resp.status_code in (401, 403):
        return CRMAuthError(
            "the CRM refused the credentials",
            crm=KIND,
            operation=operation,
            status=resp.status_code,
            request_id=request_id,
        )
    return None


def checked_root(resp: requests.Response, operation: str, max_text: int) -> etree._Element:
    """The parsed answer of a small (non-streamed) call, once no status or fault refuses it."""
    err = status_error(resp, operation)
    if err is not None:
        raise err
    root = parse_document(resp.content, max_text=max_text)
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is not None:
        raise fault_error(fault_to_dict(fault, max_text), operation)
    if resp.status_code != 200:
        raise CRMContractError(
            "unexpected HTTP status", crm=KIND, operation=operation, status=resp.status_code
        )
    return root


def zeep_fault(fault: zeep.exceptions.Fault) -> dict[str, Any]:
    """A zeep Fault as the dict `fault_error` reads (the lxml path gives the same keys)."""
    out: dict[str, Any] = {
        "faultcode": str(fault.code or ""),
        "faultstring": str(fault.message or ""),
    }
    detail = fault.detail
    # zeep gives the whole answer as bytes for a Fault it could not read ("Unknown fault").
    if isinstance(detail, etree._Element):
        for node in detail.iter():
            if isinstance(node.tag, str) and local(node.tag) in ("ErrorCode", "ErrorMessage"):
                out[local(node.tag)] = (node.text or "").strip()
    return out


__all__ = [
    "FAULT_CODES",
    "KIND",
    "TOKEN_EXPIRED",
    "LaganAuthExpired",
    "checked_root",
    "fault_error",
    "status_error",
    "zeep_fault",
]
