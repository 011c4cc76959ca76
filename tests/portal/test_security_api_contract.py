"""The JSON API does what its OpenAPI document says: schemathesis, a third-party fuzzer, calls
every operation of the running portal (uvicorn on loopback, over a real SQLite store) as a
signed-in councillor with examples made from the document, and finds no server error, no
status the document does not list for that operation, no answer off its schema and no wrong
content type. The document itself is fetched from the server as an administrator.

Also: the enquiry's required answers are marked required, and each one left out is refused
by name."""

from __future__ import annotations

import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.casework.enquiries import REQUIRED_FIELDS
from portal_extensions.config import PortalSettings
from portal_extensions.runtime import build_portal
from portal_extensions.store.accounts import set_password
from portal_extensions.store.database import Store
from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import CASES, PASSWORD, SECRET
from tests.store.seeding import seed

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EXAMPLES = 20  # per operation: about 350 calls in all
REAL_CASE = str(CASES[1].portal_id)  # alice's, shared with the ward and sent to a service
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The portal served by uvicorn on a loopback port, over a seeded SQLite store where
    alice (a councillor) and admin (an administrator) have passwords."""
    store = seed(Store.open(f"sqlite:///{tmp_path_factory.mktemp('api') / 'c.sqlite'}"), CASES)
    with store.write() as conn:
        for name in ("alice", "admin"):
            set_password(conn, name, PASSWORD)
    settings_ = PortalSettings(council_name="Northshire Council", secret_key=SECRET, https=False)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_portal(settings_, store, None),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def _signed_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    token = CSRF.search(session.get(f"{base}/sign-in", timeout=10).text)
    assert token is not None
    answer = session.post(
        f"{base}/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    session.headers["X-CSRF-Token"] = session.get(f"{base}/api/v1/session").json()["csrf_token"]
    return session


@pytest.fixture(scope="module")
def api_schema(running_api: str) -> Any:
    admin = _signed_in(running_api, "admin")
    document = admin.get(f"{running_api}/api/v1/openapi.json", timeout=10)
    assert document.status_code == 200
    return schemathesis.openapi.from_dict(document.json())


def test_the_api_answers_as_its_document_says(running_api: str, api_schema: Any) -> None:
    """Every operation, a bounded number of generated calls each (Hypothesis, fixed seed), as
    one signed-in councillor; signing out goes last, so it ends no other operation's calls."""
    operations = sorted(
        (result.ok() for result in api_schema.get_all_operations()),
        key=lambda operation: (operation.path.endswith("/sign-out"), operation.path),
    )
    assert len(operations) >= 15, "every operation of the API is described"
    session = _signed_in(running_api, "alice")
    started = time.monotonic()
    for operation in operations:

        @given(case=operation.as_strategy(), real_case=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def calls(case: Any, real_case: bool) -> None:
            if real_case and "portal_id" in (case.path_parameters or {}):
                case.path_parameters["portal_id"] = REAL_CASE  # not only 404s: answers too
            case.call_and_validate(base_url=running_api, session=session, checks=CHECKS)

        calls()
    assert time.monotonic() - started < 60


def test_the_enquiry_document_marks_its_required_answers(client: TestClient) -> None:
    sign_in(client, "admin")
    document = client.get("/api/v1/openapi.json").json()
    form = document["components"]["schemas"]["EnquiryForm"]
    assert set(form["required"]) == set(REQUIRED_FIELDS)
    assert document["components"]["schemas"]["SharingForm"]["required"] == ["level"]
    close = document["paths"]["/api/v1/cases/{portal_id}/close"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(close)
    assert "404" not in document["paths"]["/api/v1/caseload"]["get"]["responses"]


def test_each_required_answer_left_out_is_refused_by_name(client: TestClient) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    whole = {"surname": "Walker", "category": "roads", "title": "Loose paving", "channel": "email"}
    assert set(whole) == set(REQUIRED_FIELDS)
    for missing in REQUIRED_FIELDS:
        body = {name: value for name, value in whole.items() if name != missing}
        answer = client.post("/api/v1/enquiries", json=body, headers={"X-CSRF-Token": token})
        assert answer.status_code == 422 and list(answer.json()["fields"]) == [missing]
    created = client.post("/api/v1/enquiries", json=whole, headers={"X-CSRF-Token": token})
    assert created.status_code == 201


def test_a_request_the_api_cannot_read_names_each_field_with_its_problem(
    client: TestClient,
) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    answer = client.post(
        "/api/v1/search", json={"text": "x" * 5000}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "Invalid request"
    [(field, problem)] = answer.json()["fields"].items()
    assert field == "body.text" and "at most" in problem and "xxx" not in problem
