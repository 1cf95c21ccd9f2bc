"""The job store while its database is away: restarted (PostgreSQL,
MariaDB: private servers, see ``fixtures.private_db``) or held locked by
another process (SQLite). Operations wait and then succeed; a database that
stays away makes them fail with :class:`DatabaseUnavailableError` after
``outage_wait``, and the outage is logged once, not once per operation.
A connection killed under a unit of work (on the shared servers: only the
test's own session is ended) has the unit run again, unless it died during
COMMIT of a write, whose outcome is then unknown."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from actframework.db import JobFilter, JobStore, make_engine, upgrade
from actframework.errors import DatabaseUnavailableError

from fixtures.private_db import PrivateServer


def short_busy_timeout(url: str) -> JobStore:
    """A store whose SQLite connections give up on a lock after 50 ms (the
    default 30 s would hide the store's own retries behind SQLite's)."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _short(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout = 50")

    return JobStore(engine, owns_engine=True, outage_wait=30)


def hold_write_lock(path: Path, until: threading.Event) -> threading.Thread:
    """Another process's view: a connection holding SQLite's write lock until ``until``."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        until.wait(60)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    return thread


def test_sqlite_write_waits_for_a_lock_held_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "actd.sqlite"
    upgrade(f"sqlite:///{path}")
    release = threading.Event()
    holder = hold_write_lock(path, release)
    with short_busy_timeout(f"sqlite:///{path}") as store:
        outcome: list[object] = []
        writer = threading.Thread(target=lambda: outcome.append(
            store.store_proxy("/CN=waiting", "", b"PEM", store.now())))
        writer.start()
        writer.join(1.0)  # twenty busy timeouts
        assert writer.is_alive() and not outcome  # still waiting, not failed
        release.set()
        writer.join(30)
        holder.join()
        assert len(outcome) == 1 and isinstance(outcome[0], int)


def test_sqlite_lock_held_longer_than_outage_wait_is_database_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "actd.sqlite"
    upgrade(f"sqlite:///{path}")
    release = threading.Event()
    holder = hold_write_lock(path, release)
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout = 50"))
    try:
        with pytest.raises(DatabaseUnavailableError, match="stayed locked"):
            JobStore(engine, outage_wait=0.5).store_proxy("/CN=x", "", b"PEM", datetime(2030, 1, 1))
    finally:
        release.set()
        holder.join()
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_operations_wait_through_a_restart_and_log_it_once(
    private_database: Callable[[str], PrivateServer], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_database(backend)
    upgrade(server.url)
    with JobStore(make_engine(server.url), owns_engine=True, outage_wait=60) as store:
        proxyid = store.store_proxy("/CN=before", "", b"PEM", datetime(2030, 1, 1))
        results: list[object] = []
        errors: list[BaseException] = []

        def user(index: int) -> None:
            try:
                results.append(store.store_proxy(f"/CN=during{index}", "", b"PEM", datetime(2030, 1, 1)))
                results.append(store.select_jobs(proxyid, JobFilter(), ["id"], []))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with caplog.at_level(logging.WARNING, logger="actframework.db._core"):
            server.stop()
            threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(2)  # all four meet the outage
            server.start()
            for thread in threads:
                thread.join(90)
        assert not errors, errors
        assert len(results) == 8
        outage = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
        assert len(outage) == 1, [r.getMessage() for r in caplog.records]
        assert store.store_proxy("/CN=after", "", b"PEM", datetime(2030, 1, 1)) > proxyid


@pytest.mark.parametrize("backend", ["postgresql"])
def test_database_down_longer_than_outage_wait_is_database_unavailable(
    private_database: Callable[[str], PrivateServer], backend: str
) -> None:
    server = private_database(backend)
    upgrade(server.url)
    with JobStore(make_engine(server.url), owns_engine=True, outage_wait=1) as store:
        store.store_proxy("/CN=before", "", b"PEM", datetime(2030, 1, 1))
        server.stop()
        with pytest.raises(DatabaseUnavailableError, match="could not be reached"):
            store.select_jobs(1, JobFilter(), ["id"], [])
        server.start()
        assert store.select_jobs(1, JobFilter(), ["id"], []) == []


def backend_id(store: JobStore, connection: Connection) -> int:
    """The server's id for ``connection``'s session."""
    postgresql = store.engine.dialect.name == "postgresql"
    return int(connection.exec_driver_sql("SELECT pg_backend_pid()" if postgresql else "SELECT CONNECTION_ID()").scalar())


def kill_session(store: JobStore, own: int) -> None:
    """End the server session ``own`` from another connection, as a
    database restart would, and wait until the server has let it go."""
    postgresql = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as killer:
        if postgresql:
            killer.execute(text("SELECT pg_terminate_backend(:id)"), {"id": own})
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = :id"
        else:
            killer.execute(text(f"KILL {int(own)}"))
            gone = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = :id"
        deadline = time.monotonic() + 30
        while True:
            killer.rollback()  # a new transaction: PostgreSQL keeps one activity snapshot per transaction
            if not killer.execute(text(gone), {"id": own}).scalar():
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)


def kill_own_connection(store: JobStore, connection: Connection) -> None:
    """End ``connection``'s server session (see :func:`kill_session`)."""
    kill_session(store, backend_id(store, connection))


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_a_unit_of_work_whose_connection_dies_before_commit_is_run_again(store: JobStore) -> None:
    calls: list[int] = []

    def work(connection: Connection) -> int:
        calls.append(1)
        if len(calls) == 1:
            kill_own_connection(store, connection)
        return int(connection.exec_driver_sql("SELECT 42").scalar())

    assert store._write(work) == 42
    assert len(calls) == 2


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_a_write_whose_connection_dies_during_commit_is_not_run_again(store: JobStore) -> None:
    """Its outcome is unknown; re-running could do it twice (see _core)."""
    calls: list[int] = []

    sessions: list[int] = []

    def work(connection: Connection) -> None:
        calls.append(1)
        sessions.append(backend_id(store, connection))

    def kill_before_commit(_connection: Connection) -> None:
        # Called as the block ends, just before the driver's COMMIT: the
        # session dies with the unit's work done and its COMMIT not yet sent.
        kill_session(store, sessions[-1])

    event.listen(store.engine, "commit", kill_before_commit)
    try:
        with pytest.raises(DatabaseUnavailableError, match="lost while committing"):
            store._write(work)
    finally:
        event.remove(store.engine, "commit", kill_before_commit)
    assert len(calls) == 1
    assert store.select_jobs(1, JobFilter(), ["id"], []) == []  # and the store goes on
