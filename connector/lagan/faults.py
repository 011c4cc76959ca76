"""Lagan failures as typed `CRMError`s: SOAP faults, HTTP statuses and answers that are not SOAP.

Mapped once, here: the message is the CRM's own words (cut short), never the body.

No public table of `FWTException.ErrorCode` values exists, so codes are kept (as `crm_code`,
for support tickets) but never decide anything. A fault is classified by what is known of it:
an Apache Axis "Invalid element" fault (the server's bean lacks a request element), the words
of the message (a case that does not exist, an expired session), and the fault code's side
(Client or Server). HTTP-level failures (429, 5xx, a proxy's HTML page, an empty body) are
decided before any XML is read.
"""

from __future__ import annotations

import re
from typing import Any

import requests
import zeep.exceptions
from lxml import etree

from connector.errors import (
    CRMAuthError,
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

#: Axis 1.4's answer to a request element its bean lacks (faultcode Server.userException).
_AXIS_INVALID = re.compile(r"Invalid element in (?P<bean>[\w.$]+)\s*-\s*(?P<name>[\w.$]+)")
#: How FL and its Axis stack word "that object does not exist".
_NOT_FOUND = re.compile(
    r"\b(not found|does not exist|doesn't exist|no such|could not be found|unknown case|"
    r"invalid case reference)\b",
    re.IGNORECASE,
)
#: An FLAuth session the server no longer honours: renew once and repeat the call.
_SESSION_GONE = re.compile(
    r"\b(session|token)\b.*\b(expired|not recogni[sz]ed|invalid|unknown)\b", re.IGNORECASE
)
_AUTH_REFUSED = re.compile(
    r"\b(authenticat\w*|not authori[sz]ed|password|credentials|user name)\b", re.IGNORECASE
)


class LaganAuthExpired(CRMAuthError):
    """The FLAuth token expired: renew once and repeat the call."""


def fault_error(fault: dict[str, Any], operation: str) -> CRMError:
    """A SOAP fault as a typed error; the message is the CRM's own words."""
    raw_code = str(fault.get("ErrorCode", "")).strip()
    code = raw_code or None
    faultstring = str(fault.get("faultstring") or "")
    message = str(fault.get("ErrorMessage") or faultstring or "SOAP fault")[:200]
    invalid = _AXIS_INVALID.search(faultstring)
    if invalid is not None:
        bean = invalid.group("bean").rsplit(".", 1)[-1]
        return CRMContractError(
            f"the server refused the request element {invalid.group('name')} of {bean}: "
            "its build does not have it",
            crm=KIND,
            operation=operation,
            crm_code=code,
            advice="The connector sends only the published FL contract; report this with "
            "`caseload crm check` output.",
        )
    if _SESSION_GONE.search(message):
        return LaganAuthExpired(message, crm=KIND, operation=operation, crm_code=code)
    if _AUTH_REFUSED.search(message):
        return CRMAuthError(message, crm=KIND, operation=operation, crm_code=code)
    if _NOT_FOUND.search(message):
        return CRMNotFound(message, crm=KIND, operation=operation, crm_code=code)
    return CRMRejected(
        message,
        crm=KIND,
        operation=operation,
        crm_code=code,
        advice="The CRM refused the request; its message says why.",
    )


def status_error(resp: requests.Response, operation: str) -> CRMError | None:
    """The error an HTTP status or a non-SOAP answer stands for, else None (the body decides).

    429/502/503/504 are retryable, 401/403 refuse the credentials. A body that is not XML (a
    proxy's HTML error page, an empty answer, JSON) is never parsed: it is named for what it is,
    with the status, and a 5xx one counts as the CRM being unavailable.
    """
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
    what = _not_soap(resp)
    if what is None:
        return None
    if resp.status_code >= 500:
        return CRMUnavailable(
            f"the CRM (or a proxy in front of it) answered with {what}, not SOAP",
            crm=KIND,
            operation=operation,
            status=resp.status_code,
            request_id=request_id,
            ambiguous=True,
            advice="Check the CRM and any proxy in front of it; the call is retried.",
        )
    return CRMContractError(
        f"the answer is {what}, not SOAP",
        crm=KIND,
        operation=operation,
        status=resp.status_code,
        request_id=request_id,
        advice="Check crm.endpoint: it should be the FL service URL "
        "(https://HOST/lagan/services/FL), reached without a login page in between.",
    )


def _not_soap(resp: requests.Response) -> str | None:
    """What the answer is, if its headers show it is plainly not SOAP (an HTML error page,
    JSON, nothing at all); anything else is left to the XML parser to judge."""
    content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if resp.headers.get("Content-Length", "").strip() == "0":
        return "an empty body"
    if content_type in ("text/html", "application/xhtml+xml"):
        return "an HTML page"
    if content_type == "application/json" or content_type.endswith("+json"):
        return "a JSON body"
    return None


def checked_root(resp: requests.Response, operation: str, max_text: int) -> etree._Element:
    """The parsed answer of a small (non-streamed) call, once no status or fault refuses it."""
    err = status_error(resp, operation)
    if err is not None:
        raise err
    if not resp.content.strip():
        raise CRMContractError(
            "the answer is an empty body, not SOAP",
            crm=KIND,
            operation=operation,
            status=resp.status_code,
        )
    try:
        root = parse_document(resp.content, max_text=max_text)
    except CRMError as exc:
        exc.operation = exc.operation or operation
        exc.crm = exc.crm or KIND
        raise
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is not None:
        raise fault_error(fault_to_dict(fault, max_text), operation)
    if resp.status_code != 200 or local(root.tag) != "Envelope":
        raise CRMContractError(
            "the answer is not a SOAP envelope"
            if resp.status_code == 200
            else "unexpected HTTP status",
            crm=KIND,
            operation=operation,
            status=resp.status_code,
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
    "KIND",
    "LaganAuthExpired",
    "checked_root",
    "fault_error",
    "status_error",
    "zeep_fault",
]
