"""The council's directory as the portal reads it (drop-down choices, service contacts, names)
and as an import writes it.

The store fills these from its code book (categories) and directory tables (members, wards,
services and officers); `save_directory` and `save_categories` are the writes of
`portal_extensions.directory`'s import (validated there before anything is written).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

import sqlalchemy as sa

from portal_extensions.store.database import Store
from portal_extensions.store.schema import (
    categories,
    members,
    officers,
    parties,
    services,
    wards,
)

#: A directory table's rows as an import writes them: column name -> value.
Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a drop-down: the value sent, the text shown."""

    value: str
    text: str


@dataclass(frozen=True, slots=True)
class MemberChoice:
    id: str
    name: str
    ward_id: str


@dataclass(frozen=True, slots=True)
class ServiceContact:
    """A council service, whom members contact there, and how fast it promises to answer."""

    service: str
    officer: str
    email: str
    phone: str | None
    response_target_working_days: int
    service_id: str = ""  # the directory's id, as cases and service requests name it
    officer_id: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryNames:
    """The directory's names for the ids cases carry (members, wards, services, categories).

    Pages show the name and fall back to the id when the directory does not know it (a member
    who has left, a category the code book has dropped); the API gives both. Looked up once per
    request and then one dict read per row, never a query per row.
    """

    members: Mapping[str, str] = field(default_factory=dict)
    wards: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)

    def member(self, member_id: str | None) -> str:
        return self.members.get(member_id, member_id) if member_id else ""

    def ward(self, ward_id: str | None) -> str:
        return self.wards.get(ward_id, ward_id) if ward_id else ""

    def service(self, service_id: str | None) -> str:
        return self.services.get(service_id, service_id) if service_id else ""

    def category(self, code: str | None) -> str:
        return self.categories.get(code, code) if code else ""


class StoreEnquiryOptions:
    """`EnquiryOptions` from the store's code book (categories) and directory."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def categories(self) -> list[Choice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(categories.c.code, categories.c.name).order_by(categories.c.name)
            ).all()
        return [Choice(row.code, row.name) for row in rows]

    def services(self) -> list[Choice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(services.c.id, services.c.name).order_by(services.c.name)
            ).all()
        return [Choice(row.id, row.name) for row in rows]

    def members(self) -> list[MemberChoice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(members.c.id, members.c.name, members.c.ward_id).order_by(members.c.name)
            ).all()
        return [MemberChoice(row.id, row.name, row.ward_id) for row in rows]


class StoreDirectory:
    """`DirectorySource` from the store's services and officers.

    `names()` is cached for `names_ttl_seconds` (a minute by default) rather than invalidated by
    the directory import: the import may run in another process (`caseload` commands, another
    worker), which an in-process invalidation would not reach, and the directory changes a few
    times a year, so a renamed ward showing its old name for up to a minute is harmless. Each
    request then costs a dict lookup per row, never a query. `forget_names()` drops the cache.
    """

    def __init__(
        self,
        store: Store,
        *,
        names_ttl_seconds: float = 60.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.store = store
        self.names_ttl_seconds = names_ttl_seconds
        self.clock = clock
        self._names: tuple[float, DirectoryNames] | None = None
        self._names_lock = threading.Lock()

    def names(self) -> DirectoryNames:
        cached = self._names
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        with self._names_lock:  # one reader refreshes; the others wait for its answer
            cached = self._names
            if cached is not None and cached[0] > self.clock():
                return cached[1]
            with self.store.read() as conn:
                names = DirectoryNames(
                    members=_pairs(conn, members.c.id, members.c.name),
                    wards=_pairs(conn, wards.c.id, wards.c.name),
                    services=_pairs(conn, services.c.id, services.c.name),
                    categories=_pairs(conn, categories.c.code, categories.c.name),
                )
            self._names = (self.clock() + self.names_ttl_seconds, names)
            return names

    def forget_names(self) -> None:
        self._names = None

    def service_contacts(self) -> list[ServiceContact]:
        query = (
            sa.select(
                services.c.id.label("service_id"),
                officers.c.id.label("officer_id"),
                services.c.name.label("service"),
                officers.c.name.label("officer"),
                officers.c.email,
                officers.c.phone,
                services.c.response_target_working_days,
            )
            .select_from(services.join(officers, services.c.member_officer_id == officers.c.id))
            .order_by(services.c.name)
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return [
            ServiceContact(
                row.service,
                row.officer,
                row.email,
                row.phone,
                row.response_target_working_days,
                service_id=row.service_id,
                officer_id=row.officer_id,
            )
            for row in rows
        ]


def _pairs(conn: sa.Connection, key: sa.Column[str], name: sa.Column[str]) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute(sa.select(key, name))}


def save_directory(
    conn: sa.Connection,
    *,
    parties_rows: Rows,
    wards_rows: Rows,
    officers_rows: Rows,
    services_rows: Rows,
    members_rows: Rows,
) -> None:
    """Insert or update each record (by its id) in the caller's transaction; nothing is deleted.
    Written in an order that keeps every reference to another table valid."""
    for table, rows in (
        (parties, parties_rows),
        (wards, wards_rows),
        (officers, officers_rows),
        (services, services_rows),
        (members, members_rows),
    ):
        _upsert(conn, table, rows)


def save_categories(conn: sa.Connection, rows: Rows) -> None:
    """Insert or update the CRM's case categories (by code) in the caller's transaction."""
    _upsert(conn, categories, rows)


def _upsert(conn: sa.Connection, table: sa.Table, rows: Rows) -> None:
    if not rows:
        return
    key = table.primary_key.columns.values()[0]
    existing = set(
        conn.execute(sa.select(key).where(key.in_([r[key.name] for r in rows]))).scalars()
    )
    new = [dict(r) for r in rows if r[key.name] not in existing]
    old = [{**r, "b_key": r[key.name]} for r in rows if r[key.name] in existing]
    if new:
        conn.execute(sa.insert(table), new)
    if old:
        conn.execute(sa.update(table).where(key == sa.bindparam("b_key")), old)


__all__ = [
    "Choice",
    "DirectoryNames",
    "MemberChoice",
    "ServiceContact",
    "StoreDirectory",
    "StoreEnquiryOptions",
    "save_categories",
    "save_directory",
]
