from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2", not our concern here
    from fastapi.testclient import TestClient

from tests.portal.web_fixtures import PASSWORD, Built, build

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def page_text(html: str) -> str:
    """What a reader sees of a page: tags dropped, runs of white space made one space."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",")


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    page = client.get("/sign-in")
    return client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )


@pytest.fixture
def built() -> Built:
    return build()


@pytest.fixture
def client(built: Built) -> TestClient:
    return TestClient(built.app, follow_redirects=False)
