"""Lagan / Verint FL SOAP client (zeep for writes and small calls, lxml streaming for case reads).

One zeep Client per process is built from the packaged WSDL, whose SHA-256 must match the pin in
configuration. Case reads (`retrieveCaseDetails`, `searchAndRetrieveCaseDetails`) bypass zeep's
object layer: their envelopes are built by zeep or by hand and the answers are streamed through
the hardened parser in `connector.xmlraw` straight into raw records.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests
import zeep
import zeep.exceptions
from lxml import etree

from connector.base import (
    Attachment,
    CasePage,
    CaseRef,
    CRMKind,
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
    CRMUnavailable,
    ResidencyViolation,
)
from connector.residency import HostAllowlist
from connector.resilience import (
    Resilience,
    error_for_status,
    map_transport_error,
)
from connector.settings import CRMSettings
from connector.transport import GuardedSession, GuardedTransport
from connector.xmlraw import (
    SOAP_ENV,
    Shape,
    SoapFaultSeen,
    element_to_raw,
    fault_to_dict,
    iter_elements,
    local,
    parse_document,
    shape_from_zeep,
)

log = logging.getLogger("connector.lagan")
T = TypeVar("T")

WSDL_DIR = Path(__file__).parent / "wsdl"
PACKAGED_WSDL = WSDL_DIR / "FLService.wsdl"
#: SHA-256 of the packaged FL WSDL; used when `crm.wsdl_sha256` is not set.
PACKAGED_WSDL_SHA256 = "5f95880e59192c5b24b89b9a6791999c24cfa81399cd750d79cee84dc7ef3fd6"
FL = "http://www.lagan.com/wsdl/FLTypes"
FLAUTH = "http://www.lagan.com/wsdl/FLAuthTypes"
SOAP_ACTION = '"http://www.lagan.com/wsdl/FLService"'
AUTH_SOAP_ACTION = '"http://www.lagan.com/wsdl/FLAuthService"'
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PLAIN_TEXT_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
BINDING = "{http://www.lagan.com/wsdl/FLService}FLWebBinding"
CASE_OPTIONS = ("all",)
INITIAL_WINDOW = timedelta(days=1)
MIN_WINDOW = timedelta(seconds=1)
MAX_WINDOW_CASES = 100_000

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
_NOTE_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_MARKER_LINE = re.compile(r"\n\n\[caseload:[A-Za-z0-9_.:-]{1,100}\]\s*\Z")


class LaganAuthExpired(CRMAuthError):
    """The FLAuth token expired: renew once and repeat the call."""


def _e(tag: str, text: str | None = None, ns: str | None = None) -> etree._Element:
    elem = etree.Element(f"{{{ns}}}{tag}" if ns else tag)
    if text is not None:
        elem.text = text
    return elem


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- authentication


class _SecurityHeader:
    """zeep wsse plugin that adds whatever `<wsse:Security>` the auth style needs."""

    def __init__(self, build: Callable[[], etree._Element | None]) -> None:
        self._build = build

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> Any:
        security = self._build()
        if security is not None:
            header = envelope.find(f"{{{SOAP_ENV}}}Header")
            if header is None:
                header = etree.Element(f"{{{SOAP_ENV}}}Header")
                envelope.insert(0, header)
            header.append(security)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> Any:
        return envelope


class LaganAuth:
    """The three auth styles of the FL contract, plus authenticateByProxy.

    FLAuth tokens are cached and shared by every thread; an expired token is renewed once per
    expiry (`generation` stops a crowd of workers from each logging in again).
    """

    def __init__(self, settings: CRMSettings, session: GuardedSession, max_text: int) -> None:
        self.settings = settings
        self.session = session
        self.max_text = max_text
        self.mode = settings.auth_mode
        self._token: str | None = None
        self.generation = 0
        self.authentications = 0
        self._lock = threading.Lock()
        if self.mode == "basic":
            session.auth = (settings.username or "", settings.secret("password") or "")
        self.auth_url = settings.auth_endpoint or settings.endpoint.rstrip("/") + "Auth"

    def username_token(self) -> etree._Element:
        security = _e("Security", ns=WSSE)
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = self.settings.username or ""
        password = etree.SubElement(token, f"{{{WSSE}}}Password", Type=PLAIN_TEXT_TYPE)
        password.text = self.settings.secret("password") or ""
        return security

    def security(self) -> etree._Element | None:
        if self.mode == "username_token":
            return self.username_token()
        if self.mode == "flauth":
            security = _e("Security", ns=WSSE)
            etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken").text = self.token()
            return security
        return None

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._authenticate()
                self.generation += 1
            return self._token

    def renew(self, seen_generation: int) -> None:
        """Drop the token unless another worker already renewed it since we used it."""
        with self._lock:
            if self.generation == seen_generation:
                self._token = None

    def _authenticate(self) -> str:
        self.authentications += 1
        # authenticate has an empty body: the credentials travel in the WS-Security header.
        token = self._auth_call(None, self.username_token(), "authenticate")
        if self.settings.proxy_user:
            security = _e("Security", ns=WSSE)
            etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken").text = token
            user = _e("FLUser", ns=FLAUTH)
            etree.SubElement(user, "UserID").text = self.settings.proxy_user
            token = self._auth_call(user, security, "authenticateByProxy")
        return token

    def _auth_call(
        self, body: etree._Element | None, security: etree._Element, operation: str
    ) -> str:
        envelope = _envelope(body, security)
        try:
            resp = self.session.post(
                self.auth_url,
                data=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": AUTH_SOAP_ACTION},
            )
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation=operation) from None
        root = _checked_root(resp, operation, self.max_text)
        found = root.find(f".//{{{WSSE}}}BinarySecurityToken")
        if found is None or not (found.text or "").strip():
            raise CRMAuthError("FLAuth gave no security token", crm="lagan", operation=operation)
        return (found.text or "").strip()


# --------------------------------------------------------------------------- envelopes, faults


def _envelope(body_child: etree._Element | None, security: etree._Element | None) -> etree._Element:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    if security is not None:
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header").append(security)
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    if body_child is not None:
        body.append(body_child)
    return envelope


def fault_error(fault: dict[str, Any], operation: str) -> CRMError:
    """A SOAP fault as a typed error: ErrorCode decides; the message is the CRM's own words."""
    raw_code = fault.get("ErrorCode", "")
    code = int(raw_code) if str(raw_code).lstrip("-").isdigit() else None
    message = fault.get("ErrorMessage") or fault.get("faultstring") or "SOAP fault"
    message = message[:200]
    if code in TOKEN_EXPIRED:
        return LaganAuthExpired(message, crm="lagan", operation=operation, crm_code=str(code))
    cls = FAULT_CODES.get(code) if code is not None else None
    if cls is None:
        faultcode = str(fault.get("faultcode", ""))
        cls = CRMRejected if faultcode.endswith("Client") else CRMContractError
    return cls(message, crm="lagan", operation=operation, crm_code=str(code) if code else None)


