"""The local store: case index, directory, outbox, sync state, audit trail and reminders.

Open it with `open_store(settings)` or `Store.open(url)`; read and write through
`store.read()` / `store.write()` connections and the functions re-exported here.
"""

from portal_extensions.store.audit import AuditEvent, events_for, record_event
from portal_extensions.store.cases import (
    CaseSummary,
    IndexedCase,
    UpsertResult,
    access_columns,
    cases_counter,
    count_cases,
    get_case,
    index_hash,
    list_cases,
    upsert_cases,
)
from portal_extensions.store.database import Store, open_store
from portal_extensions.store.engine import StoreError, current_revision, head_revision
from portal_extensions.store.search import SearchHit, search_cases

__all__ = [
    "AuditEvent",
    "CaseSummary",
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
    "get_case",
    "head_revision",
    "index_hash",
    "list_cases",
    "open_store",
    "record_event",
    "search_cases",
    "upsert_cases",
]
