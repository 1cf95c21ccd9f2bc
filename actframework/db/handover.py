"""Handing confirmed client jobs over to the ARC engine (aCT's Client2Arc).

A confirmed client job (``jobdesc`` set, ``arcjobid`` NULL) becomes a
``jobdescriptions`` row plus an ``arcjobs`` row in ``tosubmit``, and the client
row points at it. All of that happens in one transaction per batch, so a job
is handed over exactly once even with several engine processes: on
PostgreSQL and MariaDB the batch's client rows are taken with ``FOR UPDATE
SKIP LOCKED`` (two handovers split the work instead of waiting for each
other), on SQLite the whole transaction holds the writer lock.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import bindparam

from actframework.db._core import StoreCore
from actframework.db.records import ArcJobDefaults, ClientJobRow, HandoverResult
from actframework.db.schema import arcjobs, clientjobs, jobdescriptions
from actframework.db.states import HANDOVER_STATES

Prepare = Callable[[ClientJobRow], ArcJobDefaults]


class HandoverOps(StoreCore):
    """The client → engine handover."""

    def handover(self, limit: int = 1000, prepare: Prepare | None = None) -> list[HandoverResult]:
        """Hand over up to ``limit`` confirmed client jobs, oldest first.

        ``prepare`` derives the engine fields (priority, download patterns,
        ...) from a job's description; without it :class:`ArcJobDefaults`
        are used. It runs inside the transaction, so it must be quick and
        must not raise for one bad description (return ``arcstate=
        "cancelled"`` for that job instead), or no job is handed over.
        Returns (client id, arc id) pairs in client id order.
        """
        if limit <= 0:
            return []

        def work(connection: Connection) -> list[HandoverResult]:
            now = self.now()
            rows = self._take_unlocked(
                connection,
                clientjobs,
                [
                    clientjobs.c.id,
                    clientjobs.c.jobname,
                    clientjobs.c.jobdesc,
                    clientjobs.c.clusterlist,
                    clientjobs.c.proxyid,
                    clientjobs.c.created,
                ],
                and_(clientjobs.c.jobdesc.is_not(None), clientjobs.c.arcjobid.is_(None)),
                [clientjobs.c.id],
                limit,
            )
            jobs = [
                ClientJobRow(
                    id=row["id"],
                    jobname=row["jobname"],
                    jobdesc=row["jobdesc"],
                    clusterlist=row["clusterlist"] or "",
                    proxyid=row["proxyid"],
                    created=row["created"],
                )
                for row in rows
            ]
            if not jobs:
                return []
            defaults = [prepare(job) if prepare is not None else ArcJobDefaults() for job in jobs]
            for job, fields in zip(jobs, defaults, strict=True):
                if fields.arcstate not in HANDOVER_STATES:
                    raise ValueError(
                        f"prepare() gave arcstate {str(fields.arcstate)!r} for job {job.id}; "
                        f"allowed: {', '.join(sorted(HANDOVER_STATES))}"
                    )
            desc_ids = self._insert_returning_ids(
                connection, jobdescriptions, [{"jobdescription": job.jobdesc} for job in jobs]
            )
            arc_ids = self._insert_returning_ids(
                connection,
                arcjobs,
                [
                    {
                        "arcstate": fields.arcstate,
                        "created": now,
                        "modified": now,
                        "tarcstate": now,
                        "tstate": now,
                        "cluster": "",
                        "clusterlist": job.clusterlist,
                        "jobdesc": desc_id,
                        "attemptsleft": fields.attemptsleft,
                        "downloadfiles": fields.downloadfiles,
                        "proxyid": job.proxyid,
                        "appjobid": str(job.id),
                        "priority": fields.priority,
                        "fairshare": fields.fairshare,
                    }
                    for job, fields, desc_id in zip(jobs, defaults, desc_ids, strict=True)
                ],
            )
            connection.execute(
                update(clientjobs)
                .where(clientjobs.c.id == bindparam("b_client"))
                .values(arcjobid=bindparam("b_arc"), modified=now),
                [{"b_client": job.id, "b_arc": arc_id} for job, arc_id in zip(jobs, arc_ids, strict=True)],
            )
            return [HandoverResult(job.id, arc_id) for job, arc_id in zip(jobs, arc_ids, strict=True)]

        return self._write(work)
