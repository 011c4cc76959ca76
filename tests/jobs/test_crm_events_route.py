"""The CRM push-event route, served by a real server on loopback, feeding a running worker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from connector import factory
from connector.sandbox.push import event_xml
from portal_extensions.config import Config, PortalSettings, StoreSettings, WorkerSettings
from portal_extensions.jobs.worker import Worker
from portal_extensions.runtime import Runtime
from portal_extensions.store.database import Store
from portal_extensions.web.guard import is_signed, route_access
from portal_extensions.web.routes.crm_events import (
    EVENTS_PATH,
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    crm_events_router,
    signature,
)
from tests.jobs.conftest import HOUR, JobsRuntime, sync_row, title_of
from tests.store.sandbox_helpers import crm_settings, lagan_client

pytestmark = pytest.mark.sandbox_crm(cases=20, seed=6)

SECRET = "shared-with-the-crm-" + "q" * 24
LAGAN_EVENTS = factory.case_event_parser("lagan")


class Served:
    """An ASGI app on a real uvicorn server at an ephemeral loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def worker(store: Store, sandbox_crm_server: Any) -> Iterator[Worker]:
    runtime = JobsRuntime(store, lagan_client(sandbox_crm_server, retry_attempts=1))
    worker = Worker(runtime, sync_interval=HOUR, dispatch_interval=HOUR)
    worker.run_once()  # the first sync; the next is an hour away
    yield worker
    worker.stop()


def _served(worker: Worker, secret: str | None = SECRET, **kwargs: Any) -> Served:
    kwargs.setdefault("parse", LAGAN_EVENTS)
    app = FastAPI()
    app.include_router(
        crm_events_router(SecretStr(secret) if secret else None, worker.request_refresh, **kwargs)
    )
    return Served(app)


def _post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kwargs)


def _event(handle: Any, reference: str) -> bytes:
    return event_xml("PopulatedUpdateCaseEvent", handle.store.case(reference))


def _signed(body: bytes, *, secret: str = SECRET, timestamp: str | None = None) -> dict[str, str]:
    headers = {SIGNATURE_HEADER: signature(secret, body, timestamp)}
    if timestamp is not None:
        headers[TIMESTAMP_HEADER] = timestamp
    return {"Content-Type": "application/xml", **headers}


