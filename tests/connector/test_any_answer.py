"""Whatever a CRM answers - any status, any headers, any body - every operation of both
connectors ends in a result or a typed `CRMError`, never another exception.

Driven through the `CRMClient` protocol (connector/base.py) with hypothesis: each example is a
short script of answers (served in order, the last one repeated) made of real-looking SOAP and
OData fragments, truncated documents, HTML error pages, JSON of any shape and plain noise.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
import tenacity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.base import Attachment, CRMClient
from connector.dataverse import DataverseClient
from connector.errors import CRMError, printable
from connector.lagan import LaganClient
from connector.resilience import PauseGate, Resilience
from tests.connector.conftest import DV_BASE, DV_TOKEN, dataverse_settings, lagan_settings
from tests.connector.fakes import AUTH_ENDPOINT, ENDPOINT, ENV, FL

LAGAN_REF = "101000000001"
DV_REF = "6a4b1e0c-1d2e-4f3a-8b5c-0d1e2f3a4b5c"
UNTIL = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

# ----------------------------------------------------------------------------- answers

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="<&"), max_size=12
) | st.sampled_from(["101", "0", "-1", "true", "C1", "1004", "\x1b[31mred\x1b[0m", ""])
_XML_NAMES = [
    "FWTCaseFullDetails", "CoreDetails", "CaseReference", "Status", "Title", "Form", "FormField",
    "Key", "Value", "CaseBriefDetails", "FWTCaseBriefDetailsList", "NoteDetails", "Text",
    "ObjectBriefDetails", "ObjectID", "ObjectReference", "ObjectType", "FWTObjectBriefDetailsList",
    "FWTCodeBook", "Codes", "Code", "FWTIndividual", "Document", "DocumentName",
    "FWTResponseStatus", "Fault", "faultcode", "faultstring", "detail", "FWTException",
    "ErrorCode", "ErrorMessage", "BinarySecurityToken", "Security", "Header", "Body",
]  # fmt: skip


@st.composite
def _xml_element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(_XML_NAMES))
    prefix = draw(st.sampled_from(["", "fl:", "soapenv:", "wsse:"]))
    if depth >= 3 or draw(st.booleans()):
        inner = draw(_TEXT)
    else:
        inner = "".join(draw(st.lists(_xml_element(depth + 1), max_size=3)))
    return f"<{prefix}{name}>{inner}</{prefix}{name}>"


#: Answers shaped like the real ones (case, brief list, reference, parties, code book, document,
#: fault, FLAuth token), each slot filled with noise or stray elements.
_SOAP_SHAPES = [
    "<fl:FWTCaseFullDetails><CoreDetails><fl:CaseReference>{}</fl:CaseReference>"
    "<Status>{}</Status>{}</CoreDetails><Form><FormField><Key>PortalId</Key><Value>{}</Value>"
    "</FormField></Form>{}</fl:FWTCaseFullDetails>",
    "<fl:FWTCaseBriefDetailsList><CaseBriefDetails><fl:CaseReference>{}</fl:CaseReference>"
    "</CaseBriefDetails><CaseBriefDetails>{}</CaseBriefDetails>{}{}{}</fl:FWTCaseBriefDetailsList>",
    "<fl:CaseReference>{}</fl:CaseReference>{}{}{}{}",
    "<fl:FWTObjectBriefDetailsList><ObjectBriefDetails><ObjectID><ObjectType>{}</ObjectType>"
    "<ObjectReference>{}</ObjectReference></ObjectID>{}</ObjectBriefDetails>{}{}"
    "</fl:FWTObjectBriefDetailsList>",
    "<fl:FWTCodeBook><Codes><Code>{}</Code><Code><Name>{}</Name></Code>{}</Codes>{}{}"
    "</fl:FWTCodeBook>",
    "<fl:FWTDocument><Document>{}</Document><DocumentName>{}</DocumentName>{}{}{}</fl:FWTDocument>",
    "<soapenv:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring><detail>"
    "<fl:FWTException><ErrorCode>{}</ErrorCode><ErrorMessage>{}</ErrorMessage>{}"
    "</fl:FWTException></detail></soapenv:Fault>",
    "<fl:FWTNoteDetailsList><NoteDetails><Text>{}</Text></NoteDetails>{}{}{}{}"
    "</fl:FWTNoteDetailsList>",
]
_SLOT = _TEXT | _xml_element()


@st.composite
def _soap(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        body = draw(st.sampled_from(_SOAP_SHAPES)).format(*(draw(_SLOT) for _ in range(5)))
    else:
        body = "".join(draw(st.lists(_xml_element(), max_size=3)))
    doc = (
        f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" '
        f'xmlns:fl="{FL}" xmlns:wsse="urn:wsse"><soapenv:Body>{body}</soapenv:Body>'
        "</soapenv:Envelope>"
    ).encode()
    if draw(st.integers(0, 4)) == 0:
        doc = doc[: draw(st.integers(0, len(doc)))]
    return doc


_JSON_KEYS = [
    "value", "@odata.nextLink", "error", "code", "message", "incidentid", "ticketnumber",
    "access_token", "expires_in", "OptionSet", "Options", "Value", "Label", "contactid",
    "documentbody", "filename", "mimetype", "Incident_Annotation", "name",
    "Incident_Annotation@odata.nextLink", "modifiedon", "statecode",
]  # fmt: skip
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from([DV_BASE + "incidents?page=2", DV_BASE, "http://169.254.169.254/"])
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_JSON_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


#: Dataverse-shaped answers: a page, a record, option metadata, an OData error.
_INCIDENT = st.fixed_dictionaries(
    {"incidentid": _JSON_SCALARS | st.just(DV_REF), "title": _JSON_SCALARS},
    optional={
        "Incident_Annotation": _JSON,
        "Incident_Annotation@odata.nextLink": _JSON_SCALARS,
        "modifiedon": _JSON_SCALARS,
        "customerid_contact": _JSON,
    },
)
_JSON_SHAPES = st.one_of(
    st.fixed_dictionaries(
        {"value": st.lists(_INCIDENT | _JSON, max_size=3)},
        optional={"@odata.nextLink": _JSON_SCALARS},
    ),
    _INCIDENT,
    st.fixed_dictionaries({"OptionSet": st.fixed_dictionaries({"Options": _JSON}) | _JSON}),
    st.fixed_dictionaries({"error": st.fixed_dictionaries({"code": _JSON, "message": _JSON})}),
    st.fixed_dictionaries(
        {"filename": _JSON_SCALARS, "documentbody": _JSON_SCALARS, "mimetype": _JSON_SCALARS}
    ),
)


@st.composite
def _json_body(draw: st.DrawFn) -> bytes:
    doc = json.dumps(draw(_JSON_SHAPES | _JSON)).encode()
    if draw(st.integers(0, 4)) == 0:
        doc = doc[: draw(st.integers(0, len(doc)))]
    return doc


_OTHER_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>",
            b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            b"[" * 5000 + b"]" * 5000,
            b'{"value": [], "@odata.nextLink": "' + DV_BASE.encode() + b'incidents?p=1"}',
        ]
    ),
)
_STATUSES = st.sampled_from(
    [200, 200, 200, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 409, 412, 429, 500, 502]
) | st.integers(200, 599)
_HEADER_VALUES = {
    "Content-Type": st.sampled_from(
        ["text/xml; charset=utf-8", "application/json", "text/html", "multipart/related", "x/y"]
    ),
    "Retry-After": st.sampled_from(
        ["0", "1", "soon", "-3", "Thu, 01 Jan 2026 12:00:30 GMT", "Mon, 01 Jan 99999 00:00 GMT"]
    ),
    "Location": st.sampled_from(
        [ENDPOINT, DV_BASE + "incidents", "http://127.0.0.1:1/x", "http://169.254.169.254/"]
    ),
    "OData-EntityId": st.sampled_from([f"{DV_BASE}incidents({DV_REF})", "nonsense", ""]),
    "X-Request-Id": st.sampled_from(["abc", "\x1b]0;pwned\x07", "\u202eevil"]),
}


@st.composite
def _answer(draw: st.DrawFn, native: st.SearchStrategy[bytes]) -> tuple[int, dict[str, str], bytes]:
    status = draw(_STATUSES)
    names = draw(st.lists(st.sampled_from(sorted(_HEADER_VALUES)), unique=True, max_size=3))
    headers = {name: draw(_HEADER_VALUES[name]) for name in names}
    foreign = _JSON_BODY if native is _SOAP else _SOAP
    return status, headers, draw(st.one_of(native, native, foreign, _OTHER_BODIES))


_SOAP = _soap()
_JSON_BODY = _json_body()


def _scripts(crm: str) -> st.SearchStrategy[list[tuple[int, dict[str, str], bytes]]]:
    """Answers mostly in the CRM's own format (SOAP or JSON), sometimes the other, or noise."""
    native = _SOAP if crm.startswith("lagan") else _JSON_BODY
    return st.lists(_answer(native), min_size=1, max_size=4)


