"""Accounts, as an administrator manages them in the portal: list, create, change the role (and
the member, officer or supported members it needs), disable or enable, reset the password.

The rules of an account are the store's (`store.accounts`, the one writer of the users and
roles tables, shared with `caseload users`): every role's links are checked there, passwords
are argon2-hashed, a reset or a disabled account ends the account's sessions, and each change
is audited with the administrator as actor. This module adds what a form needs: each problem
in words for the field it belongs to, a password made for the person and shown once (never
typed by the administrator, never stored in clear), and the one rule that only the portal
needs: an administrator does not disable, demote or reset themselves here, so the portal always
keeps an administrator who can undo a mistake (`caseload users` remains for that, too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from portal_extensions.access import Role, Viewer
from portal_extensions.casework.auditing import record
from portal_extensions.casework.errors import CaseworkError
from portal_extensions.casework.ports import AccountAdmin, AuditTrail
from portal_extensions.casework.results import Conflict, Invalid
from portal_extensions.store.accounts import AccountError, UserSummary, new_password
from portal_extensions.store.audit import Outcome

ROLE_TEXT: dict[Role, tuple[str, str]] = {
    Role.MEMBER: (
        "Councillor",
        "Their own cases, and ward colleagues' cases that residents agreed to share",
    ),
    Role.MEMBERS_SERVICES: (
        "Members' Services officer",
        "The cases of the councillors they support, recorded as acting for them",
    ),
    Role.TEAM_LEADER: ("Members' Services team leader", "Every case and every report"),
    Role.SERVICE_OFFICER: (
        "Service officer",
        "Cases sent to their service, with only what they need to reply",
    ),
    Role.ADMINISTRATOR: ("Administrator", "Accounts, the directory and health; no case content"),
}
"""What each role is called on the account pages, and what it lets a person see."""


class SignIn(StrEnum):
    """How a new account signs in."""

    PASSWORD = "password"  # noqa: S105 (a choice, not a secret): a password made and shown once
    SINGLE_SIGN_ON = "sso"  # the council's single sign-on only: no password


class AccountNotFound(CaseworkError):
    """No account has this id."""


@dataclass
class RoleForm:
    """A role and the links it needs, as typed (links the role does not use are ignored)."""

    role: str = ""
    member_id: str = ""
    officer_id: str = ""
    supports: tuple[str, ...] = ()


@dataclass
class AccountForm(RoleForm):
    """A new account, as typed."""

    username: str = ""
    display_name: str = ""
    email: str = ""
    sign_in: str = SignIn.PASSWORD.value


@dataclass(frozen=True, slots=True)
class AccountSaved:
    """The account after a change; `password` is a new password to show once, else None."""

    account: UserSummary
    password: str | None = None
    changed: bool = True  # False: it already was as asked, so nothing was written


@dataclass(frozen=True, slots=True)
class _Links:
    role: Role
    member_id: str | None
    officer_id: str | None
    supports: tuple[str, ...] = field(default_factory=tuple)


def _links(form: RoleForm, errors: dict[str, str]) -> _Links | None:
    """The role chosen and only the links it uses, or the problems (added to `errors`)."""
    try:
        role = Role(form.role)
    except ValueError:
        errors["role"] = "Select the account's role"
        return None
    member_id = form.member_id.strip() if role is Role.MEMBER else ""
    officer_id = form.officer_id.strip() if role is Role.SERVICE_OFFICER else ""
    supports = tuple(each.strip() for each in form.supports if each.strip())
    supports = supports if role is Role.MEMBERS_SERVICES else ()
    if role is Role.MEMBER and not member_id:
        errors["member_id"] = "Select the councillor this account belongs to"
    if role is Role.SERVICE_OFFICER and not officer_id:
        errors["officer_id"] = "Select the officer this account belongs to"
    if role is Role.MEMBERS_SERVICES and not supports:
        errors["supports"] = "Select at least one councillor they support"
    return _Links(role, member_id or None, officer_id or None, supports)


def _problem(error: AccountError) -> dict[str, str]:
    """The store's refusal beside its field, written as a sentence."""
    message = str(error)
    return {error.field or "username": message[:1].upper() + message[1:]}


def list_accounts(
    viewer: Viewer, *, admin: AccountAdmin, audit: AuditTrail, now: datetime
) -> list[UserSummary]:
    """Every account (a list of staff names and addresses: audited as viewed)."""
    record(audit, viewer, now, "view_accounts", Outcome.ALLOWED, subject_type="user")
    return admin.list_accounts()


