"""`caseload users add | list | disable | enable | set-password`: portal accounts in the store.

Thin: the rules live in `portal_extensions.store.accounts`. Passwords come from a hidden
prompt (typed twice) or, for scripts, from standard input with `--password-stdin`; never from
an argument, where they would show in the process list and the shell history.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from cli.common import ConfigOption, fail, open_runtime
from cli.store_cmd import HANDLED
from portal_extensions.access import Role
from portal_extensions.store.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    UserSummary,
    create_user,
    deactivate,
    list_users,
    reactivate,
    set_password,
)

ACTOR = "cli:users"
T = TypeVar("T")

app = typer.Typer(
    help="Portal user accounts and their roles.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts).",
    ),
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not line:
            raise AccountError("--password-stdin was given but standard input held no password")
        return line
    password: str = typer.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt=True,
        err=True,
    )
    return password


def _in_store(config: ConfigOption, work: Callable[..., T]) -> T:
    """Run `work(conn)` in one write transaction on the configured store."""
    try:
        runtime = open_runtime(config, need_crm=False)
        try:
            with runtime.store.write() as conn:
                return work(conn)
        finally:
            runtime.close()
    except (*HANDLED, AccountError) as exc:
        raise fail(exc) from None


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name (compared without case).")],
    role: Annotated[
        Role, typer.Option("--role", "-r", case_sensitive=False, help="The one role it has.")
    ],
    member: Annotated[
        str | None, typer.Option("--member", help="Member id (role member: the councillor).")
    ] = None,
    officer: Annotated[
        str | None, typer.Option("--officer", help="Officer id (role service_officer).")
    ] = None,
    supports: Annotated[
        list[str] | None,
        typer.Option(
            "--supports",
            help="Member id supported (role members_services; repeat for each member).",
        ),
    ] = None,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name shown in the portal.")
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="Contact address.")] = None,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="No password: the account signs in by SSO only."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Add an active account with one role (asks for its password)."""
    if no_password and password_stdin:
        raise fail(ValueError("give --no-password or --password-stdin, not both"))
    try:
        password = None if no_password else _read_password(password_stdin)
    except AccountError as exc:
        raise fail(exc) from None
    user_id = _in_store(
        config,
        lambda conn: create_user(
            conn,
            username=username,
            display_name=display_name or username,
            role=role,
            password=password,
            email=email,
            member_id=member,
            officer_id=officer,
            supports=supports or (),
            actor=ACTOR,
        ),
    )
    typer.echo(f"added user {username.strip()!r} (id {user_id}) with role {role.value}")


def _line(user: UserSummary) -> str:
    links = []
    if user.member_id:
        links.append(f"member {user.member_id}")
    if user.officer_id:
        links.append(f"officer {user.officer_id}")
    if user.supports:
        links.append("supports " + ", ".join(user.supports))
    if not user.has_password:
        links.append("no password")
    state = "active" if user.active else "disabled"
    extra = f" ({'; '.join(links)})" if links else ""
    return f"{user.username}\t{user.role or 'no role'}\t{state}\t{user.display_name}{extra}"


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Every account: user name, role, whether active, and its links."""
    found = _in_store(config, list_users)
    if as_json:
        typer.echo(json.dumps([user.model_dump(mode="json") for user in found], indent=2))
    elif not found:
        typer.echo("no users yet: add one with `caseload users add NAME --role ROLE`")
    else:
        for user in found:
            typer.echo(_line(user))


@app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The account to stop signing in.")],
    config: ConfigOption = None,
) -> None:
    """Stop an account signing in (it is kept, for the audit trail)."""
    changed = _in_store(config, lambda conn: deactivate(conn, username, actor=ACTOR))
    typer.echo(
        f"disabled user {username.strip()!r}"
        if changed
        else f"user {username.strip()!r} was already disabled"
    )


@app.command("enable")
def enable(
    username: Annotated[str, typer.Argument(help="The disabled account to let sign in again.")],
    config: ConfigOption = None,
) -> None:
    """Let a disabled account sign in again (with the password it had, if any)."""
    changed = _in_store(config, lambda conn: reactivate(conn, username, actor=ACTOR))
    typer.echo(
        f"enabled user {username.strip()!r}"
        if changed
        else f"user {username.strip()!r} was already enabled"
    )


@app.command("set-password")
def set_password_(
    username: Annotated[str, typer.Argument(help="The account whose password to replace.")],
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Replace an account's password (asks for the new one)."""
    try:
        password = _read_password(password_stdin)
    except AccountError as exc:
        raise fail(exc) from None
    _in_store(config, lambda conn: set_password(conn, username, password, actor=ACTOR))
    typer.echo(f"set a new password for {username.strip()!r}")


__all__ = ["app"]
