"""Accounts, for administrators: the list, a new account, and one account's page (its role and
links, a new password, disable or enable), each beside its JSON endpoint over the same
`casework.accounts` call. A new password is shown once, in the answer that made it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from portal_extensions.access import Page, Role, Viewer
from portal_extensions.casework import accounts as casework_accounts
from portal_extensions.casework.accounts import (
    ROLE_TEXT,
    AccountForm,
    AccountNotFound,
    AccountSaved,
    RoleForm,
    SignIn,
)
from portal_extensions.casework.results import Conflict, Invalid
from portal_extensions.store.accounts import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, UserSummary
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render
from portal_extensions.web.refusals import NotFound
from portal_extensions.web.routes.case import ConflictOut, ProblemsOut

page = page_router()
api = api_router()

FIELD_IDS = {
    "username": "username",
    "display_name": "display_name",
    "email": "email",
    "role": "role",
    "member_id": "member_id",
    "officer_id": "officer_id",
    "supports": "supports",
    "sign_in": "sign_in",
    "password": "sign_in",
}
DONE_TEXT = {
    "role": "The role was saved. It applies from the person's next click.",
    "disabled": "The account was disabled and signed out everywhere.",
    "enabled": "The account was enabled. The person can sign in again.",
    "unchanged": "Nothing needed changing.",
}
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
# Far above any field's own limit, so a name typed too long is shown beside its field (the
# store's limits), while a body no form could send is refused before it is read.
Text = Annotated[str, Form(max_length=MAX_NAME_LENGTH * 20)]


def _account(portal: Portal, viewer: Viewer, user_id: int) -> UserSummary:
    """The account to show (audited as viewed), or 404."""
    try:
        return casework_accounts.open_account(
            viewer, user_id, admin=portal.account_admin, audit=portal.audit, now=portal.clock()
        )
    except AccountNotFound:
        raise NotFound from None


def _changing(portal: Portal, user_id: int) -> UserSummary:
    """The account a change is about (the change is audited by the store), or 404."""
    try:
        return casework_accounts.find_account(user_id, admin=portal.account_admin)
    except AccountNotFound:
        raise NotFound from None


def _role_items() -> list[dict[str, Any]]:
    return [
        {"value": role.value, "text": text, "hint": {"text": hint}}
        for role, (text, hint) in ROLE_TEXT.items()
    ]


def _choices(portal: Portal) -> dict[str, list[dict[str, str]]]:
    members, officers = portal.account_admin.link_choices()
    return {
        "member_choices": [{"value": m.id, "text": m.name} for m in members],
        "officer_choices": [{"value": o.id, "text": o.name} for o in officers],
    }


def _errors(errors: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"text": text, "href": f"#{FIELD_IDS.get(name, name)}"} for name, text in errors.items()
    ]


def _links_text(portal: Portal) -> Callable[[UserSummary], str]:
    """What an account is linked to, in words (names read once per page)."""
    names = portal.directory.names()
    members, officers = portal.account_admin.link_choices()
    member_names = {m.id: m.name for m in members}
    officer_names = {o.id: o.name for o in officers}

    def member(member_id: str) -> str:
        return member_names.get(member_id) or names.member(member_id)

    def words(account: UserSummary) -> str:
        if account.member_id:
            return member(account.member_id)
        if account.officer_id:
            return officer_names.get(account.officer_id, account.officer_id)
        if account.supports:
            return "Supports " + ", ".join(member(each) for each in account.supports)
        return ""

    return words


def _role_text(role: str | None) -> str:
    try:
        return ROLE_TEXT[Role(role or "")][0]
    except ValueError:
        return role or "No role (cannot sign in)"


# --------------------------------------------------------------------------------------------
# The list


@page.get("/accounts")
@allow(Page.ACCOUNTS)
def accounts_page(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """Every account: name, user name, role and what it is linked to, active or disabled."""
    found = casework_accounts.list_accounts(
        viewer, admin=portal.account_admin, audit=portal.audit, now=portal.clock()
    )
    links = _links_text(portal)
    rows = [
        {"account": account, "role": _role_text(account.role), "links": links(account)}
        for account in found
    ]
    return render(request, "accounts.html", {"rows": rows})


class AccountOut(BaseModel):
    """An account as the API shows it (never a password or its hash)."""

    account: UserSummary


class AccountsOut(BaseModel):
    accounts: list[UserSummary]


@api.get("/accounts", response_model=AccountsOut)
@allow(Page.ACCOUNTS)
def accounts(portal: PortalDep, viewer: ViewerDep) -> AccountsOut:
    """Every account, by user name, with its role, links and whether it may sign in."""
    found = casework_accounts.list_accounts(
        viewer, admin=portal.account_admin, audit=portal.audit, now=portal.clock()
    )
    return AccountsOut(accounts=found)


# --------------------------------------------------------------------------------------------
# A new account


def _new_page(
    request: Request,
    portal: Portal,
    typed: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    field_errors = field_errors or {}
    values = {"sign_in": SignIn.PASSWORD.value, "supports": [], **(typed or {})}
    return render(
        request,
        "account_new.html",
        {
            "typed": values,
            "role_items": _role_items(),
            **_choices(portal),
            "field_errors": field_errors,
            "errors": _errors(field_errors),
        },
        422 if field_errors else 200,
    )


@page.get("/accounts/new")
@allow(Page.NEW_ACCOUNT)
def new_account_page(request: Request, portal: PortalDep) -> Response:
    """The form for a new account."""
    return _new_page(request, portal)


@page.post("/accounts/new")
@allow(Page.NEW_ACCOUNT)
def new_account_form(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    username: Text = "",
    display_name: Text = "",
    email: Annotated[str, Form(max_length=MAX_EMAIL_LENGTH * 20)] = "",
    role: Text = "",
    member_id: Text = "",
    officer_id: Text = "",
    supports: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    sign_in: Text = SignIn.PASSWORD.value,
) -> Response:
    """Create the account: its page with the one-time password, or the form again with each
    problem beside its field and everything typed kept."""
    form = AccountForm(
        role=role,
        member_id=member_id,
        officer_id=officer_id,
        supports=tuple(supports),
        username=username,
        display_name=display_name,
        email=email,
        sign_in=sign_in,
    )
    result = casework_accounts.create_account(viewer, form, admin=portal.account_admin)
    if isinstance(result, Invalid):
        typed = {
            "username": username.strip(),
            "display_name": display_name.strip(),
            "email": email.strip(),
            "role": role,
            "member_id": member_id,
            "officer_id": officer_id,
            "supports": list(supports),
            "sign_in": sign_in,
        }
        return _new_page(request, portal, typed, result.errors)
    return _saved_page(request, portal, result, "created")


class RoleIn(BaseModel):
    role: Role
    member_id: Annotated[str, Field(max_length=64)] | None = None
    officer_id: Annotated[str, Field(max_length=64)] | None = None
    supports: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=500)] = []


class NewAccountIn(RoleIn):
    username: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    display_name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    email: Annotated[str, Field(max_length=MAX_EMAIL_LENGTH)] | None = None
    sign_in: SignIn = SignIn.PASSWORD


class SavedOut(AccountOut):
    password: str | None = Field(
        None, description="The account's new password: shown here once, never again"
    )
    changed: bool = True


def _role_form(body: RoleIn) -> RoleForm:
    return RoleForm(
        role=body.role.value,
        member_id=body.member_id or "",
        officer_id=body.officer_id or "",
        supports=tuple(body.supports),
    )


def _json(result: AccountSaved | Conflict | Invalid, status_code: int = 200) -> JSONResponse:
    if isinstance(result, Conflict):
        return JSONResponse({"error": result.message}, 409)
    if isinstance(result, Invalid):
        return JSONResponse({"error": "Check the account", "fields": result.errors}, 422)
    saved = SavedOut(account=result.account, password=result.password, changed=result.changed)
    return JSONResponse(saved.model_dump(mode="json"), status_code)


CHANGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No account has this id"},
    409: {"model": ConflictOut},
    422: {"model": ProblemsOut},
}


@api.post(
    "/accounts",
    response_model=SavedOut,
    status_code=201,
    responses={422: {"model": ProblemsOut}},
)
@allow(Page.NEW_ACCOUNT)
def new_account(portal: PortalDep, viewer: ViewerDep, body: NewAccountIn) -> JSONResponse:
    """Create an account with one role; with `sign_in: password` its first password is in the
    answer, once."""
    role_form = _role_form(body)
    form = AccountForm(
        role=role_form.role,
        member_id=role_form.member_id,
        officer_id=role_form.officer_id,
        supports=role_form.supports,
        username=body.username,
        display_name=body.display_name,
        email=body.email or "",
        sign_in=body.sign_in.value,
    )
    return _json(casework_accounts.create_account(viewer, form, admin=portal.account_admin), 201)


# --------------------------------------------------------------------------------------------
# One account


def _account_page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    account: UserSummary,
    *,
    done: str | None = None,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    conflict: str | None = None,
) -> Response:
    field_errors = field_errors or {}
    values: dict[str, Any] = {
        "role": account.role or "",
        "member_id": account.member_id or "",
        "officer_id": account.officer_id or "",
        "supports": list(account.supports),
        **(typed or {}),
    }
    return render(
        request,
        "account.html",
        {
            "account": account,
            "role": _role_text(account.role),
            "links": _links_text(portal)(account),
            "yourself": account.username.casefold() == viewer.user_id.casefold(),
            "typed": values,
            "role_items": _role_items(),
            **_choices(portal),
            "done": DONE_TEXT.get(done or ""),
            "conflict": conflict,
            "field_errors": field_errors,
            "errors": _errors(field_errors),
        },
        status_code,
    )


def _saved_page(request: Request, portal: Portal, saved: AccountSaved, what: str) -> Response:
    """The answer that shows a new password, once (no store, no redirect to fetch it again)."""
    return render(
        request,
        "account_saved.html",
        {
            "account": saved.account,
            "password": saved.password,
            "what": what,
            "role": _role_text(saved.account.role),
        },
    )


@page.get("/accounts/{user_id}")
@allow(Page.ACCOUNTS)
def account_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, user_id: Id, done: str | None = None
) -> Response:
    """One account: its role and links (and the form to change them), its password, its state."""
    return _account_page(request, portal, viewer, _account(portal, viewer, user_id), done=done)


def _after(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    account: UserSummary,
    result: AccountSaved | Conflict | Invalid,
    done: str,
    typed: dict[str, Any] | None = None,
) -> Response:
    if isinstance(result, Conflict):
        return _account_page(
            request, portal, viewer, account, status_code=409, conflict=result.message
        )
    if isinstance(result, Invalid):
        return _account_page(
            request,
            portal,
            viewer,
            account,
            status_code=422,
            typed=typed,
            field_errors=result.errors,
        )
    shown = done if result.changed else "unchanged"
    return RedirectResponse(f"/accounts/{account.id}?done={shown}", status_code=303)


@page.post("/accounts/{user_id}/role")
@allow(Page.ACCOUNTS)
def role_form(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    user_id: Id,
    role: Text = "",
    member_id: Text = "",
    officer_id: Text = "",
    supports: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """Save the account's role and links."""
    account = _changing(portal, user_id)
    form = RoleForm(role, member_id, officer_id, tuple(supports))
    result = casework_accounts.change_account_role(
        viewer, account, form, admin=portal.account_admin
    )
    typed = {
        "role": role,
        "member_id": member_id,
        "officer_id": officer_id,
        "supports": list(supports),
    }
    return _after(request, portal, viewer, account, result, "role", typed)


