"""The only way bytes leave the connector: a requests Session and a zeep Transport that enforce
the residency allowlist on every hop, TLS verification, timeouts, the per-call deadline, and
bounds on what comes back.

- Each connection goes to the very address the allowlist checked (`HostAllowlist.addresses`):
  a name that rebinds between the check and the connect cannot reach loopback or another host.
  TLS still verifies the certificate against the name.
- Redirects are followed only to the same origin (scheme, host and port) and only for requests
  without a body: a 307 to a POST would re-send the SOAP envelope with its WS-Security password.
- Answers are bounded while they arrive (`BoundedResponse`): at most `max_response_bytes`,
  streamed or not; a buffered answer at most `MAX_BUFFERED_NODES` markup nodes (what its parsed
  tree costs); JSON at most `MAX_JSON_DEPTH` levels deep. An answer cut short by the call's
  deadline is a deadline error, never a "malformed" one.
"""

from __future__ import annotations

import contextvars
import logging
import re
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import zeep.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from zeep.transports import Transport

from connector.errors import CRMContractError, CRMError, CRMRejected, CRMTimeout, ResidencyViolation
from connector.residency import HostAllowlist
from connector.resilience import current_deadline
from connector.settings import DEFAULT_MAX_RESPONSE_BYTES

#: Markup nodes (`<`, `{`, `[`, `,`) in an answer read whole before it is parsed: what bounds its
#: parsed tree, which costs up to ~150 bytes a node whatever the byte count.
MAX_BUFFERED_NODES = 500_000
#: JSON nesting: Dataverse records nest five levels; a deeper answer is refused before parsing.
MAX_JSON_DEPTH = 64
_CHUNK = 64 * 1024


class _HideQueries(logging.Filter):
    """urllib3 logs each request line at DEBUG; Dataverse queries name constituents
    (`$filter=lastname eq '...'`), so the query string is replaced before the line is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] + "?[query hidden]"
                if isinstance(arg, str) and arg.startswith("/") and "?" in arg
                else arg
                for arg in record.args
            )
        return True


def _info_and_above(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.INFO


# zeep logs whole envelopes (constituents' personal data) at DEBUG: never below INFO. The filter
# holds even if logging configuration later sets the logger back to DEBUG.
_zeep_transport_log = logging.getLogger("zeep.transports")
_zeep_transport_log.setLevel(logging.INFO)
_zeep_transport_log.addFilter(_info_and_above)
logging.getLogger("urllib3.connectionpool").addFilter(_HideQueries())


# --------------------------------------------------------------------------- bounded answers

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether balanced JSON in `body` nests deeper than `limit`, found without recursion.

    Strings are dropped, then innermost `[]`/`{}` pairs removed one level per pass (C speed):
    whatever is left after `limit` passes is deeper than that. Unbalanced brackets are left for
    the JSON parser to refuse.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if shorter == brackets:
            return False
        brackets = shorter
    return bool(brackets)


class BoundedResponse(requests.Response):
    """A Response that refuses more than its limits while the bytes arrive (see module doc)."""

    crm: str = ""
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_nodes: int = MAX_BUFFERED_NODES

    def _refuse(self, message: str) -> CRMContractError:
        self.close()
        return CRMContractError(
            message,
            crm=self.crm,
            status=self.status_code,
            advice="The CRM sent more than Caseload accepts in one answer; if the answer is "
            "genuine, raise `crm.max_response_bytes` in caseload.toml.",
        )

    def _state(self) -> tuple[object, bool]:
        """requests' private (content, consumed) pair: False content means not read yet."""
        state = vars(self)
        return state.get("_content", False), bool(state.get("_content_consumed", False))

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        replaying = self._state()[1]
        chunks = super().iter_content(chunk_size, decode_unicode=decode_unicode)
        return chunks if replaying else self._bounded(chunks)

    def _bounded(self, chunks: Iterator[Any]) -> Iterator[Any]:
        declared = self.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise self._refuse(f"the answer announces more than the {self.max_bytes}-byte limit")
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > self.max_bytes:
                raise self._refuse(f"the answer exceeds the {self.max_bytes}-byte limit")
            yield chunk
        deadline = current_deadline()
        if deadline is not None and deadline.fired:
            # The watchdog shut the socket: an answer without a length ends as if complete.
            raise CRMTimeout(
                f"the answer was cut off by the {deadline.seconds:g}s deadline", crm=self.crm
            )

    @property
    def content(self) -> bytes | None:
        if self._state() == (False, False) and self.raw is not None:
            parts: list[bytes] = []
            nodes = 0
            for chunk in self.iter_content(_CHUNK):
                nodes += chunk.count(b"<") + chunk.count(b"{") + chunk.count(b"[")
                nodes += chunk.count(b",")
                if nodes > self.max_nodes:
                    raise self._refuse(
                        f"the answer holds more than {self.max_nodes} elements to parse at once"
                    )
                parts.append(chunk)
            self._content = b"".join(parts)
        return super().content

    def json(self, **kwargs: Any) -> Any:
        body = self.content or b""
        if json_too_deep(body):
            raise CRMContractError(
                f"the CRM's JSON answer is nested more than {MAX_JSON_DEPTH} levels deep",
                crm=self.crm,
                status=self.status_code,
            )
        try:
            return super().json(**kwargs)
        except RecursionError:  # an encoding the depth check cannot read (UTF-16/32)
            raise CRMContractError(
                "the CRM's JSON answer is nested too deeply", crm=self.crm, status=self.status_code
            ) from None


