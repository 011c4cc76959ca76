"""The Dataverse Web API subset: incidents, contacts, annotations, OAuth2 client credentials.

Paging is keyset-based under an opaque `$skiptoken` in `@odata.nextLink` (sorted by `$orderby`
then the primary key), so a client following nextLink sees every record exactly once even when
records are added meanwhile. The `$filter` grammar is the subset the connector needs:
`field op literal` clauses joined by `and` (ops eq, ne, gt, ge, lt, le; literals are quoted
strings, numbers, null, true/false, GUIDs or ISO date-times).

`$expand` covers the two navigation properties the mapping profile reads: the case's customer
contact (`customerid_contact`, single-valued) and the case's notes (`Incident_Annotation`,
collection-valued: the annotations whose `objectid` is the case, oldest first), each optionally
with `($select=...)`, on collection reads, single reads (by id or alternate key), nextLinks and
written representations. The contact is found through the store's contactid index and the
notes through the case's own note list, so expanding a page costs a few dictionary lookups per
case.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.app import AuthError, Request, Response, SandboxApp, json_response
from connector.sandbox.store import (
    NotFound,
    Record,
    Store,
    StoreError,
    iso,
    parse_iso,
)

API = "/api/data/v9.2"
MAX_PAGE = 5000
#: The incident's `statuscode` options: value -> (statecode, label). 1-6, 1000 and 2000 are
#: Dynamics 365's own; 1000000xx are the fictional council's reasons for its member enquiries.
STATUS_OPTIONS: dict[int, tuple[int, str]] = {
    1: (0, "In Progress"),
    2: (0, "On Hold"),
    3: (0, "Waiting for Details"),
    4: (0, "Researching"),
    100000000: (0, "Draft"),
    100000001: (0, "With service"),
    100000002: (0, "Responded"),
    5: (1, "Problem Solved"),
    1000: (1, "Information Provided"),
    6: (2, "Canceled"),
    2000: (2, "Merged"),
}
#: The store's case status -> the statuscode the incident shows (its statecode follows).
STATUS_CODE = {
    "draft": 100000000,
    "open": 1,
    "reopened": 1,
    "open-service": 100000001,
    "responded": 100000002,
    "closed": 5,
}
#: An active statuscode written by PATCH -> the store's status.
STORE_STATUS = {
    1: "open",
    2: "open",
    3: "open",
    4: "open",
    100000000: "draft",
    100000001: "open-service",
    100000002: "responded",
}
#: `caseorigincode` options: Dynamics 365's documented ones, then the council's own.
ORIGIN = {
    "Phone": 1,
    "Email": 2,
    "Web": 3,
    "Facebook": 2483,
    "Twitter": 3986,
    "IoT": 700610000,
    "face_to_face": 100000000,
    "Letter": 100000001,
    "Surgery": 100000002,
}
ORIGIN_BY_CODE = {v: k for k, v in ORIGIN.items()}
#: Incident columns the sandbox knows besides its custom `cr_` form columns; the system ones
#: are read-only.
SYSTEM_COLUMNS = frozenset(
    {"incidentid", "ticketnumber", "createdon", "modifiedon", "_customerid_value", "versionnumber"}
)
WRITABLE_COLUMNS = frozenset(
    {
        "title",
        "description",
        "prioritycode",
        "caseorigincode",
        "statecode",
        "statuscode",
        "cr_categorycode",
        "overriddencreatedon",
        "customerid_contact@odata.bind",
        "customerid_account@odata.bind",
    }
)
#: The closure reason lives on the case resolution (`incidentresolution`), not the incident.
NOT_A_COLUMN = frozenset({"ClosureReason", "Channel"})
CLOSE_MESSAGE = (
    "This message can not be used to set the state of incident to Closed. In order to set "
    "state of incident to Closed, use the CloseIncidentRequest message instead."
)
_RESOLUTION_NS = uuid.UUID("4a8f6b0e-9d7c-4f1e-8b3a-2c6d5e7f9a10")


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


# --------------------------------------------------------------- entity views
def incident(store: Store, case: Record) -> dict[str, Any]:
    statuscode = STATUS_CODE.get(case["status"], 1)
    party = store.parties.get(case.get("party") or "")
    out: dict[str, Any] = {
        "incidentid": case["incidentid"],
        "ticketnumber": ticket_number(case),
        "title": case.get("title"),
        "description": case.get("description"),
        "_customerid_value": party["contactid"] if party else None,
        "statecode": STATUS_OPTIONS[statuscode][0],
        "statuscode": statuscode,
        "caseorigincode": ORIGIN.get(case["form"].get("Channel", "")),
        "prioritycode": case.get("priority", 2),
        "createdon": case["opened"],
        "modifiedon": case["modified"],
        "cr_categorycode": case.get("category"),
    }
    for key, value in case["form"].items():
        if key not in NOT_A_COLUMN:
            out[f"cr_{key.lower()}"] = value
    return out


def ticket_number(case: Record) -> str:
    """Dynamics 365's display number for a case (`CAS-<digits>-<suffix>`), from the store's
    reference: a number people read, never a key."""
    ref = str(case["ref"])
    suffix = uuid.UUID(case["incidentid"]).hex[:6].upper()
    return f"CAS-{ref[-6:]}-{suffix}"


def customer_table(store: Store, case_view: dict[str, Any]) -> str | None:
    """`contact` or `account`: the table the case's customer lookup points at."""
    contact_id = case_view.get("_customerid_value")
    if not contact_id:
        return None
    try:
        party = store.party_by_contact(contact_id)
    except NotFound:
        return None
    return "account" if party.get("type") == "C2" else "contact"


def resolution(case: Record) -> dict[str, Any] | None:
    """The case's completed resolution (`incidentresolution`) while it is resolved."""
    if case["status"] != "closed":
        return None
    return {
        "activityid": str(uuid.uuid5(_RESOLUTION_NS, f"{case['incidentid']}:{case.get('closed')}")),
        "subject": case["form"].get("ClosureReason") or "Resolved",
        "description": case.get("resolution_description"),
        "statecode": 1,
        "statuscode": 2,
        "actualend": case.get("closed") or case["modified"],
        "createdon": case.get("closed") or case["modified"],
        "_incidentid_value": case["incidentid"],
    }


