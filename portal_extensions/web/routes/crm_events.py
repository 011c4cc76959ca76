"""The CRM push-event route: a signed nudge that queues a one-case refresh.

A CRM (or a small relay beside it) POSTs a case event when a case changes. The route checks an
HMAC-SHA256 signature of the body made with a secret shared with the CRM (`[worker]
events_secret_file` or `CASELOAD_EVENTS_SECRET`), reads which case the event names, queues a
refresh of that case for the worker and answers 202 at once. The event's content is never
trusted: the worker re-reads the case from the CRM through the connector and the mapping, so a
replayed or stale event can at worst cause one extra read.

Signing (what the sender does)::

    X-Caseload-Timestamp: <unix seconds>            (optional, recommended)
    X-Caseload-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

Without the timestamp header the HMAC is of the body alone. With it, the signature covers the
timestamp too and an event older or newer than five minutes is refused, so a captured request
cannot be replayed later. Signatures are compared in constant time.

The route is machine-to-machine: it has no session and no CSRF token. It is declared public
(anyone may call it) and signed (`SIGNED_ATTRIBUTE`), and authenticates by the signature alone.
With no secret configured (or a CRM whose events Caseload does not read), the route answers 404
as if it did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.factory import EventParser
from portal_extensions.web.guard import SIGNED_ATTRIBUTE, public

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/crm/events"
SIGNATURE_HEADER = "X-Caseload-Signature"
TIMESTAMP_HEADER = "X-Caseload-Timestamp"
SIGNATURE_PREFIX = "sha256="
#: Case events are a few KiB; a larger body is refused before it is read in full.
MAX_BODY_BYTES = 64 * 1024
#: How far a signed timestamp may be from this server's clock.
MAX_CLOCK_SKEW_SECONDS = 300
#: Queues a refresh of one case (`Worker.request_refresh`, or `RefreshQueue.request` in a portal
#: process without a worker); returning False means the queue is full and the event was not taken.
RefreshRequest = Callable[[str], object]


def signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The `X-Caseload-Signature` value for `body` (and `timestamp`, if the sender sends one)."""
    message = body if timestamp is None else timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def _answer(status: int, message: str, **extra: str) -> JSONResponse:
    return JSONResponse({"message": message, **extra}, status_code=status)


def crm_events_router(
    secret: SecretStr | None,
    refresh: RefreshRequest,
    *,
    parse: EventParser | None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The router with `POST /api/v1/crm/events`; see the module docstring.

    `parse` is the configured CRM's event reader (`connector.factory.case_event_parser(kind)`);
    with no secret or no reader (a CRM that pushes no events Caseload reads), the route answers
    404 as if it did not exist.
    """
    router = APIRouter()

    async def crm_event(request: Request) -> JSONResponse:
        if secret is None or parse is None:
            raise StarletteHTTPException(404)
        client = request.client.host if request.client else "unknown"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            log.warning("case event from %s refused: %s bytes declared", client, declared)
            return _answer(413, f"a case event must be at most {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                log.warning("case event from %s refused: body too large", client)
                return _answer(413, f"a case event must be at most {MAX_BODY_BYTES} bytes")
        presented = request.headers.get(SIGNATURE_HEADER)
        if not presented or not presented.startswith(SIGNATURE_PREFIX):
            log.warning("case event from %s refused: no %s", client, SIGNATURE_HEADER)
            return _answer(401, f"sign the event: {SIGNATURE_HEADER}: sha256=<hex HMAC>")
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if timestamp is not None and not (
            timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
        ):
            log.warning("case event from %s refused: malformed timestamp", client)
            return _answer(403, f"{TIMESTAMP_HEADER} must be the time in Unix seconds")
        expected = signature(secret.get_secret_value(), bytes(body), timestamp)
        if not hmac.compare_digest(presented.encode("ascii", "replace"), expected.encode()):
            log.warning("case event from %s refused: wrong signature", client)
            return _answer(403, "the event's signature does not match")
        if timestamp is not None and not _fresh(timestamp, clock()):
            log.warning("case event from %s refused: timestamp out of range", client)
            return _answer(
                403, f"the event's timestamp is more than {MAX_CLOCK_SKEW_SECONDS} s from now"
            )
        try:
            event = parse(bytes(body))
        except ValueError as exc:
            return _answer(400, str(exc))
        reference = event.reference
        if refresh(reference) is False:
            return JSONResponse(
                {"message": "too many case refreshes are waiting; the next sync reads it"},
                status_code=503,
                headers={"Retry-After": "60"},
            )
        log.info("case event %s for %s queued a refresh", event.event, reference)
        return _answer(202, "queued", crm_reference=reference)

    setattr(crm_event, SIGNED_ATTRIBUTE, True)
    router.add_api_route(
        EVENTS_PATH,
        public(crm_event),
        methods=["POST"],
        status_code=202,
        include_in_schema=False,
    )
    return router


def _fresh(timestamp: str, now: float) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= MAX_CLOCK_SKEW_SECONDS


__all__ = [
    "EVENTS_PATH",
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "crm_events_router",
    "signature",
]
