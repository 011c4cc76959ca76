"""SQLite writers from several processes queue on the store's write gate instead of SQLite's
coarse busy-wait, and a stuck writer is reported by name after the timeout."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal_extensions.store.database import Store, WriteGate
from portal_extensions.store.engine import StoreError
from portal_extensions.store.schema import wards


def _insert_many(url: str, prefix: str, count: int) -> None:
    store = Store.open(url, run_migrations=False)
    for n in range(count):
        with store.write() as conn:
            conn.execute(sa.insert(wards).values(id=f"{prefix}-{n}", name="x"))
    store.close()


def test_writers_in_several_processes_all_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caseload.sqlite'}"
    Store.open(url).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_insert_many, args=(url, f"p{n}", 60)) for n in range(3)]
    for worker in workers:
        worker.start()
    _insert_many(url, "main", 60)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    store = Store.open(url)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wards)).scalar_one() == 240
    store.close()


def test_a_write_inside_a_write_on_the_same_thread_does_not_wait_for_itself(
    tmp_path: Path,
) -> None:
    gate = WriteGate(tmp_path / "caseload.sqlite", timeout_s=1)
    with gate.held(), gate.held():
        pass
    with gate.held():  # and the gate is free again afterwards
        pass


def test_a_writer_held_up_too_long_gets_an_error_naming_the_lock(tmp_path: Path) -> None:
    holder = WriteGate(tmp_path / "caseload.sqlite", timeout_s=5)
    waiter = WriteGate(tmp_path / "caseload.sqlite", timeout_s=0.2)  # as another process
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.held():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(5)
    began = time.monotonic()
    with pytest.raises(StoreError, match=r"write-lock"), waiter.held():
        pass
    assert 0.15 < time.monotonic() - began < 2
    release.set()
    thread.join(5)
    with waiter.held():  # free once the holder is done
        pass