RESOLUTION_COLUMNS = (
    "activityid",
    "subject",
    "description",
    "statecode",
    "statuscode",
    "actualend",
    "createdon",
    "_incidentid_value",
)


#: The columns of a `contacts` view, in the order `contact` emits them (nested `$select`).
CONTACT_COLUMNS = (
    "contactid",
    "firstname",
    "lastname",
    "fullname",
    "emailaddress1",
    "telephone1",
    "address1_line1",
    "address1_city",
    "address1_postalcode",
    "cr_uprn",
    "cr_partyreference",
    "createdon",
    "modifiedon",
)


def contact(party: Record) -> dict[str, Any]:
    return {
        "contactid": party["contactid"],
        "firstname": party.get("forename"),
        "lastname": party.get("surname"),
        "fullname": f"{party.get('forename', '')} {party.get('surname', '')}".strip(),
        "emailaddress1": party.get("email"),
        "telephone1": party.get("phone"),
        "address1_line1": " ".join(
            x for x in (party.get("address_number"), party.get("street")) if x
        )
        or None,
        "address1_city": party.get("city"),
        "address1_postalcode": party.get("postcode"),
        "cr_uprn": party.get("uprn"),
        "cr_partyreference": party["ref"],
        "createdon": party["created"],
        "modifiedon": party["modified"],
    }


#: The columns of an `accounts` view (an organisation party), in the order `account` emits them.
ACCOUNT_COLUMNS = (
    "accountid",
    "name",
    "emailaddress1",
    "telephone1",
    "address1_line1",
    "address1_city",
    "address1_postalcode",
    "createdon",
    "modifiedon",
)


def account(party: Record) -> dict[str, Any]:
    return {
        "accountid": party["contactid"],
        "name": party.get("name") or party.get("surname"),
        "emailaddress1": party.get("email"),
        "telephone1": party.get("phone"),
        "address1_line1": party.get("street"),
        "address1_city": party.get("city"),
        "address1_postalcode": party.get("postcode"),
        "createdon": party["created"],
        "modifiedon": party["modified"],
    }


def annotation(store: Store, note: Record) -> dict[str, Any]:
    att = note.get("attachment") or {}
    body = att.get("body")
    if body is None and att.get("document") in store.documents:
        body = store.documents[att["document"]]["body"]
    parent = store.cases.get(note["parent"]) if note["parent_type"] == 0 else None
    return {
        "annotationid": note["annotationid"],
        "subject": note.get("subject"),
        "notetext": note["text"],
        "filename": att.get("name"),
        "mimetype": att.get("mimetype"),
        "filesize": _decoded_size(body) if body is not None else None,
        "documentbody": body,
        "isdocument": body is not None,
        "_objectid_value": parent["incidentid"] if parent else None,
        "objecttypecode": "incident" if parent else "interaction",
        "createdon": note["created"],
        "modifiedon": note.get("modified", note["created"]),
    }


