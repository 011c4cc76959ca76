"""The council's directory as the portal reads it: drop-down choices, service contacts, names.

The store fills these from its code book (categories) and directory tables (members, wards,
services and officers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


__all__ = ["Choice", "DirectoryNames", "MemberChoice", "ServiceContact"]
