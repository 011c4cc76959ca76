"""The council's directory as the portal reads it (services, officers, names), on both
backends."""

from __future__ import annotations

import sqlalchemy as sa

from portal_extensions.store import Store
from portal_extensions.store.directory import StoreDirectory
from portal_extensions.store.schema import services


def test_store_directory_lists_services_with_their_member_officer(council: Store) -> None:
    with council.write() as conn:
        conn.execute(
            sa.insert(services).values(
                id="S9", name="Parks", member_officer_id="o1", response_target_working_days=5
            )
        )
    contacts = StoreDirectory(council).service_contacts()
    parks = [c for c in contacts if c.service == "Parks"]
    assert [(c.officer, c.email, c.response_target_working_days) for c in parks] == [
        ("Street Lighting", "sl@example.org", 5)
    ]
    assert (parks[0].service_id, parks[0].officer_id) == ("S9", "o1")


def test_directory_names_are_read_once_and_kept_for_a_while(council: Store) -> None:
    now = [0.0]
    directory = StoreDirectory(council, names_ttl_seconds=60, clock=lambda: now[0])
    names = directory.names()
    assert names.ward("W1") == "Ward W1" and names.member("dave") == "Dave"
    assert names.member("someone-who-left") == "someone-who-left"
    with council.write() as conn:
        conn.execute(sa.text("UPDATE wards SET name = 'Abbey' WHERE id = 'W1'"))
    assert directory.names().ward("W1") == "Ward W1"  # within the minute: the held names
    now[0] = 61.0
    assert directory.names().ward("W1") == "Abbey"
