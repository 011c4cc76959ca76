"""`caseload crm check`: allowlist, DNS, TLS, WSDL hash, auth and latency, one line each.

Every probe is reported, never raised. The probes run even when the client cannot be built (an
endpoint off the allowlist, a WSDL that does not match its pin): that is when an administrator
most needs to see which layer is wrong. Nothing is contacted unless the allowlist allows it.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
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
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    except (OSError, ssl.SSLError, ValueError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return HealthCheck(
        name=name, ok=ok, detail=detail, elapsed_ms=(time.perf_counter() - started) * 1000
    )


def _not_probed(name: str, reason: str) -> HealthCheck:
    return HealthCheck(name=name, ok=False, detail=f"not probed: {reason}")


def run_checks(
    settings: CRMSettings,
    allowlist: HostAllowlist,
    *,
    probe: Callable[[], None],
    wsdl_hash: Callable[[], str] | None = None,
) -> HealthReport:
    """Probe each layer in turn: `probe` makes one authenticated call (or raises CRMError)."""
    parts = urlsplit(settings.endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)

    def allowlisted() -> str:
        allowlist.check_url(settings.endpoint, operation="check")
        return f"{host} is in crm.allowed_hosts ({len(allowlist.allowed)} hosts listed)"

    def dns() -> str:
        answers = sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port)})
        return f"{host} -> {', '.join(answers[:4])}"

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

    def auth() -> str:
        probe()
        return "authenticated call succeeded"

    checks = [_timed("allowlist", allowlisted)]
    if wsdl_hash is not None:
        checks.append(_timed("wsdl-hash", wsdl_hash))
    if not checks[0].ok:
        refused = f"{host} is not allowed"
        checks += [_not_probed(name, refused) for name in ("dns", "tls", "auth", "latency")]
        return HealthReport(crm=settings.kind, checks=checks)
    checks.append(_timed("dns", dns))
    checks.append(_timed("tls", tls))
    checks.append(_timed("auth", auth))
    latency = checks[-1].elapsed_ms or 0.0
    checks.append(
        HealthCheck(
            name="latency",
            ok=checks[-1].ok and latency < settings.read_timeout * 1000,
            detail=f"{latency:.0f} ms for one authenticated call"
            if checks[-1].ok
            else "not measured: the authenticated call failed",
            elapsed_ms=latency,
        )
    )
    return HealthReport(crm=settings.kind, checks=checks)


def check_connection(settings: CRMSettings) -> HealthReport:
    """The full check for `caseload crm check`, whether or not a client can be built."""
    from connector.factory import build_client

    try:
        client = build_client(settings, shared=False)
    except CRMError as exc:
        failure = exc

        def refused() -> None:
            raise failure

        allowlist = HostAllowlist(settings.allowed_hosts, crm=settings.kind)
        return run_checks(settings, allowlist, probe=refused, wsdl_hash=wsdl_hash_check(settings))
    try:
        return client.health()
    finally:
        client.close()


def wsdl_hash_check(settings: CRMSettings) -> Callable[[], str] | None:
    """The WSDL pin probe for a SOAP CRM (None for REST, which has no WSDL)."""
    if settings.kind != "lagan":
        return None

    def probe() -> str:
        from connector.lagan import PACKAGED_WSDL, PACKAGED_WSDL_SHA256, load_pinned_wsdl

        path = settings.wsdl_path or PACKAGED_WSDL
        pin = settings.wsdl_sha256 or PACKAGED_WSDL_SHA256
        load_pinned_wsdl(path, pin)
        return f"{path.name} SHA-256 {pin[:16]}... matches the pin"

    return probe


__all__ = ["check_connection", "run_checks", "wsdl_hash_check"]
