"""Claiming ``arcjobs`` rows for engine work, with leases.

Several engine processes (one per cluster and kind of work, possibly on more
than one host) pick rows from the same table. A claim gives a batch of rows
to exactly one of them and records a *lease* on each row (``claimedby``,
``claimeduntil``): while the lease runs, no other claim takes the row; when
the claimer finishes it writes its results (which clear the lease) or
releases the rows; if it dies, the lease expires and the rows are free again.

One primitive, :meth:`ClaimOps._claim`, does all claims:

* PostgreSQL: ``SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED``
  then ``UPDATE ... WHERE id IN (...)`` in the same transaction. Concurrent
  claimers skip each other's locked rows, so they split the work without
  waiting and without overlap;
* MySQL/MariaDB: the same, except that the rows are chosen by a plain read
  and then locked by primary key with ``SKIP LOCKED`` (InnoDB would otherwise
  lock every matching row while sorting; see ``StoreCore._take_unlocked``);
* SQLite: a single conditional ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)
  AND <condition> RETURNING *`` inside ``BEGIN IMMEDIATE``, which already
  excludes every other writer.

Claims return :class:`~actframework.db.records.ArcJob` records (the rows as
they are after the claim) in claim order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, literal, select, update
from sqlalchemy.engine import Connection

from actframework.db._core import StoreCore, chunks, naive_utc, unique_ints
from actframework.db.filters import like_element_pattern
from actframework.db.records import ArcJob, WaitingGroup
from actframework.db.schema import arcjobs
from actframework.db.states import FETCH_PENDING, STATUS_CHECKED
from actframework.jobstates import ArcState

#: Length of the ``claimedby`` column.
OWNER_MAX_LENGTH: Final = 64

#: A claim order: (column name, descending?) pairs, most significant first.
Order = Sequence[tuple[str, bool]]

_BY_ID: Final[Order] = (("id", False),)


class ClaimOps(StoreCore):
    """Engine claims and lease release."""

    # ------------------------------------------------------------------ named claims

    def claim_for_submit(
        self,
        cluster: str,
        limit: int,
        owner: str,
        lease: timedelta,
        proxyid: int | None = None,
        fairshare: str | None = None,
        token: str | None = None,
    ) -> list[ArcJob]:
        """Claim ``tosubmit`` jobs that may run on ``cluster``; they become
        ``submitting`` on that cluster, with ``token`` as their
        ``submissiontoken``. Highest priority first, then oldest. With
        ``proxyid`` and ``fairshare``, only that group's jobs (a NULL
        ``fairshare`` counts as the label ``""``).

        ``cluster`` must be a whole element of the job's cluster list: a
        cluster URL that is a prefix or suffix of another never matches it,
        and ``%``/``_`` in URLs are literal.
        """
        conditions = [arcjobs.c.arcstate == ArcState.TOSUBMIT, _lists_cluster(cluster)]
        if proxyid is not None:
            conditions.append(arcjobs.c.proxyid == proxyid)
        if fairshare is not None:
            conditions.append(_fairshare_label == fairshare)
        now = self.now()
        return self._claim(
            and_(*conditions),
            order=(("priority", True), ("id", False)),
            limit=limit,
            owner=owner,
            lease=lease,
            changes={"arcstate": ArcState.SUBMITTING, "cluster": cluster, "tarcstate": now, "submissiontoken": token},
            now=now,
        )

    def waiting_groups(self, cluster: str) -> dict[tuple[int, str], WaitingGroup]:
        """The groups of ``tosubmit`` jobs that may run on ``cluster`` and
        that nobody holds, keyed by (owner ``proxyid``, ``fairshare`` label):
        how many jobs each has waiting, and its oldest job's id."""
        label = _fairshare_label.label("label")
        proxyid = func.coalesce(arcjobs.c.proxyid, 0).label("owner")

        def work(connection: Connection) -> dict[tuple[int, str], WaitingGroup]:
            now = self.now()
            query = (
                select(proxyid, label, func.count(), func.min(arcjobs.c.id))
                .where(arcjobs.c.arcstate == ArcState.TOSUBMIT, _lists_cluster(cluster), self._lease_free(now))
                .group_by(proxyid, label)
            )
            return {
                (int(owner), str(name)): WaitingGroup(int(count), int(oldest))
                for owner, name, count, oldest in connection.execute(query)
            }

        return self._read(work)

    def claim_for_status(
        self,
        cluster: str,
        limit: int,
        owner: str,
        lease: timedelta,
        checked_before: datetime,
    ) -> list[ArcJob]:
        """Claim jobs on ``cluster`` whose CE state is due for a check: in a
        polled state, with a ``JobID``, last checked (``tarcstate``) before
        ``checked_before``. Least recently checked first."""
        condition = and_(
            arcjobs.c.arcstate.in_(sorted(STATUS_CHECKED)),
            arcjobs.c.JobID.is_not(None),
            arcjobs.c.JobID != "",
            arcjobs.c.cluster == cluster,
            arcjobs.c.tarcstate < naive_utc(checked_before),
        )
        return self._claim(
            condition, order=(("tarcstate", False), ("id", False)), limit=limit, owner=owner, lease=lease
        )

    def claim_for_fetch(self, cluster: str, limit: int, owner: str, lease: timedelta) -> list[ArcJob]:
        """Claim ``finished`` and ``tofetch`` jobs on ``cluster`` for download."""
        return self._claim_states(FETCH_PENDING, cluster, limit, owner, lease)

    def claim_for_clean(self, cluster: str, limit: int, owner: str, lease: timedelta) -> list[ArcJob]:
        """Claim ``toclean`` jobs on ``cluster``."""
        return self._claim_states({ArcState.TOCLEAN}, cluster, limit, owner, lease)

    def claim_for_cancel(self, cluster: str, limit: int, owner: str, lease: timedelta) -> list[ArcJob]:
        """Claim ``tocancel`` jobs on ``cluster``."""
        return self._claim_states({ArcState.TOCANCEL}, cluster, limit, owner, lease)

    def claim_for_resubmit(self, cluster: str, limit: int, owner: str, lease: timedelta) -> list[ArcJob]:
        """Claim ``toresubmit`` jobs on ``cluster``."""
        return self._claim_states({ArcState.TORESUBMIT}, cluster, limit, owner, lease)

    def claim_for_rerun(self, cluster: str, limit: int, owner: str, lease: timedelta) -> list[ArcJob]:
        """Claim ``torerun`` jobs on ``cluster``."""
        return self._claim_states({ArcState.TORERUN}, cluster, limit, owner, lease)

    def claim_for_reconcile(
        self, cluster: str, limit: int, owner: str, lease: timedelta, settled_before: datetime
    ) -> list[ArcJob]:
        """Claim ``submitting`` jobs on ``cluster`` that nobody holds: their
        submitter died or gave up without knowing whether the CE created
        them (see :mod:`actframework.engine.reconcile`). Only jobs last
        touched (``tarcstate``) before ``settled_before`` are taken, so that
        a submission the CE may still be working on has ended."""
        condition = and_(
            arcjobs.c.arcstate == ArcState.SUBMITTING,
            arcjobs.c.cluster == cluster,
            arcjobs.c.tarcstate < naive_utc(settled_before),
        )
        return self._claim(condition, order=_BY_ID, limit=limit, owner=owner, lease=lease)

    def lease_owners(self) -> set[str]:
        """Every owner that holds a lease on some row (current or expired)."""

        def work(connection: Connection) -> set[str]:
            query = select(arcjobs.c.claimedby).where(arcjobs.c.claimedby.is_not(None)).distinct()
            return {str(owner) for owner in connection.execute(query).scalars()}

        return self._read(work)

    def release_owner(self, owner: str) -> int:
        """Give up every lease ``owner`` holds: for an owner known to be dead
        (a crashed engine process of this host), whose rows would otherwise
        wait for their leases to expire. Returns how many rows were freed."""

        def work(connection: Connection) -> int:
            result = connection.execute(
                update(arcjobs).where(arcjobs.c.claimedby == owner).values(claimedby=None, claimeduntil=None)
            )
            return int(result.rowcount)

        return self._write(work)

    def release(self, ids: Collection[int], owner: str) -> int:
        """Give up this owner's leases on ``ids`` (rows it claimed but did not
        finish). Leases held by others are untouched. Returns how many rows
        were released."""
        wanted = unique_ints(ids)
        if not wanted:
            return 0

        def work(connection: Connection) -> int:
            released = 0
            for part in chunks(wanted):
                result = connection.execute(
                    update(arcjobs)
                    .where(arcjobs.c.id.in_(part), arcjobs.c.claimedby == owner)
                    .values(claimedby=None, claimeduntil=None)
                )
                released += result.rowcount
            return released

        return self._write(work)

    # ------------------------------------------------------------------ the primitive

    def _claim_states(
        self, states: Collection[str], cluster: str, limit: int, owner: str, lease: timedelta
    ) -> list[ArcJob]:
        condition = and_(arcjobs.c.arcstate.in_(sorted(states)), arcjobs.c.cluster == cluster)
        return self._claim(condition, order=_BY_ID, limit=limit, owner=owner, lease=lease)

    def _claim(
        self,
        condition: ColumnElement[bool],
        *,
        order: Order,
        limit: int,
        owner: str,
        lease: timedelta,
        changes: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> list[ArcJob]:
        """Claim up to ``limit`` rows matching ``condition`` and free of any
        current lease, in ``order``; set their lease to ``owner`` until
        now + ``lease`` and apply ``changes``. Returns the claimed rows as
        they are afterwards, in ``order``."""
        if not owner or len(owner) > OWNER_MAX_LENGTH:
            raise ValueError(f"claim owner must be 1 to {OWNER_MAX_LENGTH} characters")
        if lease <= timedelta(0):
            raise ValueError("a lease must be longer than zero")
        if limit <= 0:
            return []
        now = now or self.now()
        values = {"claimedby": owner, "claimeduntil": now + lease, "modified": now, **(changes or {})}
        claimable = and_(condition, self._lease_free(now))
        order_by = [arcjobs.c[name].desc() if desc else arcjobs.c[name].asc() for name, desc in order]

        if not self._row_locks and not self._read(
            lambda connection: connection.execute(select(arcjobs.c.id).where(claimable).limit(1)).first()
        ):
            # SQLite's write transactions are exclusive: an idle worker's
            # look for work (several a second per worker) must not take the
            # write lock when there is nothing to claim. A read never waits.
            return []

        def work(connection: Connection) -> list[ArcJob]:
            if not self._row_locks:
                candidates = select(arcjobs.c.id).where(claimable).order_by(*order_by).limit(limit)
                rows = (
                    connection.execute(
                        update(arcjobs)
                        .where(arcjobs.c.id.in_(candidates.scalar_subquery()), claimable)
                        .values(values)
                        .returning(*arcjobs.columns)
                    )
                    .mappings()
                    .all()
                )
                jobs = [ArcJob.from_row(row) for row in rows]
                return _sorted(jobs, order)
            rows = self._take_unlocked(connection, arcjobs, list(arcjobs.columns), claimable, order_by, limit)
            if not rows:
                return []
            connection.execute(update(arcjobs).where(arcjobs.c.id.in_([row["id"] for row in rows])).values(values))
            return [ArcJob.from_row({**row, **values}) for row in rows]

        return self._write(work)


#: A job's fair-share label as groups compare it (NULL and "" are one group).
_fairshare_label = func.coalesce(arcjobs.c.fairshare, "")


def _lists_cluster(cluster: str) -> ColumnElement[bool]:
    """The job's cluster list holds ``cluster`` as a whole element: a cluster
    URL that is a prefix or suffix of another never matches it, and ``%``/``_``
    in URLs are literal."""
    return (literal(",") + arcjobs.c.clusterlist + literal(",")).like(like_element_pattern(cluster), escape="/")


def _sorted(jobs: list[ArcJob], order: Order) -> list[ArcJob]:
    """Sort in claim order (RETURNING gives no order guarantee). Stable
    sorts from the least significant key up; NULLs sort first ascending, as
    SQLite orders them."""
    for name, descending in reversed(order):
        jobs.sort(key=lambda job: _sort_key(getattr(job, name)), reverse=descending)
    return jobs


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)
