"""One error hierarchy for every CRM, mapped once at the connector boundary.

Each error carries what an administrator needs to act (which CRM, which operation, the CRM's own
code, the request id, advice) and never the response body, personal data or credentials: these
messages end up in logs, audit trails and support tickets. Each class says whether it is worth
retrying, so the retry predicate in `connector.resilience` is one line.
"""

from __future__ import annotations

import re
import unicodedata

#: C0/C1 controls (ESC starts terminal escape sequences), DEL, and the Unicode format controls
#: that reorder or hide text on screen (bidi overrides and isolates, zero-width characters).
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+")


def printable(text: str) -> str:
    """`text` safe to print on a terminal or a log line: every run of control characters becomes
    one space, so a CRM's own words cannot move the cursor, recolour or rewrite the screen."""
    cleaned = _CONTROL_RUN.sub(" ", text)
    if any(unicodedata.category(ch) == "Cf" for ch in cleaned):
        cleaned = "".join(" " if unicodedata.category(ch) == "Cf" else ch for ch in cleaned)
    return cleaned


def _printable_or_none(text: str | None) -> str | None:
    return None if text is None else printable(text)


class CRMError(Exception):
    """Root of every failure the connector reports; callers catch this one type."""

    retryable: bool = False
    default_advice: str = "Check the CRM connection with `caseload crm check`."

    def __init__(
        self,
        message: str,
        *,
        crm: str = "",
        operation: str = "",
        crm_code: str | None = None,
        request_id: str | None = None,
        advice: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        # The message, code and request id may be the CRM's own words: stripped of control
        # characters here, once, so every terminal, log and page shows them safely.
        self.message = printable(message)
        self.crm = crm
        self.operation = operation
        self.crm_code = _printable_or_none(crm_code)
        self.request_id = _printable_or_none(request_id)
        self.advice = printable(advice) if advice is not None else self.default_advice
        self.status = status
        #: seconds the CRM asked us to wait (429/503 Retry-After), if it said.
        self.retry_after = retry_after
        #: True when the request may have reached the CRM (the answer was lost): only calls
        #: that are safe to repeat may be retried after such a failure.
        self.ambiguous = ambiguous
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = "/".join(part for part in (self.crm, self.operation) if part) or "crm"
        parts = [f"{where}: {self.message}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.crm_code:
            parts.append(f"CRM code {self.crm_code}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        text = "; ".join(parts)
        return f"{text}. {self.advice}" if self.advice else text


class CRMUnavailable(CRMError):
    """The CRM could not be reached or answered 5xx/429, or the circuit breaker is open."""

    retryable = True
    default_advice = (
        "The CRM is not answering; writes stay queued in the outbox. If this lasts, check the "
        "CRM service and the network path with `caseload crm check`."
    )


class CRMTimeout(CRMError):
    """A call passed its connect, read or total deadline; it may or may not have been applied."""

    retryable = True
    default_advice = (
        "The CRM was too slow. Check its load, or raise `crm.read_timeout`/`crm.deadline` in "
        "caseload.toml if it is known to be slow."
    )


class CRMAuthError(CRMError):
    """The CRM refused the credentials or the session could not be renewed."""

    default_advice = (
        "Check the CRM user and secret (CASELOAD_CRM_* environment or the secrets file) and that "
        "the account is not locked or expired."
    )


class CRMNotFound(CRMError):
    """The CRM has no record with the given reference."""

    default_advice = "Check the reference; the record may have been deleted or merged in the CRM."


class CRMConflict(CRMError):
    """The write clashes with the CRM's current state (already exists, closed, changed)."""

    default_advice = "Refresh the record from the CRM and retry the change if it still applies."


class CRMRejected(CRMError):
    """The CRM refused the request as invalid (validation, bad code, missing field)."""

    default_advice = (
        "The CRM rejected the data; check the mapping profile (`caseload mappings validate`) "
        "and the CRM's code book."
    )


class CRMContractError(CRMError):
    """The CRM answered with something the contract does not allow (or hostile XML)."""

    default_advice = (
        "The CRM's answer did not match the expected contract; check the CRM version and the "
        "pinned WSDL hash, and report it with the request id."
    )


class ResidencyViolation(CRMError):
    """A request would have left the council's allowed hosts; it was never sent."""

    default_advice = (
        "Only hosts in `crm.allowed_hosts` may be contacted. Add the host there if it really "
        "is the council's own CRM."
    )


__all__ = [
    "CRMAuthError",
    "CRMConflict",
    "CRMContractError",
    "CRMError",
    "CRMNotFound",
    "CRMRejected",
    "CRMTimeout",
    "CRMUnavailable",
    "ResidencyViolation",
    "printable",
]
