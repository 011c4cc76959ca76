"""Microsoft's documented rules for Dataverse Web API requests, as a checker for tests.

Independent of the sandbox: each rule is read from Microsoft Learn ("Compose HTTP requests and
handle errors", "Update and delete table rows", "CloseIncident Action", "Join tables using
OData", "Page results using OData", the incident table reference) as summarised in the shared
contract notes, and applied to the requests a client sent. `problems(...)` returns one line per
broken rule, so a test asserts an empty list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: Choice (picklist/state/status) columns of an incident: `Edm.Int32` option values.
CHOICES = frozenset(
    {"caseorigincode", "prioritycode", "statecode", "statuscode", "cr_categorycode"}
)
#: Status reasons of the resolved (1) and cancelled (2) states of an incident.
INACTIVE_REASONS = frozenset({5, 1000, 6, 2000})
#: Collection-valued navigation properties of an incident.
COLLECTIONS = ("Incident_Annotation", "Incident_IncidentResolutions")
BIND_SETS = {"customerid_contact": "contacts", "customerid_account": "accounts"}
_KEY = re.compile(rf"^/incidents\(({GUID}|[a-z_]+='[^']*')\)$")
_WRITE_KEY = re.compile(rf"^/(?:incidents|contacts|annotations)\(({GUID}|cr_portalid='[^']*')\)$")


@dataclass
class Sent:
    """One request as the server saw it."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    #: the record's columns before this request (for updates), if the test server knows them
    before: dict[str, Any] | None = None
    path: str = field(init=False)

    def __post_init__(self) -> None:
        self.path = unquote(urlsplit(self.url).path).split("/api/data/v9.2", 1)[-1]

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def problems(sent: list[Sent], nested_links: Collection[str] = ()) -> list[str]:
    """Every documented rule the requests break (empty when they keep them all)."""
    found: list[str] = []
    for n, request in enumerate(sent):
        where = f"#{n} {request.method} {request.path}"
        found += [f"{where}: {p}" for p in _problems(request, nested_links)]
    return found


def _problems(request: Sent, nested_links: Collection[str]) -> list[str]:
    out: list[str] = []
    method, path, body = request.method, request.path, request.body
    if "/oauth2/v2.0/token" in path:
        form = parse_qs(body if isinstance(body, str) else "")
        if form.get("grant_type") != ["client_credentials"]:
            out.append("the token request is not grant_type=client_credentials")
        scope = (form.get("scope") or [""])[0]
        if not scope.endswith("/.default"):
            out.append(f"client credentials need a `<resource>/.default` scope, not {scope!r}")
        return out
    if method == "GET":
        if request.url in nested_links:
            out.append("followed a nested collection's @odata.nextLink (it repeats the rows)")
        query = unquote(urlsplit(request.url).query)
        if any(f"{c}(" in query or f"{c}," in query for c in COLLECTIONS) and (
            request.header("If-None-Match") != "null"
        ):
            out.append("a collection-valued $expand without `If-None-Match: null` may be stale")
        prefer = request.header("Prefer") or ""
        size = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        if size and int(size.group(1)) > 5000:
            out.append("odata.maxpagesize above 5,000")
        return out
    if path == "/CloseIncident":
        return _close_problems(body)
    if method in ("PATCH", "DELETE") and not _WRITE_KEY.match(path):
        out.append("a write must address the record by its id or an alternate key")
    if "ticketnumber=" in path:
        out.append("ticketnumber is a display number, not a key")
    if not isinstance(body, dict):
        return out
    creating = method == "POST" or request.header("If-None-Match") == "*"
    if path.startswith("/incidents"):
        out += _incident_body_problems(body, creating=creating)
        if method == "PATCH" and not creating and request.before is not None:
            unchanged = [
                k
                for k, v in body.items()
                if "@" not in k and k in request.before and request.before[k] == v
            ]
            if unchanged:
                out.append(f"an update sent unchanged columns {sorted(unchanged)}")
    return out


def _incident_body_problems(body: dict[str, Any], *, creating: bool) -> list[str]:
    out: list[str] = []
    for column in CHOICES & set(body):
        value = body[column]
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"choice column {column} holds {type(value).__name__}, not Edm.Int32")
    if body.get("statecode") in (1, 2) or body.get("statuscode") in INACTIVE_REASONS:
        out.append("an incident is closed with CloseIncident, never by PATCHing its state")
    if body.get("statecode") == 0 and "statuscode" not in body and not creating:
        out.append("reactivating sets statecode 0 with a valid statuscode")
    if "overriddencreatedon" in body and not creating:
        out.append("overriddencreatedon is set at create only")
    for key, value in body.items():
        if key.endswith("@odata.bind"):
            navigation = key.removesuffix("@odata.bind")
            wanted = BIND_SETS.get(navigation)
            if wanted and not re.fullmatch(rf"/{wanted}\({GUID}\)", str(value)):
                out.append(f"{key} must bind a record of /{wanted}, not {value!r}")
        elif isinstance(value, dict) and not creating:
            out.append(f"{key}: a related record is written only with a create (deep insert)")
    if creating and not any(
        k in body for k in ("customerid_contact@odata.bind", "customerid_account@odata.bind")
    ):
        out.append("an incident needs its customer (customerid) when it is created")
    return out


def _close_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["CloseIncident needs a JSON body"]
    out: list[str] = []
    resolution = body.get("IncidentResolution")
    status = body.get("Status")
    if not isinstance(resolution, dict):
        return ["CloseIncident needs an IncidentResolution"]
    if not re.fullmatch(rf"/incidents\({GUID}\)", str(resolution.get("incidentid@odata.bind"))):
        out.append("the incidentresolution must bind the incident by its id")
    subject = resolution.get("subject")
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        out.append("the incidentresolution needs a subject of at most 200 characters")
    if not isinstance(status, int) or isinstance(status, bool) or status not in (5, 1000):
        out.append("CloseIncident's Status must be a resolved status reason (Edm.Int32)")
    return out


def body_of(request: Any) -> Any:
    """The JSON (or form text) body of a `requests.PreparedRequest`."""
    raw = request.body
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text
