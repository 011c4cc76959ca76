"""Residency guard: the connector talks to the council's own hosts and nowhere else.

Every outbound request (WSDL loads, SOAP calls, OAuth tokens, REST calls and every redirect hop)
passes `HostAllowlist.check_url` before a socket is opened. Refused: hosts not on the list, IP
literals in loopback/private/link-local/reserved ranges unless listed, cloud metadata addresses
always, names that resolve to link-local/metadata addresses (DNS rebinding), `file://` and every
scheme but https (http only for listed loopback hosts, which the sandbox and tests use).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from connector.errors import ResidencyViolation

log = logging.getLogger("connector.residency")

#: Cloud instance-metadata endpoints: refused even when listed, they hold cloud credentials.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
RESOLUTION_TTL = 60.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

Resolver = Callable[[str], Iterable[str]]


def _system_resolver(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # unresolvable: the request itself will fail with a connection error
    return [str(info[4][0]) for info in infos]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
    )


class HostAllowlist:
    """The configured hosts, and the one decision on whether a URL may be contacted."""

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        crm: str = "",
        resolver: Resolver | None = None,
    ) -> None:
        self.allowed = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts)
        self.crm = crm
        self._resolve = resolver or _system_resolver
        # Answers are re-checked once a minute, not on every call: DNS is slow and the point is
        # to catch a rebinding, which a one-minute window still does. The answers checked are
        # kept: the connection is made to them (`addresses`), never to a second look-up.
        self._checked: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def _refuse(self, reason: str, operation: str) -> ResidencyViolation:
        log.warning("crm residency refused: %s", reason)
        return ResidencyViolation(reason, crm=self.crm, operation=operation)

    def check_url(self, url: str, operation: str = "request") -> str:
        """Return the host if `url` may be contacted; raise `ResidencyViolation` otherwise."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise self._refuse("malformed URL refused", operation) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self._refuse(
                f"scheme {scheme or '(none)'!r} refused; only https may be used", operation
            )
        if not host:
            raise self._refuse("URL without a host refused", operation)
        if parts.username or parts.password:
            raise self._refuse("credentials in URLs are refused", operation)
        literal = _ip(host)
        if literal is not None and literal in METADATA_ADDRESSES:
            raise self._refuse(f"cloud metadata address {host} is never contacted", operation)
        if host not in self.allowed:
            kind = "internal address" if literal is not None and _is_internal(literal) else "host"
            raise self._refuse(f"{kind} {host} is not in crm.allowed_hosts", operation)
        loopback = host in LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
        if scheme == "http" and not loopback:
            raise self._refuse(f"plain http to {host} refused; use https", operation)
        if literal is None and not loopback:
            self._check_resolution(host, operation)
        log.info("crm outbound host=%s", host)
        return host

    def _check_resolution(self, host: str, operation: str) -> None:
        now = time.monotonic()
        with self._lock:
            cached = self._checked.get(host)
            if cached is not None and cached[0] > now:
                return
        answers = self._check_answers(host, operation)
        if answers:  # an empty answer (DNS down) is not kept: the next call asks again
            with self._lock:
                self._checked[host] = (now + RESOLUTION_TTL, answers)

    def addresses(self, host: str) -> tuple[str, ...] | None:
        """The addresses `check_url` checked for this name, for the connection to use.

        None for IP literals and loopback names (nothing to pin: the connection goes where the
        URL says); an empty tuple when the name did not resolve.
        """
        host = host.lower().rstrip(".")
        if _ip(host) is not None or host in LOOPBACK_NAMES:
            return None
        with self._lock:
            cached = self._checked.get(host)
        return cached[1] if cached is not None else ()

    def _check_answers(self, host: str, operation: str) -> tuple[str, ...]:
        # A council CRM may well live on a private network, so private answers are allowed for
        # a listed name; loopback, link-local and metadata answers mean rebinding, not a CRM.
        checked: list[str] = []
        for answer in self._resolve(host):
            addr = _ip(answer)
            if addr is None:
                continue
            if addr in METADATA_ADDRESSES or addr.is_link_local or addr.is_loopback:
                raise self._refuse(
                    f"{host} resolves to a loopback/link-local address; refused", operation
                )
            if str(addr) not in checked:
                checked.append(str(addr))
        return tuple(checked)
