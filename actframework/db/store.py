"""The job store: the one object through which actframework uses its database.

:class:`JobStore` combines the operation groups, each in its own module:

* :mod:`~actframework.db.client_ops`: the REST server's job operations, always
  scoped to one user's ``proxyid``;
* :mod:`~actframework.db.proxy_ops`: delegated proxies and token users;
* :mod:`~actframework.db.grant_ops`: token users' refresh grants;
* :mod:`~actframework.db.handover`: confirmed client jobs → engine jobs;
* :mod:`~actframework.db.claims`: leased claims of engine work;
* :mod:`~actframework.db.engine_ops`: engine write-backs, transitions, counts;
* :mod:`~actframework.db.delegation_ops`: CE delegations shared by engine processes.

Each public method is one database transaction. Times come from one clock
(``now``), injectable so tests can move time (leases, timeouts).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine

from actframework.db._core import OUTAGE_WAIT_S, Clock
from actframework.db.claims import ClaimOps
from actframework.db.client_ops import ClientOps
from actframework.db.connection import make_engine
from actframework.db.delegation_ops import DelegationOps
from actframework.db.engine_ops import EngineOps
from actframework.db.grant_ops import GrantOps
from actframework.db.handover import HandoverOps
from actframework.db.heartbeat_ops import HeartbeatOps
from actframework.db.migrate import check_schema
from actframework.db.proxy_ops import ProxyOps
from actframework.db.report_ops import ReportOps
from actframework.db.staging_ops import StagingOps


class JobStore(
    ClientOps,
    ProxyOps,
    GrantOps,
    HandoverOps,
    ClaimOps,
    EngineOps,
    DelegationOps,
    StagingOps,
    ReportOps,
    HeartbeatOps,
):
    """All job store operations on one database.

    Construct it from an engine made by
    :func:`~actframework.db.connection.make_engine` (which sets the
    per-database options the operations rely on), or use :func:`open_store`.
    The store is safe to share between threads (SQLAlchemy's pool gives each
    transaction its own connection) and between processes (each opens its
    own store).
    """

    def __init__(
        self, engine: Engine, *, now: Clock | None = None, owns_engine: bool = False, outage_wait: float = OUTAGE_WAIT_S
    ) -> None:
        super().__init__(engine, now=now, outage_wait=outage_wait)
        self._owns_engine = owns_engine

    def close(self) -> None:
        """Close the database connections if this store created the engine."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_store(url: str, *, now: Clock | None = None, outage_wait: float = OUTAGE_WAIT_S) -> JobStore:
    """Connect to ``url`` and check its schema is current (raises
    :class:`~actframework.errors.SchemaError` with the command to run if not).
    ``outage_wait``: how long each operation waits for a database that
    cannot be reached (see :mod:`actframework.db._core`)."""
    engine = make_engine(url)
    try:
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return JobStore(engine, now=now, owns_engine=True, outage_wait=outage_wait)
