"""Every request body the Lagan connector sends, validated against the published FL schema.

Independent of the sandbox's own parsing: the bodies are taken off the wire (the in-process
sandbox's `responses` calls) and validated with `xmlschema` against the `xs:schema` of the
contract WSDL, read from the shared contract copy pinned in `connector/lagan/wsdl/` (its SHA-256
is the one the contract publishes). Payloads come from the real profile through the mapping
engine. The one body outside the published schema is the later-build probe, which must fit the
later build's schema and nothing else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from connector.base import Attachment
from connector.lagan.contract import PACKAGED_WSDL, PACKAGED_WSDL_SHA256
from tests.connector.lagan_helpers import (
    create_payload,
    lagan_client,
    member_case,
    update_payload,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XS = "http://www.w3.org/2001/XMLSchema"
LATER_WSDL = Path(__file__).parents[2] / "connector" / "sandbox" / "wsdl" / "FLService-later.wsdl"
#: Body element -> FL operation, for the operations the connector uses.
OPERATIONS = {
    "FWTCaseSearch": "searchForCases",
    "FWTSearchAndRetrieveCase": "searchAndRetrieveCaseDetails",
    "FWTCaseFullDetailsRequest": "retrieveCaseDetails",
    "FWTCaseCreate": "createCase",
    "FWTCaseUpdate": "updateCase",
    "FWTCaseClose": "closeCases",
    "FWTReopenCaseRequest": "reopenCase",
    "FWTNoteToParentRef": "createNotes",
    "FWTNoteToParentGetRef": "getNotes",
    "FWTDocument": "addDocumentToRepository",
    "FWTDocumentGetRef": "getDocumentFromRepository",
    "FWTPartySearch": "searchForParty",
    "FLIndividualID": "retrieveIndividual",
    "FWTIndividual": "createIndividual",
    "CodeBookName": "retrieveCodeBook",
}


@functools.cache
def _schema(path: Path) -> xmlschema.XMLSchema:
    wsdl = etree.parse(str(path))
    types = wsdl.find(f".//{{{XS}}}schema")
    assert types is not None
    return xmlschema.XMLSchema(etree.tostring(types).decode())


def _bodies(calls: Any) -> list[etree._Element]:
    out = []
    for call in calls:
        if not call.request.url.endswith("/lagan/services/FL"):
            continue
        raw = call.request.body
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        envelope = etree.fromstring(raw)
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        assert body is not None and len(body) == 1, "one element in every SOAP Body"
        out.append(body[0])
    return out


def test_the_pinned_wsdl_is_the_published_contract() -> None:
    assert hashlib.sha256(PACKAGED_WSDL.read_bytes()).hexdigest() == PACKAGED_WSDL_SHA256
    assert PACKAGED_WSDL_SHA256 == (
        "5f95880e59192c5b24b89b9a6791999c24cfa81399cd750d79cee84dc7ef3fd6"
    )


@pytest.mark.sandbox_crm(cases=12, seed=31)
def test_every_request_body_fits_the_published_schema(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    existing = member_case(sandbox_crm, "Pothole on Mill Lane")
    # Reads: a full and an incremental sync (cap probe, extension probe, windows).
    list(client.iter_changed_cases(datetime_epoch(), page_size=5))
    list(client.iter_changed_cases(datetime_recent(), page_size=5))
    # Writes as the outbox makes them, from the profile's output.
    made = client.create_case(create_payload(existing), str(uuid.uuid4()))
    party = client.create_party(
        {"Name": [{"Forename": "Nia", "Surname": "Jones", "Preferred": True}]}
    )
    fresh = member_case(sandbox_crm, "Noise at night", party=-1)
    fresh = fresh.model_copy(
        update={
            "constituent": fresh.constituent.model_copy(
                update={"crm_party_id": party.reference, "surname": "Nia Jones"}
            )
        }
    )
    client.create_case(create_payload(fresh), str(uuid.uuid4()))
    changed = existing.model_copy(
        update={"crm_reference": made.reference, "title": "Pothole, deeper"}
    )
    client.update_case(made.reference, update_payload(changed))
    client.add_note(
        made.reference,
        "Photo attached.",
        [Attachment(name="photo.jpg", content=b"\xff\xd8jpeg")],
        idempotency_key=str(uuid.uuid4()),
    )
    client.close_case(made.reference, "resolved")
    client.reopen_case(made.reference, "resident called back")
    case = client.get_case(made.reference)
    document = case["Notes"]["Note"][-1]
    client.search_parties(name="Jones")
    client.get_party(party.reference)
    client.code_book()
    documents = [d["ref"] for d in sandbox_crm.store.find("documents")]
    client.get_attachment(documents[-1])
    assert document

    published = _schema(PACKAGED_WSDL)
    later = _schema(LATER_WSDL)
    seen: Counter[str] = Counter()
    extension_probes = 0
    for body in _bodies(sandbox_crm.mock.calls):
        text = etree.tostring(body).decode()
        name = etree.QName(body).localname
        if body.find("LastModifiedDateFrom") is not None:
            # The detection probe: a later-build body, sent only to find out.
            later.validate(text)
            assert not published.is_valid(text)
            extension_probes += 1
            continue
        published.validate(text)
        seen[OPERATIONS[name]] += 1
    assert extension_probes == 1
    assert set(seen) == set(OPERATIONS.values()), set(OPERATIONS.values()) - set(seen)


def datetime_epoch() -> Any:
    from connector.lagan.search import EPOCH

    return EPOCH


def datetime_recent() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(days=3)


def test_base64_documents_are_sent_as_the_schema_says() -> None:
    """addDocumentToRepository's Document is xs:string carrying base64 (FL's own encoding)."""
    encoded = base64.b64encode(b"\xff\xd8jpeg").decode()
    body = (
        '<ns:FWTDocument xmlns:ns="http://www.lagan.com/wsdl/FLTypes">'
        f"<Document>{encoded}</Document><DocumentType>0</DocumentType>"
        "<DocumentName>photo.jpg</DocumentName></ns:FWTDocument>"
    )
    _schema(PACKAGED_WSDL).validate(body)
