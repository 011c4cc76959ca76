"""`caseload crm check`: DNS, TLS, auth, contract and latency probes, one line each."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from connector.base import HealthCheck, HealthReport
from connector.errors import CRMError
from connector.residency import HostAllowlist
from connector.settings import CRMSettings


def _timed(name: str, probe: Callable[[], str]) -> HealthCheck:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except CRMError as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc.message}"
    except (OSError, ssl.SSLError, ValueError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return HealthCheck(
        name=name, ok=ok, detail=detail, elapsed_ms=(time.perf_counter() - started) * 1000
    )


def run_checks(
    client: Any,
    settings: CRMSettings,
    allowlist: HostAllowlist,
    *,
    probe: Callable[[], None],
    contract: Callable[[], str] | None = None,
) -> HealthReport:
    """Probe each layer in turn; a failed layer is reported, never raised."""
    parts = urlsplit(settings.endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    checks: list[HealthCheck] = []

    def allowlisted() -> str:
        allowlist.check_url(settings.endpoint, operation="check")
        return f"{host} is in crm.allowed_hosts ({len(allowlist.allowed)} hosts listed)"

    def dns() -> str:
        answers = sorted({info[4][0] for info in socket.getaddrinfo(host, port)})
        return f"{host} -> {', '.join(str(a) for a in answers[:4])}"

    def tls() -> str:
        if parts.scheme != "https":
            return f"plain http to loopback host {host} (sandbox/test only)"
        context = ssl.create_default_context(
            cafile=str(settings.ca_bundle) if settings.ca_bundle else None
        )
        with (
            socket.create_connection((host, port), timeout=settings.connect_timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls_sock,
        ):
            cert = tls_sock.getpeercert() or {}
            return f"{tls_sock.version()} certificate valid until {cert.get('notAfter', '?')}"

    checks.append(_timed("allowlist", allowlisted))
    checks.append(_timed("dns", dns))
    checks.append(_timed("tls", tls))
    if contract is not None:
        checks.append(_timed("contract", contract))

    def auth() -> str:
        probe()
        return "authenticated call succeeded"

    checks.append(_timed("auth", auth))
    latency = checks[-1].elapsed_ms or 0.0
    checks.append(
        HealthCheck(
            name="latency",
            ok=checks[-1].ok and latency < settings.read_timeout * 1000,
            detail=f"{latency:.0f} ms for one authenticated call",
            elapsed_ms=latency,
        )
    )
    return HealthReport(crm=settings.kind, checks=checks)
