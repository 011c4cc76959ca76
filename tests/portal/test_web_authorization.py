"""The authorization matrix, generated from the app's route table.

Every route x every role (and nobody signed in) x, for case routes, every case in a council that
covers each sharing level and authority state: forbidden pairs are refused, a case the viewer may
not see is a 404 identical to a case that does not exist, and allowed pairs work. A new route is
covered as soon as it is added: it must declare its access (`allow`/`public`), and any path
parameter other than a case id needs a sample value below, or this test fails and says so.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import CaseStatus, MemberCase
from portal_extensions.access import (
    PAGE_ROLES,
    Action,
    Page,
    Role,
    can_act,
    can_view_case,
    may_open,
    visible_fields,
)
from portal_extensions.web import route_access
from portal_extensions.web.guard import all_routes
from portal_extensions.web.pages_common import NAVIGATION, navigation_links
from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import CASES, DOCUMENT_ID, QUEUED_FILE_ID, build, stored

SAMPLE_PATH_VALUES = {
    "name": "caseload.css",
    "document_id": DOCUMENT_ID,
    "file_id": QUEUED_FILE_ID,
    "user_id": "3",  # bob's account in the fixture account store (`FixtureAccountAdmin`)
    "file": "timeliness-by-service.csv",  # a report table every report role has
}
UPLOAD = {"files": {"file": ("letter.txt", b"A letter from the matrix", "text/plain")}}
# Case routes that show one part of a case: seen only by viewers who may see that field.
# (The queued file's uploader is none of the fixture viewers, so the uploader's own exception
# is proved in test_web_timeline.py.)
NEEDS_FIELD = {
    ("GET", "/cases/{portal_id}/attachments/{document_id}"): "notes",
    ("GET", "/cases/{portal_id}/queued-files/{file_id}"): "notes",
}
NEEDS_FIELD |= {("HEAD", path): field for (_, path), field in list(NEEDS_FIELD.items())}
ENQUIRY = {
    "member_id": "alice",
    "surname": "Matrix",
    "category": "roads",
    "title": "Pothole",
    "channel": "email",
    "sharing": "private",
}
SUCCESS = {
    ("POST", "/enquiries/new"): 303,
    ("POST", "/api/v1/enquiries"): 201,
    # A pick that is not among the look-up's answers: the form again, saying so.
    ("POST", "/enquiries/new/prefill"): 422,
}
SUCCESS |= {
    ("POST", "/api/v1/accounts"): 201,
    ("POST", "/accounts/{user_id}/role"): 303,
    ("POST", "/accounts/{user_id}/disable"): 303,
    ("POST", "/accounts/{user_id}/enable"): 303,
}
NEW_ACCOUNT = {"display_name": "Matrix", "role": "team_leader", "sign_in": "sso"}
# A valid body for each unsafe route, so an allowed call can succeed.
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/cases/{portal_id}/notes"): {"data": {"text": "A note from the matrix"}},
    ("POST", "/api/v1/cases/{portal_id}/notes"): {"json": {"text": "A note from the matrix"}},
    ("POST", "/cases/{portal_id}/close"): {"data": {"reason": "Fixed"}},
    ("POST", "/enquiries/new"): {"data": ENQUIRY},
    ("POST", "/api/v1/enquiries"): {"json": ENQUIRY},
    ("POST", "/cases/{portal_id}/reopen"): {"data": {"reason": "Broken again"}},
    ("POST", "/api/v1/cases/{portal_id}/close"): {"json": {"reason": "Fixed"}},
    ("POST", "/api/v1/cases/{portal_id}/reopen"): {"json": {"reason": "Broken again"}},
    ("POST", "/cases/{portal_id}/sharing"): {"data": {"sharing": "ward"}},
    ("POST", "/api/v1/cases/{portal_id}/sharing"): {"json": {"level": "ward"}},
    ("POST", "/cases/{portal_id}/authority"): {"data": {"decision": "withdraw"}},
    ("POST", "/cases/{portal_id}/attachments"): UPLOAD,
    ("POST", "/cases/{portal_id}/service"): {"data": {"service_id": "S1"}},
    ("POST", "/enquiries/new/find"): {"data": {"find": "Resident"}},
    ("POST", "/api/v1/residents/search"): {"json": {"text": "Resident"}},
    ("POST", "/enquiries/new/prefill"): {"data": {"find": "Resident", "pick": "none"}},
    ("POST", "/api/v1/cases/{portal_id}/service"): {"json": {"service_id": "S1"}},
    ("POST", "/api/v1/cases/{portal_id}/attachments"): UPLOAD,
    ("POST", "/api/v1/cases/{portal_id}/authority"): {"json": {"decision": "withdraw"}},
    ("POST", "/search"): {"data": {"q": "street"}},
    ("POST", "/api/v1/search"): {"json": {"text": "street"}},
    ("POST", "/cases/{portal_id}/respond"): {"data": {"response": "Repaired on Monday"}},
    ("POST", "/api/v1/cases/{portal_id}/respond"): {"json": {"text": "Repaired on Monday"}},
    ("POST", "/accounts/new"): {"data": {**NEW_ACCOUNT, "username": "matrix-page"}},
    ("POST", "/api/v1/accounts"): {"json": {**NEW_ACCOUNT, "username": "matrix-api"}},
    ("POST", "/accounts/{user_id}/role"): {"data": {"role": "member", "member_id": "bob"}},
    ("POST", "/api/v1/accounts/{user_id}/role"): {"json": {"role": "member", "member_id": "bob"}},
}


def _never(case: MemberCase) -> bool:
    return False


# Allowed actions that the case's state makes pointless are answered 409 (nothing changes).
CONFLICTS: dict[Action, Callable[[MemberCase], bool]] = {
    Action.CLOSE: lambda case: not case.is_open,
    Action.REOPEN: lambda case: case.status is not CaseStatus.CLOSED,
    # Sharing and withdrawal need authority in force (the samples share and withdraw).
    Action.SEND_TO_SERVICE: lambda case: not case.is_open,
    Action.RESPOND: lambda case: not case.is_open,
    Action.MANAGE_CONSENT: lambda case: case.authority is None or not case.authority.in_force,
}
CASEWORK = {Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER, Role.SERVICE_OFFICER}
RECORDERS = {Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER}
PUBLIC = "public"
# Who each route is meant for, stated here independently of the code. A new route fails
# `test_every_route_has_the_intended_access` until its intended access is written down here.
INTENDED: dict[tuple[str, str], str | set[Role]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("POST", "/sign-out"): PUBLIC,
    ("GET", "/assets/{name}"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("HEAD", "/healthz"): PUBLIC,
    ("GET", "/caseload"): CASEWORK,
    ("GET", "/cases/{portal_id}"): CASEWORK,
    ("POST", "/cases/{portal_id}/notes"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/notes"): CASEWORK,
    ("POST", "/cases/{portal_id}/close"): CASEWORK,
    ("POST", "/cases/{portal_id}/reopen"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/close"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/reopen"): CASEWORK,
    ("GET", "/health"): {Role.ADMINISTRATOR},
    ("GET", "/search"): CASEWORK,
    ("POST", "/search"): CASEWORK,
    ("GET", "/ward"): RECORDERS,
    ("GET", "/api/v1/ward"): RECORDERS,
    ("GET", "/api/v1/enquiry-options"): RECORDERS,
    ("GET", "/directory"): set(Role),
    ("GET", "/api/v1/directory"): set(Role),
    ("POST", "/api/v1/search"): CASEWORK,
    ("GET", "/enquiries/new"): RECORDERS,
    ("POST", "/enquiries/new"): RECORDERS,
    ("POST", "/api/v1/enquiries"): RECORDERS,
    ("GET", "/api/v1/session"): set(Role),
    ("POST", "/api/v1/sign-out"): PUBLIC,
    ("GET", "/api/v1/caseload"): CASEWORK,
    ("GET", "/api/v1/cases/{portal_id}"): CASEWORK,
    ("GET", "/api/v1/health"): {Role.ADMINISTRATOR},
    ("GET", "/cases/{portal_id}/sharing"): CASEWORK,
    ("GET", "/cases/{portal_id}/authority"): CASEWORK,
    ("GET", "/cases/{portal_id}/authority/withdraw"): CASEWORK,
    ("GET", "/cases/{portal_id}/close"): CASEWORK,
    ("GET", "/cases/{portal_id}/reopen"): CASEWORK,
    ("POST", "/cases/{portal_id}/sharing"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/sharing"): CASEWORK,
    ("POST", "/cases/{portal_id}/authority"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/authority"): CASEWORK,
    ("POST", "/cases/{portal_id}/attachments"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/attachments"): CASEWORK,
    ("GET", "/cases/{portal_id}/attachments/{document_id}"): CASEWORK,
    ("GET", "/cases/{portal_id}/queued-files/{file_id}"): CASEWORK,
    ("POST", "/cases/{portal_id}/service"): CASEWORK,
    ("POST", "/api/v1/residents/search"): RECORDERS,
    ("POST", "/enquiries/new/find"): RECORDERS,
    ("POST", "/enquiries/new/prefill"): RECORDERS,
    ("POST", "/api/v1/cases/{portal_id}/service"): CASEWORK,
    ("GET", "/reports"): CASEWORK,
    ("GET", "/reports/files/{file}"): CASEWORK,
    ("GET", "/api/v1/reports"): CASEWORK,
    ("GET", "/reports/scrutiny"): {Role.MEMBERS_SERVICES, Role.TEAM_LEADER},
    ("GET", "/reports/scrutiny/files/{file}"): {Role.MEMBERS_SERVICES, Role.TEAM_LEADER},
    ("GET", "/api/v1/reports/scrutiny"): {Role.MEMBERS_SERVICES, Role.TEAM_LEADER},
    ("GET", "/cases/{portal_id}/respond"): CASEWORK,
    ("POST", "/cases/{portal_id}/respond"): CASEWORK,
    ("POST", "/api/v1/cases/{portal_id}/respond"): CASEWORK,
    ("GET", "/accounts"): {Role.ADMINISTRATOR},
    ("GET", "/accounts/new"): {Role.ADMINISTRATOR},
    ("POST", "/accounts/new"): {Role.ADMINISTRATOR},
    ("GET", "/accounts/{user_id}"): {Role.ADMINISTRATOR},
    ("POST", "/accounts/{user_id}/role"): {Role.ADMINISTRATOR},
    ("POST", "/accounts/{user_id}/password"): {Role.ADMINISTRATOR},
    ("POST", "/accounts/{user_id}/disable"): {Role.ADMINISTRATOR},
    ("POST", "/accounts/{user_id}/enable"): {Role.ADMINISTRATOR},
    ("GET", "/api/v1/accounts"): {Role.ADMINISTRATOR},
    ("POST", "/api/v1/accounts"): {Role.ADMINISTRATOR},
    ("GET", "/api/v1/accounts/{user_id}"): {Role.ADMINISTRATOR},
    ("POST", "/api/v1/accounts/{user_id}/role"): {Role.ADMINISTRATOR},
    ("POST", "/api/v1/accounts/{user_id}/password"): {Role.ADMINISTRATOR},
    ("POST", "/api/v1/accounts/{user_id}/disable"): {Role.ADMINISTRATOR},
    ("POST", "/api/v1/accounts/{user_id}/enable"): {Role.ADMINISTRATOR},
    ("GET", "/api/v1/openapi.json"): {Role.ADMINISTRATOR},
}
# Every page that answers GET answers HEAD for the same people (uptime monitors).
INTENDED |= {
    ("HEAD", path): who
    for (method, path), who in list(INTENDED.items())
    if method == "GET" and not path.startswith("/api/")
}
MISSING_CASE = str(uuid.UUID(int=0xC0FFEE))
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Unsafe public routes change the session; they are called with a fresh session each time.


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    template: str
    case_index: int | None  # position in CASES, or None for no case / the missing case


def _without_token(content: bytes) -> bytes:
    """A page without its session's CSRF token (each client has its own)."""
    return re.sub(rb'name="csrf_token" value="[^"]+"', b"", content)