# ----------------------------------------------------------------------------- operations

_FILE = Attachment(name="photo.jpg", content_type="image/jpeg", content=b"\xff\xd8data")


def _operations(ref: str) -> dict[str, Callable[[CRMClient], object]]:
    return {
        "iter_changed_cases": lambda c: list(
            itertools.islice(c.iter_changed_cases(UNTIL - timedelta(seconds=8), UNTIL, 2), 12)
        ),
        "get_case": lambda c: c.get_case(ref),
        "find_case_by_key": lambda c: c.find_case_by_key("key-1"),
        "create_case": lambda c: c.create_case({"Title": "Pothole"}, "key-1"),
        "update_case": lambda c: c.update_case(ref, {"Title": "Pothole"}),
        "close_case": lambda c: c.close_case(ref, "resolved"),
        "reopen_case": lambda c: c.reopen_case(ref, "again"),
        "add_note": lambda c: c.add_note(ref, "text", [_FILE], idempotency_key="key-1"),
        "get_attachment": lambda c: c.get_attachment("doc-1"),
        "search_parties": lambda c: c.search_parties(name="Smith", postcode="AB1 2CD"),
        "get_party": lambda c: c.get_party(ref),
        "create_party": lambda c: c.create_party({"Name": "Smith"}),
        "code_book": lambda c: c.code_book(),
        "operations": lambda c: c.operations(),
        "health": lambda c: c.health(),
    }


