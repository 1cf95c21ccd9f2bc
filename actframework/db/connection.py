"""Turning a database URL into a correctly configured SQLAlchemy engine.

Three databases are supported, each with the settings the job store's
correctness depends on:

* ``sqlite:///path``: one machine. WAL journal (readers never block the
  writer), a 30 s busy timeout (writers queue instead of failing), foreign
  keys on, and case-sensitive ``LIKE`` (job-name filters are case-sensitive as
  aCT's ``LIKE BINARY``). The ``sqlite3`` driver's own transaction handling is
  switched off and every transaction starts with ``BEGIN IMMEDIATE``, so a
  write transaction holds the single writer lock from its first statement:
  read-then-write sequences (claims, handover, cancel) are atomic and cannot
  fail half-way with "database is locked". Read-only operations ask for a
  plain deferred ``BEGIN`` (:data:`READ_ONLY`) so they never wait for writers.
* ``postgresql+psycopg://...``: the default READ COMMITTED isolation; the
  store uses ``SELECT ... FOR UPDATE [SKIP LOCKED]`` for its claims.
* ``mysql+pymysql://...`` (MySQL or MariaDB >= 10.6): utf8mb4 and READ
  COMMITTED isolation. InnoDB's default REPEATABLE READ takes gap locks that
  make concurrent claimers and inserters deadlock far more often, and its
  snapshot would hide rows committed by others between statements of one
  transaction, which the store's lock-then-reread steps rely on seeing.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from actframework.errors import StoreError

SUPPORTED_URLS: Final = (
    "sqlite:///PATH",
    "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE",
    "mysql+pymysql://USER:PASSWORD@HOST:PORT/DATABASE",
)

#: Execution option a read-only unit of work sets on its connection; on SQLite
#: it selects a deferred ``BEGIN`` instead of ``BEGIN IMMEDIATE``.
READ_ONLY: Final = "actframework_read_only"

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000


def safe_url(url: str | URL) -> str:
    """The URL as text with any password replaced by ``***``, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def make_engine(url: str) -> Engine:
    """Create an engine for one of the supported database URLs.

    Raises :class:`StoreError` for any other scheme or driver, naming the
    supported forms: a typo such as ``postgres://`` or a driver we do not test
    against (``mysql+mysqldb``) should fail at start-up, not behave subtly
    differently later.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(_unsupported_message(url)) from exc
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return _sqlite_engine(parsed)
    if parsed.drivername == "postgresql+psycopg":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.drivername == "mysql+pymysql":
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        return create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED")
    raise StoreError(_unsupported_message(url))


def _unsupported_message(url: str) -> str:
    return f"unsupported database URL {safe_url(url)}; use one of: " + ", ".join(SUPPORTED_URLS)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        # Every pooled connection to ":memory:" would be a different empty
        # database; the store needs one shared file.
        raise StoreError(
            f"unsupported database URL {safe_url(url)}: SQLite needs a file path, "
            "e.g. sqlite:////var/lib/actd/actd.sqlite"
        )
    path = Path(database).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_private(path)
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _create_private(path: Path) -> None:
    """Create an empty database file with mode 0600 unless it exists.

    The store holds delegated proxies (private keys included), so the file
    must never be readable by others, not even for the moment between its
    creation and a chmod. SQLite gives its -wal and -shm files the database
    file's permissions, so they are covered too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; SQLAlchemy's
    # "begin" event below emits BEGIN itself (the documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA case_sensitive_like = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
