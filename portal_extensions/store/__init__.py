"""The local store: every SQL statement of the portal, on SQLite and PostgreSQL.

Open it with `open_store(settings)` or `Store.open(url)`; read and write through
`store.read()` / `store.write()` connections. One module per idea:

* `schema`, `migrations/`, `engine` (migrating), `database` (`Store`), `types`;
* `cases` (index writes: sync upserts, local cases, access columns, content hash),
  `case_types` and `case_reads` (what a viewer reads: lists, counts, one case, search),
  `search` (full-text search and the visible-fields rule);
* `outbox` (writes waiting for the CRM: queueing, leasing, outcomes) and `case_writes`
  (queueing from the portal, pending writes and their files);
* `accounts`, `sessions`, `directory` (people and the council's directory);
* `audit` and `audit_report` (the append-only trail and its reads);
* `sync_state` (the sync's watermark, run and outcome, and the records it could not map);
* `locks` (a lock shared by every process on one store: one sync at a time);
* `status` (index, sync and outbox figures for `caseload status` and Health).

The functions below are the ones sync and the command line use most.
"""

from portal_extensions.store.audit import AuditEvent, events_for, record_event
from portal_extensions.store.cases import (
    IndexedCase,
    UpsertResult,
    access_columns,
    cases_counter,
    count_cases,
    index_hash,
    upsert_cases,
)
from portal_extensions.store.database import Store, open_store
from portal_extensions.store.engine import StoreError, current_revision, head_revision
from portal_extensions.store.search import SearchHit, search_cases

__all__ = [
    "AuditEvent",
    "IndexedCase",
    "SearchHit",
    "Store",
    "StoreError",
    "UpsertResult",
    "access_columns",
    "cases_counter",
    "count_cases",
    "current_revision",
    "events_for",
    "head_revision",
    "index_hash",
    "open_store",
    "record_event",
    "search_cases",
    "upsert_cases",
]
