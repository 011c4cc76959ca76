"""Dataverse request shapes checked against Microsoft's documented rules, without the sandbox.

A small recording server (`responses`) answers as the Web API does; the connector is driven with
the bundled profile's real output (`tests.connector.dataverse_cases`), and every request it
sends is checked by `tests.connector.dataverse_rules`. The checker is itself tested on requests
that break each rule, so a green run means something.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses

from connector.base import Attachment
from connector.dataverse.client import customer_contact_id, note_annotation_id
from connector.errors import CRMAuthError, CRMNotFound
from tests.connector.conftest import DV_BASE, DV_DISCOVERY, DV_TOKEN, dv_discovery, fast_resilience
from tests.connector.dataverse_cases import DYNAMICS, create_payload, member_case, update_payload
from tests.connector.dataverse_rules import GUID, Sent, body_of, problems

STATUS_OPTIONS = [(1, 0), (2, 0), (3, 0), (4, 0), (100000001, 0), (100000002, 0), (5, 1)]
STATUS_OPTIONS += [(1000, 1), (6, 2), (2000, 2)]


class FakeDataverse:
    """Records every request and keeps just enough state to answer like the Web API."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.sent: list[Sent] = []
        self.incidents: dict[str, dict[str, Any]] = {}
        self.contacts: set[str] = set()
        self.annotations: set[str] = set()
        self.nested_links: set[str] = set()
        self.token_answers: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        rsps.add_callback("GET", DV_DISCOVERY, callback=self._discovery)
        rsps.add_callback("POST", DV_TOKEN, callback=self._token)
        pattern = re.compile(re.escape(DV_BASE) + ".*")
        for method in ("GET", "POST", "PATCH"):
            rsps.add_callback(method, pattern, callback=self._api)

    # ------------------------------------------------------------- identity
    def _discovery(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = {
            "issuer": DV_DISCOVERY.split("/v2.0/")[0] + "/v2.0",
            "authorization_endpoint": DV_TOKEN.replace("/token", "/authorize"),
            "token_endpoint": DV_TOKEN,
        }
        return 200, {}, json.dumps(body)

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.sent.append(Sent("POST", request.url, dict(request.headers), body_of(request)))
        if self.token_answers:
            status, headers, body = self.token_answers.pop(0)
            return status, headers, json.dumps(body)
        return 200, {}, json.dumps({"access_token": "t", "expires_in": 3600})

    # ------------------------------------------------------------ Web API
    def _api(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = unquote(urlsplit(request.url).path).split("/api/data/v9.2", 1)[1]
        body = body_of(request)
        sent = Sent(request.method, request.url, dict(request.headers), body)
        self.sent.append(sent)
        if "statuscode" in path and path.startswith("/EntityDefinitions"):
            options = [{"Value": v, "State": s} for v, s in STATUS_OPTIONS]
            return 200, {}, json.dumps({"OptionSet": {"Options": options}})
        if path == "/CloseIncident":
            incident = re.search(GUID, body["IncidentResolution"]["incidentid@odata.bind"])
            record = self.incidents[incident.group(0)] if incident else None
            if record is None or record["statecode"] != 0:
                return _error(400, "0x80040203", "This case has already been resolved.")
            record.update(statecode=1, statuscode=body["Status"])
            return 204, {}, ""
        if path == "/incidents" and request.method == "GET":
            return self._page(request.url)
        m = re.fullmatch(r"/(incidents|contacts|annotations)\((.+)\)", path)
        assert m, path
        entity, key = m.group(1), m.group(2)
        if entity == "incidents":
            return self._incident(request, sent, key, body)
        known = self.contacts if entity == "contacts" else self.annotations
        if key in known:
            return _error(412, "0x80040237", "A record with matching key values already exists.")
        known.add(key)
        return 204, {}, ""

    def _incident(
        self, request: Any, sent: Sent, key: str, body: Any
    ) -> tuple[int, dict[str, str], str]:
        alternate = re.fullmatch(r"cr_portalid='(.*)'", key)
        record_id = next(
            (
                i
                for i, r in self.incidents.items()
                if alternate and r["cr_portalid"] == alternate[1]
            ),
            None if alternate else key,
        )
        record = self.incidents.get(record_id or "")
        if request.method == "GET":
            if record is None:
                return _error(404, "0x80040217", "incident Does Not Exist")
            select = parse_qs(urlsplit(request.url).query).get("$select", [""])[0].split(",")
            out = {c: record.get(c) for c in select if c and c != "incidentid"}
            out["incidentid"] = record_id
            if "_customerid_value" in out:
                out["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] = record.get(
                    "customer_table"
                )
            return 200, {}, json.dumps(out)
        if record is None:
            new_id = str(uuid.uuid4())
            bind = body.get("customerid_contact@odata.bind") or ""
            self.incidents[new_id] = {
                **{k: v for k, v in body.items() if "@" not in k},
                "statecode": 0,
                "statuscode": body.get("statuscode", 1),
                "_customerid_value": _guid_in(bind) if bind else None,
                "customer_table": "contact",
            }
            return 201, {}, json.dumps({"incidentid": new_id})
        if request.headers.get("If-None-Match") == "*":
            return _error(412, "0x80040237", "A record with matching key values already exists.")
        sent.before = {k: v for k, v in record.items() if k != "customer_table"}
        for column, value in body.items():
            if column.endswith("@odata.bind"):
                record["_customerid_value"] = _guid_in(value)
                record["customer_table"] = column.split("_")[1].removesuffix("@odata.bind")
            else:
                record[column] = value
        return 204, {}, ""

    def _page(self, url: str) -> tuple[int, dict[str, str], str]:
        ids = sorted(self.incidents)
        second = "$skiptoken=" in url
        rows = []
        for record_id in ids[1:] if second else ids[:1]:
            nested = f"{DV_BASE}incidents({record_id})/Incident_Annotation?$skiptoken=1"
            self.nested_links.add(nested)
            rows.append(
                {
                    "incidentid": record_id,
                    "Incident_Annotation": [{"annotationid": "a1"}],
                    "Incident_Annotation@odata.nextLink": nested,
                }
            )
        page: dict[str, Any] = {"value": rows}
        if not second:
            page["@odata.nextLink"] = url + "&$skiptoken=2"
        return 200, {}, json.dumps(page)

    def requests_to(self, method: str, pattern: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and re.search(pattern, s.path)]


def _guid_in(text: str) -> str:
    found = re.search(GUID, text)
    assert found is not None, text
    return found.group(0)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    return status, {}, json.dumps({"error": {"code": code, "message": message}})


@pytest.fixture
def fake(make_dataverse: Any) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = FakeDataverse(rsps)
        yield server, make_dataverse(resilience=fast_resilience("dynamics365", attempts=4))


def test_every_request_of_a_full_outbox_cycle_keeps_the_documented_rules(fake: Any) -> None:
    server, client = fake
    resident = str(uuid.uuid4())
    case = member_case(resident)
    # The outbox's key for a create is the case's portal id, stamped into cr_portalid.
    existing = client.create_case(DYNAMICS.to_crm(case), str(case.portal_id))
    newcomer = client.create_case(create_payload(None), "key-new")
    case = case.model_copy(update={"crm_reference": existing.reference})
    client.update_case(existing.reference, update_payload(case))  # nothing changed
    changed = case.model_copy(update={"title": "Pothole now a crater", "category": "waste"})
    client.update_case(existing.reference, update_payload(changed))
    client.add_note(
        existing.reference,
        "Photo attached.",
        [Attachment(name="hole.jpg", content_type="image/jpeg", content=b"\xff\xd8")],
        idempotency_key="note-1",
    )
    client.close_case(existing.reference, "Pothole filled")
    client.close_case(existing.reference, "Pothole filled")  # a retry: already resolved
    closed = changed.model_copy(update={"status": "closed", "closed_at": datetime.now(UTC)})
    client.update_case(
        existing.reference,
        update_payload(closed.model_copy(update={"closure_reason": "Pothole filled"})),
    )
    client.reopen_case(existing.reference, "It came back")
    client.reopen_case(existing.reference, "It came back")  # a retry: already active
    pages = list(client.iter_changed_cases(datetime(2025, 1, 1, tzinfo=UTC), page_size=1))

    assert problems(server.sent, server.nested_links) == []
    assert [len(p) for p in pages] == [1, 1]
    assert all(c["Incident_Annotation"] == [{"annotationid": "a1"}] for p in pages for c in p)
    updates = [s.body for s in server.requests_to("PATCH", rf"^/incidents\({GUID}\)$")]
    assert updates == [
        {"title": "Pothole now a crater", "cr_categorycode": 102},  # only what changed
        {"statecode": 0, "statuscode": 1},  # the reopen; the closed case's update sent nothing
    ]
    assert len(server.requests_to("POST", "^/CloseIncident$")) == 1
    assert server.contacts == {customer_contact_id("key-new")}
    new_customer = server.incidents[newcomer.reference]["_customerid_value"]
    assert new_customer == customer_contact_id("key-new")
    assert server.annotations == {note_annotation_id("note-1", 0), note_annotation_id("note-1", 1)}


def test_a_create_replayed_after_a_lost_answer_binds_the_same_new_contact(fake: Any) -> None:
    server, client = fake
    first = client.create_case(create_payload(None), "key-replayed")
    again = client.create_case(create_payload(None), "key-replayed")
    assert (again.reference, again.created) == (first.reference, False)
    assert server.contacts == {customer_contact_id("key-replayed")}
    assert problems(server.sent) == []


def test_an_account_customer_is_never_rebound_as_a_contact(fake: Any) -> None:
    server, client = fake
    case = member_case(str(uuid.uuid4()))
    ref = client.create_case(DYNAMICS.to_crm(case), str(case.portal_id)).reference
    account = str(uuid.uuid4())
    server.incidents[ref].update(_customerid_value=account, customer_table="account")
    case = case.model_copy(
        update={
            "crm_reference": ref,
            "title": "Bins missed at the depot",
            "constituent": case.constituent.model_copy(update={"crm_party_id": account}),
        }
    )
    client.update_case(ref, update_payload(case))
    (update,) = server.requests_to("PATCH", rf"^/incidents\({GUID}\)$")
    assert update.body == {"title": "Bins missed at the depot"}
    moved = str(uuid.uuid4())
    client.update_case(ref, {"customerid_account@odata.bind": f"/accounts({moved})"})
    client.update_case(ref, {"customerid_contact@odata.bind": f"/accounts({account})"})
    last = server.requests_to("PATCH", rf"^/incidents\({GUID}\)$")[-1].body
    assert last == {"customerid_account@odata.bind": f"/accounts({account})"}
    assert problems(server.sent) == []


def test_writes_by_ticket_number_never_leave_the_connector(fake: Any) -> None:
    server, client = fake
    ticket = "CAS-01001-X8F3K2"
    writes: list[Callable[[], Any]] = [
        lambda: client.update_case(ticket, {"title": "x"}),
        lambda: client.close_case(ticket, "done"),
        lambda: client.reopen_case(ticket, "again"),
        lambda: client.add_note(ticket, "text", idempotency_key="k"),
    ]
    for write in writes:
        with pytest.raises(CRMNotFound):
            write()
    assert [s for s in server.sent if "/api/data/" in s.url] == []


def test_the_token_request_asks_for_the_default_scope_of_the_dataverse_url(fake: Any) -> None:
    server, client = fake
    client.create_case(create_payload(str(uuid.uuid4())), "key-token")
    (token,) = [s for s in server.sent if "/oauth2/" in s.path]
    form = parse_qs(token.body)
    assert form["scope"] == ["http://127.0.0.1:8998/.default"]
    assert form["client_id"] == ["caseload"] and form["grant_type"] == ["client_credentials"]


@pytest.mark.parametrize("status", [429, 503])
def test_the_identity_platform_saying_wait_is_retried(fake: Any, status: int) -> None:
    server, client = fake
    server.token_answers.append(
        (status, {"Retry-After": "0"}, {"error": "temporarily_unavailable"})
    )
    ref = client.create_case(create_payload(str(uuid.uuid4())), "key-busy")
    assert ref.created
    assert len([s for s in server.sent if "/oauth2/" in s.path]) == 2


def test_a_refusal_keeps_the_aadsts_reason_and_is_not_retried(fake: Any) -> None:
    server, client = fake
    server.token_answers.append(
        (
            400,
            {},
            {
                "error": "invalid_scope",
                "error_description": "AADSTS1002012: The provided value for scope x is not "
                "valid.\r\nTrace ID: 9\r\nCorrelation ID: 8\r\nTimestamp: 2026-01-01",
                "error_codes": [1002012],
            },
        )
    )
    with pytest.raises(CRMAuthError) as caught:
        client.create_case(create_payload(str(uuid.uuid4())), "key-refused")
    message = str(caught.value)
    assert "AADSTS1002012: The provided value for scope x is not valid." in message
    assert "Trace ID" not in message and "dv-secret" not in message
    assert len([s for s in server.sent if "/oauth2/" in s.path]) == 1


def test_a_scope_that_is_not_a_default_scope_is_refused_before_any_request(
    make_dataverse: Any,
) -> None:
    client = make_dataverse(scope="https://org.crm.dynamics.com/user_impersonation")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        dv_discovery(rsps)
        with pytest.raises(CRMAuthError, match=r"not a `\.default` scope"):
            client.create_case(create_payload(str(uuid.uuid4())), "key-scope")
        assert [c for c in rsps.calls if "/oauth2/" in str(c.request.url)] == []


# ------------------------------------------------------------- the checker itself
@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "rule"),
    [
        (
            "PATCH",
            f"incidents({uuid.uuid4()})",
            {"If-Match": "*"},
            {"statecode": 1},
            "CloseIncident",
        ),
        ("PATCH", f"incidents({uuid.uuid4()})", {}, {"statuscode": 5}, "CloseIncident"),
        ("PATCH", "incidents(ticketnumber='CAS-1')", {}, {"title": "x"}, "display number"),
        ("PATCH", f"incidents({uuid.uuid4()})", {}, {"cr_categorycode": "roads"}, "Edm.Int32"),
        (
            "PATCH",
            f"incidents({uuid.uuid4()})",
            {},
            {"overriddencreatedon": "2020-01-01"},
            "create",
        ),
        (
            "PATCH",
            f"incidents({uuid.uuid4()})",
            {},
            {"customerid_contact@odata.bind": f"/accounts({uuid.uuid4()})"},
            "/contacts",
        ),
        ("PATCH", f"incidents({uuid.uuid4()})", {}, {"statecode": 0}, "valid statuscode"),
        ("POST", "incidents", {}, {"title": "x"}, "customer"),
        (
            "POST",
            "CloseIncident",
            {},
            {"IncidentResolution": {"subject": "x"}, "Status": 5},
            "bind",
        ),
        (
            "GET",
            "incidents?$expand=Incident_Annotation($select=subject)",
            {},
            None,
            "If-None-Match",
        ),
    ],
)
def test_the_checker_catches_each_broken_rule(
    method: str, path: str, headers: dict[str, str], body: Any, rule: str
) -> None:
    found = problems([Sent(method, DV_BASE + path, headers, body)])
    assert found and rule in " ".join(found)


def test_the_checker_catches_unchanged_columns_and_followed_nested_links() -> None:
    update = Sent("PATCH", f"{DV_BASE}incidents({uuid.uuid4()})", {}, {"title": "same"})
    update.before = {"title": "same"}
    assert "unchanged columns" in " ".join(problems([update]))
    link = f"{DV_BASE}incidents(1)/Incident_Annotation?$skiptoken=1"
    assert "nested" in " ".join(problems([Sent("GET", link, {}, None)], {link}))
    token = Sent("POST", DV_TOKEN, {}, "grant_type=client_credentials&scope=")
    assert ".default" in " ".join(problems([token]))


def test_the_profiles_create_payload_is_documented_as_is() -> None:
    """The profile's own output, before the connector touches it, keeps the column rules."""
    payload = DYNAMICS.to_crm(member_case(str(uuid.uuid4())))
    request = Sent("PATCH", f"{DV_BASE}incidents(cr_portalid='k')", {"If-None-Match": "*"}, payload)
    assert problems([request]) == []
    update = DYNAMICS.to_crm(member_case(str(uuid.uuid4())), for_update=True)
    assert problems([Sent("PATCH", f"{DV_BASE}incidents({uuid.uuid4()})", {}, update)]) == []
