"""`caseload crm check`: allowlist, DNS, TLS, WSDL hash, auth and latency, one line each.

Every probe is reported, never raised. The probes run even when the client cannot be built (an
endpoint off the allowlist, a WSDL that does not match its pin): that is when an administrator
most needs to see which layer is wrong. Nothing is contacted unless the allowlist allows it.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from connector.base import HealthCheck, HealthReport
from connector.errors import CRMError, printable
from connector.factory import UnknownCRMKind, build_client, extra_probes
from connector.residency import HostAllowlist
from connector.settings import CRMSettings

#: The probes that contact the CRM's host (after the allowlist allows it), in the order they run.
_NETWORK_PROBES = ("dns", "tls", "auth", "latency")


def _timed(name: str, probe: Callable[[], str]) -> HealthCheck:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except CRMError as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    except (OSError, ssl.SSLError, ValueError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    # Details quote the CRM (its error text, its certificate): printed to terminals safely.
    return HealthCheck(
        name=name,
        ok=ok,
        detail=printable(detail),
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _not_probed(name: str, reason: str) -> HealthCheck:
    return HealthCheck(name=name, ok=False, detail=f"not probed: {reason}")


def run_checks(
    settings: CRMSettings,
    allowlist: HostAllowlist,
    *,
    probe: Callable[[], None],
    probes: Mapping[str, Callable[[], str]] | None = None,
) -> HealthReport:
    """Probe each layer in turn: `probe` makes one authenticated call (or raises CRMError).

    `probes` are the CRM's own checks (`connector.factory.extra_probes`, e.g. Lagan's
    `wsdl-hash`), run right after the allowlist, whether or not the host is allowed: they read
    only local files.
    """
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
    checks += [_timed(name, check) for name, check in (probes or {}).items()]
    if not checks[0].ok:
        refused = f"{host} is not allowed"
        checks += [_not_probed(name, refused) for name in _NETWORK_PROBES]
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
    """The full check for `caseload crm check`, whether or not a client can be built.

    A `crm.kind` that no connector subpackage registered is reported by name (one failed
    `kind` check, the rest not probed), as every other misconfiguration is.
    """
    try:
        probes = extra_probes(settings)
    except UnknownCRMKind as exc:
        checks = [HealthCheck(name="kind", ok=False, detail=f"{type(exc).__name__}: {exc}")]
        unprobed = ("allowlist", *_NETWORK_PROBES)
        checks += [_not_probed(name, "unknown CRM kind") for name in unprobed]
        return HealthReport(crm=settings.kind, checks=checks)
    try:
        client = build_client(settings, shared=False)
    except CRMError as exc:
        failure = exc

        def refused() -> None:
            raise failure

        allowlist = HostAllowlist(settings.allowed_hosts, crm=settings.kind)
        return run_checks(settings, allowlist, probe=refused, probes=probes)
    try:
        return client.health()
    finally:
        client.close()


__all__ = ["check_connection", "run_checks"]