def _decoded_size(body: str) -> int:
    """Bytes of a base64 document body (Dataverse's read-only `filesize`)."""
    text = body.strip()
    return max(0, len(text) * 3 // 4 - (len(text) - len(text.rstrip("="))))


#: The columns of an `annotations` view, in the order `annotation` emits them.
ANNOTATION_COLUMNS = (
    "annotationid",
    "subject",
    "notetext",
    "filename",
    "mimetype",
    "filesize",
    "documentbody",
    "isdocument",
    "_objectid_value",
    "objecttypecode",
    "createdon",
    "modifiedon",
)


# -------------------------------------------------------------------- $expand
#: Navigation properties the sandbox can expand: entity set -> property -> target entity type.
NAVIGATION: dict[str, dict[str, str]] = {
    "incidents": {
        "customerid_contact": "contact",
        "customerid_account": "account",
        "Incident_Annotation": "annotation",
        "Incident_IncidentResolutions": "incidentresolution",
    }
}
#: Collection-valued navigation properties (the others are single-valued lookups).
COLLECTIONS = frozenset({"Incident_Annotation", "Incident_IncidentResolutions"})
ENTITY_TYPE = {
    "incidents": "incident",
    "contacts": "contact",
    "accounts": "account",
    "annotations": "annotation",
}
TARGET_COLUMNS = {
    "contact": CONTACT_COLUMNS,
    "account": ACCOUNT_COLUMNS,
    "annotation": ANNOTATION_COLUMNS,
    "incidentresolution": RESOLUTION_COLUMNS,
}


@dataclass(frozen=True)
class Expansion:
    """One `$expand` item: a navigation property and its nested `$select` (None = all)."""

    prop: str
    target: str
    select: tuple[str, ...] | None
    keep: Callable[[dict[str, Any]], bool] | None = None


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses (`a($select=x,y),b` -> two items)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ODataError(400, "0x80060888", "$expand has an unmatched ')'")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise ODataError(400, "0x80060888", "$expand has an unmatched '('")
    parts.append(text[start:])
    return parts


_EXPAND_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_expand(text: str, entity_set: str) -> list[Expansion]:
    """Parse `$expand` for `entity_set`; every problem is a 400 OData error, never a crash.

    Supported: comma-separated navigation properties, each optionally with `($select=a,b)`.
    Nested `$filter`/`$orderby`/`$top`/`$expand` are refused (the connector never sends them).
    """
    known = NAVIGATION.get(entity_set, {})
    type_name = f"Microsoft.Dynamics.CRM.{ENTITY_TYPE[entity_set]}"
    out: list[Expansion] = []
    for item in _split_top(text, ","):
        m = _EXPAND_ITEM.match(item)
        if m is None or not item.strip():
            raise ODataError(
                400,
                "0x80060888",
                f"$expand item {item.strip()[:60]!r} is not 'property' or 'property($select=...)'",
            )
        prop, options = m.group(1), m.group(2)
        if prop not in known:
            supported = ", ".join(sorted(known)) or "none"
            raise ODataError(
                400,
                "0x80060888",
                f"Could not find a navigation property named '{prop}' on type '{type_name}'. "
                f"The sandbox can expand: {supported}.",
            )
        if any(e.prop == prop for e in out):
            raise ODataError(400, "0x80060888", f"$expand names '{prop}' more than once")
        target = known[prop]
        select, keep = _nested_options(prop, target, options)
        out.append(Expansion(prop, target, select, keep))
    return out


def _nested_options(
    prop: str, target: str, options: str | None
) -> tuple[tuple[str, ...] | None, Callable[[dict[str, Any]], bool] | None]:
    """`$select` (any navigation property) and `$filter` (collection-valued ones only)."""
    if options is None or not options.strip():
        return None, None
    select: tuple[str, ...] | None = None
    keep: Callable[[dict[str, Any]], bool] | None = None
    for option in _split_top(options, ";"):
        name, eq, value = option.strip().partition("=")
        if not eq:
            raise ODataError(
                400, "0x80060888", f"$expand option {option.strip()[:60]!r} is not '$name=value'"
            )
        if name.strip() == "$filter" and prop in COLLECTIONS:
            keep = parse_filter(value)
            continue
        if name.strip() != "$select":
            raise ODataError(
                400,
                "0x80060888",
                f"The query option '{name.strip()}' is not supported inside $expand of "
                f"'{prop}' by the sandbox; use $select or $filter.",
            )
        fields = tuple(f.strip() for f in value.split(",") if f.strip())
        if not fields:
            raise ODataError(400, "0x80060888", f"$select inside $expand of '{prop}' is empty")
        columns = TARGET_COLUMNS[target]
        unknown = [f for f in fields if f not in columns]
        if unknown:
            raise ODataError(
                400,
                "0x80060888",
                f"Could not find a property named '{unknown[0]}' on type "
                f"'Microsoft.Dynamics.CRM.{target}'",
            )
        select = fields
    return select, keep


def _expansions(request: Request, entity_set: str) -> list[Expansion]:
    text = _query(request, "$expand")
    if text is None:
        return []
    if not text.strip():
        raise ODataError(400, "0x80060888", "$expand is empty")
    return parse_expand(text, entity_set)


def _expanded(store: Store, view: dict[str, Any], expansion: Expansion) -> Any:
    """The related record's view (nested `$select` applied), None when the lookup is empty;
    for a collection, the list of related views (nested `$filter` applied)."""
    if expansion.prop in COLLECTIONS:
        try:
            case = store.case_by_incident(str(view.get("incidentid", "")))
        except NotFound:
            return []
        with store.lock:
            if expansion.prop == "Incident_Annotation":
                notes = [store.notes[nid] for nid in case.get("notes", ()) if nid in store.notes]
                rows = [annotation(store, note) for note in notes if note["parent_type"] == 0]
            else:
                found = resolution(case)
                rows = [found] if found is not None else []
        if expansion.keep is not None:
            rows = [row for row in rows if expansion.keep(row)]
        return [_pick(row, expansion.select) for row in rows]
    table = customer_table(store, view)
    if table is None or expansion.target != table:
        return None
    party = store.party_by_contact(str(view["_customerid_value"]))
    return _pick(account(party) if table == "account" else contact(party), expansion.select)


def _shape(
    store: Store, view: dict[str, Any], request: Request, expansions: list[Expansion]
) -> dict[str, Any]:
    """The response object: top-level `$select`, then each expanded navigation property."""
    out = _select(view, request)
    if "_customerid_value" in out and _wants_annotation(request, LOOKUP_TABLE):
        out[f"_customerid_value@{LOOKUP_TABLE}"] = customer_table(store, view)
    for expansion in expansions:
        out[expansion.prop] = _expanded(store, view, expansion)
    return out


LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"


def _wants_annotation(request: Request, name: str) -> bool:
    m = re.search(r'odata\.include-annotations\s*=\s*"([^"]*)"', request.header("prefer") or "")
    if m is None:
        return False
    wanted = [w.strip() for w in m.group(1).split(",")]
    return "*" in wanted or name in wanted or "Microsoft.Dynamics.CRM.*" in wanted


# -------------------------------------------------------------------- $filter
_CLAUSE = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(eq|ne|gt|ge|lt|le)\s+"
    r"('(?:[^']|'')*'|[^\s)]+)\s*",
)


def parse_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    clauses: list[tuple[str, str, Any]] = []
    rest = text.strip()
    while rest:
        m = _CLAUSE.match(rest)
        if m is None:
            raise ODataError(
                400,
                "0x80060888",
                f"$filter not understood near {rest[:40]!r}; "
                "the sandbox supports 'field op value' joined by 'and'",
            )
        clauses.append((m.group(1), m.group(2), _literal(m.group(3))))
        rest = rest[m.end() :]
        if rest:
            if not rest.lower().startswith("and "):
                raise ODataError(400, "0x80060888", "only 'and' may join $filter clauses")
            rest = rest[4:]

    def test(entity: dict[str, Any]) -> bool:
        for field, op, value in clauses:
            if field not in entity:
                raise ODataError(400, "0x80060888", f"Could not find a property named '{field}'")
            have = entity[field]
            if op == "eq" and not _eq(have, value):
                return False
            if op == "ne" and _eq(have, value):
                return False
            if op in ("gt", "ge", "lt", "le"):
                if have is None or value is None:
                    return False
                a, b = _cmp_pair(have, value)
                if not {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]:
                    return False
        return True

    return test


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    low = token.lower()
    if low == "null":
        return None
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if re.fullmatch(r"-?\d+\.\d+", token):
        return float(token)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?", token):
        return iso(parse_iso(token)) if "T" in token else token
    if re.fullmatch(r"[0-9a-fA-F-]{36}", token):
        return token.lower()
    raise ODataError(400, "0x80060888", f"$filter literal {token!r} not understood")


