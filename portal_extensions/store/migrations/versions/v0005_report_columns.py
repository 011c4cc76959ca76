"""What reports count: channel, who raised it, council days received and closed, and each case's
requests to services.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Reports group and filter on how an enquiry came in and who raised it (councillor, MP, MSP, MS,
MEP or staff), count periods and months in council days, and time services' responses in working
days. The values come from each case's record, so existing rows are filled in here; from now on
`store/cases.py` writes them with the rest of the row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

COUNCIL_ZONE = ZoneInfo("Europe/London")  # as mappings.model.COUNCIL_ZONE, frozen here
BATCH = 1000
REPORT_COLUMNS = [
    "received_day",
    "closed_day",
    "status",
    "target_date",
    "removed_at",
    "member_id",
    "ward_id",
    "service_id",
    "category",
    "channel",
    "raised_by",
]
REPORT_STATUS_COLUMNS = ["status", "closed_day", "received_day", *REPORT_COLUMNS[3:]]
REPORT_LOOKUP_COLUMNS = [
    "portal_id",
    "removed_at",
    "status",
    "closed_day",
    *REPORT_COLUMNS[5:],
    "authority_recorded_at",
    "authority_withdrawn_at",
]
REQUEST_COLUMNS = ["sent_day", "service_id", "portal_id", "response_due", "responded_day"]


def _day(moment: str | None) -> date | None:
    """The council day of a recorded time (a naive time is already council time)."""
    if not moment:
        return None
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.date()
    return parsed.astimezone(COUNCIL_ZONE).date()


def _backfill(conn: sa.Connection) -> None:
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("portal_id", sa.String),
        sa.column("record", sa.JSON),
        sa.column("channel", sa.String),
        sa.column("raised_by", sa.String),
        sa.column("received_day", sa.Date),
        sa.column("closed_day", sa.Date),
    )
    requests = sa.table(
        "case_service_requests",
        sa.column("portal_id", sa.String),
        sa.column("service_id", sa.String),
        sa.column("sent_day", sa.Date),
        sa.column("response_due", sa.Date),
        sa.column("responded_day", sa.Date),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(cases.c.id, cases.c.portal_id, cases.c.record)
            .where(cases.c.id > last)
            .order_by(cases.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        updates: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        for row in rows:
            record = row.record
            updates.append(
                {
                    "b_id": row.id,
                    "channel": record.get("channel"),
                    "raised_by": record.get("raised_by") or "councillor",
                    "received_day": _day(record.get("received_at")),
                    "closed_day": _day(record.get("closed_at")),
                }
            )
            for item in record.get("service_requests") or []:
                sent.append(
                    {
                        "portal_id": row.portal_id,
                        "service_id": item["service_id"],
                        "sent_day": _day(item["sent_at"]),
                        "response_due": date.fromisoformat(item["response_due"]),
                        "responded_day": _day(item.get("responded_at")),
                    }
                )
        conn.execute(sa.update(cases).where(cases.c.id == sa.bindparam("b_id")), updates)
        if sent:
            conn.execute(sa.insert(requests), sent)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("raised_by", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("received_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("closed_day", sa.Date(), nullable=True))
    op.create_table(
        "case_service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("response_due", sa.Date(), nullable=False),
        sa.Column("responded_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id"],
            ["cases.portal_id"],
            name=op.f("fk_case_service_requests_portal_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_service_requests")),
    )
    op.create_index(
        op.f("ix_case_service_requests_portal_id"),
        "case_service_requests",
        ["portal_id"],
        unique=False,
    )
    _backfill(op.get_bind())
    op.create_index("ix_cases_report", "cases", REPORT_COLUMNS, unique=False)
    op.create_index("ix_cases_report_status", "cases", REPORT_STATUS_COLUMNS, unique=False)
    op.create_index("ix_cases_report_lookup", "cases", REPORT_LOOKUP_COLUMNS, unique=False)
    op.create_index(
        "ix_case_service_requests_sent", "case_service_requests", REQUEST_COLUMNS, unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_case_service_requests_sent", table_name="case_service_requests")
    op.drop_index("ix_cases_report_lookup", table_name="cases")
    op.drop_index("ix_cases_report_status", table_name="cases")
    op.drop_index("ix_cases_report", table_name="cases")
    op.drop_index(op.f("ix_case_service_requests_portal_id"), table_name="case_service_requests")
    op.drop_table("case_service_requests")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("closed_day")
        batch.drop_column("received_day")
        batch.drop_column("raised_by")
        batch.drop_column("channel")