def test_a_signed_event_refreshes_that_case_from_the_crm_in_one_round_without_a_sync(
    worker: Worker, sandbox_crm_server: Any
) -> None:
    reference = sorted(sandbox_crm_server.store.cases)[2]
    sandbox_crm_server.store.update_case(reference, {"title": "Changed, then pushed"})
    synced_at = sync_row(worker.store).last_finished_at
    body = _event(sandbox_crm_server, reference)
    with _served(worker) as served:
        worker.start_in_thread()
        answer = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
        assert answer.status_code == 202
        assert answer.json() == {"message": "queued", "crm_reference": reference}
        deadline = time.monotonic() + 10
        while (
            title_of(worker.store, reference) != "Changed, then pushed"
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert worker.stop()
    assert title_of(worker.store, reference) == "Changed, then pushed"
    assert sync_row(worker.store).last_finished_at == synced_at  # no sync ran meanwhile


def test_a_fresh_timestamped_signature_is_taken_and_a_stale_one_refused(
    worker: Worker, sandbox_crm_server: Any
) -> None:
    reference = sorted(sandbox_crm_server.store.cases)[4]
    body = _event(sandbox_crm_server, reference)
    now = int(time.time())
    with _served(worker) as served:
        url = served.url + EVENTS_PATH
        stale = _post(url, data=body, headers=_signed(body, timestamp=str(now - 301)))
        assert stale.status_code == 403 and "timestamp" in stale.json()["message"]
        assert worker.pending_refreshes() == []
        # The timestamp is signed: taking it away (or changing it) breaks the signature.
        headers = _signed(body, timestamp=str(now))
        replayed = {k: v for k, v in headers.items() if k != TIMESTAMP_HEADER}
        assert _post(url, data=body, headers=replayed).status_code == 403
        assert worker.pending_refreshes() == []
        for odd in ("１７００".encode(), b"yesterday"):  # digits but not ASCII ones; words
            odd_headers: dict[str, Any] = {**headers, TIMESTAMP_HEADER: odd}
            assert _post(url, data=body, headers=odd_headers).status_code == 403
        assert _post(url, data=body, headers=headers).status_code == 202
    assert worker.pending_refreshes() == [reference]


def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_queued(
    worker: Worker, sandbox_crm_server: Any
) -> None:
    body = _event(sandbox_crm_server, sorted(sandbox_crm_server.store.cases)[1])
    with _served(worker) as served:
        url = served.url + EVENTS_PATH
        missing = _post(url, data=body, headers={"Content-Type": "application/xml"})
        wrong_key = _post(url, data=body, headers=_signed(body, secret="not-the-secret"))
        other_body = _post(url, data=body, headers=_signed(body + b" "))
        not_hmac = _post(url, data=body, headers={SIGNATURE_HEADER: "md5=abc"})
    assert missing.status_code == 401 and SIGNATURE_HEADER in missing.json()["message"]
    assert wrong_key.status_code == 403
    assert other_body.status_code == 403
    assert not_hmac.status_code == 401
    assert worker.pending_refreshes() == []


def test_an_oversize_body_is_refused_declared_or_streamed(worker: Worker) -> None:
    big = b"<x/>" + b" " * MAX_BODY_BYTES

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    with _served(worker) as served:
        url = served.url + EVENTS_PATH
        declared = _post(url, data=big, headers=_signed(big))
        streamed = _post(url, data=chunks(), headers=_signed(big))
    assert declared.status_code == 413 and streamed.status_code == 413
    assert worker.pending_refreshes() == []


def test_a_signed_body_that_is_not_a_case_event_is_refused(worker: Worker) -> None:
    body = b"<NotAnEvent/>"
    with _served(worker) as served:
        answer = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
    assert answer.status_code == 400
    assert worker.pending_refreshes() == []


def test_without_a_secret_or_an_event_reader_the_route_answers_404(
    worker: Worker, sandbox_crm_server: Any
) -> None:
    body = _event(sandbox_crm_server, sorted(sandbox_crm_server.store.cases)[0])
    with _served(worker, secret=None) as served:
        no_secret = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
    with _served(worker, parse=None) as served:
        no_reader = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
    assert no_secret.status_code == 404 and no_reader.status_code == 404
    assert worker.pending_refreshes() == []


def test_a_full_refresh_queue_answers_503_so_the_crm_may_retry(
    worker: Worker, sandbox_crm_server: Any
) -> None:
    body = _event(sandbox_crm_server, sorted(sandbox_crm_server.store.cases)[0])
    app = FastAPI()
    app.include_router(
        crm_events_router(SecretStr(SECRET), lambda reference: False, parse=LAGAN_EVENTS)
    )
    with Served(app) as served:
        answer = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"


def test_the_route_is_declared_public_and_signed_for_the_portal_guard() -> None:
    router = crm_events_router(SecretStr(SECRET), lambda reference: None, parse=LAGAN_EVENTS)
    (route,) = router.routes
    endpoint = getattr(route, "endpoint", None)
    assert endpoint is not None
    access = route_access(endpoint)
    assert access is not None and access.public
    assert is_signed(endpoint)
    assert getattr(route, "path", None) == EVENTS_PATH


def test_the_portal_built_by_the_runtime_takes_signed_events_past_its_guard(
    store: Store, sandbox_crm_server: Any, tmp_path: Any
) -> None:
    config = Config(
        store=StoreSettings(data_dir=tmp_path),
        crm=crm_settings(sandbox_crm_server, retry_attempts=1),
        portal=PortalSettings(council_name="Fenmarsh", secret_key="s" * 40, https=False),
        worker=WorkerSettings(events_secret=SecretStr(SECRET)),
    )
    runtime = Runtime(config, store=store)
    worker = runtime.worker()
    worker.run_once()
    reference = sorted(sandbox_crm_server.store.cases)[5]
    sandbox_crm_server.store.update_case(reference, {"title": "Through the portal's guard"})
    body = _event(sandbox_crm_server, reference)
    try:
        with Served(runtime.portal_app(worker=worker)) as served:
            unsigned = _post(served.url + EVENTS_PATH, data=body)
            signed = _post(served.url + EVENTS_PATH, data=body, headers=_signed(body))
            # Every other unsafe request still needs its session's CSRF token.
            form = _post(served.url + "/sign-in", data={"username": "x", "password": "y"})
        assert unsigned.status_code == 401
        assert signed.status_code == 202
        assert form.status_code == 403
        assert worker.run_once().refreshed == {reference: "updated"}
        assert title_of(store, reference) == "Through the portal's guard"
    finally:
        runtime.client.close()