def _eq(have: Any, value: Any) -> bool:
    if isinstance(have, str) and isinstance(value, str):
        return have.lower() == value.lower()
    return bool(have == value)


def _cmp_pair(have: Any, value: Any) -> tuple[Any, Any]:
    if isinstance(have, str) and isinstance(value, str) and "T" in have and "T" in value:
        return parse_iso(have), parse_iso(value)
    return have, value


# ------------------------------------------------------------------- routing
_ENTITY = re.compile(r"^/(incidents|contacts|accounts|annotations)(?:\((.+)\))?$")
_DISCOVERY = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")


def _operation(request: Request) -> str:
    """The fault-injection name of a request (`token`, `incidents.PATCH`, `CloseIncident`...)."""
    path = request.path
    if "/oauth2/" in path:
        return "token"
    if _DISCOVERY.match(path):
        return "discovery"
    rest = urllib.parse.unquote(path[len(API) :])
    if _METADATA.match(rest):
        return f"EntityDefinitions.{request.method}"
    if rest == "/CloseIncident":
        return "CloseIncident"
    m = _ENTITY.match(path[len(API) :])
    return f"{m.group(1)}.{request.method}" if m else "unknown"


def handle(app: SandboxApp, request: Request) -> Response:
    op = _operation(request)
    decision = app.faults.decide(op)
    request.decision = decision
    early = app.pre_fault(decision)
    if early is not None:
        return early
    if op in ("token", "discovery") and decision.fault in ("500", "502", "503", "429"):
        # The identity platform's own shape: `error` is text, the reason an AADSTS code.
        busy = decision.fault == "429"
        answer = _aad_error(
            int(decision.fault),
            "temporarily_unavailable",
            "AADSTS90055" if busy else "AADSTS90033",
            "Too many requests; try again later." if busy else "A transient error has occurred.",
        )
        if busy:
            answer.headers["Retry-After"] = app.retry_after_value(decision)
        return answer
    if decision.fault in ("500", "502", "503", "soap_fault"):
        status = 500 if decision.fault == "soap_fault" else int(decision.fault)
        return error_response(status, "0x80040216", f"injected HTTP {status}")
    if decision.fault == "429":
        return error_response(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of the sandbox throttling rule.",
            {"Retry-After": app.retry_after_value(decision)},
        )
    try:
        if op == "token":
            response = token(app, request)
        elif op == "discovery":
            response = discovery(app, request)
        elif op.startswith("EntityDefinitions."):
            bearer(app, request)
            response = attribute_metadata(app, request)
        elif op == "CloseIncident":
            bearer(app, request)
            response = close_incident(app, request)
        else:
            bearer(app, request)
            m = _ENTITY.match(request.path[len(API) :])
            if m is None:
                raise ODataError(
                    404,
                    "0x8006088a",
                    f"Resource not found for the segment '{request.path[len(API) :]}'",
                )
            response = entity(app, request, m.group(1), m.group(2))
    except ODataError as exc:
        response = error_response(exc.status, exc.code, exc.message)
    except AuthError as exc:
        response = error_response(
            401, "0x80040220", exc.message, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    except NotFound as exc:
        response = error_response(404, "0x80040217", exc.message)
    except StoreError as exc:
        response = error_response(exc.status, f"0x8004{exc.code:04x}", exc.message)
    except (KeyError, TypeError, ValueError) as exc:
        response = error_response(400, "0x80048d19", f"invalid request: {str(exc)[:200]}")
    return app.post_fault(decision, response)


# ----------------------------------------------------------------- metadata
_METADATA = re.compile(
    r"^/EntityDefinitions\(LogicalName='([a-z_]+)'\)/Attributes\(LogicalName='([a-z_]+)'\)"
    r"/Microsoft\.Dynamics\.CRM\.(Picklist|Status)AttributeMetadata$"
)
#: The choice attributes whose metadata the sandbox serves: (entity, attribute) -> kind.
ATTRIBUTES = {
    ("incident", "cr_categorycode"): "Picklist",
    ("incident", "caseorigincode"): "Picklist",
    ("incident", "statuscode"): "Status",
}
_METADATA_NS = uuid.UUID("0b7c4f64-2d0e-4d55-9f0c-3b1b7e9a6c11")


def _label(text: str) -> dict[str, Any]:
    label = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": label}


def _options(app: SandboxApp, attribute: str) -> list[dict[str, Any]]:
    """The options of a choice column: the same values the records hold."""
    if attribute == "cr_categorycode":
        with app.store.lock:
            codes = list(app.store.codebook)
        return [
            {
                "Value": int(code["CodeID"]),
                "Label": _label(str(code.get("CodeValue") or code["CodeKey"])),
                "ExternalValue": code["CodeKey"],
            }
            for code in codes
        ]
    if attribute == "caseorigincode":
        return [
            {"Value": value, "Label": _label(name.replace("_", " ")), "ExternalValue": None}
            for name, value in ORIGIN.items()
        ]
    return [
        {"Value": value, "State": state, "Label": _label(label), "ExternalValue": None}
        for value, (state, label) in STATUS_OPTIONS.items()
    ]


def attribute_metadata(app: SandboxApp, request: Request) -> Response:
    """`EntityDefinitions(...)/Attributes(...)/Microsoft.Dynamics.CRM.<Kind>AttributeMetadata`
    with `$expand=OptionSet`: the incident's choice columns (category, origin) and status
    reasons, each option's `Value` being what the records hold (`State` for a status)."""
    if request.method != "GET":
        raise ODataError(405, "0x80060888", f"{request.method} is not supported on metadata")
    m = _METADATA.match(urllib.parse.unquote(request.path[len(API) :]))
    if m is None or ATTRIBUTES.get((m.group(1), m.group(2))) != m.group(3):
        raise ODataError(404, "0x80040217", "Could not find an attribute with that name")
    entity_name, attribute, kind = m.group(1), m.group(2), m.group(3)
    body: dict[str, Any] = {
        "@odata.context": (
            f"{_base(app, request)}{API}/$metadata#EntityDefinitions('{entity_name}')/Attributes"
            f"/Microsoft.Dynamics.CRM.{kind}AttributeMetadata/$entity"
        ),
        "MetadataId": str(uuid.uuid5(_METADATA_NS, f"{entity_name}.{attribute}")),
        "LogicalName": attribute,
        "AttributeType": kind,
        "DisplayName": _label(attribute),
    }
    expand = [e.strip() for e in (_query(request, "$expand") or "").split(",") if e.strip()]
    unknown = [e for e in expand if e != "OptionSet"]
    if unknown:
        raise ODataError(400, "0x80060888", f"Could not find a property named '{unknown[0]}'")
    if expand:
        body["OptionSet"] = {
            "MetadataId": str(uuid.uuid5(_METADATA_NS, f"{entity_name}.{attribute}.options")),
            "Name": f"{entity_name}_{attribute}",
            "OptionSetType": kind,
            "IsGlobal": False,
            "Options": _options(app, attribute),
        }
    return json_response(200, body)


# ------------------------------------------------------- identity platform
def _aad_error(status: int, error: str, code: str, text: str) -> Response:
    """An identity platform v2.0 error answer (`error`, `error_description` with AADSTS)."""
    return json_response(
        status,
        {
            "error": error,
            "error_description": f"{code}: {text} Trace ID: {uuid.uuid4()}",
            "error_codes": [int(code[6:])],
        },
    )


def discovery(app: SandboxApp, request: Request) -> Response:
    """The tenant's OpenID configuration, which MSAL reads to find the token endpoint."""
    m = _DISCOVERY.match(request.path)
    assert m is not None
    tenant = m.group(1)
    if tenant != app.auth.tenant:
        return _aad_error(400, "invalid_tenant", "AADSTS90002", f"Tenant '{tenant}' not found.")
    base = f"{_base(app, request)}/{tenant}"
    return json_response(
        200,
        {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        },
    )


def token(app: SandboxApp, request: Request) -> Response:
    """Client credentials on the v2.0 endpoint: the scope must be `<resource>/.default`."""
    if request.method != "POST":
        return _aad_error(405, "invalid_request", "AADSTS900561", "The endpoint only accepts POST.")
    form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
    client_id = form.get("client_id", [""])[0]
    secret = form.get("client_secret", [""])[0]
    basic = request.header("authorization")
    if basic and basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _aad_error(
                400, "invalid_client", "AADSTS7000216", "Malformed client credentials."
            )
        client_id = urllib.parse.unquote_plus(client_id)
        secret = urllib.parse.unquote_plus(secret)
    if form.get("grant_type", [""])[0] != "client_credentials":
        return _aad_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003",
            "The app requested an unsupported grant type; use client_credentials.",
        )
    scope = form.get("scope", [""])[0].strip()
    if not scope.endswith("/.default") or " " in scope:
        return _aad_error(
            400,
            "invalid_scope",
            "AADSTS1002012",
            f"The provided value for scope {scope!r} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier.",
        )
    if client_id != app.auth.client_id:
        return _aad_error(
            400,
            "unauthorized_client",
            "AADSTS700016",
            f"Application with identifier '{client_id[:60]}' was not found in the directory.",
        )
    if secret != app.auth.client_secret:
        return _aad_error(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided.")
    session = app.issue_token(client_id, "bearer")
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": int(app.auth.token_ttl_seconds),
            "ext_expires_in": int(app.auth.token_ttl_seconds),
            "access_token": session.token,
        },
    )


