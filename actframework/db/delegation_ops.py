"""The ``delegations`` table: one delegation per user proxy per CE.

Engine processes on any host share a user's delegation on a CE. The first
one to need it creates it on the CE and records it here; a second process
that raced it finds the row taken (:meth:`add_delegation` returns the
winner's record) and discards its own. Renewal happens in place on the CE,
so the row only changes its expiry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from actframework.db._core import StoreCore, naive_utc
from actframework.db.records import DelegationRecord
from actframework.db.schema import arcjobs, clientjobs, delegations, stagings
from actframework.db.states import USING_DELEGATION
from actframework.errors import StoreError


class DelegationOps(StoreCore):
    """Shared CE delegations."""

    def get_delegation(self, cluster: str, proxyid: int) -> DelegationRecord | None:
        """The delegation of ``proxyid`` on ``cluster``, if one is recorded."""

        def work(connection: Connection) -> DelegationRecord | None:
            row = (
                connection.execute(
                    select(delegations).where(delegations.c.cluster == cluster, delegations.c.proxyid == proxyid)
                )
                .mappings()
                .first()
            )
            return _record(row) if row is not None else None

        return self._read(work)

    def add_delegation(self, cluster: str, proxyid: int, delegationid: str, expirytime: datetime) -> DelegationRecord:
        """Record a new delegation, unless another process recorded one for
        the same proxy and CE first: then that one is returned, and the
        caller should delete its own from the CE."""

        def work(connection: Connection) -> None:
            connection.execute(
                insert(delegations).values(
                    cluster=cluster,
                    proxyid=proxyid,
                    delegationid=delegationid,
                    expirytime=naive_utc(expirytime),
                    modified=self.now(),
                )
            )

        try:
            self._write(work)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        found = self.get_delegation(cluster, proxyid)
        if found is None:  # deleted again in between: ours is as good as any
            return self.add_delegation(cluster, proxyid, delegationid, expirytime)
        return found

    def update_delegation(self, cluster: str, proxyid: int, delegationid: str, expirytime: datetime) -> None:
        """Store a renewed (or replaced) delegation of ``proxyid`` on ``cluster``."""

        def work(connection: Connection) -> None:
            connection.execute(
                update(delegations)
                .where(delegations.c.cluster == cluster, delegations.c.proxyid == proxyid)
                .values(delegationid=delegationid, expirytime=naive_utc(expirytime), modified=self.now())
            )

        self._write(work)

    def delete_delegation_record(self, cluster: str, proxyid: int) -> bool:
        """Forget the delegation of ``proxyid`` on ``cluster`` (e.g. the CE lost it)."""

        def work(connection: Connection) -> bool:
            result = connection.execute(
                delete(delegations).where(delegations.c.cluster == cluster, delegations.c.proxyid == proxyid)
            )
            return bool(result.rowcount)

        return self._write(work)

    def forget_idle_delegation(self, cluster: str, proxyid: int) -> DelegationRecord | None:
        """Delete the record of ``proxyid``'s delegation on ``cluster`` if the
        owner has no jobs at all (no client job, engine job or staging), in
        one transaction with that check; returns the deleted record. A job
        created a moment later finds no record and gets a new delegation,
        so none can be submitted with the one the caller now removes from
        the CE."""

        def work(connection: Connection) -> DelegationRecord | None:
            row = (
                connection.execute(
                    self._locked(
                        select(delegations).where(delegations.c.cluster == cluster, delegations.c.proxyid == proxyid)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            for table in (clientjobs, arcjobs, stagings):
                if connection.execute(select(table.c.id).where(table.c.proxyid == proxyid).limit(1)).first():
                    return None
            connection.execute(delete(delegations).where(delegations.c.id == row["id"]))
            return _record(row)

        return self._write(work)

    def delegations_on(self, cluster: str) -> list[DelegationRecord]:
        """Every recorded delegation on ``cluster``."""

        def work(connection: Connection) -> list[DelegationRecord]:
            query = select(delegations).where(delegations.c.cluster == cluster).order_by(delegations.c.proxyid)
            return [_record(row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def all_delegations(self) -> list[DelegationRecord]:
        """Every recorded delegation on every CE (for the expiry metrics)."""

        def work(connection: Connection) -> list[DelegationRecord]:
            query = select(delegations).order_by(delegations.c.cluster, delegations.c.proxyid)
            return [_record(row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def delegations_of(self, proxyid: int) -> list[DelegationRecord]:
        """Every recorded delegation of user proxy ``proxyid``, on any CE."""

        def work(connection: Connection) -> list[DelegationRecord]:
            query = select(delegations).where(delegations.c.proxyid == proxyid).order_by(delegations.c.cluster)
            return [_record(row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def delegation_ids_in_use(self, cluster: str) -> dict[int, set[str]]:
        """owner proxyid → the ``DelegationID`` values of that owner's jobs
        on ``cluster`` that the CE may still use a delegation for (queued,
        running, finishing, or about to be rerun)."""

        def work(connection: Connection) -> dict[int, set[str]]:
            query = (
                select(arcjobs.c.proxyid, arcjobs.c.DelegationID)
                .where(
                    arcjobs.c.cluster == cluster,
                    arcjobs.c.arcstate.in_(sorted(USING_DELEGATION)),
                    arcjobs.c.proxyid.is_not(None),
                )
                .distinct()
            )
            found: dict[int, set[str]] = {}
            for proxyid, delegation_id in connection.execute(query):
                ids = found.setdefault(int(proxyid), set())
                if delegation_id:
                    ids.add(str(delegation_id))
            return found

        return self._read(work)


def _record(row: RowMapping) -> DelegationRecord:
    return DelegationRecord(
        cluster=row["cluster"],
        proxyid=row["proxyid"],
        delegationid=row["delegationid"],
        expirytime=row["expirytime"],
    )
