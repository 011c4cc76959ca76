"""The store-wide lock that keeps two workers from syncing one store at once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal_extensions.store.database import Store
from portal_extensions.store.locks import StoreLock

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import sys
    from portal_extensions.store.locks import StoreLock
    from portal_extensions.store.database import Store

    store = Store.open(sys.argv[1], schema=sys.argv[2] or None)
    with StoreLock(store, "sync").attempt() as held:
        print("held" if held else "busy", flush=True)
        sys.stdin.readline()  # hold it until the test says, or until killed
    """
)


@pytest.fixture
def handles(store_url: tuple[str, str | None]) -> Iterator[tuple[Store, Store]]:
    url, schema = store_url
    first = Store.open(url, schema=schema)
    second = Store.open(url, schema=schema)
    yield first, second
    first.close()
    second.close()


def test_one_holder_at_a_time_and_free_again_once_released(
    handles: tuple[Store, Store],
) -> None:
    first, second = handles
    with StoreLock(first, "sync").attempt() as held:
        assert held
        with StoreLock(second, "sync").attempt() as other:
            assert not other  # refused at once, not queued
        with StoreLock(second, "reminders").attempt() as unrelated:
            assert unrelated  # another name is another lock
    with StoreLock(second, "sync").attempt() as again:
        assert again


def test_a_holder_process_that_dies_releases_the_lock(
    handles: tuple[Store, Store], store_url: tuple[str, str | None]
) -> None:
    url, schema = store_url
    child = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", HOLDER, url, schema or ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with StoreLock(handles[0], "sync").attempt() as held:
            assert not held
        child.kill()
        child.wait(timeout=10)
        # PostgreSQL ends the dead client's session (and its lock) once it sees the connection
        # closed, a moment after the process is gone.
        deadline = time.monotonic() + 10
        while True:
            with StoreLock(handles[0], "sync").attempt() as held:
                if held or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert held
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_the_sqlite_lock_file_is_private(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    try:
        with StoreLock(store, "sync").attempt() as held:
            assert held
        mode = stat.S_IMODE((tmp_path / "caseload.sqlite.sync-lock").stat().st_mode)
        assert mode == 0o600
    finally:
        store.close()


def test_an_in_memory_store_locks_within_its_process() -> None:
    store = Store.open("sqlite:///:memory:")
    try:
        with StoreLock(store, "sync").attempt() as held:
            assert held
            with StoreLock(store, "sync").attempt() as again:
                assert not again
    finally:
        store.close()


def test_a_lock_name_is_plain() -> None:
    store = Store.open("sqlite:///:memory:")
    try:
        with pytest.raises(ValueError, match="letters"):
            StoreLock(store, "sync'; drop table cases; --")
    finally:
        store.close()
