"""`LaganClient`: the `CRMClient` over Lagan / Verint FL SOAP.

zeep (built from the pinned WSDL, `connector.lagan.contract`) makes writes and small calls.
Case reads (`retrieveCaseDetails`, `searchAndRetrieveCaseDetails`) bypass zeep's object layer:
their envelopes are built by hand (`connector.lagan.envelope`) and the answers are streamed
through the hardened parser in `connector.lagan.xmlraw` straight into raw records.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
import zeep
import zeep.exceptions
from lxml import etree

from connector.base import (
    Attachment,
    CasePage,
    CaseRef,
    HealthReport,
    PartyRef,
    RawCase,
    RawParty,
    RawPayload,
)
from connector.errors import (
    CRMConflict,
    CRMContractError,
    CRMError,
    CRMNotFound,
    CRMRejected,
    ResidencyViolation,
)
from connector.health import run_checks
from connector.lagan.auth import LaganAuth, SecurityHeader
from connector.lagan.contract import (
    BINDING,
    PACKAGED_WSDL,
    PACKAGED_WSDL_SHA256,
    GuardedZeepTransport,
    TextLimit,
    load_pinned_wsdl,
    wsdl_hash_probe,
    zeep_settings,
    zeep_to_raw,
)
from connector.lagan.envelope import FL, SOAP_ACTION, element, iso
from connector.lagan.envelope import envelope as soap_envelope
from connector.lagan.faults import KIND, LaganAuthExpired, fault_error, status_error, zeep_fault
from connector.lagan.notes import note_marker, strip_note_markers
from connector.lagan.xmlraw import (
    Shape,
    SoapFaultSeen,
    element_to_raw,
    iter_elements,
    shape_from_zeep,
)
from connector.residency import HostAllowlist
from connector.resilience import Resilience, crm_boundary, map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedSession, ZeepExchange

log = logging.getLogger("connector.lagan")
T = TypeVar("T")
#: `Option`s of a case read: everything (core details, form, notes, events), for the mapping.
CASE_OPTIONS = ("all",)
#: `iter_changed_cases` reads in time windows: the first window's width, the narrowest window
#: (FL compares times to the second), and the most cases a one-second window is read with.
INITIAL_WINDOW = timedelta(days=1)
MIN_WINDOW = timedelta(seconds=1)
MAX_WINDOW_CASES = 100_000


@crm_boundary(KIND)  # every protocol method raises only CRMErrors
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
        self.allowlist = HostAllowlist(settings.allowed_hosts, crm=KIND, resolver=resolver)
        # Refuse a foreign endpoint before anything else is built.
        self.allowlist.check_url(settings.endpoint, operation="configure")
        self.session = GuardedSession(
            self.allowlist,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            ca_bundle=settings.ca_bundle,
            max_response_bytes=settings.max_response_bytes,
        )
        self.resilience = resilience or Resilience.from_settings(settings)
        self.max_text = settings.max_text_node
        wsdl_path = settings.wsdl_path or PACKAGED_WSDL
        self.wsdl_sha256 = settings.wsdl_sha256 or PACKAGED_WSDL_SHA256
        content = load_pinned_wsdl(wsdl_path, self.wsdl_sha256)
        uri = wsdl_path.resolve().as_uri()
        self.auth = LaganAuth(settings, self.session, self.max_text)
        transport = GuardedZeepTransport(
            self.session, local_documents={uri: content}, operation_timeout=settings.deadline
        )
        try:
            client_class: Any = zeep.Client
            self.zeep: Any = client_class(
                uri,
                transport=transport,
                settings=zeep_settings(),
                wsse=SecurityHeader(self.auth.security),
                plugins=[TextLimit(self.max_text)],
            )
        except CRMError:
            raise
        except zeep.exceptions.ExternalReferenceForbidden:
            raise ResidencyViolation(
                "the WSDL imports a document from another host; refused",
                crm=KIND,
                operation="wsdl",
                advice="Use a WSDL whose imports are all inlined or packaged beside it.",
            ) from None
        except Exception as exc:
            raise CRMContractError(
                f"the WSDL could not be loaded ({type(exc).__name__})",
                crm=KIND,
                operation="wsdl",
            ) from None
        self.service = self.zeep.create_service(BINDING, settings.endpoint)
        self.case_type = self.zeep.get_element(f"{{{FL}}}FWTCaseFullDetails").type
        self.case_shape: Shape = shape_from_zeep(self.case_type)

    @property
    def kind(self) -> str:
        return KIND

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
        exchange = ZeepExchange()  # knows whether the answer arrived before a failure
        try:
            with exchange:
                return method(*args, **kwargs)
        except zeep.exceptions.Fault as fault:
            raise fault_error(zeep_fault(fault), operation) from None
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden):
            raise CRMContractError(
                "the CRM's answer contains a DTD or entities; refused",
                crm=KIND,
                operation=operation,
            ) from None
        except (
            zeep.exceptions.XMLSyntaxError,
            etree.XMLSyntaxError,
            zeep.exceptions.XMLParseError,
        ):
            raise CRMContractError(
                "the CRM's answer is not well-formed XML", crm=KIND, operation=operation
            ) from None
        except CRMError as exc:
            if not exc.operation:
                exc.operation = operation
            raise
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
        except Exception as exc:
            # zeep raises anything (IndexError, AttributeError, TransportError, ...) on a
            # request or an answer that does not fit: the exchange labels which it was.
            raise exchange.error(exc, crm=KIND, operation=operation) from None

    def _raw_post(self, operation: str, body: etree._Element) -> requests.Response:
        request = soap_envelope(body, self.auth.security())
        try:
            resp = self.session.post(
                self.settings.endpoint,
                data=etree.tostring(request, xml_declaration=True, encoding="utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION},
                stream=True,
            )
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
        err = status_error(resp, operation)
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
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
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
        search = element("FWTCaseSearch", ns=FL)
        if limit is not None:
            search.append(element("ResultsLimit", str(limit)))
        if modified_from is not None:
            search.append(element("LastModifiedDateFrom", iso(modified_from)))
        if modified_to is not None:
            search.append(element("LastModifiedDateTo", iso(modified_to)))
        for key, value in (form or {}).items():
            field = element("FormField")
            field.append(element("Value", value))
            field.append(element("Key", key))
            search.append(field)
        if not retrieve:
            return search
        wrapper = element("FWTSearchAndRetrieveCase", ns=FL)
        wrapper.append(search)
        for option in CASE_OPTIONS:
            wrapper.append(element("Option", option))
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
        request = element("FWTCaseFullDetailsRequest", ns=FL)
        request.append(element("CaseReference", ref, ns=FL))
        for option in CASE_OPTIONS:
            request.append(element("Option", option))
        cases = self._call(
            "retrieveCaseDetails",
            lambda: list(self._stream("retrieveCaseDetails", request, "FWTCaseFullDetails")),
            idempotent=True,
        )
        if not cases:
            raise CRMNotFound(f"case {ref} not found", crm=KIND, operation="retrieveCaseDetails")
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
                crm=KIND,
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
                return CaseRef(crm=KIND, reference=existing, created=False)
            ref = self._zeep("createCase", **data)
            return CaseRef(crm=KIND, reference=str(ref), created=True)

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
                f"{ref!r} is not a Lagan case reference", crm=KIND, operation="createNotes"
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
        request = element("FWTNoteToParentGetRef", ns=FL)
        request.append(element("ParentId", str(int(ref))))
        request.append(element("ParentType", "0"))
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
                "document body is not base64", crm=KIND, operation="getDocumentFromRepository"
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
                "give at least one search criterion", crm=KIND, operation="searchForParty"
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
            raise CRMNotFound(f"party {ref} not found", crm=KIND, operation="retrieveIndividual")
        return raw

    def create_party(self, payload: RawPayload) -> PartyRef:
        result = self._call(
            "createIndividual", lambda: self._zeep("createIndividual", **payload), idempotent=False
        )
        return PartyRef(
            crm=KIND, reference=str(result["ObjectReference"]), kind=str(result["ObjectType"])
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
        return run_checks(
            self.settings, self.allowlist, probe=self._probe, probes=wsdl_hash_probe(self.settings)
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


__all__ = ["KIND", "LaganClient"]
