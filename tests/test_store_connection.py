"""Database URLs, per-database settings, transactions and error reporting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from actframework.db import JobFilter, JobStore, make_engine, open_store, upgrade
from actframework.db.connection import SUPPORTED_URLS
from actframework.errors import DatabaseUnavailableError, SchemaError, StoreError


@pytest.mark.parametrize("url", [
    "postgres://u@h/db",
    "postgresql://u@h/db",           # psycopg2 by default: not what we test against
    "mysql+mysqldb://u@h/db",
    "mariadb+pymysql://u@h/db",
    "oracle://u@h/db",
    "sqlite://",
    "sqlite:///:memory:",
    "not a url",
])
def test_unsupported_urls_are_rejected_with_the_supported_forms(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        make_engine(url)
    for form in SUPPORTED_URLS[1:]:
        assert form in str(raised.value) or "SQLite needs a file path" in str(raised.value)


def test_password_is_hidden_in_the_rejection() -> None:
    with pytest.raises(StoreError) as raised:
        make_engine("postgres://user:s3cret@db.example.org/act")
    assert "s3cret" not in str(raised.value) and "***" in str(raised.value)


# --------------------------------------------------------------------------- SQLite


def test_sqlite_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "actd.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == 30000
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
            assert connection.exec_driver_sql("SELECT 'abc' LIKE 'ABC'").scalar() == 0
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_database_and_wal_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "store.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        files = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
    finally:
        engine.dispose()
    assert files["store.sqlite"] == 0o600 and files["store.sqlite-wal"] == 0o600


def test_sqlite_writers_queue_behind_the_write_lock(tmp_path: Path) -> None:
    """Every write transaction starts with BEGIN IMMEDIATE: a second writer
    waits for the first (busy timeout) instead of failing half-way."""
    url = f"sqlite:///{tmp_path / 'actd.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    store = JobStore(engine)
    try:
        holder = engine.connect()
        holder.begin()  # BEGIN IMMEDIATE: holds the writer lock
        holder.exec_driver_sql("DELETE FROM proxies")
        results: list[list[int]] = []
        writer = threading.Thread(target=lambda: results.append(store.create_client_jobs(1, [["https://a/q"]])))
        writer.start()
        time.sleep(0.3)
        assert writer.is_alive() and not results  # waiting, not failed
        # Readers are not blocked by the writer (WAL, deferred BEGIN).
        assert store.select_jobs(1, JobFilter(), ["id"], []) == []
        holder.commit()
        holder.close()
        writer.join(10)
        assert len(results) == 1 and len(results[0]) == 1
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- MariaDB


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_mariadb_connection_settings(db_engine: Engine) -> None:
    assert db_engine.url.query["charset"] == "utf8mb4"
    with db_engine.connect() as connection:
        isolation = connection.exec_driver_sql("SELECT @@tx_isolation").scalar()
        assert isolation == "READ-COMMITTED"
        assert connection.exec_driver_sql("SELECT @@character_set_client").scalar() == "utf8mb4"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://act:s3cret@127.0.0.1:1/act",
    "mysql+pymysql://act:s3cret@127.0.0.1:1/act",
])
def test_unreachable_database_is_a_store_error_without_password(url: str) -> None:
    engine = make_engine(url)
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            JobStore(engine, outage_wait=0.5).select_jobs(1, JobFilter(), ["id"], [])
        assert str(raised.value).startswith("database ")
        assert "could not be reached for" in str(raised.value)
        assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
        with pytest.raises(StoreError):
            open_store(url)
    finally:
        engine.dispose()


def test_database_errors_do_not_leak_parameters(store: JobStore) -> None:
    def work(connection: Connection) -> None:
        connection.execute(sa.text("SELECT nosuchcolumn FROM clientjobs WHERE jobname = :p"),
                           {"p": "PRIVATE-KEY-MATERIAL"})

    with pytest.raises(StoreError) as raised:
        store._write(work)
    assert "PRIVATE-KEY-MATERIAL" not in str(raised.value)
    assert "failed: " in str(raised.value) and "nosuchcolumn" in str(raised.value)


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_deadlocks_are_retried(store: JobStore, db_url: str) -> None:
    """A deadlock victim's whole unit of work is re-run."""
    deadlock = (
        "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$"
        if db_url.startswith("postgresql")
        else "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found'"
    )
    attempts: list[int] = []

    def work(connection: Connection) -> str:
        attempts.append(1)
        connection.exec_driver_sql("INSERT INTO proxies (dn, attribute) VALUES ('dn', 'attempt')")
        if len(attempts) < 3:
            connection.exec_driver_sql(deadlock)
        return "done"

    assert store._write(work) == "done"
    assert len(attempts) == 3
    proxy_rows = store._read(lambda c: c.exec_driver_sql("SELECT COUNT(*) FROM proxies").scalar())
    assert proxy_rows == 1  # the failed attempts were rolled back


def test_open_store_requires_a_current_schema(empty_db_url: str) -> None:
    with pytest.raises(SchemaError, match="actd init"):
        open_store(empty_db_url)
    upgrade(empty_db_url)
    with open_store(empty_db_url) as store:
        assert store.create_client_jobs(1, [["https://ce/q"]])
