"""Wiring the real connector and mapping profile to the sandbox CRM fixtures."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from connector.base import CRMClient
from connector.factory import build_client
from connector.settings import CRMSettings


def crm_settings(handle: Any, **overrides: Any) -> CRMSettings:
    """Lagan settings for a sandbox handle, with retries fast enough for tests."""
    values: dict[str, Any] = {
        "kind": "lagan",
        "endpoint": handle.fl_url,
        "auth_endpoint": handle.flauth_url,
        "allowed_hosts": [urlsplit(handle.base_url).hostname],
        "username": handle.username,
        "password": handle.password,
        "backoff_initial": 0.0,
        "backoff_max": 0.01,
        "retry_attempts": 6,
        "breaker_fail_max": 1000,
        "read_timeout": 5.0,
        "deadline": 20.0,
        # The sandbox's cap is known: configured, as a council configures its server's.
        "search_result_cap": handle.lagan.search_cap,
    }
    values.update(overrides)
    return CRMSettings(**values)


def lagan_client(handle: Any, **overrides: Any) -> CRMClient:
    return build_client(crm_settings(handle, **overrides), shared=False)
