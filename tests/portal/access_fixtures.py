"""A small council, and every kind of case in it, for testing the access policy.

The index table here is the minimal shape the policy needs (`Fact` columns plus a join to the
members table for the party); the store's own tables map onto the same facts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from mappings.model import SharingLevel
from portal_extensions.access import CaseColumns, CaseFacts, Fact, Role, Viewer

NOW = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # 12:00 in London
TODAY = date(2026, 6, 15)
RECORDED = NOW - timedelta(days=30)
WITHDRAWN = NOW - timedelta(days=1)


@dataclass(frozen=True)
class CouncilMember:
    id: str
    ward_id: str
    party: str


# Ward W1 has three members (two Red, one Blue); W2 has a Red member and an independent.
MEMBERS = (
    CouncilMember("alice", "W1", "Red"),
    CouncilMember("bob", "W1", "Red"),
    CouncilMember("carol", "W1", "Blue"),
    CouncilMember("dave", "W2", "Red"),
    CouncilMember("erin", "W2", "Independent"),
)
PARTY = {member.id: member.party for member in MEMBERS}
WARD = {member.id: member.ward_id for member in MEMBERS}

AUTHORITY_STATES = ("none", "in_force", "explicit_consent", "withdrawn", "withdrawn_explicit")
UNTILS = (None, TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1))
SERVICES = (None, "S1", "S2")


def member_viewer(member: CouncilMember) -> Viewer:
    return Viewer(
        user_id=f"u-{member.id}",
        role=Role.MEMBER,
        member_id=member.id,
        party=member.party,
        ward_id=member.ward_id,
    )


VIEWERS: dict[str, Viewer] = {
    **{member.id: member_viewer(member) for member in MEMBERS},
    "ms_alice": Viewer(
        user_id="u-ms", role=Role.MEMBERS_SERVICES, supported_member_ids=frozenset({"alice"})
    ),
    "officer_s1": Viewer(user_id="u-so", role=Role.SERVICE_OFFICER, service_ids=frozenset({"S1"})),
    "team_leader": Viewer(user_id="u-tl", role=Role.TEAM_LEADER),
    "admin": Viewer(user_id="u-admin", role=Role.ADMINISTRATOR),
}


def facts(
    owner: str,
    level: SharingLevel,
    colleague: str | None,
    until: date | None,
    authority: str,
    service: str | None,
    special_category: bool = False,
) -> CaseFacts:
    return CaseFacts(
        member_id=owner,
        ward_id=WARD[owner],
        member_party=PARTY[owner],
        service_id=service,
        sharing_level=level,
        sharing_colleague_id=colleague,
        sharing_until=until,
        authority_recorded_at=None if authority == "none" else RECORDED,
        authority_withdrawn_at=WITHDRAWN if authority.startswith("withdrawn") else None,
        explicit_consent=authority in ("explicit_consent", "withdrawn_explicit"),
        special_category=special_category,
    )


def every_case() -> Iterator[CaseFacts]:
    """Every owner x sharing choice x authority state x service, special category or not."""
    sharings: list[tuple[SharingLevel, str | None, date | None]] = [
        (SharingLevel.PRIVATE, None, None),
        (SharingLevel.WARD, None, None),
        (SharingLevel.PARTY, None, None),
    ]
    for member, until in itertools.product(MEMBERS, UNTILS):
        sharings.append((SharingLevel.NAMED, member.id, until))
    for owner, (level, colleague, until), authority, service, special in itertools.product(
        MEMBERS, sharings, AUTHORITY_STATES, SERVICES, (False, True)
    ):
        yield facts(owner.id, level, colleague, until, authority, service, special)


# ---------------------------------------------------------------------------------------------
# A minimal case index in SQLite


metadata = MetaData()
members_table = Table(
    "members",
    metadata,
    Column("id", String, primary_key=True),
    Column("party", String),
)
cases_table = Table(
    "case_index",
    metadata,
    Column("row_id", Integer, primary_key=True),
    Column("member_id", String, nullable=False),
    Column("ward_id", String, nullable=False),
    Column("service_id", String),
    Column("sharing_level", String, nullable=False),
    Column("sharing_colleague_id", String),
    Column("sharing_until", Date),
    Column("authority_recorded_at", DateTime(timezone=True)),
    Column("authority_withdrawn_at", DateTime(timezone=True)),
)

COLUMNS: CaseColumns = {
    Fact.MEMBER_ID: cases_table.c.member_id,
    Fact.WARD_ID: cases_table.c.ward_id,
    Fact.MEMBER_PARTY: members_table.c.party,
    Fact.SERVICE_ID: cases_table.c.service_id,
    Fact.SHARING_LEVEL: cases_table.c.sharing_level,
    Fact.SHARING_COLLEAGUE_ID: cases_table.c.sharing_colleague_id,
    Fact.SHARING_UNTIL: cases_table.c.sharing_until,
    Fact.AUTHORITY_RECORDED_AT: cases_table.c.authority_recorded_at,
    Fact.AUTHORITY_WITHDRAWN_AT: cases_table.c.authority_withdrawn_at,
}


def index_engine(cases: list[CaseFacts], parties: dict[str, str | None]) -> Engine:
    """An in-memory index holding these cases (row_id = position in the list)."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(members_table),
            [{"id": member_id, "party": party} for member_id, party in parties.items()],
        )
        connection.execute(
            insert(cases_table),
            [
                {
                    "row_id": position,
                    "member_id": case.member_id,
                    "ward_id": case.ward_id,
                    "service_id": case.service_id,
                    "sharing_level": case.sharing_level.value,
                    "sharing_colleague_id": case.sharing_colleague_id,
                    "sharing_until": case.sharing_until,
                    "authority_recorded_at": case.authority_recorded_at,
                    "authority_withdrawn_at": case.authority_withdrawn_at,
                }
                for position, case in enumerate(cases)
            ],
        )
    return engine


def visible_row_ids(engine: Engine, clause: object) -> set[int]:
    query = (
        select(cases_table.c.row_id)
        .select_from(cases_table.join(members_table, members_table.c.id == cases_table.c.member_id))
        .where(clause)  # type: ignore[arg-type]
    )
    with engine.connect() as connection:
        return set(connection.scalars(query))
