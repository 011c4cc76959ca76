"""Portal user accounts: create them, set passwords, disable them, list them.

The portal signs people in through `StoreAccounts` (below), which refuses any user
whose role rows do not describe one consistent role. This module is the one writer of the users
and user_roles tables, so it checks each role's needs before writing and an account it creates
can always sign in: a member user is linked to a member, a service officer to an officer, and a
members' services user supports at least one member (one `user_roles` row per member).

Every change is audited in the caller's transaction (`record_event`), so an account and the
record of who made it commit together. Passwords and their hashes never reach the audit trail,
logs or error messages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from argon2 import PasswordHasher
from pydantic import BaseModel

from portal_extensions.access import Role, Viewer, ViewerError
from portal_extensions.store.audit import record_event
from portal_extensions.store.database import Store
from portal_extensions.store.schema import (
    members,
    officers,
    parties,
    portal_sessions,
    roles,
    services,
    user_roles,
    users,
)

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH: Final = 12
"""Long enough for three random words; length matters more than character classes (NCSC)."""
MAX_PASSWORD_LENGTH: Final = 1024
"""Bounds the hashing work one request can ask for."""
MAX_NAME_LENGTH: Final = 200  # users.username and users.display_name
MAX_EMAIL_LENGTH: Final = 320  # users.email
DEFAULT_ACTOR: Final = "system:accounts"
SUBJECT_TYPE: Final = "user"


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash with the library's current recommended parameters."""
    return _hasher.hash(password)


@dataclass(frozen=True, slots=True)
class Account:
    """A person who may sign in, as the portal sees them: who they are and what they may see."""

    username: str
    display_name: str
    password_hash: str | None  # None: single sign-on only
    viewer: Viewer
    active: bool = True


class AccountError(ValueError):
    """An account change that cannot be made; the message says what is wrong and what to do.

    `field` names the part of the account it is about (`username`, `display_name`, `email`,
    `role`, `member_id`, `officer_id`, `supports`, `password`), so a form can show the message
    beside it; None when it is about the account as a whole."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UserSummary(BaseModel):
    """One account as an administrator sees it (never the password hash)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: str | None  # None: the account has no role row (it cannot sign in)
    member_id: str | None
    officer_id: str | None
    supports: list[str]
    active: bool
    has_password: bool
    created_at: datetime


class RoleInfo(BaseModel):
    """A role the store knows, with its description for the people who grant it."""

    name: str
    description: str


def _role(role: Role | str) -> Role:
    if isinstance(role, Role):
        return role
    try:
        return Role(role.strip().lower())
    except ValueError:
        known = ", ".join(each.value for each in Role)
        raise AccountError(f"unknown role {role!r}: choose one of {known}", field="role") from None


def _a(role: Role) -> str:
    """`a 'member'`, `an 'administrator'`: error messages are read by people."""
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value!r}"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password is too short ({len(password)} characters): use at least "
            f"{MIN_PASSWORD_LENGTH}, for example three random words",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"the password is too long ({len(password)} characters): use at most "
            f"{MAX_PASSWORD_LENGTH}",
            field="password",
        )
    if not password.strip():
        raise AccountError(
            "the password is only spaces: choose one with words in it", field="password"
        )


def _check_text(value: str, what: str, limit: int, field: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise AccountError(f"the {what} is empty: give one", field=field)
    if len(cleaned) > limit:
        raise AccountError(
            f"the {what} is {len(cleaned)} characters long: use at most {limit}", field=field
        )
    return cleaned


def _check_username(username: str) -> str:
    cleaned = _check_text(username, "user name", MAX_NAME_LENGTH, "username")
    if any(char.isspace() for char in cleaned):
        raise AccountError(
            f"the user name {cleaned!r} contains a space: use letters, digits, dots, "
            "hyphens or an email address",
            field="username",
        )
    if not cleaned.isprintable():
        raise AccountError("the user name contains control characters: retype it", field="username")
    return cleaned


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    cleaned = _check_text(email, "email address", MAX_EMAIL_LENGTH, "email")
    local, at, domain = cleaned.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in cleaned):
        raise AccountError(
            f"the email address {cleaned!r} is not valid: expected name@example.gov.uk",
            field="email",
        )
    return cleaned


def _find_user(conn: sa.Connection, username: str) -> sa.Row[Any, Any, Any]:
    """The user with this name, compared without case (as sign-in compares it)."""
    row = conn.execute(
        sa.select(users.c.id, users.c.username, users.c.active).where(
            sa.func.lower(users.c.username) == username.strip().lower()
        )
    ).first()
    if row is None:
        raise AccountError(
            f"no user is named {username.strip()!r}: check the spelling "
            "(`caseload users list` shows every account)"
        )
    return row


