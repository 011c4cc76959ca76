"""Alembic environment for the store: always run programmatically by `store.migrate`.

The caller hands over an open connection (`config.attributes["connection"]`), so the same
engine settings (SQLite pragmas, PostgreSQL search_path) apply to migrations and to the app.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from portal_extensions.store.schema import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guards against `alembic upgrade` from a shell
    raise RuntimeError(
        "run store migrations through the application (`caseload status` or "
        "portal_extensions.store.open_store), which passes its own connection"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
