"""`build_client`: the one place that picks the CRM implementation from settings."""

from __future__ import annotations

import hashlib
import threading

from connector.base import CRMClient
from connector.settings import SECRET_FIELDS, CRMSettings

_lock = threading.Lock()
_clients: dict[str, CRMClient] = {}


def build_client(settings: CRMSettings, *, shared: bool = True) -> CRMClient:
    """The CRM client for these settings; one per process (and per settings) when `shared`.

    Sharing matters: the zeep Client, the token cache, the pause gate and the circuit breaker
    only protect the CRM if every worker of the process uses the same instance.
    """
    # SecretStr dumps as stars: fold a digest of the secrets in, so new credentials get a new
    # client, without keeping the secrets themselves as a dictionary key.
    secrets = "\0".join(settings.secret(name) or "" for name in SECRET_FIELDS)
    key = settings.model_dump_json() + hashlib.sha256(secrets.encode()).hexdigest()
    if shared:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = _new(settings)
            return client
    return _new(settings)


def _new(settings: CRMSettings) -> CRMClient:
    if settings.kind == "lagan":
        from connector.lagan import LaganClient

        return LaganClient(settings)
    from connector.dataverse import DataverseClient

    return DataverseClient(settings)


def reset_clients() -> None:
    """Close and forget the shared clients (tests, configuration reloads)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
