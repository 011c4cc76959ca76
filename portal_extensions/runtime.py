"""Assembling the store, sync and dispatcher from settings (used by the CLI and the portal)."""

from __future__ import annotations

import logging
from datetime import timedelta

from connector import factory
from connector.base import CRMClient
from mappings import Mapping, RecordMappingError, load_profile
from mappings.model import Category
from portal_extensions.outbox import Dispatcher
from portal_extensions.settings import Settings, StoreSettingsError
from portal_extensions.store.database import Store, open_store
from portal_extensions.sync import Syncer

log = logging.getLogger(__name__)


class Runtime:
    """One store, plus the CRM client and mapping when the CRM is configured."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        client: CRMClient | None = None,
        mapping: Mapping | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings.store)
        self._client = client
        self._mapping = mapping

    @property
    def client(self) -> CRMClient:
        if self._client is None:
            if self.settings.crm is None:
                raise StoreSettingsError(
                    "no CRM is configured: add a [crm] table to caseload.toml "
                    "(see `caseload crm check --help`)"
                )
            self._client = factory.build_client(self.settings.crm, shared=False)
        return self._client

    @property
    def mapping(self) -> Mapping:
        if self._mapping is None:
            kind = self.settings.crm.kind if self.settings.crm else "lagan"
            self._mapping = load_profile(kind)
        return self._mapping

    def categories(self) -> list[Category]:
        """The CRM's case-category code book, mapped by the profile's `code_book` section.

        An entry the profile cannot map is left out and logged (by its code, never its words),
        so one odd code does not block the rest.
        """
        mapped: list[Category] = []
        for raw in self.client.code_book():
            try:
                mapped.append(self.mapping.to_category(raw))
            except RecordMappingError as exc:
                log.warning("a code-book entry could not be mapped; skipped: %s", exc)
        return mapped

    def syncer(self) -> Syncer:
        store_settings = self.settings.store
        return Syncer(
            self.store,
            self.client,
            self.mapping,
            batch_size=store_settings.sync_batch_size,
            overlap=timedelta(seconds=store_settings.sync_overlap_seconds),
        )

    def dispatcher(self) -> Dispatcher:
        s = self.settings.store
        return Dispatcher(
            self.store,
            self.client,
            self.mapping,
            lease=timedelta(seconds=s.outbox_lease_seconds),
            max_attempts=s.outbox_max_attempts,
            backoff_initial=s.outbox_backoff_initial,
            backoff_max=s.outbox_backoff_max,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.store.close()


__all__ = ["Runtime"]
