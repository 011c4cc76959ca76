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
    HealthCheck,
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
from connector.lagan.envelope import FL, SOAP_ACTION, element
from connector.lagan.envelope import envelope as soap_envelope
from connector.lagan.faults import KIND, LaganAuthExpired, fault_error, status_error, zeep_fault
from connector.lagan.notes import note_marker, strip_note_markers
from connector.lagan.search import (
    EPOCH,
    LATER_BUILD,
    CaseSearch,
    ResultCap,
    Window,
    learn_cap,
    read_windows,
)
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
#: `Option`s of a create look-up: the case reference and the form holding the portal key.
LOOKUP_OPTIONS = ("core", "form")
#: Time windows: the first window of a sync's read, and how far past "now" a look-up reads
#: (the CRM's clock may run ahead of ours).
INITIAL_WINDOW = timedelta(days=1)
CLOCK_MARGIN = timedelta(days=1)
#: Creation-time and (later builds only) modification-time criteria of a windowed read.
CREATED = ("CreatedAfter", "CreatedBefore")
MODIFIED = LATER_BUILD
#: ResultsLimit of a create look-up (the server may cap it lower: windows split then).
LOOKUP_LIMIT = 201


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
                # Lenient: later FL builds add optional elements to answers.
                settings=zeep_settings(strict=False),
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
        search_type = self.zeep.get_element(f"{{{FL}}}FWTCaseSearch").type
        self.search = CaseSearch(search_type)
        self.cap = ResultCap(configured=settings.search_result_cap)
        self._probed_with = 0  # the largest ResultsLimit the cap was probed with
        #: What `detect_extensions` found (None: not yet known; asked again next time).
        self.modified_filter: bool | None = None
        self.extension_note = "not probed yet"

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
        except CRMError as exc:
            exc.crm = exc.crm or KIND
            if not exc.operation:
                exc.operation = operation
                exc.status = exc.status or resp.status_code
            raise
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
        finally:
            resp.close()

    # ------------------------------------------------------------------ reads

    def _search(
        self,
        criteria: dict[str, Any],
        asked: int,
        *,
        options: Sequence[str] | None = CASE_OPTIONS,
        extensions: bool = False,
    ) -> list[etree._Element]:
        """One FWTCaseSearch: full details (searchAndRetrieveCaseDetails, with `options`) or
        brief details (searchForCases, `options=None`), as unconverted elements."""
        search = self.search.build({**criteria, "ResultsLimit": asked}, extensions=extensions)
        if options is None:
            operation, body, item = "searchForCases", search, "CaseBriefDetails"
        else:
            operation, item = "searchAndRetrieveCaseDetails", "FWTCaseFullDetails"
            body = element("FWTSearchAndRetrieveCase", ns=FL)
            body.append(search)
            for option in options:
                body.append(element("Option", option))
        return self._call(
            operation, lambda: list(self._stream(operation, body, item)), idempotent=True
        )

    def _opened(self, criteria: dict[str, Any], asked: int) -> list[datetime]:
        """Creation times of the cases a brief search finds (the cap probe's measure)."""
        out = []
        for brief in self._search(criteria, asked, options=None):
            text = brief.findtext("Opened") or ""
            try:
                moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise CRMContractError(
                    "a case's Opened is not an xs:dateTime", crm=KIND, operation="searchForCases"
                ) from None
            out.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        return out

    def prepare_reads(self, asked: int, *, extensions: bool = True) -> None:
        """Learn the server's result cap and (for a sync) whether it applies the later-build
        modification filter, unless already known. The cap is probed once per ResultsLimit
        (answers below the largest seen are proven complete whatever it is; a one-second window
        that is not is settled by a recount); the filter is asked again while unknown."""
        if self.cap.proven is None and self.cap.floor < asked and asked > self._probed_with:
            learn_cap(self._opened, self.cap, asked, datetime.now(UTC))
            self._probed_with = asked
        if extensions and self.modified_filter is None:
            self.detect_extensions()

    def _recount(self, limit: int) -> int:
        """How many cases the whole CRM answers with, up to `limit` (brief details)."""
        return len(self._search({}, limit, options=None))

    def detect_extensions(self) -> bool | None:
        """Whether the server applies `LastModifiedDateFrom/To` (later FL builds only).

        Ask for cases changed after tomorrow: an Axis server without the fields refuses the
        request ("Invalid element"); one that ignores unknown elements returns cases; one that
        applies them returns none - which proves something only if the CRM has any case.
        """
        future = datetime.now(UTC) + CLOCK_MARGIN
        try:
            hits = self._search({"LastModifiedDateFrom": future}, 1, options=None, extensions=True)
        except (CRMContractError, CRMRejected) as exc:
            self.modified_filter = False
            self.extension_note = f"LastModifiedDateFrom/To refused by the server ({exc.message})"
        else:
            if hits:
                self.modified_filter = False
                self.extension_note = (
                    "LastModifiedDateFrom/To ignored by the server (cases changed after "
                    "tomorrow were returned)"
                )
            elif self._search({}, 1, options=None):
                self.modified_filter = True
                self.extension_note = "LastModifiedDateFrom/To applied by the server (later build)"
            else:
                self.modified_filter = None
                self.extension_note = "not known yet: the CRM has no cases to test with"
        self.search.modified_filter = bool(self.modified_filter)
        log.info("crm lagan extensions: %s", self.extension_note)
        return self.modified_filter

    def iter_changed_cases(
        self, since: datetime, until: datetime | None = None, page_size: int = 200
    ) -> Iterator[list[RawCase]]:
        """Pages of the cases to (re)index since `since`, in windows proven complete.

        FL has no paging and the published search no modification time, so:
        - a full read (`since` at the epoch) reads every case by creation-time windows;
        - on a server found to apply the later-build `LastModifiedDateFrom/To`, an incremental
          read asks for cases modified in [since, until), by modification-time windows;
        - otherwise an incremental read asks for the cases created since `since`, then re-reads
          every open case; its last page says so (`CasePage.open_complete`), so the reader can
          re-read the cases it holds as open that were not among them (closed or deleted since).
        Every window whose answer may have been cut at the server's cap is split; a one-second
        window still full raises `SearchCapExceeded` before anything of it is yielded. The last
        page of each window of the first pass carries `complete_until` (the window's end).
        """
        end = until or datetime.now(UTC)
        asked = page_size + 1
        self.prepare_reads(asked)
        full = since <= EPOCH
        fields = MODIFIED if self.modified_filter and not full else CREATED
        windows = read_windows(
            self._search,
            {},
            start=since,
            end=end,
            fields=fields,
            asked=asked,
            cap=self.cap,
            recount=self._recount,
            first_span=INITIAL_WINDOW,
        )
        yield from self._pages(windows, page_size, watermark=True)
        if full or self.modified_filter:
            return
        open_cases = read_windows(
            self._search,
            {"Status": "open"},
            start=EPOCH,
            end=end,
            fields=CREATED,
            asked=asked,
            cap=self.cap,
            recount=self._recount,
            first_span=INITIAL_WINDOW,
        )
        yield CasePage([], None, open_sweep=True)
        yield from self._pages(open_cases, page_size, watermark=False, sweep=True)
        yield CasePage([], None, open_complete=True)

    def _pages(
        self, windows: Iterator[Window], page_size: int, *, watermark: bool, sweep: bool = False
    ) -> Iterator[CasePage]:
        for window in windows:
            items, window.items = window.items, []
            while items:
                chunk, items = items[:page_size], items[page_size:]
                raws = [
                    strip_note_markers(element_to_raw(e, self.case_shape, self.max_text))
                    for e in chunk
                ]
                del chunk  # each page's elements are freed once converted
                # The last page of a window promises every case before the window's end.
                mark = window.end if not items and watermark else None
                yield CasePage(raws, mark, open_sweep=sweep)

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

    def find_case_by_key(
        self, idempotency_key: str, payload: RawPayload | None = None
    ) -> str | None:
        """The case whose form carries this portal key, found with the published search.

        FL has no search by form field, so the look-up narrows by what the create request
        itself set (title, category code, party; every case if no payload is given), reads the
        hits' forms and keeps those whose portal key field holds the key. Windows split at the
        server's cap like a sync, so a look-up never misses a case for being one too many.
        """
        criteria = _lookup_criteria(payload or {})
        field = self.settings.portal_id_field
        self.prepare_reads(LOOKUP_LIMIT, extensions=False)
        refs: set[str] = set()
        windows = read_windows(
            lambda query, asked: self._search(query, asked, options=LOOKUP_OPTIONS),
            criteria,
            start=EPOCH,
            # A whole second, so one window covers it all when the answer is not cut.
            end=(datetime.now(UTC) + CLOCK_MARGIN).replace(microsecond=0),
            fields=CREATED,
            asked=LOOKUP_LIMIT,
            cap=self.cap,
            recount=self._recount,
        )
        for window in windows:
            for item in window.items:
                raw = element_to_raw(item, self.case_shape, self.max_text)
                if isinstance(raw, dict) and _form_value(raw, field) == idempotency_key:
                    core = raw.get("CoreDetails")
                    ref = core.get("CaseReference") if isinstance(core, dict) else None
                    if ref:
                        refs.add(str(ref))
        if len(refs) > 1:
            raise CRMConflict(
                f"{len(refs)} cases carry the same portal key",
                crm=KIND,
                operation="searchAndRetrieveCaseDetails",
                advice="Merge the duplicate cases in the CRM; the portal key must be unique.",
            )
        return refs.pop() if refs else None

    # ------------------------------------------------------------------ writes

    def create_case(self, payload: RawPayload, idempotency_key: str) -> CaseRef:
        """Exactly once per key: look the key up before every attempt, then create."""
        data = _stamp(payload, self.settings.portal_id_field, idempotency_key)

        def attempt() -> CaseRef:
            existing = self.find_case_by_key(idempotency_key, data)
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
        """closeCases, exactly once: every attempt first reads whether the case is closed."""

        def attempt() -> None:
            if self._is_closed(ref):
                log.info("crm lagan case already closed; not closed again")
                return
            self._zeep("closeCases", CaseReference=[ref], Reason={"Title": reason})

        self._call("closeCases", attempt, idempotent=True)

    def reopen_case(self, ref: str, reason: str) -> None:
        """reopenCase, exactly once: every attempt first reads whether the case is closed."""

        def attempt() -> None:
            if not self._is_closed(ref):
                log.info("crm lagan case already open; not reopened again")
                return
            self._zeep("reopenCase", CaseReference=ref, Reason=reason)

        self._call("reopenCase", attempt, idempotent=True)

    def _is_closed(self, ref: str) -> bool:
        request = element("FWTCaseFullDetailsRequest", ns=FL)
        request.append(element("CaseReference", ref, ns=FL))
        request.append(element("Option", "core"))
        cases = list(self._stream("retrieveCaseDetails", request, "FWTCaseFullDetails"))
        if not cases:
            raise CRMNotFound(f"case {ref} not found", crm=KIND, operation="retrieveCaseDetails")
        status = cases[0].findtext("CoreDetails/Status") or ""
        return status.strip().lower() == "closed"

    def add_note(
        self,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        idempotency_key: str,
        author: str | None = None,
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
        """The common checks, then (once the CRM answers) what its search offers."""
        report = run_checks(
            self.settings, self.allowlist, probe=self._probe, probes=wsdl_hash_probe(self.settings)
        )
        if report.ok:
            report.checks.append(self._search_check())
        else:
            detail = "not probed: an earlier check failed"
            report.checks.append(HealthCheck(name="fl-search", ok=False, detail=detail))
        return report

    def _search_check(self) -> HealthCheck:
        """`fl-search`: the later-build extension found (or not) and the result cap."""
        try:
            self.modified_filter = None  # always asked afresh by a check
            self._probed_with = 0
            self.detect_extensions()
            self.prepare_reads(LOOKUP_LIMIT)
        except CRMError as exc:
            return HealthCheck(name="fl-search", ok=False, detail=f"{type(exc).__name__}: {exc}")
        sync = (
            "incremental sync by modification time"
            if self.modified_filter
            else "incremental sync by creation time, open cases re-read, case events pushed"
        )
        return HealthCheck(
            name="fl-search",
            ok=True,
            detail=f"{self.extension_note}; {sync}; result cap {self.cap.describe()}",
        )

    def _probe(self) -> None:
        self.code_book()

    def close(self) -> None:
        self.session.close()


def _lookup_criteria(payload: RawPayload) -> dict[str, Any]:
    """Published FWTCaseSearch criteria that a case created from `payload` must match."""
    criteria: dict[str, Any] = {}
    for name in ("Title", "ClassificationEventCode"):
        if payload.get(name) not in (None, ""):
            criteria[name] = payload[name]
    associated = payload.get("AssociatedObject")
    object_id = associated.get("ObjectID") if isinstance(associated, dict) else None
    if isinstance(object_id, dict) and object_id.get("ObjectReference"):
        criteria["AssociatedObjectId"] = {
            "ObjectType": object_id.get("ObjectType") or "C1",
            "ObjectReference": object_id["ObjectReference"],
        }
    return criteria


def _form_value(raw: RawCase, key: str) -> str | None:
    form = raw.get("Form")
    fields = form.get("FormField") if isinstance(form, dict) else None
    for field in fields if isinstance(fields, list) else []:
        if isinstance(field, dict) and field.get("Key") == key:
            value = field.get("Value")
            return str(value) if value is not None else None
    return None


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
