"""Security headers, cookies, CSRF, sign-in throttling and trusted-header single sign-on."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.config import PortalSettings
from portal_extensions.store.audit import Outcome
from tests.portal.conftest import csrf_from, sign_in
from tests.portal.web_fixtures import PASSWORD, SECRET, build


def test_every_response_carries_a_strict_csp_and_the_other_headers(client) -> None:
    for path in ("/sign-in", "/no-such-page", "/assets/govuk-frontend.min.css"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp and "object-src 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # http in this test


def test_pages_have_no_inline_script_and_no_outside_resources(client) -> None:
    html = client.get("/sign-in").text
    assert "<script>" not in html and "<script " in html  # only the external module
    for fragment in ("http://", "https://", "//fonts", "onclick", "style="):
        assert fragment not in html


def test_pages_are_not_cached_but_assets_are(client) -> None:
    assert client.get("/sign-in").headers["cache-control"] == "no-store"
    asset = client.get("/assets/govuk-frontend.min.css")
    assert asset.headers["cache-control"].startswith("public")
    again = client.get(
        "/assets/govuk-frontend.min.css", headers={"If-None-Match": asset.headers["etag"]}
    )
    assert again.status_code == 304


def test_the_govuk_css_uses_system_fonts_not_gds_transport(client) -> None:
    css = client.get("/assets/govuk-frontend.min.css").text
    assert "GDS Transport" not in css and "@font-face" not in css
    assert "system-ui" in css
    assert client.get("/assets/caseload.js").headers["content-type"].startswith("text/javascript")


def test_https_adds_hsts_and_secure_cookies_and_frame_ancestors_are_configurable() -> None:
    built = build(https=True, frame_ancestors=["https://crm.northshire.gov.uk"])
    client = TestClient(built.app, base_url="https://testserver", follow_redirects=False)
    response = client.get("/sign-in")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert (
        "frame-ancestors https://crm.northshire.gov.uk"
        in response.headers["content-security-policy"]
    )
    assert "x-frame-options" not in response.headers
    cookie = response.headers["set-cookie"].lower()
    assert "caseload_session=" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_settings_refuse_a_short_secret_and_sso_without_proxies() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        PortalSettings(council_name="X", secret_key="short")
    with pytest.raises(ValueError, match="trusted_proxies"):
        PortalSettings(council_name="X", secret_key=SECRET, sign_in_mode="trusted_header")
    with pytest.raises(ValueError, match="https://"):
        PortalSettings(council_name="X", secret_key=SECRET, frame_ancestors=["*"])


# ------------------------------------------------------------------------------------- CSRF


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(client, built) -> None:
    client.get("/sign-in")
    response = client.post("/sign-in", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert built.audit.events == []
    assert client.get("/caseload").status_code == 303  # still signed out


def test_a_csrf_token_from_another_session_is_refused(built) -> None:
    other = TestClient(built.app, follow_redirects=False)
    stolen = csrf_from(other.get("/sign-in").text)
    client = TestClient(built.app, follow_redirects=False)
    client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"username": "alice", "password": PASSWORD, "csrf_token": stolen}
    )
    assert response.status_code == 403


def test_sign_out_needs_the_token_too(client) -> None:
    assert sign_in(client, "alice").status_code == 303
    assert client.post("/sign-out").status_code == 403
    assert client.get("/caseload").status_code == 200


def test_the_json_api_needs_the_token_in_a_header(client) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    assert client.post("/api/v1/sign-out").status_code == 403
    assert client.post("/api/v1/sign-out", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.get("/api/v1/caseload").status_code == 200
    response = client.post("/api/v1/sign-out", headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert client.get("/api/v1/caseload").status_code == 401


def test_the_csrf_token_changes_when_someone_signs_in(client) -> None:
    before = csrf_from(client.get("/sign-in").text)
    sign_in(client, "alice")
    after = client.get("/api/v1/session").json()["csrf_token"]
    assert before != after


# ------------------------------------------------------------------------------- sign-in


def test_a_failed_sign_in_keeps_the_user_name_and_shows_the_error_by_the_field(client) -> None:
    response = sign_in(client, "alice", "wrong password")
    assert response.status_code == 401
    assert 'value="alice"' in response.text
    assert "There is a problem" in response.text
    assert 'href="#password"' in response.text  # the summary links to the field
    assert 'id="password-error"' in response.text
    assert "<title>Error:" in response.text


def test_empty_fields_get_their_own_messages(client) -> None:
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 422
    assert "Enter your user name" in response.text and "Enter your password" in response.text


def test_over_long_sign_in_answers_show_the_form_again_not_a_dead_end(client) -> None:
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_from(page.text),
            "username": "a" * 300,
            "password": "p" * 1001,
            "next": "/" + "x" * 3000,
        },
    )
    assert response.status_code == 422
    assert "User name must be 200 characters or fewer" in response.text
    assert "Password must be 1000 characters or fewer" in response.text
    assert 'href="#username"' in response.text  # the error summary links to the field
    assert "p" * 1001 not in response.text  # a password is never shown again
    assert "x" * 3000 not in response.text


def test_unknown_user_names_get_the_same_answer_as_wrong_passwords(client) -> None:
    unknown = sign_in(client, "nobody", "wrong password")
    wrong = sign_in(client, "alice", "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.text.replace("nobody", "alice").split("csrf_token")[0]
        == wrong.text.split("csrf_token")[0]
    )


def test_failed_sign_ins_are_throttled_even_with_the_right_password(built, client) -> None:
    for _ in range(5):
        assert sign_in(client, "alice", "wrong").status_code == 401
    throttled = sign_in(client, "alice")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "too many failed attempts" in throttled.text
    assert 'value="alice"' in throttled.text
    other_user = sign_in(client, "bob")
    assert other_user.status_code == 303  # the limit is per user name (and per address)
    outcomes = [(e.action, e.outcome) for e in built.audit.events if e.action == "sign_in"]
    assert outcomes.count(("sign_in", Outcome.REFUSED)) == 6


def test_sign_in_only_redirects_within_the_site(client) -> None:
    page = client.get("/sign-in?next=//evil.example/")
    response = client.post(
        "/sign-in",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


def test_signed_out_visitors_are_sent_to_sign_in_and_come_back(client) -> None:
    response = client.get("/caseload?view=overdue")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fcaseload%3Fview%3Doverdue"


def test_a_deactivated_account_is_signed_out_at_once(built, client) -> None:
    from dataclasses import replace

    from tests.portal.web_fixtures import ACCOUNTS

    sign_in(client, "bob")
    assert client.get("/caseload").status_code == 200
    bob = ACCOUNTS.by_username("bob")
    assert bob is not None
    ACCOUNTS.add(replace(bob, active=False))
    try:
        assert client.get("/caseload").status_code == 303
    finally:
        ACCOUNTS.add(bob)


# ------------------------------------------------------------------- trusted-header SSO


def sso_app() -> FastAPI:
    return build(
        sign_in_mode="trusted_header", sso_header="X-Remote-User", trusted_proxies=["10.0.0.0/24"]
    ).app


def test_the_sso_header_is_trusted_from_the_proxy() -> None:
    client = TestClient(sso_app(), client=("10.0.0.7", 40000), follow_redirects=False)
    response = client.get("/api/v1/session", headers={"X-Remote-User": "alice"})
    assert response.status_code == 200 and response.json()["user_id"] == "u-alice"


def test_the_sso_header_is_ignored_from_anywhere_else() -> None:
    client = TestClient(sso_app(), client=("192.0.2.9", 40000), follow_redirects=False)
    response = client.get("/api/v1/session", headers={"X-Remote-User": "alice"})
    assert response.status_code == 401
    assert client.get("/caseload", headers={"X-Remote-User": "team_leader"}).status_code == 303


def test_sso_needs_the_header_on_every_request_and_switches_user_cleanly() -> None:
    client = TestClient(sso_app(), client=("10.0.0.7", 40000), follow_redirects=False)
    first = client.get("/api/v1/session", headers={"X-Remote-User": "alice"}).json()
    assert client.get("/api/v1/session").status_code == 401
    second = client.get("/api/v1/session", headers={"X-Remote-User": "bob"}).json()
    assert second["user_id"] == "u-bob" and second["csrf_token"] != first["csrf_token"]


def test_sso_mode_has_no_password_form() -> None:
    client = TestClient(sso_app(), client=("10.0.0.7", 40000), follow_redirects=False)
    page = client.get("/sign-in")
    assert 'name="password"' not in page.text
    assert "uses its own sign-in" in page.text


def test_a_copied_session_cookie_is_worthless_after_sign_out(built, client) -> None:
    sign_in(client, "alice")
    copied = dict(client.cookies)
    token = client.get("/api/v1/session").json()["csrf_token"]
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    thief = TestClient(built.app, cookies=copied, follow_redirects=False)
    assert thief.get("/api/v1/session").status_code == 401
    assert thief.get("/caseload").status_code == 303


def test_a_forged_session_without_a_live_session_id_is_refused(built) -> None:
    import base64
    import json

    from itsdangerous import TimestampSigner

    def forged(session: dict[str, str]) -> TestClient:
        payload = base64.b64encode(json.dumps(session).encode())
        cookie = TimestampSigner(SECRET).sign(payload).decode()
        return TestClient(built.app, cookies={"caseload_session": cookie}, follow_redirects=False)

    live = built.app.state.portal.sessions.issue("u-tl", 3600)
    assert forged({"uid": "u-tl", "sid": live}).get("/api/v1/session").status_code == 200
    assert forged({"uid": "u-tl"}).get("/api/v1/session").status_code == 401
    assert forged({"uid": "u-admin", "sid": live}).get("/api/v1/session").status_code == 401


def test_the_openapi_document_describes_the_json_api_only(client) -> None:
    sign_in(client, "admin")
    document = client.get("/api/v1/openapi.json").json()
    paths = set(document["paths"])
    assert "/api/v1/cases/{portal_id}/notes" in paths and "/api/v1/caseload" in paths
    assert all(path.startswith("/api/v1/") for path in paths)
    assert client.get("/docs").status_code == 404  # the interactive docs would load a CDN


def test_sign_in_never_redirects_off_the_site() -> None:
    from portal_extensions.web.routes.sign_in import safe_next

    for target in (
        "//evil.example/",
        "/\t/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/\n/evil.example",
        "evil.example",
        "",
    ):
        assert safe_next(target) == "/", repr(target)
    assert safe_next("/caseload?view=overdue") == "/caseload?view=overdue"
    assert safe_next("/cases/abc#pending") == "/cases/abc#pending"


def test_an_unexpected_error_still_carries_the_security_headers() -> None:
    from portal_extensions.web import public

    app = build().app

    @public
    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/broken")
    assert response.status_code == 500
    assert "frame-ancestors" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "a bug" not in response.text
