"""Failed sign-ins counted in the store, so every portal process and host shares one throttle.

Counted in memory, `serve --workers N` allowed N times the guesses. Each counter is named by a
key the throttle makes (`web.auth`: an account, or an account from one address) and kept only
as an HMAC of it, so the table holds neither user names nor addresses. A failure adds one to its
counters in a single statement (an upsert), so processes failing at once never lose a count;
a counter whose last failure is older than the window is removed, and so starts again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal_extensions.store.database import Store
from portal_extensions.store.schema import sign_in_failures


@dataclass(frozen=True, slots=True)
class Failures:
    """How many failures a key has had since its count last started, and the latest."""

    count: int
    last_at: datetime


_table = sign_in_failures


class StoreSignInFailures:
    """`SignInFailures` in the store's `sign_in_failures` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def recent(self, keys: Sequence[str], since: datetime) -> dict[str, Failures]:
        """The counters of `keys` whose last failure is after `since` (older ones have lapsed)."""
        query = sa.select(_table.c.key_hash, _table.c.failures, _table.c.last_failure_at).where(
            _table.c.key_hash.in_(list(keys)), _table.c.last_failure_at > since
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return {row.key_hash: Failures(row.failures, row.last_failure_at) for row in rows}

    def add(self, keys: Sequence[str], now: datetime, since: datetime) -> None:
        """One more failure at `now` for each key; a count that lapsed (last failure at or
        before `since`) starts again at one. Lapsed counters of other keys are removed."""
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        insert = dialect.insert(_table)
        upsert = insert.on_conflict_do_update(
            index_elements=[_table.c.key_hash],
            set_={"failures": _table.c.failures + 1, "last_failure_at": now},
        )
        with self.store.write() as conn:
            # Lapsed counters go first, so a lapsed count of these keys starts again at one.
            conn.execute(sa.delete(_table).where(_table.c.last_failure_at <= since))
            for key in keys:
                conn.execute(upsert, {"key_hash": key, "failures": 1, "last_failure_at": now})

    def clear(self, key: str) -> None:
        with self.store.write() as conn:
            conn.execute(sa.delete(_table).where(_table.c.key_hash == key))


__all__ = ["Failures", "StoreSignInFailures"]
