"""The registry of CRM kinds, and `build_client`: the one place that picks a CRM implementation.

Each CRM subpackage of `connector` (`connector.lagan`, `connector.dataverse`, ...) registers
itself on import with `register(kind, ...)`: how to build its client, its extra health probes
(Lagan's WSDL pin) and its parser of pushed case events, if it has one. Nothing outside a CRM's
own subpackage branches on the kind; everything asks this registry, and a kind nobody registered
is refused by name with the known kinds listed (`UnknownCRMKind`).

The subpackages are imported lazily, on the first question asked of the registry, so that
`connector.settings` may validate `crm.kind` against `kinds()` without an import cycle (the
subpackages import the settings module; this module imports neither at load time).
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector.base import CaseEvent, CRMClient
from connector.errors import CRMError

if TYPE_CHECKING:
    from connector.settings import CRMSettings

#: Makes the client of one CRM kind from validated settings.
ClientBuilder = Callable[["CRMSettings"], CRMClient]
#: Extra probes of `caseload crm check` for one CRM: check name -> probe (returns the detail
#: line, raises `CRMError`/`OSError`/`ValueError` on failure). They run even when no client can
#: be built, so they must not need one.
ProbeFactory = Callable[["CRMSettings"], Mapping[str, Callable[[], str]]]
#: Reads one pushed case event: its type and the case reference; `ValueError` if malformed.
EventParser = Callable[[bytes], CaseEvent]

#: Subpackages of `connector` that are not CRMs (the sandbox is a test server, not a client).
_NOT_CRMS = frozenset({"sandbox"})


class UnknownCRMKind(CRMError, ValueError):
    """A CRM kind no connector subpackage registered (a typo in `crm.kind`, or a missing CRM).

    Also a `ValueError`, so a settings validator that calls `check_kind` reports it as an
    invalid value of `crm.kind`.
    """

    default_advice = "Set crm.kind in caseload.toml to one of the CRM kinds Caseload knows."


@dataclass(frozen=True)
class CRMRegistration:
    """What one CRM subpackage tells the rest of Caseload about itself."""

    kind: str
    label: str
    builder: ClientBuilder
    probes: ProbeFactory | None = None
    event_parser: EventParser | None = None
    #: Where the builder is defined, so a re-import may register the same kind again.
    origin: str = field(default="", compare=False)


_registry: dict[str, CRMRegistration] = {}
_registry_lock = threading.RLock()
_loaded = False

_lock = threading.Lock()
_clients: dict[str, CRMClient] = {}


def register(
    kind: str,
    *,
    builder: ClientBuilder,
    label: str,
    probes: ProbeFactory | None = None,
    event_parser: EventParser | None = None,
) -> CRMRegistration:
    """Make a CRM kind known (called by its subpackage's `__init__` when it is imported).

    Registering the same kind again with the same builder (a re-import) replaces the entry;
    with another builder it is refused, since two CRMs cannot share one `crm.kind`.
    """
    if not kind or kind.strip() != kind or not kind.isascii():
        raise ValueError(f"a CRM kind must be a plain ASCII name, not {kind!r}")
    entry = CRMRegistration(
        kind=kind,
        label=label,
        builder=builder,
        probes=probes,
        event_parser=event_parser,
        origin=f"{builder.__module__}.{builder.__qualname__}",
    )
    with _registry_lock:
        existing = _registry.get(kind)
        if existing is not None and existing.origin != entry.origin:
            raise ValueError(
                f"CRM kind {kind!r} is already registered by {existing.origin}; "
                f"{entry.origin} cannot register it too"
            )
        _registry[kind] = entry
    return entry


def _load_builtin() -> None:
    """Import every CRM subpackage of `connector` once, so each registers its kind."""
    global _loaded
    if _loaded:
        return
    with _registry_lock:
        if _loaded:
            return
        import connector

        for info in pkgutil.iter_modules(connector.__path__):
            if info.ispkg and info.name not in _NOT_CRMS:
                importlib.import_module(f"connector.{info.name}")
        _loaded = True


def kinds() -> tuple[str, ...]:
    """Every registered CRM kind, sorted (`("dynamics365", "lagan")` as shipped)."""
    _load_builtin()
    with _registry_lock:
        return tuple(sorted(_registry))


def registration(kind: str) -> CRMRegistration:
    """The registration of `kind`, or `UnknownCRMKind` naming it and the known kinds."""
    _load_builtin()
    with _registry_lock:
        entry = _registry.get(kind)
        known = sorted(_registry)
    if entry is None:
        raise UnknownCRMKind(
            f"unknown CRM kind {kind!r}; Caseload knows {', '.join(known) or 'none'}",
            crm=str(kind),
            operation="configure",
            advice=f"Set crm.kind in caseload.toml to one of: {', '.join(known)}.",
        )
    return entry


def check_kind(kind: str) -> str:
    """`kind` itself if registered, else `UnknownCRMKind` (for validators of `crm.kind`)."""
    return registration(kind).kind


def case_event_parser(kind: str) -> EventParser | None:
    """How to read the case events `kind` pushes; None when that CRM pushes none we read."""
    return registration(kind).event_parser


def extra_probes(settings: CRMSettings) -> Mapping[str, Callable[[], str]]:
    """The CRM's own health probes for `caseload crm check` (e.g. Lagan's `wsdl-hash`)."""
    entry = registration(settings.kind)
    return entry.probes(settings) if entry.probes is not None else {}


def build_client(settings: CRMSettings, *, shared: bool = True) -> CRMClient:
    """The CRM client for these settings; one per process (and per settings) when `shared`.

    Sharing matters: the zeep Client, the token cache, the pause gate and the circuit breaker
    only protect the CRM if every worker of the process uses the same instance. An unknown
    `settings.kind` raises `UnknownCRMKind`.
    """
    from connector.settings import SECRET_FIELDS

    entry = registration(settings.kind)
    # SecretStr dumps as stars: fold a digest of the secrets in, so new credentials get a new
    # client, without keeping the secrets themselves as a dictionary key.
    secrets = "\0".join(settings.secret(name) or "" for name in SECRET_FIELDS)
    key = settings.model_dump_json() + hashlib.sha256(secrets.encode()).hexdigest()
    if shared:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = entry.builder(settings)
            return client
    return entry.builder(settings)


def reset_clients() -> None:
    """Close and forget the shared clients (tests, configuration reloads)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


__all__ = [
    "CRMRegistration",
    "ClientBuilder",
    "EventParser",
    "ProbeFactory",
    "UnknownCRMKind",
    "build_client",
    "case_event_parser",
    "check_kind",
    "extra_probes",
    "kinds",
    "register",
    "registration",
    "reset_clients",
]
