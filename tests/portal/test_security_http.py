"""HTTP manners: HEAD on pages answers like GET without a body (uptime monitors), a 405 names
the methods allowed, and the API's OpenAPI document is for signed-in administrators only."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.portal.access_fixtures import VIEWERS
from tests.portal.conftest import sign_in


@pytest.mark.parametrize("path", ["/sign-in", "/healthz", "/assets/caseload.css"])
def test_head_answers_like_get_without_a_body_signed_out(client: TestClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]


def test_head_on_a_page_needs_sign_in_as_get_does(client: TestClient) -> None:
    head = client.head("/caseload")
    assert head.status_code == 303 and head.headers["location"].startswith("/sign-in")
    sign_in(client, "alice")
    head = client.head("/caseload")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == "no-store"


def test_a_405_says_which_methods_are_allowed(client: TestClient) -> None:
    page = client.put("/sign-in")
    assert page.status_code == 405
    assert set(page.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert "This page cannot do that" in page.text
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    api = client.delete("/api/v1/caseload", headers={"X-CSRF-Token": token})
    assert api.status_code == 405 and api.headers["allow"] == "GET"
    assert api.json()["error"] == "This page cannot do that"


def test_the_api_document_is_for_administrators_only(built) -> None:
    for who in (None, *sorted(set(VIEWERS) - {"admin"})):
        client = TestClient(built.app, follow_redirects=False)
        if who is not None:
            sign_in(client, who)
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == (401 if who is None else 403), who
        assert "openapi" not in response.text
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert TestClient(built.app).get(path).status_code == 404, path
    admin = TestClient(built.app, follow_redirects=False)
    sign_in(admin, "admin")
    document = admin.get("/api/v1/openapi.json")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    assert document.headers["cache-control"] == "no-store"