# --------------------------------------------------------------------------- pinned connections

#: The address checks of the request being sent: host -> the addresses its connection may use.
_pins: contextvars.ContextVar[Mapping[str, tuple[str, ...]] | None] = contextvars.ContextVar(
    "crm_pinned_addresses", default=None
)


class _GuardedConnectionMixin:
    """Connections the call's deadline can cut, made only to the allowlist's checked address."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    sock: socket.socket | None

    def _under_deadline(self) -> None:
        deadline = current_deadline()
        if deadline is not None and self.sock is not None:
            deadline.register(self.sock)

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._under_deadline()  # the socket as connected (after TLS, the TLS socket)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._under_deadline()  # a pooled connection, connected by an earlier call
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        addresses = (_pins.get() or {}).get(self.host.lower())
        if addresses is None:
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        if not addresses:
            raise NameResolutionError(
                self.host,
                self,  # type: ignore[arg-type]
                socket.gaierror(socket.EAI_NONAME, "the name did not resolve"),
            )
        failure: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                failure = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {failure}",
        )


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """Pinned, deadline-aware connections and `BoundedResponse`s with this CRM's limits."""

    def __init__(self, *, crm: str, max_bytes: int, **kwargs: Any) -> None:
        self.crm = crm
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        built = super().build_response(req, resp)
        bounded = BoundedResponse()
        bounded.__dict__.update(built.__dict__)
        bounded.crm = self.crm
        bounded.max_bytes = self.max_bytes
        return bounded


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


class NextLinks:
    """An OData `@odata.nextLink` chain, each link followed at most once and only on the origin
    of the first page: a link to itself, to a page already read, or elsewhere ends the read
    with a typed error instead of reading forever."""

    def __init__(self, first: str, *, crm: str, operation: str) -> None:
        self.origin = _origin(first)
        self.seen = {first}
        self.crm = crm
        self.operation = operation

    def follow(self, link: object) -> str | None:
        """The next page's URL, None at the end, or `CRMContractError` for a bad link."""
        if link is None:
            return None
        if not isinstance(link, str) or _origin(link)[1] != self.origin[1]:
            raise ResidencyViolation(
                "the CRM's next-page link leads to another host; refused",
                crm=self.crm,
                operation=self.operation,
            )
        if _origin(link) != self.origin:
            problem = "leads to another port or scheme of the CRM's host"
        elif link in self.seen:
            problem = "points back to a page already read"
        else:
            self.seen.add(link)
            return link
        raise CRMContractError(
            f"the CRM's next-page link {problem}; the read stopped there",
            crm=self.crm,
            operation=self.operation,
        )