def _status_error(resp: requests.Response, operation: str) -> CRMError | None:
    request_id = resp.headers.get("X-Request-Id")
    err = error_for_status(
        resp.status_code,
        crm="lagan",
        operation=operation,
        retry_after=resp.headers.get("Retry-After"),
        request_id=request_id,
    )
    if err is not None:
        return err
    if resp.status_code in (401, 403):
        return CRMAuthError(
            "the CRM refused the credentials",
            crm="lagan",
            operation=operation,
            status=resp.status_code,
            request_id=request_id,
        )
    return None


def _checked_root(resp: requests.Response, operation: str, max_text: int) -> etree._Element:
    err = _status_error(resp, operation)
    if err is not None:
        raise err
    root = parse_document(resp.content, max_text=max_text)
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is not None:
        raise fault_error(fault_to_dict(fault, max_text), operation)
    if resp.status_code != 200:
        raise CRMContractError(
            "unexpected HTTP status", crm="lagan", operation=operation, status=resp.status_code
        )
    return root


class _GuardedZeepTransport(GuardedTransport):
    """Maps HTTP-level failures before zeep sees them, so Retry-After is kept."""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        operation = ""  # filled in by LaganClient._zeep, which knows the operation
        try:
            resp: requests.Response = super().post(  # type: ignore[no-untyped-call]
                address, message, headers
            )
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation=operation) from None
        err = _status_error(resp, operation)
        if err is not None:
            raise err
        return resp