def _params(path: str) -> list[str]:
    return re.findall(r"{([^}:]+)(?::[^}]*)?}", path)


def _calls(app) -> list[tuple[APIRoute, Call]]:
    calls = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            assert getattr(route, "path", None) == app.openapi_url, f"{route} is not an APIRoute"
            continue
        access = route_access(route.endpoint)
        assert access is not None, (
            f"route {route.path} declares no access: decorate it with @allow(...) or @public"
        )
        params = _params(route.path)
        for method in sorted(route.methods or ()):
            path = route.path
            for param in params:
                if param == access.case_param:
                    continue
                assert param in SAMPLE_PATH_VALUES, (
                    f"route {route.path}: add a sample value for {{{param}}} to"
                    " SAMPLE_PATH_VALUES so the matrix can call it"
                )
                path = path.replace(f"{{{param}}}", SAMPLE_PATH_VALUES[param])
            if access.case_param:
                assert access.case_param in params
                for index, case in enumerate(CASES):
                    each = path.replace(f"{{{access.case_param}}}", str(case.portal_id))
                    calls.append((route, Call(method, each, route.path, index)))
                missing = path.replace(f"{{{access.case_param}}}", MISSING_CASE)
                calls.append((route, Call(method, missing, route.path, None)))
                continue
            for param in params:
                assert param in SAMPLE_PATH_VALUES, (
                    f"route {route.path}: add a sample value for {{{param}}} to"
                    " SAMPLE_PATH_VALUES so the matrix can call it"
                )
                path = path.replace(f"{{{param}}}", SAMPLE_PATH_VALUES[param])
            calls.append((route, Call(method, path, route.path, None)))
    return calls


