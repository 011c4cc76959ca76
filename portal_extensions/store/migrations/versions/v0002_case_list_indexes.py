"""Covering indexes for the case lists (My caseload, ward view) on a large index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Lists run the access rule as a union of its parts (`access.visible_cases_parts`): a member's
own cases, cases shared with their ward (by ward, or by party through the member list) and
cases naming them as cover.
Each index holds every column such a part filters, counts and sorts on, so the database answers
a part from the index alone, without reading the large case rows (the mapped case as JSON).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# The newest first (the lists' order) right after the columns a part matches exactly, so a page
# is read in order and stops at its last row; then what the buckets count on.
NEWEST = ["received_at", "portal_id"]
BUCKET_COLUMNS = ["status", "target_date", "closed_at"]
MEMBER_LIST = ["member_id", "removed_at", *NEWEST, *BUCKET_COLUMNS]
WARD_LIST = [
    "ward_id",
    "sharing_level",
    *NEWEST,
    "member_id",
    "removed_at",
    "authority_recorded_at",
    "authority_withdrawn_at",
    *BUCKET_COLUMNS,
]
COVER_LIST = [
    "sharing_colleague_id",
    "sharing_level",
    *NEWEST,
    "member_id",
    "removed_at",
    "sharing_until",
    "authority_recorded_at",
    "authority_withdrawn_at",
    *BUCKET_COLUMNS,
]


def upgrade() -> None:
    op.create_index("ix_cases_member_list", "cases", MEMBER_LIST, unique=False)
    op.create_index("ix_cases_ward_sharing_list", "cases", WARD_LIST, unique=False)
    op.create_index("ix_cases_cover_list", "cases", COVER_LIST, unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_cover_list", table_name="cases")
    op.drop_index("ix_cases_ward_sharing_list", table_name="cases")
    op.drop_index("ix_cases_member_list", table_name="cases")