class _TextLimit:
    """zeep ingress plugin: refuse oversized text nodes on the zeep path too."""

    def __init__(self, max_text: int) -> None:
        self.max_text = max_text

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> Any:
        for node in envelope.iter():
            if len(node.text or "") > self.max_text:
                raise CRMContractError(f"a text node exceeds the {self.max_text}-character limit")
        return envelope, http_headers

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        return envelope, http_headers


def load_pinned_wsdl(path: Path, expected_sha256: str) -> bytes:
    """The WSDL bytes, if and only if their SHA-256 matches the pin."""
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected_sha256.lower():
        raise CRMContractError(
            f"WSDL {path.name} has SHA-256 {digest[:12]}..., not the pinned "
            f"{expected_sha256[:12]}...",
            crm="lagan",
            operation="wsdl",
            advice="Set crm.wsdl_sha256 to the hash of the WSDL you have reviewed.",
        )
    return content


def zeep_settings(strict: bool = True) -> zeep.Settings:
    return zeep.Settings(
        strict=strict,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


def zeep_to_raw(value: Any, xsd_type: Any) -> Any:
    """A zeep object as the raw-record dict the lxml path gives (XSD-canonical text values)."""
    elements = getattr(xsd_type, "elements", None)
    if isinstance(value, list) and elements and len(elements) == 1:
        # zeep unwraps a list wrapper with one repeated child (FWT...List) into a plain list.
        name, element = elements[0]
        return {name: [zeep_to_raw(item, element.type) for item in value]} if value else ""
    if not elements:
        if value is None:
            return ""
        render = getattr(xsd_type, "xmlvalue", None)
        return render(value) if render is not None and not isinstance(value, str) else str(value)
    out: dict[str, Any] = {}
    for name, element in elements:
        child = value[name] if isinstance(value, dict) else getattr(value, name, None)
        if child is None:
            # zeep reads an empty element as None; a required leaf was there, so it was "".
            required = getattr(element, "min_occurs", 0) >= 1
            if required and not getattr(element.type, "elements", None):
                out[name] = ""
            continue
        max_occurs = getattr(element, "max_occurs", 1)
        if max_occurs == "unbounded" or (isinstance(max_occurs, int) and max_occurs > 1):
            if not child:
                continue
            out[name] = [zeep_to_raw(item, element.type) for item in child]
        else:
            out[name] = zeep_to_raw(child, element.type)
    return out or ""


# --------------------------------------------------------------------------- the client


class LaganClient:
    """`CRMClient` over Lagan FL SOAP."""

    def __init__(
        self,
        settings: CRMSettings,
        *,
        resilience: Resilience | None = None,
        resolver: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.allowlist = HostAllowlist(settings.allowed_hosts, crm="lagan", resolver=resolver)
        # Refuse a foreign endpoint before anything else is built.
        self.allowlist.check_url(settings.endpoint, operation="configure")
        self.session = GuardedSession(
            self.allowlist,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            ca_bundle=settings.ca_bundle,
        )
        self.resilience = resilience or Resilience.from_settings(settings)
        self.max_text = settings.max_text_node
        wsdl_path = settings.wsdl_path or PACKAGED_WSDL
        self.wsdl_sha256 = settings.wsdl_sha256 or PACKAGED_WSDL_SHA256
        content = load_pinned_wsdl(wsdl_path, self.wsdl_sha256)
        uri = wsdl_path.resolve().as_uri()
        self.auth = LaganAuth(settings, self.session, self.max_text)
        transport = _GuardedZeepTransport(
            self.session, local_documents={uri: content}, operation_timeout=settings.deadline
        )
        try:
            client_class: Any = zeep.Client
            self.zeep: Any = client_class(
                uri,
                transport=transport,
                settings=zeep_settings(),
                wsse=_SecurityHeader(self.auth.security),
                plugins=[_TextLimit(self.max_text)],
            )
        except CRMError:
            raise
        except zeep.exceptions.ExternalReferenceForbidden:
            raise ResidencyViolation(
                "the WSDL imports a document from another host; refused",
                crm="lagan",
                operation="wsdl",
                advice="Use a WSDL whose imports are all inlined or packaged beside it.",
            ) from None
        except Exception as exc:
            raise CRMContractError(
                f"the WSDL could not be loaded ({type(exc).__name__})",
                crm="lagan",
                operation="wsdl",
            ) from None
        self.service = self.zeep.create_service(BINDING, settings.endpoint)
        self.case_type = self.zeep.get_element(f"{{{FL}}}FWTCaseFullDetails").type
        self.case_shape: Shape = shape_from_zeep(self.case_type)

    @property
    def kind(self) -> CRMKind:
        return "lagan"

    # ------------------------------------------------------------------ plumbing

    def _call(self, operation: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        """Run one operation with retries, and one token renewal on expiry."""

        def attempt(_: int) -> T:
            if self.auth.mode == "flauth":
                self.auth.token()  # log in first, so `seen` is the token this call will carry
            seen = self.auth.generation
            try:
                return fn()
            except LaganAuthExpired:
                if self.auth.mode != "flauth":
                    raise
                log.info("crm lagan token expired; renewing once")
                self.auth.renew(seen)
                return fn()

        return self.resilience.call(operation, attempt, idempotent=idempotent)

    def _zeep(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.service, operation)
        try:
            return method(*args, **kwargs)
        except zeep.exceptions.Fault as fault:
            raise fault_error(_zeep_fault(fault), operation) from None
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden):
            raise CRMContractError(
                "the CRM's answer contains a DTD or entities; refused",
                crm="lagan",
                operation=operation,
            ) from None
        except (
            zeep.exceptions.XMLSyntaxError,
            etree.XMLSyntaxError,
            zeep.exceptions.XMLParseError,
        ):
            raise CRMContractError(
                "the CRM's answer is not well-formed XML", crm="lagan", operation=operation
            ) from None
        except zeep.exceptions.TransportError as exc:
            raise CRMContractError(
                "unexpected HTTP status", crm="lagan", operation=operation, status=exc.status_code
            ) from None
        except (zeep.exceptions.ValidationError, TypeError, ValueError) as exc:
            raise CRMRejected(
                f"the request does not fit the WSDL ({type(exc).__name__}: "
                f"{str(exc).split(':')[0][:80]})",
                crm="lagan",
                operation=operation,
                advice="Check the mapping profile's outbound fields against the WSDL.",
            ) from None
        except CRMError as exc:
            if not exc.operation:
                exc.operation = operation
            raise
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation=operation) from None

    def _raw_post(self, operation: str, body: etree._Element) -> requests.Response:
        envelope = _envelope(body, self.auth.security())
        try:
            resp = self.session.post(
                self.settings.endpoint,
                data=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION},
                stream=True,
            )
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation=operation) from None
        err = _status_error(resp, operation)
        if err is not None:
            resp.close()
            raise err
        return resp

    def _stream(self, operation: str, body: etree._Element, item: str) -> Iterator[etree._Element]:
        resp = self._raw_post(operation, body)
        try:
            yield from iter_elements(
                resp.iter_content(65536),
                item,
                max_text=self.max_text,
                max_bytes=self.settings.max_response_bytes,
            )
        except SoapFaultSeen as seen:
            raise fault_error(seen.fault, operation) from None
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation=operation) from None
        finally:
            resp.close()

    # ------------------------------------------------------------------ reads

    def search_request(
        self,
        *,
        modified_from: datetime | None = None,
        modified_to: datetime | None = None,
        form: dict[str, str] | None = None,
        limit: int | None = None,
        retrieve: bool = True,
    ) -> etree._Element:
        """FWTCaseSearch (with the later-build fields) wrapped for search[AndRetrieve]."""
        search = _e("FWTCaseSearch", ns=FL)
        if limit is not None:
            search.append(_e("ResultsLimit", str(limit)))
        if modified_from is not None:
            search.append(_e("LastModifiedDateFrom", _iso(modified_from)))
        if modified_to is not None:
            search.append(_e("LastModifiedDateTo", _iso(modified_to)))
        for key, value in (form or {}).items():
            field = _e("FormField")
            field.append(_e("Value", value))
            field.append(_e("Key", key))
            search.append(field)
        if not retrieve:
            return search
        wrapper = _e("FWTSearchAndRetrieveCase", ns=FL)
        wrapper.append(search)
        for option in CASE_OPTIONS:
            wrapper.append(_e("Option", option))
        return wrapper

    def iter_changed_cases(
        self, since: datetime, until: datetime | None = None, page_size: int = 200
    ) -> Iterator[list[RawCase]]:
        """Pages of cases modified in [since, until), in constant memory.

        FL has no paging, only `ResultsLimit`, and promises no order. So the time range is cut
        into windows: a window that comes back full (more than `page_size`) is halved and asked
        again; the window length adapts to how dense the changes are, so full windows (wasted
        reads) stay rare. A window of one second that is still full is read whole. The last page
        of each window is a `CasePage` whose `complete_until` is the window's end: FL cases
        carry no modification time, so this is the only safe place for a reader's watermark.
        """
        end = until or datetime.now(UTC)
        start = since
        span = INITIAL_WINDOW
        while start < end:
            # Whole-second boundaries: FL compares modification times to the second, so a
            # fractional boundary would put the cases of that second in two windows.
            window_end = (start + span).replace(microsecond=0)
            if window_end <= start:
                window_end = start.replace(microsecond=0) + MIN_WINDOW
            window_end = min(end, window_end)
            width = window_end - start
            wide = width > MIN_WINDOW
            page = self._window(start, window_end, page_size + 1 if wide else MAX_WINDOW_CASES)
            if len(page) > page_size and wide:
                span = max(width / 2, MIN_WINDOW)
                continue
            for first in range(0, len(page), page_size):
                last = first + page_size >= len(page)
                # The last page of a window promises every case before the window's end.
                yield CasePage(page[first : first + page_size], window_end if last else None)
            start = window_end
            # Aim the next window at about 70% of a page, growing at most fourfold at a time.
            span = width * min(4.0, (0.7 * page_size) / max(len(page), 1))
            span = max(span, MIN_WINDOW)

    def _window(self, start: datetime, end: datetime, limit: int) -> list[RawCase]:
        """The window's cases, or `limit` placeholders when it is full (nothing converted)."""
        body = self.search_request(
            modified_from=start, modified_to=end - timedelta(microseconds=1), limit=limit
        )
        operation = "searchAndRetrieveCaseDetails"
        elements = self._call(
            operation,
            lambda: list(self._stream(operation, body, "FWTCaseFullDetails")),
            idempotent=True,
        )
        if len(elements) >= limit and limit < MAX_WINDOW_CASES:
            return [{}] * len(elements)  # full: the caller narrows the window and asks again
        return [
            strip_note_markers(element_to_raw(e, self.case_shape, self.max_text)) for e in elements
        ]

    def get_case(self, ref: str) -> RawCase:
        request = _e("FWTCaseFullDetailsRequest", ns=FL)
        request.append(_e("CaseReference", ref, ns=FL))
        for option in CASE_OPTIONS:
            request.append(_e("Option", option))
        cases = self._call(
            "retrieveCaseDetails",
            lambda: list(self._stream("retrieveCaseDetails", request, "FWTCaseFullDetails")),
            idempotent=True,
        )
        if not cases:
            raise CRMNotFound(f"case {ref} not found", crm="lagan", operation="retrieveCaseDetails")
        raw = strip_note_markers(element_to_raw(cases[0], self.case_shape, self.max_text))
        return raw if isinstance(raw, dict) else {}

    def get_case_via_zeep(self, ref: str) -> RawCase:
        """The same read through zeep's object layer (for comparison and benchmarks)."""
        result = self._call(
            "retrieveCaseDetails",
            lambda: self._zeep("retrieveCaseDetails", CaseReference=ref, Option=list(CASE_OPTIONS)),
            idempotent=True,
        )
        raw = strip_note_markers(zeep_to_raw(result, self.case_type))
        return raw if isinstance(raw, dict) else {}

    def find_case_by_key(self, idempotency_key: str) -> str | None:
        body = self.search_request(
            form={self.settings.portal_id_field: idempotency_key}, retrieve=False
        )
        briefs = self._call(
            "searchForCases",
            lambda: list(self._stream("searchForCases", body, "CaseBriefDetails")),
            idempotent=True,
        )
        refs = {b.findtext(f"{{{FL}}}CaseReference") or b.findtext("CaseReference") for b in briefs}
        refs.discard(None)
        refs.discard("")
        if len(refs) > 1:
            raise CRMConflict(
                f"{len(refs)} cases carry the same portal key",
                crm="lagan",
                operation="searchForCases",
                advice="Merge the duplicate cases in the CRM; the portal key must be unique.",
            )
        return str(refs.pop()) if refs else None

    # ------------------------------------------------------------------ writes

    def create_case(self, payload: RawPayload, idempotency_key: str) -> CaseRef:
        """Exactly once per key: look the key up before every attempt, then create."""
        data = _stamp(payload, self.settings.portal_id_field, idempotency_key)

        def attempt() -> CaseRef:
            existing = self.find_case_by_key(idempotency_key)
            if existing is not None:
                return CaseRef(crm="lagan", reference=existing, created=False)
            ref = self._zeep("createCase", **data)
            return CaseRef(crm="lagan", reference=str(ref), created=True)

        # Safe to retry on any retryable error (timeouts included): every attempt looks first.
        return self._call("createCase", attempt, idempotent=True)

    def update_case(self, ref: str, payload: RawPayload) -> None:
        data = {**payload, "CaseReference": ref}
        # Setting fields twice is harmless; adding a note twice is not.
        adds_notes = any(data.get(key) for key in ("NewNote", "NewNoteAttachment"))
        self._call(
            "updateCase", lambda: self._zeep("updateCase", **data), idempotent=not adds_notes
        )

    def close_case(self, ref: str, reason: str) -> None:
        def attempt() -> None:
            try:
                self._zeep("closeCases", CaseReference=[ref], Reason={"Title": reason})
            except CRMConflict as exc:
                if exc.crm_code != "1010":  # already closed: a retried close has succeeded
                    raise

        self._call("closeCases", attempt, idempotent=True)

    def reopen_case(self, ref: str, reason: str) -> None:
        def attempt() -> None:
            try:
                self._zeep("reopenCase", CaseReference=ref, Reason=reason)
            except CRMConflict as exc:
                if exc.crm_code != "1011":  # not closed: a retried reopen has succeeded
                    raise

        self._call("reopenCase", attempt, idempotent=True)

    def add_note(
        self,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        idempotency_key: str,
    ) -> None:
        """createNotes on the case, exactly once per key; files go to the repository first.

        FL notes have no field for a caller's key (`FWTNoteDetail` is NoteId, Created,
        CreatedBy, Text, NoteAttachments), so the key travels as a marker line the connector
        appends to the text (`note_marker`) and removes again from the notes of case reads.
        Every attempt first reads the case's notes (`getNotes`) for the marker, so a retry after
        a lost answer - by this call or by a later one with the same key - finds the note
        instead of writing it twice.
        """
        if not ref.isdigit():
            raise CRMNotFound(
                f"{ref!r} is not a Lagan case reference", crm="lagan", operation="createNotes"
            )
        marker = note_marker(idempotency_key)
        stamped = f"{text}\n\n{marker}"

        def attempt() -> None:
            if self._has_note(ref, marker):
                log.info("crm lagan note already on the case; not written again")
                return
            details: dict[str, Any] = {"Text": stamped}
            if attachments:
                # A lost answer here leaves an unreferenced document in the repository at
                # worst; the note that would show it is only written once.
                details["NoteAttachments"] = {
                    "NoteAttachmentList": [
                        {
                            "AttachmentName": item.name,
                            "AttachmentIdentifier": self._store_document(item),
                        }
                        for item in attachments
                    ]
                }
            self._zeep("createNotes", ParentId=int(ref), ParentType=0, NoteDetails=details)

        # Safe to retry after any retryable error, timeouts and lost answers included: every
        # attempt looks for the marker before writing.
        self._call("createNotes", attempt, idempotent=True)

    def _has_note(self, ref: str, marker: str) -> bool:
        """Whether a note of the case ends with this marker (read with getNotes, streamed)."""
        request = _e("FWTNoteToParentGetRef", ns=FL)
        request.append(_e("ParentId", str(int(ref))))
        request.append(_e("ParentType", "0"))
        for note in self._stream("getNotes", request, "NoteDetails"):
            body = note.findtext("Text") or note.findtext(f"{{{FL}}}Text") or ""
            if body.rstrip().endswith(marker):
                return True
        return False

    def _store_document(self, item: Attachment) -> str:
        ref = self._zeep(
            "addDocumentToRepository",
            Document=base64.b64encode(item.content).decode("ascii"),
            DocumentType=0,
            DocumentName=item.name,
        )
        return str(ref)

    def get_attachment(self, reference: str) -> Attachment:
        doc = self._call(
            "getDocumentFromRepository",
            lambda: self._zeep("getDocumentFromRepository", reference),
            idempotent=True,
        )
        try:
            content = base64.b64decode(doc["Document"] or "", validate=True)
        except (ValueError, TypeError):
            raise CRMContractError(
                "document body is not base64", crm="lagan", operation="getDocumentFromRepository"
            ) from None
        return Attachment(
            name=doc["DocumentName"] or reference, content=content, reference=reference
        )

    # ------------------------------------------------------------------ parties, codes

    def search_parties(
        self,
        *,
        name: str | None = None,
        forename: str | None = None,
        postcode: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        limit: int = 50,
    ) -> list[RawParty]:
        criteria = {
            "Name": name,
            "Forename": forename,
            "Postcode": postcode,
            "EmailAddress": email,
            "PhoneNumber": phone,
        }
        given = {k: v for k, v in criteria.items() if v}
        if not given:
            raise CRMRejected(
                "give at least one search criterion", crm="lagan", operation="searchForParty"
            )
        result = self._call(
            "searchForParty",
            lambda: self._zeep("searchForParty", SearchType="individual", **given),
            idempotent=True,
        )
        list_type = self.zeep.get_element(f"{{{FL}}}FWTObjectBriefDetailsList").type
        raw = zeep_to_raw(result, list_type)
        items = raw.get("ObjectBriefDetails", []) if isinstance(raw, dict) else []
        return [self._with_details(brief) for brief in list(items)[:limit]]

    def _with_details(self, brief: Any) -> Any:
        """A found individual's brief details completed with its FWTIndividual elements.

        A brief carries only the display name and an address line, so a look-up by email or
        postcode could not show (or confirm) what it matched; `retrieveIndividual` adds the
        name parts and contact details. Organisations and vanished parties stay brief.
        """
        if not isinstance(brief, dict):
            return brief
        object_id = brief.get("ObjectID")
        if not isinstance(object_id, dict) or object_id.get("ObjectType") != "C1":
            return brief
        try:
            individual = self.get_party(str(object_id.get("ObjectReference", "")))
        except CRMNotFound:
            return brief
        details = {k: v for k, v in individual.items() if k != "BriefDetails"}
        return {**brief, **details}

    def get_party(self, ref: str) -> RawParty:
        result = self._call(
            "retrieveIndividual",
            lambda: self._zeep("retrieveIndividual", ObjectType="C1", ObjectReference=ref),
            idempotent=True,
        )
        raw = zeep_to_raw(result, self.zeep.get_element(f"{{{FL}}}FWTIndividual").type)
        if not isinstance(raw, dict):
            raise CRMNotFound(f"party {ref} not found", crm="lagan", operation="retrieveIndividual")
        return raw

    def create_party(self, payload: RawPayload) -> PartyRef:
        result = self._call(
            "createIndividual", lambda: self._zeep("createIndividual", **payload), idempotent=False
        )
        return PartyRef(
            crm="lagan", reference=str(result["ObjectReference"]), kind=str(result["ObjectType"])
        )

    def code_book(self) -> list[dict[str, Any]]:
        result = self._call(
            "retrieveCodeBook",
            lambda: self._zeep("retrieveCodeBook", "CaseCategory"),
            idempotent=True,
        )
        raw = zeep_to_raw(result, self.zeep.get_element(f"{{{FL}}}FWTCodeBook").type)
        codes = raw.get("Codes", {}) if isinstance(raw, dict) else {}
        return list(codes.get("Code", [])) if isinstance(codes, dict) else []

    def operations(self) -> list[str]:
        return sorted(self.service._binding._operations)

    # ------------------------------------------------------------------ health

    def health(self) -> HealthReport:
        from connector.health import run_checks, wsdl_hash_check

        return run_checks(
            self.settings,
            self.allowlist,
            probe=self._probe,
            wsdl_hash=wsdl_hash_check(self.settings),
        )

    def _probe(self) -> None:
        self.code_book()

    def close(self) -> None:
        self.session.close()