@pytest.fixture(scope="module")
def matrix_app():
    return build(reindex=False, queued_files=True).app


def _client(app, who: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if who != "nobody":
        assert sign_in(client, who).status_code == 303
    return client


def _request(client: TestClient, call: Call):
    if call.method == "HEAD":
        # Answered exactly like GET, without the body; the GET's answer is then checked.
        head = client.head(call.path)
        response = client.get(call.path)
        assert head.status_code == response.status_code, call.path
        assert head.content == b"", call.path
        assert head.headers.get("content-type") == response.headers.get("content-type")
        return response
    token = _token(client) if call.method in UNSAFE else None
    headers = {"X-CSRF-Token": token} if token else {}
    body = SAMPLE_BODIES.get((call.method, call.template), {})
    return client.request(call.method, call.path, headers=headers, **body)


def _token(client: TestClient) -> str | None:
    session = client.get("/api/v1/session")
    if session.status_code == 200:
        token: str = session.json()["csrf_token"]
        return token
    response = client.get("/sign-in")
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    return match.group(1) if match else None


def test_the_matrix_reaches_every_route(matrix_app) -> None:
    calls = _calls(matrix_app)
    templates = {call.template for _, call in calls}
    assert {"/caseload", "/cases/{portal_id}", "/api/v1/cases/{portal_id}", "/health"} <= templates
    called = {(call.method, call.template) for _, call in calls}
    declared = {
        (method, route.path)
        for route in all_routes(matrix_app.routes)
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert called == declared


def test_every_route_has_the_intended_access(matrix_app) -> None:
    declared: dict[tuple[str, str], str | set[Role]] = {}
    for route in all_routes(matrix_app.routes):
        if isinstance(route, APIRoute):
            access = route_access(route.endpoint)
            assert access is not None, f"{route.path} declares no access"
            for method in route.methods or ():
                declared[(method, route.path)] = PUBLIC if access.public else set(access.roles)
    unlisted = sorted(set(declared) - set(INTENDED))
    assert not unlisted, f"write down who these routes are for in INTENDED: {unlisted}"
    assert declared == INTENDED


@pytest.mark.parametrize("who", [*sorted(VIEWERS), "nobody"])
def test_every_route_for_every_role(matrix_app, who: str) -> None:
    client = _client(matrix_app, who)
    viewer = VIEWERS.get(who)
    missing_bodies: dict[str, bytes] = {}
    refused_bodies: dict[str, set[bytes]] = {}
    role_refusals: dict[str, set[bytes]] = {}
    for route, call in _calls(matrix_app):
        access = route_access(route.endpoint)
        assert access is not None
        # An unsafe public call (sign-in, sign-out) changes the session, so it gets a client of
        # its own; other calls share the role's client (nothing else touches the session).
        caller = _client(matrix_app, who) if call.method in UNSAFE and access.public else client
        response = _request(caller, call)
        api = call.path.startswith("/api/")
        label = f"{who} {call.method} {call.path}"
        if access.public:
            assert response.status_code not in (401, 403), label
            continue
        if viewer is None:
            if api:
                assert response.status_code == 401, label
            else:
                assert response.status_code == 303, label
                assert response.headers["location"].startswith("/sign-in"), label
            continue
        if viewer.role not in access.roles:
            assert response.status_code == 403, label
            # Refused by role before any case is read: the same answer for every case id.
            role_refusals.setdefault(f"{call.method} {call.template}", set()).add(
                _without_token(response.content)
            )
            continue
        if access.case_param is None:
            assert response.status_code == SUCCESS.get((call.method, call.template), 200), label
            continue
        if call.case_index is None:
            assert response.status_code == 404, label
            missing_bodies[f"{call.method} {call.template}"] = _without_token(response.content)
            continue
        facts = stored(CASES[call.case_index]).facts
        needed = NEEDS_FIELD.get((call.method, call.template))
        if not can_view_case(viewer, facts, NOW) or (
            needed is not None and needed not in visible_fields(viewer, facts, NOW)
        ):
            assert response.status_code == 404, label
            assert CASES[call.case_index].title not in response.text, label
            refused_bodies.setdefault(f"{call.method} {call.template}", set()).add(
                _without_token(response.content)
            )
        elif access.action is None:
            assert response.status_code == 200, label
            assert CASES[call.case_index].title in response.text, label
        elif can_act(viewer, facts, access.action, NOW) and call.method not in UNSAFE:
            # A change's own page (sharing, authority, closing, the service's reply): the form,
            # naming the case (HEAD: the same answer without the body).
            assert response.status_code == 200, label
            if call.method == "GET":
                assert CASES[call.case_index].title in response.text, label
        elif can_act(viewer, facts, access.action, NOW):
            conflict = CONFLICTS.get(access.action, _never)(CASES[call.case_index])
            expected = 409 if conflict else (202 if api else 303)
            assert response.status_code == expected, label
        else:
            assert response.status_code == 403, label
            assert "cannot change this case" in response.text, label
    for template, bodies in role_refusals.items():
        assert len(bodies) == 1, f"{who}: {template} refusals differ between case ids"
    for template, bodies in refused_bodies.items():
        assert bodies == {missing_bodies[template]}, (
            f"{who}: a refused case on {template} must look exactly like a missing one"
        )


def test_the_fixture_council_gives_every_case_role_both_answers() -> None:
    for name, viewer in VIEWERS.items():
        seen = [c for c in CASES if can_view_case(viewer, stored(c).facts, NOW)]
        if name == "team_leader":
            assert len(seen) == len(CASES)
        elif name == "admin":
            assert seen == []
        else:
            assert 0 < len(seen) < len(CASES), f"{name}: the matrix would prove nothing"


NAV_LINK = re.compile(r'class="govuk-service-navigation__link" href="([^"]+)"')


def test_every_route_declares_a_page_or_is_public(matrix_app) -> None:
    """Who may use a route is only ever the page table's answer (or anyone, for a public one):
    no route carries a role list of its own."""
    for route in all_routes(matrix_app.routes):
        if not isinstance(route, APIRoute):
            continue
        access = route_access(route.endpoint)
        assert access is not None, f"{route.path} declares no access"
        if access.public:
            assert access.page is None, f"{route.path} is public and yet names a page"
            assert access.case_param is None and access.action is None, route.path
        else:
            assert isinstance(access.page, Page), f"{route.path} names no page"
            assert access.roles == PAGE_ROLES[access.page], route.path


def _page_paths_open_to(app, role: Role) -> set[str]:
    """The pages a person can go to by address alone (GET, HTML, no path parameter, not
    public) whose page the table lets `role` open."""
    return {
        route.path
        for route in all_routes(app.routes)
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or ())
        and not route.path.startswith("/api/")
        and not _params(route.path)
        and (access := route_access(route.endpoint)) is not None
        and not access.public
        and role in access.roles
    }


@pytest.mark.parametrize("who", sorted(VIEWERS))
def test_the_navigation_links_every_page_the_table_opens_and_no_other(matrix_app, who) -> None:
    viewer = VIEWERS[who]
    client = _client(matrix_app, who)
    shown = NAV_LINK.findall(client.get("/directory").text)
    assert len(shown) == len(set(shown)), shown
    assert set(shown) == _page_paths_open_to(matrix_app, viewer.role)
    assert set(shown) == {href for _, href in navigation_links(viewer)}
    assert {href for page, href in NAVIGATION if may_open(viewer, page)} == set(shown)
    for href in shown:
        assert client.get(href).status_code == 200, f"{who}: {href}"


def test_every_page_is_in_the_navigation_or_reached_from_one() -> None:
    """Each page of the table is linked from the navigation, or is one case (reached from a
    list) or the JSON API's session: a page nobody can find would be dead weight."""
    assert {page for page, _ in NAVIGATION} | {Page.CASE, Page.SESSION} == set(Page)
    assert set(PAGE_ROLES) == set(Page)