@page.post("/accounts/{user_id}/password")
@allow(Page.ACCOUNTS)
def password_form(request: Request, portal: PortalDep, viewer: ViewerDep, user_id: Id) -> Response:
    """A new password, shown once; the account is signed out everywhere."""
    account = _changing(portal, user_id)
    result = casework_accounts.reset_password(viewer, account, admin=portal.account_admin)
    if isinstance(result, Conflict):
        return _after(request, portal, viewer, account, result, "password")
    return _saved_page(request, portal, result, "password")


@page.post("/accounts/{user_id}/disable")
@allow(Page.ACCOUNTS)
def disable_form(request: Request, portal: PortalDep, viewer: ViewerDep, user_id: Id) -> Response:
    """Stop the account signing in (it is kept, for the audit trail)."""
    account = _changing(portal, user_id)
    result = casework_accounts.set_active(viewer, account, False, admin=portal.account_admin)
    return _after(request, portal, viewer, account, result, "disabled")


@page.post("/accounts/{user_id}/enable")
@allow(Page.ACCOUNTS)
def enable_form(request: Request, portal: PortalDep, viewer: ViewerDep, user_id: Id) -> Response:
    """Let a disabled account sign in again."""
    account = _changing(portal, user_id)
    result = casework_accounts.set_active(viewer, account, True, admin=portal.account_admin)
    return _after(request, portal, viewer, account, result, "enabled")


