"""The ``stagings`` table: job inputs that wait on other storage.

A storage backend such as ``webdav`` puts a job's inputs on the user's own
storage, where only the user's credentials reach. The server records where
(:meth:`record_stagings`, at confirmation); once the client job is gone,
whoever removed it and however, the engine finds the row orphaned
(:meth:`orphaned_stagings`), removes the files as the job's owner and then
the row (:meth:`forget_stagings`), or notes a failed try
(:meth:`staging_tried`) and comes back later. Removing files twice is
harmless (a backend treats "already gone" as done), so several engines need
no lease here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from actframework.db._core import StoreCore, chunks, naive_utc, unique_ints
from actframework.db.records import StagingRecord
from actframework.db.schema import clientjobs, stagings


class StagingOps(StoreCore):
    """Recorded stagings and their cleanup."""

    def record_stagings(self, proxyid: int, entries: Sequence[tuple[int, str, str]]) -> None:
        """Remember ``(client job id, backend, base URL)`` for jobs of ``proxyid``
        (a job confirmed again replaces its record)."""
        if not entries:
            return

        def work(connection: Connection) -> None:
            ids = unique_ints(job_id for job_id, _, _ in entries)
            for part in chunks(ids):
                connection.execute(delete(stagings).where(stagings.c.clientjobid.in_(part)))
            now = self.now()
            connection.execute(
                insert(stagings),
                [
                    {
                        "clientjobid": job_id,
                        "proxyid": proxyid,
                        "backend": backend,
                        "url": url,
                        "created": now,
                        "tried": None,
                        "attempts": 0,
                    }
                    for job_id, backend, url in {job_id: (job_id, b, u) for job_id, b, u in entries}.values()
                ],
            )

        self._write(work)

    def orphaned_stagings(self, limit: int, tried_before: datetime) -> list[StagingRecord]:
        """Stagings whose client job no longer exists, not tried since
        ``tried_before``, oldest first."""

        def work(connection: Connection) -> list[StagingRecord]:
            gone = ~select(clientjobs.c.id).where(clientjobs.c.id == stagings.c.clientjobid).exists()
            query = (
                select(stagings)
                .where(gone, or_(stagings.c.tried.is_(None), stagings.c.tried < naive_utc(tried_before)))
                .order_by(stagings.c.id)
                .limit(limit)
            )
            return [
                StagingRecord(
                    id=row["id"],
                    clientjobid=row["clientjobid"],
                    proxyid=row["proxyid"],
                    backend=row["backend"],
                    url=row["url"],
                    created=row["created"],
                    attempts=row["attempts"],
                )
                for row in connection.execute(query).mappings()
            ]

        return self._read(work)

    def forget_stagings(self, ids: Sequence[int]) -> None:
        """Drop records whose files are gone (or given up on)."""

        def work(connection: Connection) -> None:
            for part in chunks(unique_ints(ids)):
                connection.execute(delete(stagings).where(stagings.c.id.in_(part)))

        self._write(work)

    def staging_tried(self, ids: Sequence[int]) -> None:
        """Note a failed cleanup: try again after a while."""

        def work(connection: Connection) -> None:
            for part in chunks(unique_ints(ids)):
                connection.execute(
                    update(stagings)
                    .where(stagings.c.id.in_(part))
                    .values(tried=self.now(), attempts=stagings.c.attempts + 1)
                )

        self._write(work)
