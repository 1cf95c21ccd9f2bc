"""Engine heartbeats: which engine processes run, and when each was last seen.

A site's monitoring (``actd check``) needs to know that some engine is
alive, wherever it runs; the lease owners in ``arcjobs`` only show engines
that hold work. Each engine writes its row every few seconds and removes it
when it stops; a row whose ``seen`` is old belongs to an engine that died.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from actframework.db._core import StoreCore
from actframework.db.schema import engines


@dataclass(frozen=True)
class EngineBeat:
    """One engine process as last seen."""

    owner: str
    started: datetime
    seen: datetime


class HeartbeatOps(StoreCore):
    """The ``engines`` table."""

    def engine_seen(self, owner: str) -> None:
        """Record that engine ``owner`` is alive now (its first beat adds it)."""
        now = self.now()

        def work(connection: Connection) -> None:
            updated = connection.execute(update(engines).where(engines.c.owner == owner).values(seen=now))
            if updated.rowcount == 0:
                connection.execute(insert(engines).values(owner=owner, started=now, seen=now))

        self._write(work)

    def forget_engine(self, owner: str) -> None:
        """Remove the row of engine ``owner``, which is stopping."""

        def work(connection: Connection) -> None:
            connection.execute(delete(engines).where(engines.c.owner == owner))

        self._write(work)

    def engine_beats(self) -> list[EngineBeat]:
        """Every engine's row, the most recently seen first."""

        def work(connection: Connection) -> list[EngineBeat]:
            rows = connection.execute(select(engines).order_by(engines.c.seen.desc(), engines.c.owner))
            return [EngineBeat(row.owner, row.started, row.seen) for row in rows]

        return self._read(work)
