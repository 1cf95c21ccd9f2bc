"""Shared machinery of the job store: transactions, retries, clock, helpers.

Every public store operation is one call to :meth:`StoreCore._write` or
:meth:`StoreCore._read` with a function that does the work on a connection
inside one transaction. Centralising this gives every operation the same
behaviour:

* a deadlock or serialization failure (possible on PostgreSQL and MariaDB
  when a user action and an engine process touch the same rows) rolls back
  and re-runs the whole unit of work, which is safe because each unit
  re-reads everything it decides on;
* a database that cannot be reached (a restart: the connection is refused,
  closed by the server or dropped) and an SQLite database that stays locked
  or busy past its busy timeout are waited for: the unit of work is re-run
  with a backoff (0.1 s doubling to 2 s) for up to ``outage_wait`` seconds
  (:data:`OUTAGE_WAIT_S` by default, ``database.outage_wait`` in the
  configuration), the pool's other connections, probably dead too, being
  dropped. One warning is logged when an outage begins, one line when it
  ends, whatever the number of threads waiting (a server answering on and
  off while it shuts down or starts up counts as one outage). Past the wait the operation
  fails with :class:`DatabaseUnavailableError`;
* the one exception: a write whose connection is lost *during* COMMIT may or
  may not have been committed, and it is not re-run but fails at once with
  :class:`DatabaseUnavailableError`. Re-running could repeat a write that is
  not idempotent (``create_jobs`` inserting the same jobs twice). Nothing
  needs it either: the engine's writes are conditional on the state and the
  lease they read, so its next cycle re-reads the database and finds out
  (a submission whose CE ids were not stored is ``submitting`` without them,
  which reconciliation resolves by the submission token); a user whose
  request was answered 503 looks and repeats it if it is not there;
* any other database error becomes a :class:`StoreError` whose message names
  the database with its password hidden and never contains SQL parameters
  (they may be proxies or job descriptions).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, Engine, RowMapping, Select, Table, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import String

from actframework.db.connection import READ_ONLY, safe_url
from actframework.db.schema import arcjobs, clientjobs
from actframework.errors import DatabaseUnavailableError, InvalidColumnError, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], datetime]

#: How often a unit of work is re-run after a deadlock before giving up.
MAX_ATTEMPTS: Final = 6
#: Largest number of values put into one ``IN (...)`` list; PostgreSQL's
#: protocol allows at most 65535 parameters per statement.
IN_CHUNK: Final = 5000
#: How many batches of candidates a MySQL/MariaDB claim tries before it
#: settles for fewer rows than asked for (see ``_take_unlocked``).
SKIP_LOCKED_ROUNDS: Final = 8

#: Columns the store manages itself; callers may not write them as fields.
#: ``arcstate`` is a parameter of its own so that the rules protecting a
#: user's cancel (never overwrite ``tocancel``) cannot be bypassed; ``tstate``
#: follows ``State`` automatically.
MANAGED_ARC_COLUMNS: Final = frozenset(
    {"id", "arcstate", "tstate", "tarcstate", "modified", "claimedby", "claimeduntil", "submissiontoken"}
)

#: Default seconds an operation waits for a database that cannot be reached
#: (enough for a PostgreSQL or MariaDB restart) before it fails.
OUTAGE_WAIT_S: Final = 60.0
#: First and largest pause between attempts while the database is away.
OUTAGE_PAUSE_S: Final = (0.1, 2.0)
#: An outage shorter than this ends silently, and one that begins this soon
#: after the last one ended continues it silently (a server shutting down
#: or starting up answers on and off): one warning per restart.
OUTAGE_MERGE_S: Final = 5.0

_PG_RETRY_SQLSTATES: Final = frozenset({"40P01", "40001"})  # deadlock, serialization failure
_MYSQL_RETRY_ERRNOS: Final = frozenset({1213})  # ER_LOCK_DEADLOCK
#: PostgreSQL: the server shuts down or starts up (57P01-57P03), connection
#: exceptions (class 08).
_PG_UNREACHABLE_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03"})
#: MySQL/MariaDB client and server errors of a connection that is gone:
#: can't connect (2002, 2003), server gone away (2006), lost during query
#: (2013), lost (2055), shutdown in progress (1053), connection killed (1927).
_MYSQL_UNREACHABLE_ERRNOS: Final = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927})


def utcnow() -> datetime:
    """The default clock: the current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime) -> datetime:
    """An aware datetime converted to naive UTC; a naive one unchanged."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Successive slices of at most ``size`` values (for ``IN`` lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class StoreCore:
    """Engine, clock and transaction handling shared by all store operations."""

    def __init__(self, engine: Engine, *, now: Clock | None = None, outage_wait: float = OUTAGE_WAIT_S) -> None:
        self._engine = engine
        self._clock: Clock = now or utcnow
        self._outage_wait = outage_wait
        #: When (monotonic) the current outage was first seen; None while the
        #: database answers. Guarded by ``_outage_lock``.
        self._outage_since: float | None = None
        #: When (monotonic) the last outage ended. Guarded by ``_outage_lock``.
        self._outage_ended: float | None = None
        self._outage_lock = threading.Lock()
        #: SQLite has no row locks; its BEGIN IMMEDIATE makes every write
        #: transaction exclusive instead.
        self._row_locks = engine.dialect.name != "sqlite"
        self._postgresql = engine.dialect.name == "postgresql"

    @property
    def engine(self) -> Engine:
        return self._engine

    def now(self) -> datetime:
        """The store's current time (naive UTC), from the injected clock."""
        return naive_utc(self._clock())

    # ------------------------------------------------------------------ transactions

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read-write transaction (retried on deadlock)."""
        return self._run(work, read_only=False)

    def _read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read-only transaction (never waits for writers
        on SQLite)."""
        return self._run(work, read_only=True)

    def _run(self, work: Callable[[Connection], T], *, read_only: bool) -> T:
        deadlocks = 0
        waiting_since: float | None = None
        pause = OUTAGE_PAUSE_S[0]
        while True:
            committing = False
            try:
                with self._engine.connect() as connection:
                    if read_only:
                        connection.execution_options(**{READ_ONLY: True})
                    with connection.begin():
                        result = work(connection)
                        committing = True  # COMMIT runs as the block ends
                self._outage_over()
                return result
            except DBAPIError as exc:
                if deadlocks < MAX_ATTEMPTS - 1 and _is_transient(exc):
                    deadlocks += 1
                    time.sleep(random.uniform(0.005, 0.02) * deadlocks)
                    continue
                busy = _is_busy(exc)
                if not busy and not _is_unreachable(exc):
                    raise StoreError(f"database {safe_url(self._engine.url)} failed: {_first_line(exc.orig)}") from exc
                if committing and not read_only and not busy:
                    self._outage_begins(exc)
                    raise DatabaseUnavailableError(
                        f"database {safe_url(self._engine.url)}: the connection was lost while "
                        f"committing, so the change may or may not have been made: {_first_line(exc.orig)}"
                    ) from exc
                now = time.monotonic()
                if waiting_since is None:
                    waiting_since = now
                    if not busy:
                        self._outage_begins(exc)
                if now - waiting_since >= self._outage_wait:
                    what = "stayed locked" if busy else "could not be reached"
                    raise DatabaseUnavailableError(
                        f"database {safe_url(self._engine.url)} {what} for {now - waiting_since:.0f} s: "
                        f"{_first_line(exc.orig)}"
                    ) from exc
                time.sleep(min(pause, max(0.0, waiting_since + self._outage_wait - now)))
                pause = min(pause * 2, OUTAGE_PAUSE_S[1])

    def _outage_begins(self, exc: DBAPIError) -> None:
        """Note that the database is away, and drop the pool's idle
        connections: they went with the server. Logged once per outage; a
        server that is shutting down may still accept a connection or two
        between refusals, so an outage beginning within
        :data:`OUTAGE_MERGE_S` of the last one's end continues it quietly."""
        now = time.monotonic()
        with self._outage_lock:
            if self._outage_since is not None:
                return
            self._outage_since = now
            quiet = self._outage_ended is not None and now - self._outage_ended < OUTAGE_MERGE_S
        if not quiet:
            log.warning(
                "database %s cannot be reached (%s); operations wait up to %.0f s for it",
                safe_url(self._engine.url),
                _first_line(exc.orig),
                self._outage_wait,
            )
        self._engine.dispose(close=False)

    def _outage_over(self) -> None:
        """Note the end of an outage (by the first operation through), and
        log it unless the database was away only for a moment."""
        if self._outage_since is None:  # the common case, without the lock
            return
        now = time.monotonic()
        with self._outage_lock:
            since, self._outage_since = self._outage_since, None
            if since is not None:
                self._outage_ended = now
        if since is not None and now - since >= OUTAGE_MERGE_S:
            log.warning("database %s answers again after %.0f s", safe_url(self._engine.url), now - since)

    # ------------------------------------------------------------------ SQL helpers

    def _locked(self, query: Select[Any], *, skip_locked: bool = False, of: Table | None = None) -> Select[Any]:
        """``query ... FOR UPDATE [SKIP LOCKED]`` where the database has row
        locks; unchanged on SQLite, whose write transactions are exclusive."""
        if not self._row_locks:
            return query
        return query.with_for_update(skip_locked=skip_locked, of=of)

    def _locked_by_id(self, query: Select[Any], table: Table, *, skip_locked: bool = False) -> Select[Any]:
        """Like :meth:`_locked` for a query that selects rows of ``table`` by
        a list of ids, and makes MySQL/MariaDB look them up by primary key.

        When InnoDB serves a locking read from a secondary index that covers
        the query (``SELECT id, jobdesc ... WHERE id IN (...)`` through the
        ``jobdesc`` index), it keeps the lock on every row it visits, not just
        the matching ones (seen on MariaDB 10.11, READ COMMITTED): the
        optimizer's choice could lock the whole table for the transaction and
        make concurrent claims skip rows that are free.
        """
        return self._locked(_mysql_force_index(query, table, "PRIMARY"), skip_locked=skip_locked)

    def _locked_for_user(self, query: Select[Any], *, of: Table | None = None) -> Select[Any]:
        """Like :meth:`_locked` for a query over one user's jobs (a filter on
        ``clientjobs.proxyid``, possibly joined to ``arcjobs``): on
        MySQL/MariaDB it reads ``clientjobs`` through the ``proxyid`` index
        and then ``arcjobs`` by primary key, in that order, so only this
        user's rows are visited and locked. Left to itself the optimizer may
        range-scan ``arcjobs`` by state into a join buffer and lock matching
        rows of every user (see also :meth:`_locked_by_id`)."""
        query = _mysql_force_index(query, clientjobs, "ix_clientjobs_proxyid")
        query = _mysql_force_index(query, arcjobs, "PRIMARY")
        query = query.prefix_with("STRAIGHT_JOIN", dialect="mysql")
        return self._locked(query, of=of)

    def _take_unlocked(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[ColumnElement[Any]],
        condition: ColumnElement[bool],
        order_by: Sequence[ColumnElement[Any]],
        limit: int,
    ) -> list[RowMapping]:
        """Select and lock up to ``limit`` rows of ``table`` matching
        ``condition`` that no other transaction has locked, in ``order_by``.

        This is what lets several engine processes split work without waiting
        for or overlapping with each other:

        * PostgreSQL: one ``SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP
          LOCKED``; PostgreSQL locks rows only as the LIMIT consumes them.
        * MySQL/MariaDB: InnoDB locks every row it reads before sorting, so
          the same query with an ORDER BY it cannot serve from an index would
          lock *all* matching rows and a second process would find none. So
          the rows are first chosen by a plain (non-locking) read, then locked
          by primary key with ``SKIP LOCKED``; candidates another process got
          first are skipped and the next ones tried, a bounded number of times.
        * SQLite: a plain query; the write transaction is already exclusive.
        """
        if limit <= 0:
            return []

        def query(*extra: ColumnElement[bool]) -> Select[Any]:
            return select(*columns).where(condition, *extra).order_by(*order_by)

        if not self._row_locks:
            return list(connection.execute(query().limit(limit)).mappings())
        if self._postgresql:
            return list(connection.execute(query().limit(limit).with_for_update(skip_locked=True)).mappings())
        taken: list[RowMapping] = []
        seen: list[int] = []
        for _ in range(SKIP_LOCKED_ROUNDS):
            wanted = limit - len(taken)
            if wanted <= 0:
                break
            candidates = select(table.c.id).where(condition).order_by(*order_by).limit(wanted)
            if seen:
                candidates = candidates.where(table.c.id.not_in(seen))
            ids = list(connection.execute(candidates).scalars())
            if not ids:
                break
            seen.extend(ids)
            locked = self._locked_by_id(query(table.c.id.in_(ids)), table, skip_locked=True)
            taken.extend(connection.execute(locked).mappings())
        return taken

    @staticmethod
    def _insert_returning_ids(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert ``rows`` and return their new ids in input order.

        Uses one batched ``INSERT ... RETURNING`` where the dialect can
        guarantee the returned ids follow the parameter order (SQLAlchemy's
        "insertmanyvalues" with ``sort_by_parameter_order``: PostgreSQL,
        SQLite >= 3.35, MariaDB >= 10.5), else inserts row by row.
        """
        if not rows:
            return []
        if connection.dialect.insert_executemany_returning_sort_by_parameter_order:
            result = connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows))
            return [int(value) for value in result.scalars()]
        ids = []
        for row in rows:
            key = connection.execute(insert(table), dict(row)).inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
        return ids

    def _lease_free(self, now: datetime) -> ColumnElement[bool]:
        """Rows nobody holds a current lease on."""
        return or_(arcjobs.c.claimeduntil.is_(None), arcjobs.c.claimeduntil <= now)


def _mysql_force_index(query: Select[Any], table: Table, index: str) -> Select[Any]:
    """Add a MySQL/MariaDB ``FORCE INDEX`` hint; other databases ignore it."""
    return query.with_hint(table, f"FORCE INDEX ({index})", dialect_name="mysql")


def arc_field_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise engine-written ``arcjobs`` fields.

    Names must be real ``arcjobs`` columns the caller may write
    (:class:`InvalidColumnError` otherwise). Aware datetimes become naive
    UTC. Text longer than its column is cut to fit: a CE's long error message
    must not make the whole batch fail on PostgreSQL or MariaDB (which reject
    over-long values) while SQLite would store it.
    """
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in arcjobs.c or name in MANAGED_ARC_COLUMNS:
            raise InvalidColumnError(name)
        if isinstance(value, datetime):
            value = naive_utc(value)
        column_type = arcjobs.c[name].type
        if isinstance(value, str) and isinstance(column_type, String) and column_type.length:
            value = value[: column_type.length]
        values[name] = value
    return values


def unique_ints(values: Iterable[int]) -> list[int]:
    """Distinct ints in ascending order (lock order, stable results)."""
    return sorted({int(value) for value in values})


def _is_transient(exc: DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _PG_RETRY_SQLSTATES:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _MYSQL_RETRY_ERRNOS


def _is_unreachable(exc: DBAPIError) -> bool:
    """Whether ``exc`` says the database server went away or cannot be
    reached (as during a restart), rather than refusing this statement."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _PG_UNREACHABLE_SQLSTATES or sqlstate.startswith("08")
    if type(orig).__module__.startswith("psycopg") and type(orig).__name__ == "OperationalError":
        return True  # raised by the client itself: connection refused, closed, lost
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _MYSQL_UNREACHABLE_ERRNOS


def _is_busy(exc: DBAPIError) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy": another
    connection held the write lock for longer than the busy timeout."""
    return isinstance(exc.orig, sqlite3.OperationalError) and any(
        word in str(exc.orig) for word in ("database is locked", "database is busy", "database table is locked")
    )


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else "unknown error"
    return text.splitlines()[0] if text else type(error).__name__
