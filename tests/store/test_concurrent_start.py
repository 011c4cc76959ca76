"""Several hosts starting at once on a new database: all come up, the schema is applied once.

Each host opening the store runs the migrations (as `caseload serve` does on start). Without a
lock, processes starting together on an empty database each saw no schema and each created it,
and all but one crashed (an IntegrityError on PostgreSQL, "table already exists" on SQLite).
Here three processes are released at the same instant (each has imported everything and waits
on its stdin) on an empty PostgreSQL schema and an empty SQLite file; every one must exit 0,
every migration must have run exactly once across them, and the version table hold head once.

Run as a module (`python -m tests.store.test_concurrent_start URL SCHEMA`) it is one such host.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from portal_extensions.store import Store
from portal_extensions.store.engine import current_revision, head_revision, make_engine, migrate
from portal_extensions.store.schema import metadata

HOSTS = 3
ROOT = Path(__file__).resolve().parents[2]
#: What alembic logs once per migration it applies.
APPLIED = "Running upgrade"


def _host(url: str, schema: str | None) -> None:
    """One host: wait for the start signal, open (and so migrate) the store, say its revision."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no start signal")
    store = Store.open(url, schema=schema)
    try:
        with store.read() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        print(f"revision {revision}", flush=True)
    finally:
        store.engine.dispose()


def _start_together(url: str, schema: str | None) -> list[tuple[int, str, str]]:
    """Start HOSTS processes, release them at once, return (exit code, stdout, stderr) each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    hosts = [
        subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [sys.executable, "-m", "tests.store.test_concurrent_start", url, schema or ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(HOSTS)
    ]
    try:
        for host in hosts:
            assert host.stdout is not None
            assert host.stdout.readline().strip() == "ready", host.communicate()[1]
        for host in hosts:  # written back to back: the hosts migrate at the same moment
            assert host.stdin is not None
            host.stdin.write("go\n")
            host.stdin.flush()
        results = []
        for host in hosts:
            out, err = host.communicate(timeout=60)
            results.append((host.returncode, out, err))
        return results
    finally:
        for host in hosts:
            if host.poll() is None:
                host.kill()
                host.wait()


def _check(
    results: list[tuple[int, str, str]], engine: sa.Engine, schema: str | None, pending: int
) -> None:
    """Every host up at head; the `pending` migrations each applied once, by one host."""
    head = head_revision()
    for code, out, err in results:
        assert code == 0, f"a host failed to start:\n{err[-3000:]}"
        assert out.splitlines()[-1] == f"revision {head}"
    applied = sum(err.count(APPLIED) for _code, _out, err in results)
    with engine.connect() as conn:
        if schema is not None:
            conn.execute(sa.text(f'SET search_path TO "{schema}"'))
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        tables = sa.inspect(conn).get_table_names()
    assert versions == [(head,)]
    assert {*metadata.tables, "alembic_version"} <= set(tables)
    assert len(tables) == len(set(tables))
    assert applied == pending, f"{applied} migrations applied by the hosts; expected {pending}"


def _revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "portal_extensions/store/migrations"))
    return [rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()][::-1]


def _prepare(url: str, schema: str | None, behind: bool) -> int:
    """Leave the database empty, or one release behind (at the first revision); return how
    many migrations the hosts have left to apply."""
    revisions = _revisions()
    if not behind:
        return len(revisions)
    engine = make_engine(url, schema=schema)
    try:
        migrate(engine, revisions[0])
    finally:
        engine.dispose()
    return len(revisions) - 1


@pytest.fixture
def empty_schema(postgres_url: str) -> Iterator[str]:
    schema = f"t_start_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("behind", [False, True], ids=["empty", "not-yet-upgraded"])
def test_three_hosts_start_at_once_on_postgresql(
    postgres_url: str, empty_schema: str, behind: bool
) -> None:
    pending = _prepare(postgres_url, empty_schema, behind)
    results = _start_together(postgres_url, empty_schema)
    engine = sa.create_engine(postgres_url)
    try:
        _check(results, engine, empty_schema, pending)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("behind", [False, True], ids=["empty", "not-yet-upgraded"])
def test_three_hosts_start_at_once_on_a_sqlite_file(tmp_path: Path, behind: bool) -> None:
    database = tmp_path / "caseload.sqlite"
    url = f"sqlite:///{database}"
    pending = _prepare(url, None, behind)
    results = _start_together(url, None)
    engine = sa.create_engine(url)
    try:
        _check(results, engine, None, pending)
    finally:
        engine.dispose()
    lock = database.with_name(database.name + ".migrate.lock")
    assert lock.stat().st_mode & 0o777 == 0o600


def test_a_database_at_head_is_left_alone_without_a_lock(tmp_path: Path) -> None:
    """An ordinary start (schema already current) reads the revision and takes no lock."""
    database = tmp_path / "caseload.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        lock = database.with_name(database.name + ".migrate.lock")
        lock.unlink()
        migrate(engine)
        assert not lock.exists()
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_an_in_memory_database_migrates_without_a_lock_file() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


if __name__ == "__main__":
    _host(sys.argv[1], sys.argv[2] or None)
