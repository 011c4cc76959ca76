"""`DataverseClient`: the `CRMClient` over the Dynamics 365 / Dataverse Web API (OData v4).

A pooled, guarded requests Session; an OAuth2 client-credentials token (`connector.dataverse.
auth`) cached until shortly before it expires and renewed once on a 401; paging by
`Prefer: odata.maxpagesize` and `@odata.nextLink`; incremental reads by `modifiedon`;
exactly-once creates by PATCH on the alternate key (`cr_portalid`) with `If-None-Match: *`.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import requests

from connector.base import (
    Attachment,
    CaseRef,
    HealthReport,
    PartyRef,
    RawCase,
    RawParty,
    RawPayload,
)
from connector.dataverse.auth import OAuthToken
from connector.dataverse.odata import (
    BIND,
    GUID,
    KIND,
    LOOKUP_ANNOTATIONS,
    TokenExpired,
    bind_key,
    bound_id,
    iso,
    lookup_of,
    odata_error,
    odata_str,
    same_value,
    strip_annotations,
)
from connector.errors import (
    CRMConflict,
    CRMContractError,
    CRMNotFound,
    CRMRejected,
)
from connector.health import run_checks
from connector.residency import HostAllowlist
from connector.resilience import Resilience, crm_boundary, map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedSession, NextLinks

log = logging.getLogger("connector.dataverse")
T = TypeVar("T")


#: Namespace of the annotation ids derived from note idempotency keys (never change it: a retry
#: after an upgrade must derive the same id as the attempt before it).
NOTE_ID_NAMESPACE = uuid.UUID("6f1d3c0e-5a0b-4c8e-9a51-7c2f0d4b8e21")


#: `statecode` of an active case; `statuscode` 1 ("In Progress") is its default reason.
ACTIVE = 0
REOPENED_STATUS = 1
#: `statuscode` 5, "Problem Solved": the documented default reason of a resolved case.
RESOLVED_STATUS = 5
STATUS_METADATA = (
    "EntityDefinitions(LogicalName='incident')/Attributes(LogicalName='statuscode')"
    "/Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet"
)


def note_annotation_id(idempotency_key: str, index: int) -> str:
    """The annotation id for part `index` of the note with this key (0: the text, 1..: files)."""
    return str(uuid.uuid5(NOTE_ID_NAMESPACE, f"{idempotency_key}:{index}"))


def customer_contact_id(idempotency_key: str) -> str:
    """The contact id for the new resident of the case created with this key."""
    return str(uuid.uuid5(NOTE_ID_NAMESPACE, f"{idempotency_key}:customer"))


@crm_boundary(KIND)  # every protocol method raises only CRMErrors
class DataverseClient:
    """`CRMClient` over the Dataverse Web API."""

    def __init__(
        self,
        settings: CRMSettings,
        *,
        resilience: Resilience | None = None,
        resolver: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.base = settings.endpoint.rstrip("/") + "/"
        self.allowlist = HostAllowlist(settings.allowed_hosts, crm=KIND, resolver=resolver)
        self.allowlist.check_url(self.base, operation="configure")
        if settings.token_url:
            self.allowlist.check_url(settings.token_url, operation="configure")
        self.session = GuardedSession(
            self.allowlist,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            ca_bundle=settings.ca_bundle,
            max_response_bytes=settings.max_response_bytes,
        )
        self.session.headers.update(
            {
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
            }
        )
        self.token = OAuthToken(settings, self.session)
        self.resilience = resilience or Resilience.from_settings(settings)
        self.key_column = settings.portal_id_column
        self.case_expand = f"$expand={quote(settings.case_expand)}" if settings.case_expand else ""
        # A collection-valued $expand may be answered from a cache: `If-None-Match: null` asks
        # for current rows (Microsoft Learn, "Join tables using OData").
        self.read_headers = {"If-None-Match": "null"} if settings.case_expand else {}
        self._status_states: dict[int, int] | None = None

    @property
    def kind(self) -> str:
        return KIND

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path_or_url: str,
        operation: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else urljoin(self.base, path_or_url)
        for renewal in (False, True):
            all_headers = {"Authorization": self.token.header(), **(headers or {})}
            seen = self.token.generation
            try:
                resp = self.session.request(method, url, headers=all_headers, json=json)
            except requests.RequestException as exc:
                raise map_transport_error(exc, crm=KIND, operation=operation) from None
            if resp.status_code in ok:
                return resp
            err = odata_error(resp, operation)
            if isinstance(err, TokenExpired) and not renewal:
                self.token.renew(seen)
                continue
            raise err
        raise AssertionError("unreachable")

    def _json(self, resp: requests.Response, operation: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise CRMContractError(
                "the answer is not JSON", crm=KIND, operation=operation
            ) from None

    def _get_json(self, url: str, operation: str, headers: dict[str, str]) -> Any:
        return self._json(self._request("GET", url, operation, headers=headers), operation)

    def _call(self, operation: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        return self.resilience.call(operation, lambda _attempt: fn(), idempotent=idempotent)

    def _incident_path(self, ref: str) -> str:
        if GUID.match(ref):
            return f"incidents({ref})"
        raise CRMNotFound(
            f"{ref!r} is not a Dataverse incident id",
            crm=KIND,
            operation="incidents",
            advice="Use the incidentid (GUID) or look the case up by ticket number.",
        )

    # ------------------------------------------------------------------ reads

    def iter_changed_cases(
        self, since: datetime, until: datetime | None = None, page_size: int = 200
    ) -> Iterator[list[RawCase]]:
        flt = f"modifiedon ge {iso(since)}"
        if until is not None:
            flt += f" and modifiedon lt {iso(until)}"
        url: str | None = urljoin(
            self.base,
            f"incidents?$filter={quote(flt)}&$orderby=modifiedon asc,incidentid asc"
            + (f"&{self.case_expand}" if self.case_expand else ""),
        )
        prefer = {"Prefer": f"odata.maxpagesize={min(page_size, 5000)}", **self.read_headers}
        links = NextLinks(str(url), crm=KIND, operation="incidents")  # a link loop ends in an error
        while url is not None:
            body = self._call(
                "incidents",
                partial(self._get_json, url, "incidents", prefer),
                idempotent=True,
            )
            records = body.get("value") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise CRMContractError("page without a value list", crm=KIND, operation="incidents")
            if records:
                yield [self._case(r) for r in records]
            url = links.follow(body.get("@odata.nextLink"))

    def get_case(self, ref: str) -> RawCase:
        if GUID.match(ref):
            path = self._incident_path(ref) + (f"?{self.case_expand}" if self.case_expand else "")
            return self._case(
                self._call(
                    "incidents",
                    partial(self._get_json, path, "incidents", self.read_headers),
                    idempotent=True,
                )
            )
        # A ticket number is a display number, not a key: it is found by a query (reads only).
        path = f"incidents?$filter=ticketnumber eq {odata_str(ref)}"
        if self.case_expand:
            path += f"&{self.case_expand}"
        body = self._call(
            "incidents",
            partial(self._get_json, path, "incidents", self.read_headers),
            idempotent=True,
        )
        found = body.get("value", []) if isinstance(body, dict) else []
        if not found:
            raise CRMNotFound(f"case {ref} not found", crm=KIND, operation="incidents")
        return self._case(found[0])

    def _case(self, record: dict[str, Any]) -> RawCase:
        """A raw case with OData annotations removed.

        An expanded collection may carry `<property>@odata.nextLink` (such as
        `Incident_Annotation@odata.nextLink`); Microsoft documents that following it returns the
        rows already expanded, so it is dropped with the other annotations and never followed
        (no doubled notes, no extra request per case).
        """
        return strip_annotations(record)

    def find_case_by_key(self, idempotency_key: str) -> str | None:
        path = f"incidents({self.key_column}={odata_str(idempotency_key)})?$select=incidentid"

        def fetch() -> str | None:
            try:
                body = self._json(self._request("GET", path, "incidents"), "incidents")
            except CRMNotFound:
                return None
            return str(body["incidentid"])

        return self._call("incidents", fetch, idempotent=True)

    # ------------------------------------------------------------------ writes

    def create_case(self, payload: RawPayload, idempotency_key: str) -> CaseRef:
        """Create-only upsert on the alternate key: a replay finds the first one (412).

        A new resident comes as the contact to create with the case (`customerid_contact`:
        `{firstname, lastname, ...}`, when the payload binds no customer). It is created first,
        exactly once, by a create-only upsert on an id derived from the key
        (`customer_contact_id`), and the case is bound to it: a retry after a lost answer finds
        the contact (412) and binds the same one.
        """
        path = f"incidents({self.key_column}={odata_str(idempotency_key)})"
        body = {**payload, self.key_column: idempotency_key}
        customer = body.pop("customerid_contact", None)
        bound = any(k.startswith("customerid_") and k.endswith(BIND) for k in body)
        contact_id = customer_contact_id(idempotency_key)
        if isinstance(customer, dict) and customer and not bound:
            body["customerid_contact@odata.bind"] = f"/contacts({contact_id})"

        def attempt() -> CaseRef:
            if isinstance(customer, dict) and customer and not bound:
                self._create_once(f"contacts({contact_id})", customer, "contacts")
            try:
                resp = self._request(
                    "PATCH",
                    path,
                    "createCase",
                    ok=(200, 201, 204),
                    headers={"If-None-Match": "*", "Prefer": "return=representation"},
                    json=body,
                )
            except CRMConflict as exc:
                if exc.status != 412:
                    raise
                existing = self.find_case_by_key(idempotency_key)
                if existing is None:
                    raise
                return CaseRef(crm=KIND, reference=existing, created=False)
            return CaseRef(crm=KIND, reference=self._created_id(resp), created=True)

        return self._call("createCase", attempt, idempotent=True)

    def _created_id(self, resp: requests.Response) -> str:
        if resp.content:
            record = self._json(resp, "createCase")
            if isinstance(record, dict) and record.get("incidentid"):
                return str(record["incidentid"])
        entity = resp.headers.get("OData-EntityId", "")
        match = re.search(r"\(([0-9a-fA-F-]{36})\)", entity)
        if match:
            return match.group(1)
        raise CRMContractError(
            "create answered without the new id", crm=KIND, operation="createCase"
        )

    def update_case(self, ref: str, payload: RawPayload) -> None:
        """PATCH only the columns whose value differs from the CRM's (each column sent fires
        plug-ins and audit as changed); nothing at all when none differs.

        The state of a case is not changed here: `statecode` is never sent, and a `statuscode`
        of another state is left out (closing is `close_case`, reopening `reopen_case`). A
        lookup bind is compared with the lookup's current id, so a case whose customer is an
        account is never re-bound as a contact; a changed customer is bound through the
        navigation property of the entity set it names (`customerid_contact` for
        `/contacts(...)`, `customerid_account` for `/accounts(...)`).
        """
        path = self._incident_path(ref)

        def attempt() -> None:
            current = self._current(path, payload)
            changes = self._changes(current, payload)
            if changes:
                self._request(
                    "PATCH",
                    path,
                    "updateCase",
                    ok=(200, 204),
                    headers={"If-Match": "*"},
                    json=changes,
                )

        self._call("updateCase", attempt, idempotent=True)

    def _current(self, path: str, payload: RawPayload) -> dict[str, Any]:
        columns = {"statecode", "statuscode"}
        for key in payload:
            if key.endswith(BIND):
                columns.add(f"_{lookup_of(key.removesuffix(BIND))}_value")
            elif "@" not in key:
                columns.add(key)
        url = f"{path}?$select={','.join(sorted(columns))}"
        body = self._get_json(url, "updateCase", {"Prefer": LOOKUP_ANNOTATIONS})
        if not isinstance(body, dict):
            raise CRMContractError(
                "the case is not a JSON object", crm=KIND, operation="updateCase"
            )
        return body

    def _changes(self, current: dict[str, Any], payload: RawPayload) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        state = current.get("statecode")
        for key, value in payload.items():
            if key == "statecode" or isinstance(value, dict):
                continue  # state: close_case/reopen_case; a related record: never via the case
            if key == "statuscode":
                if value != current.get("statuscode") and self._state_of(value) == state:
                    changes[key] = value
                continue
            if key.endswith(BIND):
                target = bound_id(value)
                lookup = lookup_of(key.removesuffix(BIND))
                have = str(current.get(f"_{lookup}_value") or "").lower()
                if target is None or target[1] != have:
                    changes[bind_key(key, value)] = value
                continue
            if not same_value(current.get(key), value):
                changes[key] = value
        return changes

    def _state_of(self, status: Any) -> int | None:
        """The state (`statecode`) a status reason belongs to, from the `statuscode` metadata."""
        if self._status_states is None:
            body = self._get_json(STATUS_METADATA, "EntityDefinitions", {})
            option_set = body.get("OptionSet") if isinstance(body, dict) else None
            options = option_set.get("Options") if isinstance(option_set, dict) else None
            if not isinstance(options, list):
                raise CRMContractError(
                    "statuscode metadata without options", crm=KIND, operation="EntityDefinitions"
                )
            self._status_states = {
                int(o["Value"]): int(o["State"])
                for o in options
                if isinstance(o, dict) and "Value" in o and "State" in o
            }
        try:
            return self._status_states.get(int(status))
        except (TypeError, ValueError):
            return None

    def _state(self, path: str, operation: str) -> int:
        body = self._get_json(f"{path}?$select=statecode", operation, {})
        state = body.get("statecode") if isinstance(body, dict) else None
        if not isinstance(state, int):
            raise CRMContractError("the case has no statecode", crm=KIND, operation=operation)
        return state

    def close_case(self, ref: str, reason: str) -> None:
        """Resolve the case with the `CloseIncident` action and an `incidentresolution`.

        Dataverse refuses to close an incident by PATCHing its state. Exactly once: a case
        already resolved or cancelled (an earlier attempt whose answer was lost) is left as it
        is, and a refusal is re-checked against the case's state before it is reported.
        """
        path = self._incident_path(ref)
        text = reason.strip() or "Closed"
        action = {
            "IncidentResolution": {
                "@odata.type": "Microsoft.Dynamics.CRM.incidentresolution",
                "subject": text[:200],
                "description": text,
                "incidentid@odata.bind": f"/{path}",
            },
            "Status": RESOLVED_STATUS,
        }

        def attempt() -> None:
            if self._state(path, "CloseIncident") != ACTIVE:
                return
            try:
                self._request("POST", "CloseIncident", "CloseIncident", ok=(200, 204), json=action)
            except (CRMRejected, CRMConflict):
                if self._state(path, "CloseIncident") != ACTIVE:
                    return
                raise

        self._call("CloseIncident", attempt, idempotent=True)

    def reopen_case(self, ref: str, reason: str) -> None:
        """Reactivate a resolved or cancelled case: PATCH `statecode` 0 with its default reason.

        A case that is already active (an earlier attempt whose answer was lost) is left alone.
        """
        path = self._incident_path(ref)

        def attempt() -> None:
            if self._state(path, "reopenCase") == ACTIVE:
                return
            self._request(
                "PATCH",
                path,
                "reopenCase",
                ok=(200, 204),
                headers={"If-Match": "*"},
                json={"statecode": ACTIVE, "statuscode": REOPENED_STATUS},
            )

        self._call("reopenCase", attempt, idempotent=True)

    def add_note(
        self,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        idempotency_key: str,
        author: str | None = None,
    ) -> None:
        """One annotation for the text and one per file, each exactly once per key.

        Each annotation's id is derived from the key (`note_annotation_id`) and written by a
        create-only upsert (`PATCH annotations(<id>)` with `If-None-Match: *`): the CRM itself
        refuses a second one (412), so a retry after a lost answer - by this call or a later one
        with the same key - finds the first instead of adding another, with no read-then-write
        race.
        """
        if not idempotency_key:
            raise CRMRejected("a note needs an idempotency key", crm=KIND, operation="annotations")
        bind = "/" + self._incident_path(ref)
        notes: list[dict[str, Any]] = [
            {"subject": "Note", "notetext": text, "objectid_incident@odata.bind": bind}
        ]
        for item in attachments:
            notes.append(
                {
                    "subject": item.name,
                    "notetext": text,
                    "filename": item.name,
                    "mimetype": item.content_type,
                    "documentbody": base64.b64encode(item.content).decode("ascii"),
                    "isdocument": True,
                    "objectid_incident@odata.bind": bind,
                }
            )
        for index, note in enumerate(notes):
            path = f"annotations({note_annotation_id(idempotency_key, index)})"
            self._call(
                "annotations",
                partial(self._create_once, path, note, "annotations"),
                idempotent=True,
            )

    def _create_once(self, path: str, body: dict[str, Any], operation: str) -> None:
        """Create the record at `path` (its id chosen by us) unless it exists (412)."""
        try:
            self._request(
                "PATCH",
                path,
                operation,
                ok=(200, 201, 204),
                headers={"If-None-Match": "*"},
                json=body,
            )
        except CRMConflict as exc:
            if exc.status != 412:
                raise
            log.info("crm dynamics365 %s record already exists; not written again", operation)

    def get_attachment(self, reference: str) -> Attachment:
        path = f"annotations({reference})?$select=filename,mimetype,documentbody"
        body = self._call(
            "annotations",
            lambda: self._json(self._request("GET", path, "annotations"), "annotations"),
            idempotent=True,
        )
        try:
            content = base64.b64decode(body.get("documentbody") or "", validate=True)
        except (ValueError, TypeError):
            raise CRMContractError(
                "documentbody is not base64", crm=KIND, operation="annotations"
            ) from None
        return Attachment(
            name=body.get("filename") or reference,
            content_type=body.get("mimetype") or "application/octet-stream",
            content=content,
            reference=reference,
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
        columns = {
            "lastname": name,
            "firstname": forename,
            "address1_postalcode": postcode,
            "emailaddress1": email,
            "telephone1": phone,
        }
        terms = [f"{col} eq {odata_str(v)}" for col, v in columns.items() if v]
        if not terms:
            raise CRMRejected("give at least one search criterion", crm=KIND, operation="contacts")
        path = f"contacts?$filter={' and '.join(terms)}&$top={limit}"
        body = self._call(
            "contacts",
            lambda: self._json(self._request("GET", path, "contacts"), "contacts"),
            idempotent=True,
        )
        return [strip_annotations(r) for r in body.get("value", [])]

    def get_party(self, ref: str) -> RawParty:
        if not GUID.match(ref):
            raise CRMNotFound(f"{ref!r} is not a contact id", crm=KIND, operation="contacts")
        return strip_annotations(
            self._call(
                "contacts",
                lambda: self._json(
                    self._request("GET", f"contacts({ref})", "contacts"), "contacts"
                ),
                idempotent=True,
            )
        )

    def create_party(self, payload: RawPayload) -> PartyRef:
        resp = self._call(
            "contacts",
            lambda: self._request(
                "POST",
                "contacts",
                "contacts",
                ok=(200, 201, 204),
                headers={"Prefer": "return=representation"},
                json=payload,
            ),
            idempotent=False,
        )
        record = self._json(resp, "contacts") if resp.content else {}
        ref = record.get("contactid") if isinstance(record, dict) else None
        if not ref:
            match = re.search(r"\(([0-9a-fA-F-]{36})\)", resp.headers.get("OData-EntityId", ""))
            ref = match.group(1) if match else None
        if not ref:
            raise CRMContractError(
                "create answered without the new id", crm=KIND, operation="contacts"
            )
        return PartyRef(crm=KIND, reference=str(ref), kind="contact")

    def code_book(self) -> list[dict[str, Any]]:
        """Case categories from the incident's `cr_categorycode` option metadata."""
        path = (
            "EntityDefinitions(LogicalName='incident')/Attributes(LogicalName='cr_categorycode')"
            "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet"
        )
        body = self._call(
            "EntityDefinitions",
            lambda: self._json(
                self._request("GET", path, "EntityDefinitions"), "EntityDefinitions"
            ),
            idempotent=True,
        )
        options = (body.get("OptionSet") or {}).get("Options", []) if isinstance(body, dict) else []
        return [dict(option) for option in options]

    #: The entity sets this connector reads and writes, probed when there is no service document.
    USED_ENTITY_SETS = ("incidents", "contacts", "annotations")

    def operations(self) -> list[str]:
        """Entity sets from the service document, or those of ours that answer a probe."""
        try:
            body = self._call(
                "service",
                lambda: self._json(self._request("GET", "", "service"), "service"),
                idempotent=True,
            )
            return sorted(str(item.get("name")) for item in body.get("value", []))
        except CRMNotFound:
            pass
        answering = []
        for name in self.USED_ENTITY_SETS:
            try:
                self._call(
                    name, partial(self._request, "GET", f"{name}?$top=1", name), idempotent=True
                )
            except CRMNotFound:
                continue
            answering.append(name)
        return answering

    def health(self) -> HealthReport:
        return run_checks(self.settings, self.allowlist, probe=self._probe)

    def _probe(self) -> None:
        self._call(
            "incidents",
            lambda: self._request("GET", "incidents?$top=1&$select=incidentid", "incidents"),
            idempotent=True,
        )

    def close(self) -> None:
        self.session.close()


__all__ = ["NOTE_ID_NAMESPACE", "DataverseClient", "customer_contact_id", "note_annotation_id"]
