"""Revision 0005 fills the report columns and service requests of cases indexed before it,
on SQLite and PostgreSQL, and the store's own writes keep them up to date after it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from mappings.model import (
    COUNCIL_ZONE,
    CaseStatus,
    Channel,
    MemberCase,
    RaisedBy,
    ServiceRequest,
)
from portal_extensions.store.cases import case_columns, update_local_case
from portal_extensions.store.database import Store
from portal_extensions.store.engine import make_engine, migrate
from portal_extensions.store.schema import case_service_requests, cases
from tests.portal.web_fixtures import make_case

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 00:30 UTC is 01:30 BST: a council day later
NEW = ("channel", "raised_by", "received_day", "closed_day")


def _case() -> MemberCase:
    case = make_case(
        "alice",
        "Indexed before reports",
        service="S1",
        received_at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # 23:30 GMT on the 28th
        channel=Channel.LETTER,
        raised_by=RaisedBy.MP,
    )
    request = ServiceRequest(
        service_id="S1",
        sent_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        response_due=date(2026, 4, 14),
        responded_at=datetime(2026, 4, 1, 22, 45, tzinfo=UTC),  # 23:45 BST on the 1st
    )
    return case.model_copy(update={"service_requests": [request]})


def test_revision_0005_fills_existing_cases_and_writes_keep_them(database) -> None:
    engine = make_engine(database.url, schema=database.schema)
    try:
        migrate(engine, "0004")
        case = _case()
        values = {k: v for k, v in case_columns(case).items() if k not in NEW}
        with engine.begin() as conn:
            old_cases = sa.Table("cases", sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(old_cases).values(**values, version=1, updated_at=NOW))
        migrate(engine)
    finally:
        engine.dispose()
    store = Store.open(database.url, schema=database.schema)
    try:
        with store.read() as conn:
            row = conn.execute(sa.select(*(cases.c[name] for name in NEW))).one()
            requests = conn.execute(
                sa.select(
                    case_service_requests.c.service_id,
                    case_service_requests.c.sent_day,
                    case_service_requests.c.response_due,
                    case_service_requests.c.responded_day,
                )
            ).all()
        assert tuple(row) == ("letter", "mp", date(2026, 3, 28), None)
        assert requests == [("S1", date(2026, 3, 29), date(2026, 4, 14), date(2026, 4, 1))]
        # A later change through the store rewrites both.
        changed = case.model_copy(
            update={
                "service_requests": [],
                "closed_at": datetime(2026, 4, 2, 9, 0, tzinfo=COUNCIL_ZONE),
                "status": CaseStatus.CLOSED,
                "closure_reason": "Fixed",
            }
        )
        with store.write() as conn:
            assert update_local_case(conn, changed, now=NOW + timedelta(days=5))
        with store.read() as conn:
            assert conn.execute(sa.select(cases.c.closed_day)).scalar_one() == date(2026, 4, 2)
            count = sa.select(sa.func.count()).select_from(case_service_requests)
            assert conn.execute(count).scalar_one() == 0
    finally:
        store.close()
