"""One place that puts the portal together over the store (used by `serve` and `demo`)."""

from __future__ import annotations

from fastapi import FastAPI

from connector.base import CRMClient
from mappings import Mapping, load_profile
from portal_extensions.store.database import Store
from portal_extensions.web import PortalSettings, create_app
from portal_extensions.web.store_adapters import (
    CRMAttachmentSource,
    CRMPartySource,
    StoreAccounts,
    StoreAuditTrail,
    StoreCaseRepository,
    StoreCaseWrites,
    StoreDirectory,
    StoreEnquiryOptions,
    StoreHealth,
    StoreSessionRegistry,
)


def build_portal(
    settings: PortalSettings,
    store: Store,
    client: CRMClient | None,
    *,
    mapping: Mapping | None = None,
) -> FastAPI:
    """The portal app reading and writing through `store`; `client` feeds Health, downloads and
    the resident look-up, whose CRM parties `mapping` (the runtime's profile; by default the
    bundled one for the client's CRM) turns into constituents."""
    parties = None
    if client is not None:
        profile = mapping if mapping is not None else load_profile(client.kind)
        parties = CRMPartySource(client, profile.to_constituent)
    return create_app(
        settings,
        accounts=StoreAccounts(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=StoreDirectory(store),
        audit=StoreAuditTrail(store),
        health=StoreHealth(store, client),
        sessions=StoreSessionRegistry(store),  # shared by every worker process
        attachments=CRMAttachmentSource(client) if client is not None else None,
        parties=parties,
    )


__all__ = ["build_portal"]