def bearer(app: SandboxApp, request: Request) -> str:
    header = request.header("authorization") or ""
    if not header.lower().startswith("bearer "):
        raise AuthError("a Bearer token from the OAuth2 token endpoint is required")
    return app.use_token(header[7:].strip(), "bearer", request.decision).user_id


def _query(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _key(key: str | None, primary: str) -> tuple[str, str] | None:
    if key is None:
        return None
    m = re.fullmatch(r"([a-z_]+)='((?:[^']|'')*)'", key)
    if m:
        return m.group(1), m.group(2).replace("''", "'")
    m = re.fullmatch(r"([a-z_]+)=(.+)", key)
    if m:
        return m.group(1), m.group(2).strip().lower()
    return primary, key.strip().lower()


# ------------------------------------------------------------ CloseIncident
def close_incident(app: SandboxApp, request: Request) -> Response:
    """The `CloseIncident` action: resolve an active case with an `incidentresolution`."""
    if request.method != "POST":
        raise ODataError(405, "0x80060888", "CloseIncident is an action: use POST")
    body = _body(request)
    unknown = sorted(set(body) - {"IncidentResolution", "Status"})
    if unknown:
        raise ODataError(
            400, "0x80060888", f"The parameter '{unknown[0]}' is not a parameter of CloseIncident."
        )
    res = body.get("IncidentResolution")
    status = body.get("Status")
    if not isinstance(res, dict):
        raise ODataError(400, "0x80040203", "IncidentResolution is required.")
    if not isinstance(status, int) or isinstance(status, bool):
        raise ODataError(
            400, "0x80048d19", "Cannot convert the value of 'Status' to the type 'Edm.Int32'."
        )
    if STATUS_OPTIONS.get(status, (None,))[0] != 1:
        raise ODataError(
            400,
            "0x80040203",
            f"{status} is not a valid status code for state code IncidentState.Resolved on "
            "incident.",
        )
    allowed = {"@odata.type", "subject", "description", "incidentid@odata.bind", "timespent"}
    extra = sorted(set(res) - allowed)
    if extra:
        raise ODataError(
            400,
            "0x80060888",
            f"Invalid property '{extra[0]}' was found in entity "
            "'Microsoft.Dynamics.CRM.incidentresolution'.",
        )
    subject = res.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise ODataError(400, "0x80040203", "subject is required on the incidentresolution.")
    if len(subject) > 200:
        raise ODataError(
            400, "0x80044331", "A validation error occurred. subject is longer than 200."
        )
    store = app.store
    with store.lock:
        case = store.case_by_incident(_bound(res.get("incidentid@odata.bind"), "incidents"))
        if case["status"] == "closed":
            raise ODataError(
                400,
                "0x80040203",
                "This case has already been resolved. Close and reopen the case, and try again.",
            )
        description = res.get("description")
        store.close_case(case["ref"], subject.strip(), description)
        case["resolution_description"] = description
        store.save("cases", case["ref"], case)
    return Response(204, {"OData-Version": "4.0"}, b"")


def entity(app: SandboxApp, request: Request, name: str, raw_key: str | None) -> Response:
    store = app.store
    method = request.method
    primary = {
        "incidents": "incidentid",
        "contacts": "contactid",
        "accounts": "accountid",
        "annotations": "annotationid",
    }[name]
    key = _key(raw_key, primary)
    # Parsed before any write, so a bad $expand on a write refuses it instead of answering
    # 400 for a change that was committed.
    expansions = _expansions(request, name)
    if method == "GET":
        with store.lock:
            if key is not None:
                record = _lookup(store, name, key)
                if record is None:
                    raise NotFound(f"{name} with {key[0]} = {key[1]} does not exist")
                view = _view(store, name, record)
                return json_response(200, _shape(store, view, request, expansions))
            return _list(app, request, name, primary, expansions)
    if name == "accounts":
        raise ODataError(405, "0x80060888", "the sandbox's accounts are read-only")
    body = _body(request)
    if method == "POST" and key is None:
        with store.lock:
            record = _create(store, name, body, None)
            return _written(app, request, name, primary, record, 204, expansions)
    if method == "PATCH" and key is not None:
        with store.lock:
            record = _lookup(store, name, key)
            if request.header("if-none-match") == "*" and record is not None:
                raise ODataError(
                    412, "0x80040237", "A record with matching key values already exists."
                )
            if request.header("if-match") == "*" and record is None:
                raise NotFound(f"{name} with {key[0]} = {key[1]} does not exist")
            if record is None:
                record = _create(store, name, body, key)
                return _written(app, request, name, primary, record, 204, expansions)
            _update(store, name, record, body)
            return _written(app, request, name, primary, record, 204, expansions)
    raise ODataError(405, "0x80060888", f"{method} is not supported on {name}")


def _view(store: Store, name: str, record: Record) -> dict[str, Any]:
    if name == "incidents":
        return incident(store, record)
    if name == "contacts":
        return contact(record)
    if name == "accounts":
        return account(record)
    return annotation(store, record)


def _lookup(store: Store, name: str, key: tuple[str, str]) -> Record | None:
    field, value = key
    try:
        if name == "incidents":
            if field == "incidentid":
                return store.case_by_incident(value)
            if field == "cr_portalid":
                hits = [c for c in store.cases.values() if c["form"].get("PortalId") == value]
                return hits[0] if hits else None
        elif name == "contacts" and field == "contactid":
            party = store.party_by_contact(value)
            return party if party.get("type") != "C2" else None
        elif name == "accounts" and field == "accountid":
            party = store.party_by_contact(value)
            return party if party.get("type") == "C2" else None
        elif name == "annotations" and field == "annotationid":
            return store.note_by_annotation(value)
    except NotFound:
        return None
    # Dataverse's words for a key that is neither the primary key nor an alternate key (such as
    # `ticketnumber`, a display number).
    raise ODataError(
        400,
        "0x80060888",
        f"The key '{field}' is not a valid key or alternate key of entity "
        f"'Microsoft.Dynamics.CRM.{ENTITY_TYPE[name]}'.",
    )


def _select(view: dict[str, Any], request: Request) -> dict[str, Any]:
    select = _query(request, "$select")
    if not select:
        return dict(view)
    fields = [f.strip() for f in select.split(",") if f.strip()]
    unknown = [f for f in fields if f not in view]
    if unknown:
        raise ODataError(400, "0x80060888", f"Could not find a property named '{unknown[0]}'")
    return _pick(view, fields)


def _pick(view: dict[str, Any], fields: tuple[str, ...] | list[str] | None) -> dict[str, Any]:
    """The primary key (first column, always returned as Dataverse does) plus `fields`."""
    if fields is None:
        return dict(view)
    primary = next(iter(view))
    out = {primary: view[primary]}
    out.update({f: view[f] for f in fields})
    return out


def _list(
    app: SandboxApp, request: Request, name: str, primary: str, expansions: list[Expansion]
) -> Response:
    store = app.store
    records: list[Record] = list(
        store.cases.values()
        if name == "incidents"
        else [p for p in store.parties.values() if p.get("type") != "C2"]
        if name == "contacts"
        else [p for p in store.parties.values() if p.get("type") == "C2"]
        if name == "accounts"
        else [n for n in store.notes.values() if n["parent_type"] == 0]
    )
    views = [_view(store, name, r) for r in records]
    flt = _query(request, "$filter")
    if flt:
        test = parse_filter(flt)
        views = [v for v in views if test(v)]
    order: list[tuple[str, bool]] = []
    for part in (_query(request, "$orderby") or "").split(","):
        bits = part.split()
        if bits:
            if bits[0] not in (views[0] if views else {bits[0]: None}):
                raise ODataError(400, "0x80060888", f"Could not find a property named '{bits[0]}'")
            order.append((bits[0], len(bits) > 1 and bits[1].lower() == "desc"))
    order.append((primary, False))

    def sort_key(v: dict[str, Any]) -> tuple[Any, ...]:
        return tuple((v[f] is None, v[f] if v[f] is not None else "") for f, _ in order)

    for field, desc in reversed(order):
        views.sort(key=_field_key(field), reverse=desc)
    token = _query(request, "$skiptoken")
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()))
        except ValueError:
            raise ODataError(
                400, "0x80060888", "$skiptoken is not one this server issued"
            ) from None
        last = tuple(tuple(x) for x in after)
        views = [v for v in views if _after(sort_key(v), last, [d for _, d in order])]
    top = _query(request, "$top")
    if top is not None:
        views = views[: int(top)]
    size = MAX_PAGE
    prefer = request.header("prefer") or ""
    m = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", prefer)
    if m:
        size = max(1, min(int(m.group(1)), MAX_PAGE))
    page = views[:size]
    body: dict[str, Any] = {
        "@odata.context": f"{_base(app, request)}{API}/$metadata#{name}",
        "value": [_shape(store, v, request, expansions) for v in page],
    }
    headers = {}
    if m:
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    if len(views) > size and top is None:
        skip = base64.urlsafe_b64encode(
            json.dumps([list(x) for x in sort_key(page[-1])]).encode()
        ).decode()
        params = {k: v[0] for k, v in request.query.items() if k != "$skiptoken"}
        params["$skiptoken"] = skip
        body["@odata.nextLink"] = (
            f"{_base(app, request)}{request.path}?{urllib.parse.urlencode(params)}"
        )
    return json_response(200, body, headers)


