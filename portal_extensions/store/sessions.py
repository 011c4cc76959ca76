"""Signed-in sessions kept in the store, so every portal process and host shares them.

Signing out ends a session on the server too: a copied cookie is worthless once its session is
gone from `portal_sessions`. Only a SHA-256 of each session id is stored, so a copy of the
database does not hold live sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from portal_extensions.store.database import Store
from portal_extensions.store.schema import portal_sessions


def _session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


_LIVE_SESSION = sa.select(portal_sessions.c.user_id, portal_sessions.c.expires_at).where(
    portal_sessions.c.token_hash == sa.bindparam("token_hash")
)


class StoreSessionRegistry:
    """`SessionRegistry` in the store's `portal_sessions` table, shared by every worker process
    of the portal (and surviving a restart). Only a SHA-256 of each session id is stored.
    Expired rows are removed whenever someone signs in."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store = store
        self.clock = clock

    def issue(self, user_id: str, lifetime_seconds: float) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(sa.delete(portal_sessions).where(portal_sessions.c.expires_at <= now))
            conn.execute(
                sa.insert(portal_sessions).values(
                    token_hash=_session_digest(session_id),
                    user_id=user_id,
                    issued_at=now,
                    expires_at=now + timedelta(seconds=lifetime_seconds),
                )
            )
        return session_id

    def is_live(self, session_id: str, user_id: str) -> bool:
        with self.store.read() as conn:
            row = conn.execute(_LIVE_SESSION, {"token_hash": _session_digest(session_id)}).first()
        return row is not None and row.user_id == user_id and row.expires_at > self.clock()

    def revoke(self, session_id: str) -> None:
        with self.store.write() as conn:
            conn.execute(
                sa.delete(portal_sessions).where(
                    portal_sessions.c.token_hash == _session_digest(session_id)
                )
            )


__all__ = ["StoreSessionRegistry"]
