"""The SQLite store's files hold constituents' casework: created readable by the service user
alone (0600) in folders only it may enter (0700), whatever the umask; files left from before
are tightened, and an open folder is logged."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal_extensions.config import StoreSettings
from portal_extensions.store.accounts import create_user
from portal_extensions.store.database import Store, open_store


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask, which leaves new files world-readable."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_is_private(tmp_path: Path, loose_umask: None) -> None:
    tmp_path.chmod(0o755)
    data = tmp_path / "srv" / "caseload" / "data"
    store = open_store(StoreSettings(data_dir=data))
    try:
        with store.write() as conn:  # a write makes the -wal and -shm files
            create_user(
                conn, username="ann", display_name="Ann", role="administrator", password="p" * 16
            )
        files = sorted(path.name for path in data.iterdir())
        assert "caseload.sqlite-wal" in files and "caseload.sqlite-shm" in files
        for path in data.iterdir():
            assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"
        for folder in (data, data.parent, data.parent.parent):
            assert _mode(folder) == 0o700, f"{folder} is {oct(_mode(folder))}"
        assert _mode(tmp_path) == 0o755, "a folder Caseload did not create is left alone"
    finally:
        store.close()


def test_files_left_world_readable_are_tightened_and_an_open_folder_logged(
    tmp_path: Path, loose_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "caseload.sqlite"
    with sqlite3.connect(database) as conn:  # as an older Caseload left it: 0644 in 0755
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
    tmp_path.chmod(0o755)
    assert _mode(database) == 0o644
    with caplog.at_level(logging.WARNING, logger="portal_extensions.store.engine"):
        store = Store.open(f"sqlite:///{database}")
    try:
        assert _mode(database) == 0o600
        for path in tmp_path.glob("caseload.sqlite*"):
            assert _mode(path) == 0o600, path.name
        assert "chmod 700" in caplog.text and str(tmp_path) in caplog.text
    finally:
        store.close()