def _require_member(conn: sa.Connection, member_id: str, why: str, field: str) -> None:
    found = conn.execute(sa.select(members.c.id).where(members.c.id == member_id)).first()
    if found is None:
        raise AccountError(
            f"{why}: member id {member_id!r} is not in the directory. Check the id, or import "
            "the member first with `caseload directory import`",
            field=field,
        )


def _links_for(
    conn: sa.Connection,
    role: Role,
    member_id: str | None,
    officer_id: str | None,
    supports: Iterable[str],
) -> tuple[str | None, str | None, list[str]]:
    """Check the links `role` needs (and refuses), returning them cleaned."""
    member_id = member_id.strip() if member_id and member_id.strip() else None
    officer_id = officer_id.strip() if officer_id and officer_id.strip() else None
    supported = list(dict.fromkeys(each.strip() for each in supports if each.strip()))
    if member_id is not None and role is not Role.MEMBER:
        raise AccountError(
            f"{_a(role)} user cannot be linked to a member record: only 'member' users "
            "are. To let this person work for a councillor, make them 'members_services' and "
            "name the councillor as a supported member",
            field="member_id",
        )
    if officer_id is not None and role is not Role.SERVICE_OFFICER:
        raise AccountError(
            f"{_a(role)} user cannot be linked to an officer: only 'service_officer' users are",
            field="officer_id",
        )
    if supported and role is not Role.MEMBERS_SERVICES:
        raise AccountError(
            f"{_a(role)} user cannot support members: only 'members_services' users do",
            field="supports",
        )
    if role is Role.MEMBER:
        if member_id is None:
            raise AccountError(
                "a 'member' user needs a member id: the councillor this account belongs to",
                field="member_id",
            )
        _require_member(conn, member_id, "cannot link the user to a member", "member_id")
    elif role is Role.SERVICE_OFFICER:
        if officer_id is None:
            raise AccountError(
                "a 'service_officer' user needs an officer id: the officer whose service's "
                "cases this account answers",
                field="officer_id",
            )
        found = conn.execute(sa.select(officers.c.id).where(officers.c.id == officer_id)).first()
        if found is None:
            raise AccountError(
                f"cannot link the user to an officer: officer id {officer_id!r} is not in the "
                "directory. Check the id, or import the officer first with "
                "`caseload directory import`",
                field="officer_id",
            )
    elif role is Role.MEMBERS_SERVICES:
        if not supported:
            raise AccountError(
                "a 'members_services' user needs at least one supported member: the "
                "councillors whose cases this person works on",
                field="supports",
            )
        for each in supported:
            _require_member(conn, each, "cannot add a supported member", "supports")
    return member_id, officer_id, supported


def _acting_for(supported: list[str]) -> list[str | None]:
    """One grant per supported member; one grant naming nobody for every other role."""
    return [*supported] or [None]


