"""`SandboxCRM`: the public façade bundling store, app, auth and faults, in-process or served.

    crm = SandboxCRM(seed=1, cases=200)
    with crm.serve() as url: ...            # real loopback server
    with crm.intercept(): ...               # `responses` routes crm.base_url to the app

The in-process router turns socket faults into the exception a `requests` client would see:
reset and lost response -> `requests.ConnectionError`; black hole and slow drip ->
`requests.ReadTimeout` (a client with a deadline gives up on both).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from connector.sandbox.app import (
    DEFAULT_SEARCH_CAP,
    AuthConfig,
    AuthStyle,
    LaganOptions,
    SandboxApp,
)
from connector.sandbox.faults import FaultPlan
from connector.sandbox.push import PushNotifier
from connector.sandbox.seed import seed as seed_council
from connector.sandbox.server import RunningServer
from connector.sandbox.store import Record, Store

IN_PROCESS_URL = "https://crm.sandbox.test"


class SandboxCRM:
    """One fictional council's CRM, with both fronts, ready for tests, demos and the CLI."""

    def __init__(
        self,
        *,
        seed: int = 1,
        cases: int = 2000,
        constituents: int = 300,
        db: str | Path | None = None,
        faults: str | FaultPlan | None = None,
        auth: AuthConfig | None = None,
        auth_style: AuthStyle | None = None,
        anchor: datetime | None = None,
        push_url: str | None = None,
        fl_build: Literal["published", "later"] = "published",
        fl_unknown: Literal["refuse", "ignore"] = "refuse",
        search_cap: int = DEFAULT_SEARCH_CAP,
    ) -> None:
        self.seed = seed
        self.store = Store(db)
        if self.store.is_empty():
            seed_council(
                self.store, seed=seed, cases=cases, constituents=constituents, anchor=anchor
            )
        auth = auth or AuthConfig()
        if auth_style is not None:
            auth = auth.model_copy(update={"style": auth_style})
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults, seed=seed)
        lagan = LaganOptions(build=fl_build, unknown=fl_unknown, search_cap=search_cap)
        self.app = SandboxApp(self.store, auth, plan, lagan=lagan)
        self.server: RunningServer | None = None
        self.push: PushNotifier | None = None
        if push_url:
            self.push = PushNotifier(push_url)
            self.store.on_case_change(self.push.notify)

    # ------------------------------------------------------------ convenience
    @property
    def auth(self) -> AuthConfig:
        return self.app.auth

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    def set_faults(self, spec: str | None, seed: int | None = None) -> FaultPlan:
        """Replace the fault plan (e.g. per test); returns it for inspecting `.events`."""
        self.app.faults = FaultPlan.parse(spec, seed=self.seed if seed is None else seed)
        return self.app.faults

    @property
    def lagan(self) -> LaganOptions:
        return self.app.lagan

    def set_lagan(self, **changes: Any) -> LaganOptions:
        """Change how the FL front behaves (build, unknown, search_cap), e.g. per test."""
        self.app.lagan = dataclasses.replace(self.app.lagan, **changes)
        return self.app.lagan

    def set_auth_style(self, style: AuthStyle) -> None:
        self.app.auth = self.app.auth.model_copy(update={"style": style})

    def directory(self) -> dict[str, Any]:
        """Wards, members, services and officers as plain dicts (see README.md)."""
        return self.store.directory

    def count_cases(self, **criteria: Any) -> int:
        """Exact case count, e.g. `count_cases(PortalId=pid)` (form fields or record keys)."""
        return self.store.count("cases", **criteria)

    def find_cases(self, **criteria: Any) -> list[Record]:
        return self.store.find("cases", **criteria)

    def endpoints(self, base_url: str) -> dict[str, str]:
        base = base_url.rstrip("/")
        return {
            "fl": f"{base}/lagan/services/FL",
            "fl_wsdl": f"{base}/lagan/services/FL?WSDL",
            "flauth": f"{base}/lagan/services/FLAuth",
            "flauth_wsdl": f"{base}/lagan/services/FLAuth?WSDL",
            "dataverse": f"{base}/api/data/v9.2/",
            "token": f"{base}/{self.auth.tenant}/oauth2/v2.0/token",
        }

    # ---------------------------------------------------------------- serving
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the real HTTP server on a background thread; returns its base URL."""
        self.app.base_url = None
        self.server = RunningServer(self.app, host, port).start()
        return self.server.base_url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.push is not None:
            self.push.close()

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        url = self.start(host, port)
        try:
            yield url
        finally:
            self.stop()

    @contextlib.contextmanager
    def intercept(self, base_url: str = IN_PROCESS_URL) -> Iterator[Any]:
        """Route every `requests` call to `base_url` into the app via `responses`."""
        import requests
        import responses

        self.app.base_url = base_url
        app = self.app

        def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
            url = urllib.parse.urlsplit(request.url)
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):  # generators / files from streaming uploads
                body = b"".join(body)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            response = app.handle(request.method, url.path, query, dict(request.headers), body)
            if response.action in ("reset", "lose_response"):
                raise requests.ConnectionError(
                    f"sandbox fault: connection {response.action.replace('_', ' ')} "
                    f"({request.method} {url.path})"
                )
            if response.action in ("blackhole", "drip"):
                raise requests.ReadTimeout(
                    f"sandbox fault: {response.action} ({request.method} {url.path})"
                )
            return response.status, response.headers, response.body

        pattern = re.compile(re.escape(base_url.rstrip("/")) + r"(/.*)?$")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                mock.add_callback(method, pattern, callback=callback)
            yield mock


class SandboxHandle:
    """What the pytest fixtures yield: URLs, credentials, store access and fault control."""

    def __init__(self, crm: SandboxCRM, base_url: str, in_process: bool) -> None:
        self.crm = crm
        self.base_url = base_url.rstrip("/")
        self.in_process = in_process
        ends = crm.endpoints(self.base_url)
        self.fl_url = ends["fl"]
        self.fl_wsdl_url = ends["fl_wsdl"]
        self.flauth_url = ends["flauth"]
        self.flauth_wsdl_url = ends["flauth_wsdl"]
        self.dataverse_url = ends["dataverse"]
        self.token_url = ends["token"]
        #: The active `responses.RequestsMock` (in-process fixture only): add other routes here.
        self.mock: Any = None

    @property
    def store(self) -> Store:
        return self.crm.store

    @property
    def auth(self) -> AuthConfig:
        return self.crm.auth

    @property
    def auth_style(self) -> AuthStyle:
        return self.crm.auth.style

    @property
    def username(self) -> str:
        return self.crm.auth.username

    @property
    def password(self) -> str:
        return self.crm.auth.password

    @property
    def client_id(self) -> str:
        return self.crm.auth.client_id

    @property
    def client_secret(self) -> str:
        return self.crm.auth.client_secret

    @property
    def faults(self) -> FaultPlan:
        return self.crm.faults

    def set_faults(self, spec: str | None, seed: int | None = None) -> FaultPlan:
        return self.crm.set_faults(spec, seed)

    @property
    def lagan(self) -> LaganOptions:
        """How the FL front behaves: build, unknown elements, search cap."""
        return self.crm.lagan

    def set_lagan(self, **changes: Any) -> LaganOptions:
        return self.crm.set_lagan(**changes)

    def set_auth_style(self, style: AuthStyle) -> None:
        self.crm.set_auth_style(style)

    def count_cases(self, **criteria: Any) -> int:
        return self.crm.count_cases(**criteria)

    def find_cases(self, **criteria: Any) -> list[Record]:
        return self.crm.find_cases(**criteria)

    def directory(self) -> dict[str, Any]:
        return self.crm.directory()
