"""One place that puts the portal together over the store (used by `serve` and `demo`)."""

from __future__ import annotations

from fastapi import FastAPI

from connector.base import CRMClient
from portal_extensions.store.database import Store
from portal_extensions.web import PortalSettings, create_app
from portal_extensions.web.store_adapters import (
    CRMAttachmentSource,
    StoreAccounts,
    StoreAuditTrail,
    StoreCaseRepository,
    StoreCaseWrites,
    StoreDirectory,
    StoreEnquiryOptions,
    StoreHealth,
    StoreSessionRegistry,
)


def build_portal(settings: PortalSettings, store: Store, client: CRMClient | None) -> FastAPI:
    """The portal app reading and writing through `store`; `client` feeds Health and downloads."""
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
    )


__all__ = ["build_portal"]