def find_account(user_id: int, *, admin: AccountAdmin) -> UserSummary:
    """The account a change is about (the change audits itself); `AccountNotFound` when there
    is none."""
    account = admin.account(user_id)
    if account is None:
        raise AccountNotFound
    return account


def open_account(
    viewer: Viewer, user_id: int, *, admin: AccountAdmin, audit: AuditTrail, now: datetime
) -> UserSummary:
    """One account, audited as viewed; `AccountNotFound` when there is none."""
    account = find_account(user_id, admin=admin)
    record(
        audit,
        viewer,
        now,
        "view_account",
        Outcome.ALLOWED,
        subject_type="user",
        subject_id=str(user_id),
    )
    return account


def create_account(
    viewer: Viewer, form: AccountForm, *, admin: AccountAdmin
) -> AccountSaved | Invalid:
    """Create the account; with `SignIn.PASSWORD` its first password is made here and returned
    once (`AccountSaved.password`) for the administrator to give the person."""
    errors: dict[str, str] = {}
    if not form.username.strip():
        errors["username"] = "Enter a user name"
    if not form.display_name.strip():
        errors["display_name"] = "Enter the person's name"
    links = _links(form, errors)
    if form.sign_in not in {each.value for each in SignIn}:
        errors["sign_in"] = "Select how the person signs in"
    if errors or links is None:
        return Invalid(errors)
    password = new_password() if form.sign_in == SignIn.PASSWORD.value else None
    try:
        user_id = admin.create(
            username=form.username,
            display_name=form.display_name,
            role=links.role,
            password=password,
            email=form.email or None,
            member_id=links.member_id,
            officer_id=links.officer_id,
            supports=links.supports,
            actor=viewer.user_id,
        )
    except AccountError as error:
        return Invalid(_problem(error))
    account = admin.account(user_id)
    assert account is not None  # just created, in a committed transaction
    return AccountSaved(account, password)


def _not_yourself(viewer: Viewer, account: UserSummary, what: str) -> Conflict | None:
    if account.username.casefold() != viewer.user_id.casefold():
        return None
    return Conflict(
        f"You cannot {what} your own account here. Ask another administrator, or use "
        "`caseload users` on the server"
    )


def change_account_role(
    viewer: Viewer, account: UserSummary, form: RoleForm, *, admin: AccountAdmin
) -> AccountSaved | Conflict | Invalid:
    """Give the account the chosen role and its links (not one's own: see the module)."""
    refused = _not_yourself(viewer, account, "change the role of")
    if refused:
        return refused
    errors: dict[str, str] = {}
    links = _links(form, errors)
    if errors or links is None:
        return Invalid(errors)
    try:
        changed = admin.change_role(
            account.username,
            role=links.role,
            member_id=links.member_id,
            officer_id=links.officer_id,
            supports=links.supports,
            actor=viewer.user_id,
        )
    except AccountError as error:
        return Invalid(_problem(error))
    return AccountSaved(_reread(admin, account), changed=changed)


def reset_password(
    viewer: Viewer, account: UserSummary, *, admin: AccountAdmin
) -> AccountSaved | Conflict:
    """Give the account a new password, made here and returned once; its sessions end."""
    refused = _not_yourself(viewer, account, "reset the password of")
    if refused:
        return refused
    password = new_password()
    admin.set_password(account.username, password, actor=viewer.user_id)
    return AccountSaved(_reread(admin, account), password)


def set_active(
    viewer: Viewer, account: UserSummary, active: bool, *, admin: AccountAdmin
) -> AccountSaved | Conflict:
    """Enable or disable the account (a disabled one is signed out at once and kept, for the
    audit trail). Already so is not an error: nothing is written."""
    if not active:
        refused = _not_yourself(viewer, account, "disable")
        if refused:
            return refused
    changed = admin.set_active(account.username, active, actor=viewer.user_id)
    return AccountSaved(_reread(admin, account), changed=changed)


def _reread(admin: AccountAdmin, account: UserSummary) -> UserSummary:
    again = admin.account(account.id)
    if again is None:  # removed by hand in between: nothing the portal can show
        raise AccountNotFound
    return again


__all__ = [
    "ROLE_TEXT",
    "AccountForm",
    "AccountNotFound",
    "AccountSaved",
    "RoleForm",
    "SignIn",
    "change_account_role",
    "create_account",
    "find_account",
    "list_accounts",
    "open_account",
    "reset_password",
    "set_active",
]
