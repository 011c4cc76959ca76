"""`/healthz`: the load balancer's probe answers without signing in, with nothing but whether
the store answers (200 `{"status": "ok"}`, else 503), sets no cookie and writes no audit row."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.config import PortalSettings
from portal_extensions.runtime import build_portal
from portal_extensions.store.database import Store
from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import build

OK = {"status": "ok"}
UNAVAILABLE = {"status": "unavailable"}


class StoreDown(RuntimeError):
    pass


def _unreachable() -> None:
    raise StoreDown("could not connect to server at db.internal.example as caseload_admin")


def test_it_answers_ok_without_signing_in_and_leaves_no_trace() -> None:
    built = build()
    client = TestClient(built.app, follow_redirects=False)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == OK  # no version, no counts, no case data
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"  # the app's headers too
    assert built.audit.events == []
    head = client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


def test_a_signed_in_browser_gets_the_same_answer_and_keeps_its_session() -> None:
    built = build()
    client = TestClient(built.app, follow_redirects=False)
    assert sign_in(client, "alice").status_code == 303
    recorded = len(built.audit.events)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == OK
    assert "set-cookie" not in response.headers
    assert len(built.audit.events) == recorded
    assert client.get("/api/v1/session").status_code == 200


def test_an_unreachable_store_is_503_and_says_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(build(liveness=_unreachable).app, follow_redirects=False)
    with caplog.at_level(logging.WARNING):
        response = client.get("/healthz")
        head = client.head("/healthz")
    assert response.status_code == 503 and head.status_code == 503
    assert response.json() == UNAVAILABLE
    assert "set-cookie" not in response.headers
    assert "StoreDown" in caplog.text  # the kind of failure, for the operator
    assert "db.internal.example" not in caplog.text + response.text  # not the driver's words
    assert "caseload_admin" not in caplog.text + response.text


def test_a_postgresql_store_nobody_listens_for_is_503() -> None:
    # Port 1 on loopback: refused at once, as a database host that is down.
    store = Store(sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test"))
    try:
        client = TestClient(build(liveness=store.ping).app)
        assert client.get("/healthz").status_code == 503
    finally:
        store.close()


def test_a_sqlite_store_follows_its_database(tmp_path: Path) -> None:
    """The assembled portal (as `caseload serve` builds it) asks its own store: 200 while the
    database answers, 503 once its directory is gone."""
    folder = tmp_path / "data"
    folder.mkdir()
    store = Store.open(f"sqlite:///{folder / 'caseload.sqlite'}")
    try:
        settings = PortalSettings(council_name="Test", secret_key="k" * 64, https=False)
        client = TestClient(build_portal(settings, store, None))
        assert client.get("/healthz").json() == OK
        store.engine.dispose()  # no pooled connection to the old file survives
        shutil.rmtree(folder)
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json() == UNAVAILABLE
    finally:
        store.close()


def test_it_is_not_in_the_api_document() -> None:
    client = TestClient(build().app)
    sign_in(client, "admin")
    document = client.get("/api/v1/openapi.json").json()
    assert "/healthz" not in document["paths"]
