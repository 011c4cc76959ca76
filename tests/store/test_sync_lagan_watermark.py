"""A Lagan sync keeps its place part-way through a run, though Lagan cases carry no modified time.

The connector marks the last page of each time window it has read (`CasePage.complete_until`);
sync moves its watermark there, so a sync that dies half-way resumes from the last window it
finished instead of from the start.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from mappings import load_profile
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store, count_cases
from portal_extensions.store.schema import sync_state
from tests.store.sandbox_helpers import lagan_client

LAGAN = load_profile("lagan")


class Died(BaseException):
    """A process death: not an Exception, so nothing in the syncer handles it."""


def _watermark(store: Store) -> datetime | None:
    with store.read() as conn:
        value = conn.execute(sa.select(sync_state.c.watermark)).scalar()
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@pytest.mark.sandbox_crm(cases=600, seed=9)
def test_lagan_sync_killed_mid_run_resumes_from_the_last_complete_window(
    open_store, sandbox_crm
) -> None:
    store: Store = open_store()
    client = lagan_client(sandbox_crm)
    first = next(iter(client.iter_changed_cases(datetime(2000, 1, 1, tzinfo=UTC))))
    assert LAGAN.modified_at(first[0]) is None  # Lagan cases carry no modification time
    pages = {"seen": 0}

    def die_on_the_fourth_page(name: str) -> None:
        if name == "page":
            pages["seen"] += 1
            if pages["seen"] == 4:
                raise Died

    with pytest.raises(Died):
        Syncer(store, client, LAGAN, batch_size=50, checkpoint=die_on_the_fourth_page).run()
    kept = _watermark(store)
    with store.read() as conn:
        indexed = count_cases(conn)
    assert kept is not None, "the watermark should follow the windows read so far"
    newest_seen = max(c["modified"] for c in sandbox_crm.store.cases.values())
    assert 0 < indexed < 600 and kept < datetime.fromisoformat(newest_seen)

    report = Syncer(open_store(), lagan_client(sandbox_crm), LAGAN, batch_size=50).run()
    with store.read() as conn:
        assert count_cases(conn) == 600
    assert report.fetched < 600, "the second run re-read cases from before the kept watermark"
