"""User accounts: the roles table, `portal_extensions.store.accounts` and `caseload users`.

Accounts made here must sign in through the portal's own `StoreAccounts`, so these tests go
through it rather than reading the tables back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from cli import users_cmd
from portal_extensions.access import Role
from portal_extensions.store import Store
from portal_extensions.store.accounts import (
    AccountError,
    StoreAccounts,
    change_role,
    create_user,
    deactivate,
    find_user,
    get_user,
    link_choices,
    list_roles,
    list_users,
    new_password,
    reactivate,
    set_password,
)
from portal_extensions.store.schema import (
    audit_events,
    members,
    metadata,
    officers,
    parties,
    user_roles,
    users,
    wards,
)
from portal_extensions.web.auth import check_password

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASSWORD = "three random words"
MEMBER_IDS = ("cllr-a", "cllr-b", "cllr-c")


def _seed_directory(store: Store) -> None:
    with store.write() as conn:
        conn.execute(sa.insert(parties), [{"id": "grn", "name": "Green"}])
        conn.execute(sa.insert(wards), [{"id": "abbey", "name": "Abbey"}])
        conn.execute(
            sa.insert(members),
            [
                {"id": each, "name": f"Cllr {each[-1].upper()}", "party_id": "grn"}
                | {"ward_id": "abbey"}
                for each in MEMBER_IDS
            ],
        )
        conn.execute(
            sa.insert(officers).values(
                id="off-1", name="Deepa Morgan", email="deepa@example.org", service_id="roads"
            )
        )


@pytest.fixture
def directory(store: Store) -> Store:
    _seed_directory(store)
    return store


def _audit_rows(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(audit_events).order_by(audit_events.c.id)).mappings()
        return [dict(row) for row in rows]


# ------------------------------------------------------------------------ schema


def test_the_five_roles_are_seeded_with_plain_english_descriptions(store: Store) -> None:
    with store.read() as conn:
        seeded = list_roles(conn)
    assert [role.name for role in seeded] == [role.value for role in Role]
    for role in seeded:
        assert len(role.description.split()) >= 8, role
        assert "_" not in role.description, role


def test_schema_module_matches_what_the_migrations_build(store: Store) -> None:
    # Objects the migration adds by hand that metadata cannot describe: the SQLite FTS5 index
    # (and its shadow tables) and the PostgreSQL generated search column with its index.
    expected_extras = {("cases_fts",), ("cases", "search_vector"), ("ix_cases_search_vector",)}

    def extra(diff: tuple[Any, ...]) -> tuple[str, ...] | None:
        kind, *rest = diff
        if kind == "remove_table" and rest[0].name.startswith("cases_fts"):
            return ("cases_fts",)
        if kind == "remove_column":
            return (rest[1], rest[2].name)
        if kind == "remove_index":
            return (rest[0].name,)
        return None

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    unexpected = [diff for diff in diffs if extra(diff) not in expected_extras]
    assert unexpected == []


def test_grants_are_unique_per_member_and_name_a_member_only_for_members_services(
    directory: Store,
) -> None:
    with directory.write() as conn:
        ms = create_user(
            conn,
            username="sam",
            display_name="Sam",
            role=Role.MEMBERS_SERVICES,
            supports=["cllr-a"],
        )
        leader = create_user(conn, username="lee", display_name="Lee", role="team_leader")
    refused = [
        {"user_id": ms, "role_name": "members_services", "acting_for_member_id": "cllr-a"},
        {"user_id": leader, "role_name": "team_leader", "acting_for_member_id": None},
        {"user_id": leader, "role_name": "team_leader", "acting_for_member_id": "cllr-a"},
        {"user_id": ms, "role_name": "members_services", "acting_for_member_id": None},
    ]
    for row in refused:
        with pytest.raises(sa.exc.IntegrityError), directory.write() as conn:
            conn.execute(sa.insert(user_roles).values(**row))
    with directory.write() as conn:  # a second supported member is a new, allowed grant
        conn.execute(
            sa.insert(user_roles).values(
                user_id=ms, role_name="members_services", acting_for_member_id="cllr-b"
            )
        )
        count = conn.execute(sa.select(sa.func.count()).select_from(user_roles)).scalar_one()
    assert count == 3


# --------------------------------------------------------------------- sign-in


def test_members_services_user_signs_in_supporting_every_member_given(directory: Store) -> None:
    with directory.write() as conn:
        create_user(
            conn,
            username="Sam.Patel",
            display_name="Sam Patel",
            role="members_services",
            password=PASSWORD,
            email="sam.patel@example.org",
            supports=[*MEMBER_IDS, "cllr-a"],  # a repeat is one grant, not an error
        )
    account = check_password(StoreAccounts(directory), "sam.patel", PASSWORD)
    assert account is not None and account.active
    assert account.viewer.role is Role.MEMBERS_SERVICES
    assert account.viewer.supported_member_ids == frozenset(MEMBER_IDS)
    assert check_password(StoreAccounts(directory), "sam.patel", PASSWORD + "!") is None
    with directory.read() as conn:
        found = find_user(conn, " SAM.PATEL ")
        assert find_user(conn, "sam") is None
    assert found is not None and found.username == "Sam.Patel"
    assert (found.role, found.supports, found.email) == (
        "members_services",
        list(MEMBER_IDS),
        "sam.patel@example.org",
    )


def test_each_other_role_signs_in_with_its_links(directory: Store) -> None:
    with directory.write() as conn:
        create_user(conn, username="ann", display_name="Ann", role="member", member_id="cllr-b")
        create_user(
            conn, username="deepa", display_name="Deepa", role="SERVICE_OFFICER", officer_id="off-1"
        )
        create_user(conn, username="lee", display_name="Lee", role=Role.TEAM_LEADER)
        create_user(conn, username="root", display_name="Admin", role=Role.ADMINISTRATOR)
    accounts = StoreAccounts(directory)
    member = accounts.by_username("ann")
    officer = accounts.by_username("deepa")
    leader = accounts.by_username("lee")
    admin = accounts.by_username("root")
    assert member is not None and officer is not None and leader is not None
    assert admin is not None
    assert (member.viewer.role, member.viewer.member_id, member.viewer.party) == (
        Role.MEMBER,
        "cllr-b",
        "Green",
    )
    assert officer.viewer.service_ids == frozenset({"roads"})
    assert leader.viewer.role is Role.TEAM_LEADER and admin.viewer.role is Role.ADMINISTRATOR
    assert member.password_hash is None  # no password given: single sign-on only


def test_a_new_password_signs_in_and_a_disabled_user_cannot(directory: Store) -> None:
    with directory.write() as conn:
        create_user(conn, username="ann", display_name="Ann", role="member", member_id="cllr-a")
        set_password(conn, "ANN", PASSWORD, actor="admin-1", now=NOW)
    accounts = StoreAccounts(directory)
    assert check_password(accounts, "ann", PASSWORD) is not None
    with directory.write() as conn:
        assert deactivate(conn, "ann", actor="admin-1", now=NOW) is True
        assert deactivate(conn, "ann", actor="admin-1", now=NOW) is False
    assert check_password(accounts, "ann", PASSWORD) is None
    with directory.read() as conn:
        (listed,) = list_users(conn)
    assert (listed.username, listed.active, listed.has_password) == ("ann", False, True)


def test_a_disabled_user_enabled_again_signs_in_with_the_password_they_had(
    directory: Store,
) -> None:
    with directory.write() as conn:
        create_user(conn, username="ann", display_name="Ann", role="team_leader", password=PASSWORD)
        deactivate(conn, "ann", actor="admin-1", now=NOW)
        assert reactivate(conn, "ANN", actor="admin-1", now=NOW) is True
        assert reactivate(conn, "ann", actor="admin-1", now=NOW) is False  # already active
    assert check_password(StoreAccounts(directory), "ann", PASSWORD) is not None
    actions = [(row["action"], row["actor"]) for row in _audit_rows(directory)]
    assert actions[-2:] == [("user.deactivate", "admin-1"), ("user.reactivate", "admin-1")]


def test_a_changed_role_replaces_every_grant_and_link_and_is_audited_with_the_old_one(
    directory: Store,
) -> None:
    with directory.write() as conn:
        create_user(conn, username="ann", display_name="Ann", role="member", member_id="cllr-a")
        with pytest.raises(AccountError) as refused:  # only a member is linked to a member
            change_role(conn, "ann", role="members_services", member_id="cllr-a")
        assert refused.value.field == "member_id"
        changed = change_role(
            conn, "ann", role="members_services", supports=["cllr-b", "cllr-c"], actor="admin-1"
        )
        same = change_role(
            conn, "ann", role="members_services", supports=["cllr-c", "cllr-b"], actor="admin-1"
        )
    assert changed is True and same is False
    account = StoreAccounts(directory).by_username("ann")
    assert account is not None and account.viewer.role is Role.MEMBERS_SERVICES
    assert account.viewer.supported_member_ids == {"cllr-b", "cllr-c"}
    with directory.write() as conn:
        change_role(conn, "ann", role="service_officer", officer_id="off-1", actor="admin-1")
        found = find_user(conn, "ann")
        assert found is not None
        summary = get_user(conn, found.id)
    assert summary is not None and summary.username == "ann"
    assert (summary.role, summary.member_id, summary.officer_id, summary.supports) == (
        "service_officer",
        None,
        "off-1",
        [],
    )
    events = [row for row in _audit_rows(directory) if row["action"] == "user.change_role"]
    assert [e["detail"]["before"]["role"] for e in events] == ["member", "members_services"]
    assert events[0]["detail"]["supports"] == ["cllr-b", "cllr-c"]


def test_link_choices_name_the_directorys_members_and_officers(directory: Store) -> None:
    with directory.read() as conn:
        members_found, officers_found = link_choices(conn)
        assert get_user(conn, 12345) is None
    assert [(m.id, m.name) for m in members_found] == [
        ("cllr-a", "Cllr A"),
        ("cllr-b", "Cllr B"),
        ("cllr-c", "Cllr C"),
    ]
    assert [(o.id, o.name) for o in officers_found] == [("off-1", "Deepa Morgan")]


def test_a_made_password_is_long_random_and_easy_to_read_out() -> None:
    made = {new_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        assert len(password) == 24 and password.count("-") == 4
        assert not set(password) & set("01ilo")


# ---------------------------------------------------------------------- validation

VALIDATION_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown role",
        {"role": "councillor"},
        "unknown role 'councillor': choose one of member, members_services, team_leader, "
        "service_officer, administrator",
    ),
    (
        "member without a member id",
        {"role": "member"},
        "a 'member' user needs a member id: the councillor this account belongs to",
    ),
    (
        "member with an unknown member id",
        {"role": "member", "member_id": "cllr-zz"},
        "cannot link the user to a member: member id 'cllr-zz' is not in the directory. Check "
        "the id, or import the member first with `caseload directory import`",
    ),
    (
        "service officer without an officer",
        {"role": "service_officer"},
        "a 'service_officer' user needs an officer id: the officer whose service's cases this "
        "account answers",
    ),
    (
        "service officer with an unknown officer",
        {"role": "service_officer", "officer_id": "off-9"},
        "cannot link the user to an officer: officer id 'off-9' is not in the directory. Check "
        "the id, or import the officer first with `caseload directory import`",
    ),
    (
        "members' services supporting nobody",
        {"role": "members_services", "supports": ["  "]},
        "a 'members_services' user needs at least one supported member: the councillors whose "
        "cases this person works on",
    ),
    (
        "members' services supporting an unknown member",
        {"role": "members_services", "supports": ["cllr-a", "cllr-zz"]},
        "cannot add a supported member: member id 'cllr-zz' is not in the directory. Check the "
        "id, or import the member first with `caseload directory import`",
    ),
    (
        "team leader linked to a member",
        {"role": "team_leader", "member_id": "cllr-a"},
        "a 'team_leader' user cannot be linked to a member record: only 'member' users are. To "
        "let this person work for a councillor, make them 'members_services' and name the "
        "councillor as a supported member",
    ),
    (
        "administrator linked to an officer",
        {"role": "administrator", "officer_id": "off-1"},
        "an 'administrator' user cannot be linked to an officer: only 'service_officer' users are",
    ),
    (
        "member supporting members",
        {"role": "member", "member_id": "cllr-a", "supports": ["cllr-b"]},
        "a 'member' user cannot support members: only 'members_services' users do",
    ),
    (
        "short password",
        {"role": "team_leader", "password": "hunter2"},
        "the password is too short (7 characters): use at least 12, for example three random words",
    ),
    (
        "password of spaces",
        {"role": "team_leader", "password": " " * 12},
        "the password is only spaces: choose one with words in it",
    ),
    (
        "overlong password",
        {"role": "team_leader", "password": "x" * 1025},
        "the password is too long (1025 characters): use at most 1024",
    ),
    (
        "empty user name",
        {"role": "team_leader", "username": "  "},
        "the user name is empty: give one",
    ),
    (
        "user name with a space",
        {"role": "team_leader", "username": "ann smith"},
        "the user name 'ann smith' contains a space: use letters, digits, dots, hyphens or an "
        "email address",
    ),
    (
        "empty display name",
        {"role": "team_leader", "display_name": ""},
        "the display name is empty: give one",
    ),
    (
        "bad email",
        {"role": "team_leader", "email": "lee at example"},
        "the email address 'lee at example' is not valid: expected name@example.gov.uk",
    ),
    (
        "name taken, in another case",
        {"role": "team_leader", "username": "EXISTING"},
        "a user named 'existing' already exists (names are compared without case): choose "
        "another name, or change that account",
    ),
]


def test_every_refused_account_says_why_and_writes_nothing(directory: Store) -> None:
    with directory.write() as conn:
        create_user(conn, username="existing", display_name="Existing", role="team_leader")
    before = len(_audit_rows(directory))
    for name, extra, message in VALIDATION_CASES:
        arguments = {"username": "new-user", "display_name": "New User"} | extra
        with pytest.raises(AccountError) as raised, directory.write() as conn:
            create_user(conn, **arguments)
        assert str(raised.value) == message, name
    with directory.read() as conn:
        assert [user.username for user in list_users(conn)] == ["existing"]
    assert len(_audit_rows(directory)) == before


def test_changing_an_unknown_user_says_so(directory: Store) -> None:
    message = (
        "no user is named 'ghost': check the spelling (`caseload users list` shows every account)"
    )
    with pytest.raises(AccountError) as raised, directory.write() as conn:
        set_password(conn, "ghost", PASSWORD)
    assert str(raised.value) == message
    with pytest.raises(AccountError) as raised, directory.write() as conn:
        deactivate(conn, "ghost")
    assert str(raised.value) == message


# ------------------------------------------------------------------------- audit


def test_each_change_is_audited_without_the_password(directory: Store) -> None:
    with directory.write() as conn:
        user_id = create_user(
            conn,
            username="sam",
            display_name="Sam",
            role="members_services",
            password=PASSWORD,
            supports=["cllr-b", "cllr-a"],
            actor="admin-1",
            now=NOW,
        )
        set_password(conn, "sam", PASSWORD + " again", actor="admin-1", now=NOW)
        deactivate(conn, "sam", actor="admin-2", now=NOW)
    events = _audit_rows(directory)
    assert [(e["action"], e["actor"], e["subject_type"]) for e in events] == [
        ("user.create", "admin-1", "user"),
        ("user.set_password", "admin-1", "user"),
        ("user.deactivate", "admin-2", "user"),
    ]
    assert {e["subject_id"] for e in events} == {str(user_id)}
    assert events[0]["at"] == NOW
    assert events[0]["detail"] == {
        "username": "sam",
        "role": "members_services",
        "member_id": None,
        "officer_id": None,
        "supports": ["cllr-b", "cllr-a"],
        "has_password": True,
    }
    written = json.dumps([e["detail"] for e in events])
    assert PASSWORD not in written and "argon2" not in written


# --------------------------------------------------------------------------- CLI


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(users_cmd.app, name="users")
    return root


def test_cli_adds_lists_disables_and_resets_users(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    monkeypatch.delenv("CASELOAD_CONFIG", raising=False)
    config = tmp_path / "caseload.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    _seed_directory(store)
    runner = CliRunner()
    app = _cli()
    c = ["--config", str(config)]

    added = runner.invoke(
        app,
        ["users", "add", "ann", "--role", "member", "--member", "cllr-a", *c],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    assert "added user 'ann' (id 1) with role member" in added.output
    assert PASSWORD not in added.output
    supported = runner.invoke(
        app,
        [
            *("users", "add", "sam", "--role", "MEMBERS_SERVICES", "--password-stdin"),
            *("--supports", "cllr-a", "--supports", "cllr-c", "--display-name", "Sam Patel"),
            *c,
        ],
        input=f"{PASSWORD}\n",
    )
    assert supported.exit_code == 0, supported.output
    account = check_password(StoreAccounts(store), "sam", PASSWORD)
    assert account is not None
    assert account.viewer.supported_member_ids == {"cllr-a", "cllr-c"}

    listed = runner.invoke(app, ["users", "list", "--json", *c])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["username"], r["role"], r["supports"]) for r in rows] == [
        ("ann", "member", []),
        ("sam", "members_services", ["cllr-a", "cllr-c"]),
    ]
    assert "password_hash" not in listed.output and "argon2" not in listed.output
    human = runner.invoke(app, ["users", "list", *c])
    assert "sam\tmembers_services\tactive\tSam Patel (supports cllr-a, cllr-c)" in human.output

    reset = runner.invoke(
        app, ["users", "set-password", "ANN", "--password-stdin", *c], input="a brand new pass\n"
    )
    assert reset.exit_code == 0, reset.output
    assert check_password(StoreAccounts(store), "ann", "a brand new pass") is not None
    disabled = runner.invoke(app, ["users", "disable", "ann", *c])
    assert disabled.exit_code == 0 and "disabled user 'ann'" in disabled.output
    assert check_password(StoreAccounts(store), "ann", "a brand new pass") is None
    again = runner.invoke(app, ["users", "disable", "ann", *c])
    assert "was already disabled" in again.output
    enabled = runner.invoke(app, ["users", "enable", "ann", *c])
    assert enabled.exit_code == 0 and "enabled user 'ann'" in enabled.output
    assert check_password(StoreAccounts(store), "ann", "a brand new pass") is not None
    assert "was already enabled" in runner.invoke(app, ["users", "enable", "ann", *c]).output

    mismatch = runner.invoke(
        app,
        ["users", "add", "lee", "--role", "team_leader", *c],
        input=f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert mismatch.exit_code == 0, mismatch.output  # asked again until both entries match
    assert PASSWORD not in mismatch.output

    missing = runner.invoke(app, ["users", "add", "bob", "--role", "member", "--no-password", *c])
    assert missing.exit_code == 1
    assert "a 'member' user needs a member id" in missing.output
    empty = runner.invoke(
        app, ["users", "add", "bob", "--role", "team_leader", "--password-stdin", *c], input=""
    )
    assert empty.exit_code == 1 and "standard input held no password" in empty.output
    unknown = runner.invoke(app, ["users", "disable", "ghost", *c])
    assert unknown.exit_code == 1 and "no user is named 'ghost'" in unknown.output
    as_argument = runner.invoke(
        app, ["users", "add", "bob", "--role", "team_leader", "--password", PASSWORD, *c]
    )
    assert as_argument.exit_code == 2  # there is no way to pass a password as an argument
    with store.read() as conn:
        assert [u.username for u in list_users(conn)] == ["ann", "lee", "sam"]
        actors = conn.execute(sa.select(audit_events.c.actor).distinct()).scalars().all()
        kept = conn.execute(sa.select(users.c.password_hash)).scalars().all()
    assert actors == ["cli:users"]
    assert all(value and value.startswith("$argon2id$") for value in kept)
    store.close()


def test_store_accounts_build_the_same_viewers(council: Store) -> None:
    from dataclasses import replace

    from tests.portal.access_fixtures import VIEWERS

    accounts = StoreAccounts(council)
    for name, viewer in VIEWERS.items():
        account = accounts.by_username(name.upper())
        assert account is not None, name
        assert account.viewer == replace(viewer, user_id=name)
        assert accounts.by_user_id(name) == account
    assert accounts.by_username("nobody") is None