@api.get(
    "/accounts/{user_id}",
    response_model=AccountOut,
    responses={404: {"description": "No account has this id"}},
)
@allow(Page.ACCOUNTS)
def account(portal: PortalDep, viewer: ViewerDep, user_id: Id) -> AccountOut:
    """One account. 404 when no account has this id."""
    return AccountOut(account=_account(portal, viewer, user_id))


@api.post("/accounts/{user_id}/role", response_model=SavedOut, responses=CHANGE_ANSWERS)
@allow(Page.ACCOUNTS)
def change_role(portal: PortalDep, viewer: ViewerDep, user_id: Id, body: RoleIn) -> JSONResponse:
    """Give the account one role and the links it needs (`member_id` for a member,
    `officer_id` for a service officer, `supports` for Members' Services). 409 for your own."""
    found = _changing(portal, user_id)
    return _json(
        casework_accounts.change_account_role(
            viewer, found, _role_form(body), admin=portal.account_admin
        )
    )


@api.post("/accounts/{user_id}/password", response_model=SavedOut, responses=CHANGE_ANSWERS)
@allow(Page.ACCOUNTS)
def new_password(portal: PortalDep, viewer: ViewerDep, user_id: Id) -> JSONResponse:
    """A new password for the account, in this answer only; its sessions end. 409 for your
    own."""
    found = _changing(portal, user_id)
    return _json(casework_accounts.reset_password(viewer, found, admin=portal.account_admin))


@api.post("/accounts/{user_id}/disable", response_model=SavedOut, responses=CHANGE_ANSWERS)
@allow(Page.ACCOUNTS)
def disable(portal: PortalDep, viewer: ViewerDep, user_id: Id) -> JSONResponse:
    """Stop the account signing in and end its sessions. 409 for your own."""
    found = _changing(portal, user_id)
    return _json(casework_accounts.set_active(viewer, found, False, admin=portal.account_admin))


@api.post("/accounts/{user_id}/enable", response_model=SavedOut, responses=CHANGE_ANSWERS)
@allow(Page.ACCOUNTS)
def enable(portal: PortalDep, viewer: ViewerDep, user_id: Id) -> JSONResponse:
    """Let the account sign in again."""
    found = _changing(portal, user_id)
    return _json(casework_accounts.set_active(viewer, found, True, admin=portal.account_admin))


__all__ = ["api", "page"]