class _FakeTime:
    """Pauses (Retry-After) pass in fake time: an example never sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _policy(crm: str) -> Resilience:
    fake = _FakeTime()
    return Resilience(
        crm=crm,
        attempts=2,
        deadline=5.0,
        breaker_fail_max=10**6,
        wait=tenacity.wait_none(),
        sleep=fake.sleep,
        gate=PauseGate(clock=fake.clock),
    )


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, CRMClient]]:
    made: dict[str, Any] = {
        "lagan": LaganClient(lagan_settings(), resilience=_policy("lagan")),
        "lagan-flauth": LaganClient(
            lagan_settings(auth_mode="flauth"), resilience=_policy("lagan")
        ),
        "dynamics365": DataverseClient(dataverse_settings(), resilience=_policy("dynamics365")),
    }
    yield made
    for client in made.values():
        client.close()


_TOKEN: tuple[int, dict[str, str], bytes] = (
    200,
    {},
    json.dumps({"access_token": "t", "expires_in": 3600}).encode(),
)
_FLAUTH: tuple[int, dict[str, str], bytes] = (
    200,
    {},
    f'<soapenv:Envelope xmlns:soapenv="{ENV}"><soapenv:Header><wsse:Security xmlns:wsse='
    '"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
    "<wsse:BinarySecurityToken>tok</wsse:BinarySecurityToken></wsse:Security>"
    "</soapenv:Header><soapenv:Body/></soapenv:Envelope>".encode(),
)


def _serve(
    rsps: responses.RequestsMock,
    script: list[tuple[int, dict[str, str], bytes]],
    *,
    sign_in: bool,
) -> None:
    """The script answers the CRM's calls; the sign-in too when `sign_in`, else it succeeds."""
    answers = iter(script)
    last = [script[0]]

    def answer(_request: Any) -> tuple[int, dict[str, str], bytes]:
        last[0] = next(answers, last[0])
        return last[0]

    anything = re.compile(r"http://127\.0\.0\.1:(8999|8998)/.*")
    if not sign_in:
        rsps.add_callback("POST", DV_TOKEN, callback=lambda _r: _TOKEN)
        rsps.add_callback("POST", AUTH_ENDPOINT, callback=lambda _r: _FLAUTH)
        # (responses lets the first of several matches answer only once: keep them apart)
        anything = re.compile(r"http://127\.0\.0\.1:(8999|8998)/(?!oauth2/token|.*/FLAuth).*")
    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        rsps.add_callback(method, anything, callback=answer)


def _reset(client: Any) -> None:
    """A fresh policy and sign-in per example: one example's 429 or token is not the next's."""
    client.resilience = _policy(client.kind)
    if isinstance(client, LaganClient):
        client.auth._token = None
    else:
        client.token._token = None


#: Every operation on both CRMs, signed in; then the sign-ins themselves (FLAuth's token in a
#: SOAP header, the OAuth token) answered by the script, before a read, a zeep write and an
#: exactly-once create.
CASES = [
    (crm, operation)
    for crm in ("lagan", "lagan-flauth", "dynamics365")
    for operation in sorted(_operations("x"))
    if crm != "lagan-flauth" or operation in ("create_case", "get_case", "update_case")
] + [
    (f"{crm}-sign-in", op)
    for crm in ("lagan-flauth", "dynamics365")
    for op in ("create_case", "get_case", "update_case")
]


@pytest.mark.parametrize(("crm", "operation"), CASES)
@settings(
    max_examples=int(os.environ.get("ANY_ANSWER_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_operation_ends_in_a_result_or_a_crm_error(
    clients: dict[str, CRMClient], crm: str, operation: str, data: st.DataObject
) -> None:
    script = data.draw(_scripts(crm), label="answers")
    client = clients[crm.removesuffix("-sign-in")]
    _reset(client)
    run = _operations(LAGAN_REF if crm.startswith("lagan") else DV_REF)[operation]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _serve(rsps, script, sign_in=crm.endswith("-sign-in"))
        try:
            run(client)
        except CRMError as exc:
            text = str(exc)
            assert printable(text) == text, "control characters reached the message"
            assert exc.crm in ("lagan", "dynamics365"), f"no CRM named: {text}"