def _stamp(payload: RawPayload, key_field: str, key: str) -> RawPayload:
    """Put the portal key into the case's form fields (replacing any stale value)."""
    data = dict(payload)
    form = dict(data.get("Form") or {})
    fields = [f for f in form.get("FormField", []) if f.get("Key") != key_field]
    fields.append({"Key": key_field, "Value": key})
    form["FormField"] = fields
    data["Form"] = form
    return data


def note_marker(key: str) -> str:
    """The last line of a note the portal wrote: its idempotency key, for the lookup."""
    if not _NOTE_KEY.fullmatch(key):
        raise CRMRejected(
            "a note's idempotency key must be 1-100 letters, digits, '-', '_', '.' or ':'",
            crm="lagan",
            operation="createNotes",
            advice="Pass the outbox entry's idempotency key (a UUID).",
        )
    return f"[caseload:{key}]"


def strip_note_markers(raw: Any) -> Any:
    """The case record with the connector's own marker line removed from each note's text.

    The marker is plumbing for exactly-once writes, not something a councillor wrote.
    """
    if not isinstance(raw, dict):
        return raw
    notes = raw.get("Notes")
    if isinstance(notes, dict) and isinstance(notes.get("Note"), list):
        for note in notes["Note"]:
            if isinstance(note, dict) and isinstance(note.get("Text"), str):
                note["Text"] = _MARKER_LINE.sub("", note["Text"])
    return raw


def _zeep_fault(fault: zeep.exceptions.Fault) -> dict[str, Any]:
    out: dict[str, Any] = {
        "faultcode": str(fault.code or ""),
        "faultstring": str(fault.message or ""),
    }
    detail = fault.detail
    if detail is not None:
        for node in detail.iter():
            if isinstance(node.tag, str) and local(node.tag) in ("ErrorCode", "ErrorMessage"):
                out[local(node.tag)] = (node.text or "").strip()
    return out


__all__ = [
    "PACKAGED_WSDL",
    "PACKAGED_WSDL_SHA256",
    "LaganAuth",
    "LaganClient",
    "fault_error",
    "load_pinned_wsdl",
    "note_marker",
    "strip_note_markers",
    "zeep_to_raw",
]