def create_user(
    conn: sa.Connection,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    password: str | None = None,
    email: str | None = None,
    member_id: str | None = None,
    officer_id: str | None = None,
    supports: Iterable[str] = (),
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> int:
    """Create an active account with one role; returns its id.

    `password=None` makes an account that can sign in only through single sign-on. Raises
    `AccountError` (nothing written) when the role's needs are not met or the name is taken.
    """
    username = _check_username(username)
    display_name = _check_text(display_name, "display name", MAX_NAME_LENGTH, "display_name")
    checked_role = _role(role)
    email = _check_email(email)
    if password is not None:
        _check_password(password)
    taken = conn.execute(
        sa.select(users.c.username).where(sa.func.lower(users.c.username) == username.lower())
    ).first()
    if taken is not None:
        raise AccountError(
            f"a user named {taken.username!r} already exists (names are compared without "
            "case): choose another name, or change that account",
            field="username",
        )
    member_id, officer_id, supported = _links_for(
        conn, checked_role, member_id, officer_id, supports
    )
    user_id = int(
        conn.execute(
            sa.insert(users)
            .values(
                username=username,
                display_name=display_name,
                email=email,
                member_id=member_id,
                officer_id=officer_id,
                password_hash=hash_password(password) if password is not None else None,
                active=True,
                created_at=now or datetime.now(UTC),
            )
            .returning(users.c.id)
        ).scalar_one()
    )
    grants = [
        {"user_id": user_id, "role_name": checked_role.value, "acting_for_member_id": each}
        for each in _acting_for(supported)
    ]
    conn.execute(sa.insert(user_roles), grants)
    record_event(
        conn,
        actor=actor,
        action="user.create",
        subject_type=SUBJECT_TYPE,
        subject_id=str(user_id),
        detail={
            "username": username,
            "role": checked_role.value,
            "member_id": member_id,
            "officer_id": officer_id,
            "supports": supported,
            "has_password": password is not None,
        },
        at=now,
    )
    return user_id


def _sign_out_everywhere(conn: sa.Connection, username: str) -> None:
    """End the user's portal sessions (the portal's session ids are its user names)."""
    conn.execute(sa.delete(portal_sessions).where(portal_sessions.c.user_id == username))


def set_password(
    conn: sa.Connection,
    username: str,
    password: str,
    *,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> int:
    """Replace the user's password (disabled accounts too: they stay disabled); returns the id."""
    _check_password(password)
    user = _find_user(conn, username)
    conn.execute(
        sa.update(users).where(users.c.id == user.id).values(password_hash=hash_password(password))
    )
    _sign_out_everywhere(conn, user.username)  # a reset password ends every old session
    record_event(
        conn,
        actor=actor,
        action="user.set_password",
        subject_type=SUBJECT_TYPE,
        subject_id=str(user.id),
        detail={"username": user.username},
        at=now,
    )
    return int(user.id)


def deactivate(
    conn: sa.Connection,
    username: str,
    *,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> bool:
    """Stop the user signing in, keeping the account for the audit trail.

    Returns False (and records nothing) when the account was already disabled.
    """
    user = _find_user(conn, username)
    if not user.active:
        return False
    conn.execute(sa.update(users).where(users.c.id == user.id).values(active=False))
    _sign_out_everywhere(conn, user.username)
    record_event(
        conn,
        actor=actor,
        action="user.deactivate",
        subject_type=SUBJECT_TYPE,
        subject_id=str(user.id),
        detail={"username": user.username},
        at=now,
    )
    return True


def reactivate(
    conn: sa.Connection,
    username: str,
    *,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> bool:
    """Let a disabled user sign in again (with the password they had, if any).

    Returns False (and records nothing) when the account was already active.
    """
    user = _find_user(conn, username)
    if user.active:
        return False
    conn.execute(sa.update(users).where(users.c.id == user.id).values(active=True))
    record_event(
        conn,
        actor=actor,
        action="user.reactivate",
        subject_type=SUBJECT_TYPE,
        subject_id=str(user.id),
        detail={"username": user.username},
        at=now,
    )
    return True


def change_role(
    conn: sa.Connection,
    username: str,
    *,
    role: Role | str,
    member_id: str | None = None,
    officer_id: str | None = None,
    supports: Iterable[str] = (),
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> bool:
    """Give the user this one role and the links it needs (as `create_user` checks them):
    the member record, the officer, or the members supported.

    Takes effect on the user's next request (the portal reads the role on each). Returns False
    (and records nothing) when the account already has exactly this role and these links.
    """
    checked_role = _role(role)
    user = _find_user(conn, username)
    member_id, officer_id, supported = _links_for(
        conn, checked_role, member_id, officer_id, supports
    )
    before = find_user(conn, user.username)
    assert before is not None
    if (
        before.role == checked_role.value
        and before.member_id == member_id
        and before.officer_id == officer_id
        and sorted(before.supports) == sorted(supported)
    ):
        return False
    conn.execute(
        sa.update(users)
        .where(users.c.id == user.id)
        .values(member_id=member_id, officer_id=officer_id)
    )
    conn.execute(sa.delete(user_roles).where(user_roles.c.user_id == user.id))
    conn.execute(
        sa.insert(user_roles),
        [
            {"user_id": user.id, "role_name": checked_role.value, "acting_for_member_id": each}
            for each in _acting_for(supported)
        ],
    )
    record_event(
        conn,
        actor=actor,
        action="user.change_role",
        subject_type=SUBJECT_TYPE,
        subject_id=str(user.id),
        detail={
            "username": user.username,
            "role": checked_role.value,
            "member_id": member_id,
            "officer_id": officer_id,
            "supports": supported,
            "before": {
                "role": before.role,
                "member_id": before.member_id,
                "officer_id": before.officer_id,
                "supports": before.supports,
            },
        },
        at=now,
    )
    return True


def list_users(conn: sa.Connection) -> list[UserSummary]:
    """Every account, by user name, with its role and links."""
    return _summaries(conn, sa.true())


def find_user(conn: sa.Connection, username: str) -> UserSummary | None:
    """The account with this user name (compared without case, as sign-in does), or None."""
    found = _summaries(conn, sa.func.lower(users.c.username) == username.strip().lower())
    return found[0] if found else None


def get_user(conn: sa.Connection, user_id: int) -> UserSummary | None:
    """The account with this id, or None."""
    found = _summaries(conn, users.c.id == user_id)
    return found[0] if found else None


def _summaries(conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[UserSummary]:
    rows = conn.execute(
        sa.select(
            users.c.id,
            users.c.username,
            users.c.display_name,
            users.c.email,
            users.c.member_id,
            users.c.officer_id,
            users.c.active,
            users.c.password_hash.is_not(None).label("has_password"),
            users.c.created_at,
            user_roles.c.role_name,
            user_roles.c.acting_for_member_id,
        )
        .select_from(users.outerjoin(user_roles, user_roles.c.user_id == users.c.id))
        .where(where)
        .order_by(sa.func.lower(users.c.username), users.c.id, user_roles.c.id)
    ).all()
    found: dict[int, UserSummary] = {}
    for row in rows:
        summary = found.get(row.id)
        if summary is None:
            summary = found[row.id] = UserSummary(
                id=row.id,
                username=row.username,
                display_name=row.display_name,
                email=row.email,
                role=row.role_name,
                member_id=row.member_id,
                officer_id=row.officer_id,
                supports=[],
                active=bool(row.active),
                has_password=bool(row.has_password),
                created_at=row.created_at,
            )
        elif row.role_name is not None and row.role_name != summary.role:
            # Only rows written by hand can disagree; show them rather than hide one.
            summary.role = ", ".join(sorted({summary.role or "", row.role_name} - {""}))
        if row.acting_for_member_id is not None:
            summary.supports.append(row.acting_for_member_id)
    return list(found.values())


def list_roles(conn: sa.Connection) -> list[RoleInfo]:
    """The roles the store knows (seeded by the first migration), in the order granted."""
    order = {each.value: number for number, each in enumerate(Role)}
    rows = conn.execute(sa.select(roles.c.name, roles.c.description)).all()
    infos = [RoleInfo(name=row.name, description=row.description) for row in rows]
    return sorted(infos, key=lambda info: (order.get(info.name, len(order)), info.name))


@dataclass(frozen=True, slots=True)
class LinkChoice:
    """A record an account can be linked to: a member, or an officer (with their service)."""

    id: str
    name: str


def link_choices(conn: sa.Connection) -> tuple[list[LinkChoice], list[LinkChoice]]:
    """The members and the officers of the directory an account can be linked to, by name."""
    member_rows = conn.execute(
        sa.select(members.c.id, members.c.name).order_by(sa.func.lower(members.c.name))
    ).all()
    officer_rows = conn.execute(
        sa.select(officers.c.id, officers.c.name, services.c.name.label("service"))
        .select_from(officers.outerjoin(services, services.c.id == officers.c.service_id))
        .order_by(sa.func.lower(officers.c.name))
    ).all()
    return (
        [LinkChoice(row.id, row.name) for row in member_rows],
        [
            LinkChoice(row.id, f"{row.name} ({row.service})" if row.service else row.name)
            for row in officer_rows
        ],
    )


_READABLE_CHARACTERS: Final = "abcdefghjkmnpqrstuvwxyz23456789"
"""No 0/o, 1/l/i: a password read out or copied by hand is not mistyped."""


def new_password() -> str:
    """A random password to be shown once to the administrator who set it: five groups of four
    (about 99 bits), hyphenated so it can be read out."""
    groups = ("".join(secrets.choice(_READABLE_CHARACTERS) for _ in range(4)) for _ in range(5))
    return "-".join(groups)


class StoreAccountAdmin:
    """`AccountAdmin` over the store: the account pages' reads and changes, each in one
    transaction with its audit event (the functions above)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list_accounts(self) -> list[UserSummary]:
        with self.store.read() as conn:
            return list_users(conn)

    def account(self, user_id: int) -> UserSummary | None:
        with self.store.read() as conn:
            return get_user(conn, user_id)

    def link_choices(self) -> tuple[list[LinkChoice], list[LinkChoice]]:
        with self.store.read() as conn:
            return link_choices(conn)

    def create(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password: str | None,
        email: str | None,
        member_id: str | None,
        officer_id: str | None,
        supports: Sequence[str],
        actor: str,
    ) -> int:
        with self.store.write() as conn:
            return create_user(
                conn,
                username=username,
                display_name=display_name,
                role=role,
                password=password,
                email=email,
                member_id=member_id,
                officer_id=officer_id,
                supports=supports,
                actor=actor,
            )

    def change_role(
        self,
        username: str,
        *,
        role: Role,
        member_id: str | None,
        officer_id: str | None,
        supports: Sequence[str],
        actor: str,
    ) -> bool:
        with self.store.write() as conn:
            return change_role(
                conn,
                username,
                role=role,
                member_id=member_id,
                officer_id=officer_id,
                supports=supports,
                actor=actor,
            )

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        with self.store.write() as conn:
            set_password(conn, username, password, actor=actor)

    def set_active(self, username: str, active: bool, *, actor: str) -> bool:
        with self.store.write() as conn:
            if active:
                return reactivate(conn, username, actor=actor)
            return deactivate(conn, username, actor=actor)


class StoreAccounts:
    """`Accounts` over the store's users and user_roles tables.

    The user name is the user id (it is what the audit trail shows). A user needs exactly one
    role; members' services staff have one `members_services` row per supported member, naming
    it in `acting_for_member_id`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def by_user_id(self, user_id: str) -> Account | None:
        return self.by_username(user_id)

    def by_username(self, username: str) -> Account | None:
        # One round trip, asked on every request: a row per role grant, each carrying the user
        # and what their role links to (member, ward and party; officer's service).
        with self.store.read() as conn:
            rows = conn.execute(_ACCOUNT_ROWS, {"username": username.lower()}).all()
        if not rows:
            return None
        user = rows[0]
        viewer = self._viewer(user, rows)
        if viewer is None:
            return None
        return Account(
            username=user.username,
            display_name=user.display_name,
            password_hash=user.password_hash,
            viewer=viewer,
            active=bool(user.active),
        )

    def _viewer(self, user: Any, grants: Sequence[Any]) -> Viewer | None:
        # Rows of `_ACCOUNT_ROWS`.
        names = {grant.role_name for grant in grants if grant.role_name is not None}
        if len(names) != 1:
            log.warning(
                "user id %s has %d roles; a user needs exactly one, so sign-in is refused",
                user.id,
                len(names),
            )
            return None
        try:
            role = Role(names.pop())
        except ValueError:
            log.warning("user id %s has a role the portal does not know", user.id)
            return None
        try:
            if role is Role.MEMBER:
                if user.linked_member_id is None:
                    raise ViewerError(f"user {user.username!r} has role 'member' but no member")
                return Viewer(
                    user.username,
                    role,
                    member_id=user.linked_member_id,
                    party=user.member_party,
                    ward_id=user.member_ward_id,
                )
            if role is Role.MEMBERS_SERVICES:
                supported = frozenset(
                    g.acting_for_member_id for g in grants if g.acting_for_member_id
                )
                return Viewer(user.username, role, supported_member_ids=supported)
            if role is Role.SERVICE_OFFICER:
                service = user.officer_service_id
                return Viewer(
                    user.username, role, service_ids=frozenset({service} if service else ())
                )
            return Viewer(user.username, role)
        except ViewerError as error:
            log.warning("user id %s cannot sign in: %s", user.id, error)
            return None


_ACCOUNT_ROWS = (
    sa.select(
        users.c.id,
        users.c.username,
        users.c.display_name,
        users.c.password_hash,
        users.c.active,
        user_roles.c.role_name,
        user_roles.c.acting_for_member_id,
        members.c.id.label("linked_member_id"),
        members.c.ward_id.label("member_ward_id"),
        parties.c.name.label("member_party"),
        officers.c.service_id.label("officer_service_id"),
    )
    .select_from(
        users.outerjoin(user_roles, user_roles.c.user_id == users.c.id)
        .outerjoin(members, members.c.id == users.c.member_id)
        .outerjoin(parties, parties.c.id == members.c.party_id)
        .outerjoin(officers, officers.c.id == users.c.officer_id)
    )
    .where(sa.func.lower(users.c.username) == sa.bindparam("username"))
)
"""A user's account in one statement, built once (the sign-in check runs on every request)."""


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Account",
    "AccountError",
    "LinkChoice",
    "RoleInfo",
    "StoreAccountAdmin",
    "StoreAccounts",
    "UserSummary",
    "change_role",
    "create_user",
    "deactivate",
    "find_user",
    "get_user",
    "hash_password",
    "link_choices",
    "list_roles",
    "list_users",
    "new_password",
    "reactivate",
    "set_password",
]
