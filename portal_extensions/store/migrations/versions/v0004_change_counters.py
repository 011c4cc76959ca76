"""A change counter for the case index, so lists can keep their bucket counts between changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Every function in `store/cases.py` that changes a case row adds one to the `cases` counter in
the same transaction; a reader that saw the same value may reuse counts it made from it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    counters = op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    op.bulk_insert(counters, [{"name": "cases", "value": 0}])


def downgrade() -> None:
    op.drop_table("change_counters")
