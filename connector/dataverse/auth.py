"""Dataverse sign-in: an OAuth2 client-credentials bearer token, cached and renewed.

The token is shared by every thread of the process and fetched again shortly before it expires;
after a 401 it is renewed once (`generation` stops a crowd of workers each fetching one).
"""

from __future__ import annotations

import threading
import time

import requests

from connector.dataverse.odata import KIND
from connector.errors import CRMAuthError, CRMContractError
from connector.resilience import map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedSession


class OAuthToken:
    """Client-credentials bearer token, cached and shared by every thread."""

    def __init__(self, settings: CRMSettings, session: GuardedSession) -> None:
        self.settings = settings
        self.session = session
        self._token: str | None = None
        self._expires = 0.0
        self.generation = 0
        self.fetches = 0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - 60:
                self._token, lifetime = self._fetch()
                self._expires = time.monotonic() + lifetime
                self.generation += 1
            return f"Bearer {self._token}"

    def renew(self, seen_generation: int) -> None:
        with self._lock:
            if self.generation == seen_generation:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        if not (self.settings.token_url and self.settings.client_id):
            raise CRMAuthError(
                "crm.token_url and crm.client_id are required for OAuth2",
                crm=KIND,
                operation="token",
            )
        data = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.secret("client_secret") or "",
            "scope": self.settings.scope or "",
        }
        try:
            resp = self.session.post(self.settings.token_url, data=data)
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation="token") from None
        if resp.status_code != 200:
            raise CRMAuthError(
                "the identity provider refused the client credentials",
                crm=KIND,
                operation="token",
                status=resp.status_code,
            )
        try:
            body = resp.json()
            return str(body["access_token"]), float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise CRMContractError(
                "token answer without access_token", crm=KIND, operation="token"
            ) from None


__all__ = ["OAuthToken"]