class GuardedSession(requests.Session):
    """A pooled Session that checks every request and redirect hop against the allowlist,
    connects to the addresses it checked, and bounds every answer."""

    def __init__(
        self,
        allowlist: HostAllowlist,
        *,
        connect_timeout: float,
        read_timeout: float,
        ca_bundle: Path | None = None,
        max_redirects: int = 3,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__()
        self.allowlist = allowlist
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ca_bundle = ca_bundle
        self.max_redirects = max_redirects
        self.max_response_bytes = max_response_bytes
        # No proxies, netrc or CA overrides from the process environment: the allowlist and
        # the configured CA bundle are the only say on where and how we connect.
        self.trust_env = False
        self.adapters.clear()
        adapter = GuardedAdapter(
            crm=allowlist.crm, max_bytes=max_response_bytes, pool_connections=4, pool_maxsize=16
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        host = self.allowlist.check_url(request.url or "", operation=request.method or "request")
        kwargs["verify"] = str(self.ca_bundle) if self.ca_bundle else True
        connect, read = self.connect_timeout, self.read_timeout
        deadline = current_deadline()
        if deadline is not None:
            left = deadline.remaining()
            if left <= 0:
                raise CRMTimeout(
                    f"the {deadline.seconds:g}s deadline passed before sending",
                    crm=self.allowlist.crm,
                )
            connect, read = min(connect, left), min(read, left)
        kwargs["timeout"] = (connect, read)
        addresses = self.allowlist.addresses(host)
        pins = dict(_pins.get() or {})
        if addresses is None:
            pins.pop(host, None)
        else:
            pins[host] = addresses
        token = _pins.set(pins)
        try:
            return super().send(request, **kwargs)
        finally:
            _pins.reset(token)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        absolute = urljoin(resp.url, target)
        # Refused before following; send() checks the allowlist again on the hop itself.
        self.allowlist.check_url(absolute, operation="redirect")
        method = (resp.request.method or "").upper() if resp.request is not None else ""
        if _origin(absolute) != _origin(resp.url) or method not in ("GET", "HEAD"):
            resp.close()
            raise CRMContractError(
                f"the CRM redirected a {method or 'request'} to another origin or with a body "
                f"to re-send (HTTP {resp.status_code}); refused, nothing was re-sent",
                crm=self.allowlist.crm,
                status=resp.status_code,
                advice="Set the CRM endpoint in caseload.toml to the address the CRM really "
                "answers on (scheme, host and port).",
            )
        return target


_exchange: contextvars.ContextVar[ZeepExchange | None] = contextvars.ContextVar(
    "crm_zeep_exchange", default=None
)


class ZeepExchange:
    """One zeep operation: whether its answer arrived, and so what a failure in it means.

    zeep raises whatever its code meets (IndexError, AttributeError, ValueError, ...) both for
    a request that does not fit the WSDL and for an answer that does not fit the contract; the
    transport marks the moment the answer arrived, so each is labelled for what it is.
    """

    def __init__(self) -> None:
        self.answered = False
        self._token: contextvars.Token[ZeepExchange | None] | None = None

    def __enter__(self) -> ZeepExchange:
        self._token = _exchange.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _exchange.reset(self._token)

    def error(self, exc: Exception, *, crm: str, operation: str) -> CRMError:
        """The typed error for an exception zeep raised (other than a SOAP Fault)."""
        name = type(exc).__name__
        if isinstance(exc, zeep.exceptions.TransportError):
            status = exc.status_code or None
            if not exc.content:
                return CRMContractError(
                    "the CRM answered without content", crm=crm, operation=operation, status=status
                )
            return CRMContractError(
                "the CRM's answer is not well-formed XML",
                crm=crm,
                operation=operation,
                status=None if status == 200 else status,
            )
        if self.answered:
            return CRMContractError(
                f"the CRM's answer does not fit the FL contract ({name})",
                crm=crm,
                operation=operation,
            )
        return CRMRejected(
            f"the request does not fit the WSDL ({name}: {str(exc).split(':')[0][:80]})",
            crm=crm,
            operation=operation,
            advice="Check the mapping profile's outbound fields against the WSDL.",
        )


class GuardedTransport(Transport):
    """zeep Transport: WSDL/XSD only from the pinned local files or allowed hosts, never file://.

    zeep up to 4.3.2 declared but did not enforce `forbid_external`; this transport enforces it
    whatever zeep does, for the WSDL and every import it names.
    """

    def __init__(
        self,
        session: GuardedSession,
        *,
        local_documents: dict[str, bytes],
        operation_timeout: float,
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            session=session,
            timeout=session.connect_timeout,
            operation_timeout=operation_timeout,
        )
        self.guard = session.allowlist
        self.local_documents = local_documents
        # zeep mounts a file:// adapter on the session it is given; take it away again.
        session.adapters.pop("file://", None)

    def load(self, url: str) -> bytes:
        if url in self.local_documents:
            return self.local_documents[url]
        if "://" not in url or url.lower().startswith("file:"):
            raise ResidencyViolation(
                "WSDL/XSD import from the local file system refused",
                crm=self.guard.crm,
                operation="wsdl",
            )
        self.guard.check_url(url, operation="wsdl")
        content = super().load(url)  # type: ignore[no-untyped-call]
        if not isinstance(content, bytes):
            raise CRMContractError("WSDL download gave no bytes", operation="wsdl")
        return content

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        response: requests.Response = super().post(  # type: ignore[no-untyped-call]
            address, message, headers
        )
        exchange = _exchange.get()
        if exchange is not None:
            exchange.answered = True
        return response


__all__ = [
    "MAX_BUFFERED_NODES",
    "MAX_JSON_DEPTH",
    "BoundedResponse",
    "GuardedAdapter",
    "GuardedSession",
    "GuardedTransport",
    "NextLinks",
    "ZeepExchange",
    "json_too_deep",
]
