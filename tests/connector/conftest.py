"""Shared fixtures: loopback-only sockets, fast retry policies, clients against fakes."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import tenacity

from connector.dataverse import DataverseClient
from connector.lagan import LaganClient
from connector.resilience import Resilience
from connector.settings import CRMSettings
from tests.connector.fakes import AUTH_ENDPOINT, ENDPOINT

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise RuntimeError(f"test tried to reach non-loopback {host}")
        except ValueError:
            if host != "localhost":
                raise RuntimeError(f"test tried to reach {host}") from None
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


def fast_resilience(crm: str, **overrides: Any) -> Resilience:
    options: dict[str, Any] = {
        "attempts": 8,
        "budget": 30.0,
        "deadline": 5.0,
        "breaker_fail_max": 50,
        "breaker_reset_timeout": 0.05,
        "wait": tenacity.wait_none(),
    }
    options.update(overrides)
    return Resilience(crm=crm, **options)


def lagan_settings(**overrides: Any) -> CRMSettings:
    values: dict[str, Any] = {
        "kind": "lagan",
        "endpoint": ENDPOINT,
        "auth_endpoint": AUTH_ENDPOINT,
        "allowed_hosts": ["127.0.0.1"],
        "username": "caseload-svc",
        "password": "s3cret-pass",
        "auth_mode": "username_token",
    }
    values.update(overrides)
    return CRMSettings(**values)


@pytest.fixture
def make_lagan() -> Iterator[Any]:
    made: list[LaganClient] = []

    def build(resilience: Resilience | None = None, **overrides: Any) -> LaganClient:
        client = LaganClient(
            lagan_settings(**overrides), resilience=resilience or fast_resilience("lagan")
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


DV_BASE = "http://127.0.0.1:8998/api/data/v9.2/"
DV_AUTHORITY = "http://127.0.0.1:8998/tenant-1"
DV_TOKEN = f"{DV_AUTHORITY}/oauth2/v2.0/token"
DV_DISCOVERY = f"{DV_AUTHORITY}/v2.0/.well-known/openid-configuration"


def dv_discovery(rsps: Any) -> None:
    """The tenant's OpenID configuration, which MSAL reads once per client."""
    rsps.get(
        DV_DISCOVERY,
        json={
            "issuer": f"{DV_AUTHORITY}/v2.0",
            "authorization_endpoint": f"{DV_AUTHORITY}/oauth2/v2.0/authorize",
            "token_endpoint": DV_TOKEN,
        },
    )


def dataverse_settings(**overrides: Any) -> CRMSettings:
    values: dict[str, Any] = {
        "kind": "dynamics365",
        "endpoint": DV_BASE,
        "token_url": DV_TOKEN,
        "allowed_hosts": ["127.0.0.1"],
        "client_id": "caseload",
        "client_secret": "dv-secret",
        "auth_mode": "oauth2",
    }
    values.update(overrides)
    return CRMSettings(**values)


@pytest.fixture
def make_dataverse() -> Iterator[Any]:
    made: list[DataverseClient] = []

    def build(resilience: Resilience | None = None, **overrides: Any) -> DataverseClient:
        client = DataverseClient(
            dataverse_settings(**overrides),
            resilience=resilience or fast_resilience("dynamics365"),
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()