def _field_key(field: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    def key(view: dict[str, Any]) -> tuple[bool, Any]:
        value = view[field]
        return (value is None, value if value is not None else "")

    return key


def _after(key: tuple[Any, ...], last: tuple[Any, ...], desc: list[bool]) -> bool:
    for (a_none, a), (b_none, b), d in zip(key, last, desc, strict=True):
        ka, kb = (a_none, a), (b_none, b)
        if ka == kb:
            continue
        return (ka < kb) if d else (ka > kb)
    return False


def _base(app: SandboxApp, request: Request) -> str:
    if app.base_url:
        return app.base_url.rstrip("/")
    return f"http://{request.header('host') or '127.0.0.1'}"


def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ODataError(400, "0x80048d19", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ODataError(400, "0x80048d19", "request body must be a JSON object")
    return data


def _written(
    app: SandboxApp,
    request: Request,
    name: str,
    primary: str,
    record: Record,
    status: int,
    expansions: list[Expansion],
) -> Response:
    view = _view(app.store, name, record)
    entity_id = f"{_base(app, request)}{API}/{name}({view[primary]})"
    if "return=representation" in (request.header("prefer") or ""):
        body = _shape(app.store, view, request, expansions)
        return json_response(201 if status == 204 else status, body, {"OData-EntityId": entity_id})
    return Response(204, {"OData-Version": "4.0", "OData-EntityId": entity_id}, b"")


_BIND = re.compile(r"^/?([a-z_]+)\(([0-9a-fA-F-]{36})\)$")


def _bound(value: Any, entity_set: str) -> str:
    m = _BIND.match(str(value))
    if m is None or m.group(1) != entity_set:
        raise ODataError(
            400,
            "0x80048d19",
            f"The @odata.bind value {str(value)[:80]!r} does not name a record of the entity "
            f"set '{entity_set}'.",
        )
    return m.group(2).lower()


def _customer(store: Store, key: str, value: Any) -> str:
    """The party a `customerid_<table>@odata.bind` names; the table must be the party's own."""
    table = "contact" if key.startswith("customerid_contact") else "account"
    record_id = _bound(value, f"{table}s")
    try:
        party = store.party_by_contact(record_id)
    except NotFound:
        party = None
    if party is None or (party.get("type") == "C2") != (table == "account"):
        raise ODataError(404, "0x80040217", f"{table} With Id = {record_id} Does Not Exist")
    return str(party["ref"])


def _choice(column: str, value: Any, options: Iterable[int]) -> int:
    """A choice column's value: an Edm.Int32 that is one of the column's options."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ODataError(
            400,
            "0x80048d19",
            "An error occurred while validating input parameters: Cannot convert the literal "
            f"'{str(value)[:60]}' to the expected type 'Edm.Int32'.",
        )
    if value not in set(options):
        raise ODataError(
            400,
            "0x8004431a",
            f"A validation error occurred. The value {value} of '{column}' on record of type "
            "'incident' is outside the valid range.",
        )
    return value


def _invalid(column: str) -> ODataError:
    return ODataError(
        400,
        "0x80060888",
        f"Invalid property '{column[:80]}' was found in entity 'Microsoft.Dynamics.CRM.incident'.",
    )


def _case_changes(
    store: Store, body: dict[str, Any], *, creating: bool
) -> tuple[Record, dict[str, str], int | None]:
    """What a create or PATCH body changes: (case fields, form fields, new state or None).

    Refuses what Dataverse refuses: unknown columns, read-only ones, text in a choice column,
    an option the column does not have, a customer bound through the wrong table, a
    resolved or cancelled state (closing is the `CloseIncident` action), and
    `overriddencreatedon` after the create.
    """
    changes: Record = {}
    form: dict[str, str] = {}
    state: int | None = None
    if "customerid_contact@odata.bind" in body and "customerid_account@odata.bind" in body:
        raise ODataError(400, "0x80048d19", "customerid can be bound to one record only")
    for key, value in body.items():
        if key in ("title", "description"):
            changes[key] = value
        elif key == "prioritycode":
            changes["priority"] = _choice(key, value, (1, 2, 3))
        elif key == "caseorigincode":
            form["Channel"] = ORIGIN_BY_CODE[_choice(key, value, ORIGIN_BY_CODE)]
        elif key in ("customerid_contact@odata.bind", "customerid_account@odata.bind"):
            changes["party"] = _customer(store, key, value)
        elif key == "cr_categorycode":
            changes["category"] = _choice(key, value, (int(c["CodeID"]) for c in store.codebook))
        elif key == "statecode":
            state = _choice(key, value, (0, 1, 2))
            if state == 1:
                raise ODataError(400, "0x80040203", CLOSE_MESSAGE)
            if state == 2:
                raise ODataError(
                    400, "0x80040203", "The sandbox does not cancel cases; resolve them instead."
                )
        elif key == "statuscode":
            code = _choice(key, value, STATUS_OPTIONS)
            if STATUS_OPTIONS[code][0] == 1:
                raise ODataError(400, "0x80040203", CLOSE_MESSAGE)
            if STATUS_OPTIONS[code][0] != 0:
                raise ODataError(
                    400, "0x80040203", "The sandbox does not cancel cases; resolve them instead."
                )
            changes["status"] = STORE_STATUS[code]
        elif key == "overriddencreatedon":
            if not creating:
                raise ODataError(
                    400,
                    "0x80040203",
                    "overriddencreatedon can only be set when the record is created.",
                )
            changes["opened"] = iso(parse_iso(str(value)))
        elif key in SYSTEM_COLUMNS:
            raise ODataError(
                400, "0x80040203", f"The column '{key}' is set by the system and is read-only."
            )
        elif key in CUSTOM_COLUMNS:
            form[CUSTOM_COLUMNS[key]] = "" if value is None else str(value)
        else:
            raise _invalid(key)
    return changes, form, state


FORM_KEYS = [
    "PortalId",
    "MemberId",
    "WardId",
    "Sharing",
    "SharingColleague",
    "SharingUntil",
    "AuthorityRecordedBy",
    "AuthorityRecordedAt",
    "AuthorityScope",
    "LawfulBasis",
    "ExplicitConsent",
    "AuthorityWithdrawnAt",
    "Channel",
    "RaisedBy",
    "Priority",
    "ServiceId",
    "AcknowledgedAt",
    "NextUpdateDue",
    "TargetDate",
    "ClosureReason",
    "UPRN",
    "Postcode",
    "Address",
]
#: The incident's custom text columns (`cr_<form key>`): column -> the store's form key. The
#: channel is `caseorigincode` and the closure reason lives on the incidentresolution.
CUSTOM_COLUMNS = {f"cr_{k.lower()}": k for k in FORM_KEYS if k not in NOT_A_COLUMN}


def _create(store: Store, name: str, body: dict[str, Any], key: tuple[str, str] | None) -> Record:
    if name == "incidents":
        changes, form, _state = _case_changes(store, body, creating=True)
        if key is not None:
            if key[0] == "cr_portalid":
                form["PortalId"] = key[1]
            elif key[0] == "incidentid":
                changes["incidentid"] = key[1]
            else:  # pragma: no cover - _lookup refuses other keys first
                raise ODataError(400, "0x80060888", f"cannot create an incident by {key[0]}")
        if "party" not in changes:  # customerid is system-required on incident
            raise ODataError(400, "0x80040203", "You should specify a parent contact or account.")
        if "category" not in changes:
            changes["category"] = store.codebook[0]["CodeID"] if store.codebook else 0
        code = store.category(changes["category"]) or {}
        changes.setdefault("queue", code.get("CodeKey"))
        changes.setdefault("status", "open")
        changes["form"] = form
        changes["raised_by_user"] = "dataverse"
        return store.add_case(changes)
    if name == "contacts":
        if key is not None and key[0] != "contactid":
            raise ODataError(400, "0x80060888", f"cannot create a contact by {key[0]}")
        fields = _contact_fields(body)
        if key is not None:
            fields["contactid"] = key[1]
        return store.add_party({"type": "C1", **fields})
    # annotations
    unknown = sorted(set(body) - ANNOTATION_WRITABLE)
    if unknown:
        raise ODataError(
            400,
            "0x80060888",
            f"Invalid property '{unknown[0][:80]}' was found in entity "
            "'Microsoft.Dynamics.CRM.annotation'.",
        )
    target = body.get("objectid_incident@odata.bind")
    if target is None:
        raise ODataError(400, "0x80048d19", "annotations need objectid_incident@odata.bind")
    case = store.case_by_incident(_bound(target, "incidents"))
    attachment = None
    if body.get("documentbody"):
        try:
            base64.b64decode(str(body["documentbody"]), validate=True)
        except ValueError:
            raise ODataError(400, "0x80048d19", "documentbody must be base64") from None
        attachment = {
            "name": body.get("filename") or "attachment",
            "mimetype": body.get("mimetype") or "application/octet-stream",
            "body": body["documentbody"],
        }
    return store.add_note(
        0,
        case["ref"],
        str(body.get("notetext") or ""),
        author="dataverse",
        subject=body.get("subject"),
        attachment=attachment,
        annotation_id=key[1] if key else None,
    )


ANNOTATION_WRITABLE = frozenset(
    {
        "subject",
        "notetext",
        "filename",
        "mimetype",
        "documentbody",
        "isdocument",
        "objecttypecode",
        "objectid_incident@odata.bind",
    }
)


def _contact_fields(body: dict[str, Any]) -> Record:
    mapping = {
        "firstname": "forename",
        "lastname": "surname",
        "emailaddress1": "email",
        "telephone1": "phone",
        "address1_line1": "street",
        "address1_city": "city",
        "address1_postalcode": "postcode",
        "cr_uprn": "uprn",
    }
    fields: Record = {}
    for key, value in body.items():
        if key not in mapping:
            raise ODataError(400, "0x80060888", f"Invalid property '{key}' for contacts")
        fields[mapping[key]] = value
    return fields


def _update(store: Store, name: str, record: Record, body: dict[str, Any]) -> None:
    if name == "incidents":
        changes, form, state = _case_changes(store, body, creating=False)
        closed = record["status"] == "closed"
        if closed and state != 0 and "status" in changes:
            raise ODataError(
                400,
                "0x80040203",
                "This case is resolved: reactivate it (statecode 0) before changing its status.",
            )
        if state == 0 and closed:
            store.reopen_case(record["ref"], None)
            if changes.get("status") == "open":
                changes.pop("status")  # the sandbox's lifecycle calls it reopened
        if changes or form:
            store.update_case(record["ref"], changes, form)
        return
    if name == "contacts":
        store.update_party(record["ref"], _contact_fields(body))
        return
    for key, value in body.items():
        if key in ("notetext", "subject"):
            record["text" if key == "notetext" else "subject"] = value
        else:
            raise ODataError(400, "0x80060888", f"Invalid property '{key}' for annotations")
    record["modified"] = iso(store.clock())
    store.save("notes", record["id"], record)
