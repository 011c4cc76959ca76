"""The composition root: from a `Config`, the store, CRM client, mapping, sync, outbox
dispatcher, worker and web app that every command and the demo run.

Nothing else builds these parts, so each is made one way wherever Caseload runs, and every part
the portal uses is passed to it explicitly: no silent in-memory stand-ins in production. This is
the one module that may import `portal_extensions.web`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from connector import factory
from connector.base import CRMClient
from mappings import Mapping, RecordMappingError, load_profile
from mappings.model import Category
from portal_extensions.casework.crm_sources import CRMAttachmentSource, CRMPartySource
from portal_extensions.casework.status import PortalHealth
from portal_extensions.config import Config, PortalSettings, ReportSettings, WorkerSettings
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.jobs.refresh import RefreshQueue
from portal_extensions.jobs.sync import Syncer
from portal_extensions.jobs.worker import Worker
from portal_extensions.reports.service import Reports
from portal_extensions.store.accounts import StoreAccountAdmin, StoreAccounts
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.database import Store, open_store
from portal_extensions.store.directory import StoreDirectory, StoreEnquiryOptions
from portal_extensions.store.reports import StoreReports
from portal_extensions.store.sessions import StoreSessionRegistry
from portal_extensions.store.sign_in_failures import StoreSignInFailures
from portal_extensions.web import create_app
from portal_extensions.web.routes.crm_events import crm_events_router

log = logging.getLogger(__name__)


class Runtime:
    """One store, plus the CRM client and mapping when the CRM is configured.

    `store`, `client` and `mapping` may be handed in already built (the demo starts its own
    sandbox CRM); otherwise they are built from `config` when first asked for.
    """

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        client: CRMClient | None = None,
        mapping: Mapping | None = None,
    ) -> None:
        self.config = config
        self.store = store if store is not None else open_store(config.store)
        self._client = client
        self._mapping = mapping
        self._refreshes: RefreshQueue | None = None  # pushed-case refreshes without a worker

    @property
    def has_crm(self) -> bool:
        """Whether a CRM is configured (or was handed in)."""
        return self._client is not None or self.config.crm is not None

    @property
    def client(self) -> CRMClient:
        """The CRM client (one per runtime); `ConfigError` when no CRM is configured."""
        if self._client is None:
            self._client = factory.build_client(self.config.require_crm(), shared=False)
        return self._client

    @property
    def mapping(self) -> Mapping:
        """The mapping profile of the configured CRM's kind (the bundled one)."""
        if self._mapping is None:
            kind = self._client.kind if self._client is not None else self.config.require_crm().kind
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
        store = self.config.store
        return Syncer(
            self.store,
            self.client,
            self.mapping,
            batch_size=store.sync_batch_size,
            overlap=timedelta(seconds=store.sync_overlap_seconds),
        )

    def dispatcher(self) -> Dispatcher:
        store = self.config.store
        return Dispatcher(
            self.store,
            self.client,
            self.mapping,
            lease=timedelta(seconds=store.outbox_lease_seconds),
            max_attempts=store.outbox_max_attempts,
            backoff_initial=store.outbox_backoff_initial,
            backoff_max=store.outbox_backoff_max,
        )

    def worker(self) -> Worker:
        """The background loop (sync, outbox, pushed refreshes) at the configured intervals."""
        return Worker(
            self,
            sync_interval=self.config.worker.sync_interval,
            dispatch_interval=self.config.worker.dispatch_interval,
        )

    def portal_app(self, *, worker: Worker | None = None) -> FastAPI:
        """The portal's web app over this runtime's store and (if configured) CRM.

        With a CRM, the app also takes the CRM's signed case-event pushes and queues each case's
        refresh: on `worker` (the one running in this process), else on a `RefreshQueue` of this
        process's own, so every portal process and host can take an event.
        """
        client = self.client if self.has_crm else None
        mapping = self.mapping if client is not None else None
        app = build_portal(
            self.config.require_portal(),
            self.store,
            client,
            mapping=mapping,
            sync_interval=self.config.worker.sync_interval,
            report_settings=self.config.reports,
        )
        if client is not None:
            if worker is not None:
                refresh = worker.request_refresh
            else:
                self._refreshes = self._refreshes or RefreshQueue(
                    self.store, self.syncer(), background=True
                )
                refresh = self._refreshes.request
            app.include_router(
                crm_events_router(
                    self.config.worker.events_secret,
                    refresh,
                    parse=factory.case_event_parser(client.kind),
                )
            )
        return app

    def close(self) -> None:
        if self._refreshes is not None:
            self._refreshes.stop()
        if self._client is not None:
            self._client.close()
        self.store.close()


def build_portal(
    settings: PortalSettings,
    store: Store,
    client: CRMClient | None,
    *,
    mapping: Mapping | None = None,
    sync_interval: timedelta = WorkerSettings().sync_interval,
    report_settings: ReportSettings | None = None,
) -> FastAPI:
    """The portal app reading and writing through `store`; `client` feeds Health, downloads and
    the resident look-up, whose CRM parties `mapping` (the runtime's profile; by default the
    bundled one for the client's CRM) turns into constituents. Without a CRM there are no
    downloads and no look-up, and the pages say so. Health judges the last sync against
    `sync_interval` (`[worker] sync_interval_seconds`); reports withhold small counts by
    `report_settings` (`[reports]`, its defaults when None)."""
    parties = None
    if client is not None:
        profile = mapping if mapping is not None else load_profile(client.kind)
        parties = CRMPartySource(client, profile.to_constituent)
    directory = StoreDirectory(store)
    return create_app(
        settings,
        accounts=StoreAccounts(store),
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=directory,
        audit=StoreAuditTrail(store),
        health=PortalHealth(store, client, sync_interval=sync_interval),
        liveness=store.ping,
        sessions=StoreSessionRegistry(store),  # shared by every worker process
        sign_in_failures=StoreSignInFailures(store),  # likewise
        reports=reports_for(store, settings, report_settings or ReportSettings(), directory),
        attachments=CRMAttachmentSource(client) if client is not None else None,
        parties=parties,
    )


def reports_for(
    store: Store,
    settings: PortalSettings,
    report_settings: ReportSettings,
    directory: StoreDirectory | None = None,
) -> Reports:
    """Reports over the store: working days with the portal's bank-holiday nation, small
    counts withheld below `[reports] small_count_threshold` (the portal and the CLI alike)."""
    return Reports(
        StoreReports(store),
        directory if directory is not None else StoreDirectory(store),
        nation=settings.bank_holiday_nation,
        threshold=report_settings.small_count_threshold,
        council_name=settings.council_name,
    )


__all__ = ["Runtime", "build_portal", "reports_for"]
