"""What engine processes write back, and what they read besides claims.

Every write here is conditional on the row's current ``arcstate``: a user's
cancel or clean can land between an engine process claiming a job and
writing its result, and the user's request must win. The rows are locked
(``FOR UPDATE``, in id order so that concurrent writers cannot deadlock each
other) and read first, each change is decided on the fresh state, and the
writes are batched into one ``executemany`` per distinct set of columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import bindparam

from actframework.db._core import StoreCore, arc_field_values, chunks, naive_utc, unique_ints
from actframework.db.records import ArcJob, StatusUpdate, SubmissionRecord
from actframework.db.schema import arcjobs, jobdescriptions
from actframework.db.states import OCCUPYING, ON_CLUSTER, require_known
from actframework.jobstates import ArcState

#: States a submission result may be recorded for: the submitter's own claim,
#: or a user's cancel that arrived while the submission was in flight.
_SUBMISSION_STATES = frozenset({ArcState.SUBMITTING, ArcState.TOCANCEL})


@dataclass(frozen=True)
class _Current:
    arcstate: str
    State: str | None


@dataclass(frozen=True)
class _Change:
    """One row's decided update; ``expected`` guards the WHERE clause."""

    arc_id: int
    expected: str
    values: dict[str, Any]


#: Given a caller's item, the row's current state and the time, the values to
#: write, or None to leave the row alone.
_Decide = Callable[[Any, _Current, datetime], "dict[str, Any] | None"]


class EngineOps(StoreCore):
    """Engine write-backs, simple transitions, counts and reads."""

    # ------------------------------------------------------------------ write-backs

    def record_submissions(self, results: Sequence[SubmissionRecord], *, keep_lease: bool = False) -> list[int]:
        """Store the outcome of submissions: the new ``arcstate`` and CE fields
        (``IDFromEndpoint``, ``JobID``, ``DelegationID``, ``State``, ...);
        clears the lease (unless ``keep_lease``: the submitter records the CE
        ids before it stages inputs, still holding the job) and sets
        ``tarcstate``.

        If the user cancelled the job while it was being submitted (it is
        now ``tocancel``), it stays ``tocancel`` but still gets the CE fields,
        so the engine can kill the job it just created on the CE (the kill
        would otherwise be lost). Rows in any other state are
        left alone. Returns the ids written, in input order.
        """
        for result in results:
            require_known([result.arcstate])
        prepared = [(result, arc_field_values(result.fields)) for result in results]
        _require_unique(result.arc_id for result in results)

        def decide(
            result_and_fields: tuple[SubmissionRecord, dict[str, Any]], current: _Current, now: datetime
        ) -> dict[str, Any] | None:
            result, fields = result_and_fields
            if current.arcstate not in _SUBMISSION_STATES:
                return None
            values = _stamped(fields, current, now)
            if keep_lease:
                del values["claimedby"], values["claimeduntil"]
            if current.arcstate != ArcState.TOCANCEL:
                values["arcstate"] = result.arcstate
            return values

        return self._decide_and_write(
            [(result.arc_id, item) for result, item in zip(results, prepared, strict=True)], decide
        )

    def apply_status_updates(self, updates: Sequence[StatusUpdate]) -> list[int]:
        """Apply status-check results, each only if its job is still in
        ``expected_arcstate`` (so a concurrent ``tocancel`` is never
        overwritten). Always sets ``tarcstate`` (the job was checked), sets
        ``tstate`` when ``State`` changes, clears the lease. Returns the ids
        applied, in input order."""
        require_known({u.expected_arcstate for u in updates} | {u.arcstate for u in updates if u.arcstate})
        _require_unique(u.arc_id for u in updates)
        prepared = [(u, arc_field_values(u.columns())) for u in updates]

        def decide(
            update_and_fields: tuple[StatusUpdate, dict[str, Any]], current: _Current, now: datetime
        ) -> dict[str, Any] | None:
            status, fields = update_and_fields
            if current.arcstate != status.expected_arcstate:
                return None
            values = _stamped(fields, current, now)
            if status.arcstate is not None:
                values["arcstate"] = status.arcstate
            return values

        items = [(u.arc_id, item) for u, item in zip(updates, prepared, strict=True)]
        return self._decide_and_write(items, decide)

    def set_arcstate(
        self,
        ids: Collection[int],
        arcstate: ArcState,
        expected: Collection[str],
        *,
        fields: Mapping[str, Any] | None = None,
        reset_created: bool = False,
        restart_state_clock: bool = False,
    ) -> list[int]:
        """Move jobs that are in one of ``expected`` to ``arcstate`` (e.g.
        fetched ``finished`` → ``done``, ``tocancel`` → ``cancelling``,
        ``toresubmit`` → ``tosubmit`` with ``reset_created``), optionally
        writing ``fields``. Clears the lease, sets ``tarcstate``;
        ``restart_state_clock`` also sets ``tstate`` (the time-in-State clock
        restarts, e.g. when a kill was accepted). Returns the ids changed,
        ascending."""
        require_known({arcstate, *expected})
        values = arc_field_values(fields or {})
        allowed = frozenset(expected)

        def decide(_: None, current: _Current, now: datetime) -> dict[str, Any] | None:
            if current.arcstate not in allowed:
                return None
            changed = _stamped(values, current, now)
            changed["arcstate"] = arcstate
            if reset_created:
                changed["created"] = now
            if restart_state_clock:
                changed["tstate"] = now
            return changed

        return self._decide_and_write([(arc_id, None) for arc_id in unique_ints(ids)], decide)

    def note_errors(self, errors: Mapping[int, tuple[str, str]]) -> list[int]:
        """Set ``Error`` of jobs without any other change (not even of
        ``tarcstate``, the time of the last check): ``errors`` maps each arc
        id to (the arcstate it must still be in, the text). For jobs that
        wait on their owner (an expired proxy), so the owner sees why.
        Leases are left alone. Returns the ids written."""
        items = [(arc_id, (expected, arc_field_values({"Error": text}))) for arc_id, (expected, text) in errors.items()]

        def decide(item: tuple[str, dict[str, Any]], current: _Current, _now: datetime) -> dict[str, Any] | None:
            expected, values = item
            return dict(values) if current.arcstate == expected else None

        return self._decide_and_write(items, decide)

    def _decide_and_write(self, items: list[tuple[int, Any]], decide: _Decide) -> list[int]:
        """Lock the rows of ``items``, call ``decide(item, current, now)`` for
        each existing row, write the non-None results; return written ids."""
        if not items:
            return []

        def work(connection: Connection) -> list[int]:
            now = self.now()
            current = self._lock_current(connection, [arc_id for arc_id, _ in items])
            changes: list[_Change] = []
            for arc_id, item in items:
                state = current.get(arc_id)
                if state is None:
                    continue
                values = decide(item, state, now)
                if values is not None:
                    changes.append(_Change(arc_id, state.arcstate, values))
            _write_changes(connection, changes)
            return [change.arc_id for change in changes]

        return self._write(work)

    def _lock_current(self, connection: Connection, ids: Iterable[int]) -> dict[int, _Current]:
        current: dict[int, _Current] = {}
        for part in chunks(unique_ints(ids)):
            query = (
                select(arcjobs.c.id, arcjobs.c.arcstate, arcjobs.c.State)
                .where(arcjobs.c.id.in_(part))
                .order_by(arcjobs.c.id)
            )
            for row in connection.execute(self._locked_by_id(query, arcjobs)):
                current[row.id] = _Current(row.arcstate, row.State)
        return current

    # ------------------------------------------------------------------ deletion

    def delete_arc_jobs(self, ids: Collection[int], expected: Collection[str] | None = None) -> list[int]:
        """Delete arc rows and their job descriptions (the cleaner's last
        step), optionally only those in one of ``expected``. Returns the ids
        deleted, ascending."""
        if expected is not None:
            require_known(set(expected))
        wanted = unique_ints(ids)
        if not wanted:
            return []

        def work(connection: Connection) -> list[int]:
            deleted: list[int] = []
            descriptions: list[int] = []
            for part in chunks(wanted):
                query = select(arcjobs.c.id, arcjobs.c.jobdesc).where(arcjobs.c.id.in_(part))
                if expected is not None:
                    query = query.where(arcjobs.c.arcstate.in_(sorted(expected)))
                locked = self._locked_by_id(query.order_by(arcjobs.c.id), arcjobs)
                for row in connection.execute(locked):
                    deleted.append(row.id)
                    if row.jobdesc is not None:
                        descriptions.append(row.jobdesc)
            for part in chunks(deleted):
                connection.execute(delete(arcjobs).where(arcjobs.c.id.in_(part)))
            for part in chunks(descriptions):
                connection.execute(delete(jobdescriptions).where(jobdescriptions.c.id.in_(part)))
            return deleted

        return self._write(work)

    # ------------------------------------------------------------------ reads

    def count_occupying(self, cluster: str) -> int:
        """Jobs that occupy a place on ``cluster`` (:data:`OCCUPYING`), which
        its ``maxjobs`` limits."""

        def work(connection: Connection) -> int:
            query = (
                select(func.count())
                .select_from(arcjobs)
                .where(arcjobs.c.cluster == cluster, arcjobs.c.arcstate.in_(sorted(OCCUPYING)))
            )
            return int(connection.execute(query).scalar_one())

        return self._read(work)

    def active_by_group(self, cluster: str) -> dict[tuple[int, str], int]:
        """Jobs of each (owner ``proxyid``, ``fairshare`` label) that are on
        ``cluster`` now (being submitted, queued, running or finishing
        there): the shares fair-share submission evens out."""

        def work(connection: Connection) -> dict[tuple[int, str], int]:
            owner = func.coalesce(arcjobs.c.proxyid, 0)
            label = func.coalesce(arcjobs.c.fairshare, "")
            query = (
                select(owner, label, func.count())
                .where(arcjobs.c.cluster == cluster, arcjobs.c.arcstate.in_(sorted(ON_CLUSTER)))
                .group_by(owner, label)
            )
            return {(int(proxyid), str(name)): int(count) for proxyid, name, count in connection.execute(query)}

        return self._read(work)

    def waiting_too_long(
        self, *, refused_before: datetime, created_before: datetime | None, limit: int
    ) -> list[ArcJob]:
        """``tosubmit`` jobs nobody holds that clusters have refused since
        before ``refused_before`` or, with ``created_before``, that were
        created before it; at most ``limit``, oldest first."""
        now = self.now()

        def work(connection: Connection) -> list[ArcJob]:
            expired = arcjobs.c.refusedsince < naive_utc(refused_before)
            if created_before is not None:
                expired = or_(expired, arcjobs.c.created < naive_utc(created_before))
            query = (
                select(arcjobs)
                .where(arcjobs.c.arcstate == ArcState.TOSUBMIT, expired, self._lease_free(now))
                .order_by(arcjobs.c.id)
                .limit(limit)
            )
            return [ArcJob.from_row(row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def counts_by_state(self, cluster: str | None = None) -> dict[str, int]:
        """Number of jobs per ``arcstate``, over all clusters or one."""

        def work(connection: Connection) -> dict[str, int]:
            query = select(arcjobs.c.arcstate, func.count()).group_by(arcjobs.c.arcstate)
            if cluster is not None:
                query = query.where(arcjobs.c.cluster == cluster)
            return {state: int(count) for state, count in connection.execute(query)}

        return self._read(work)

    def submitting_jobs(self, cluster: str, owner: str | None = None, lease_expired_only: bool = True) -> list[ArcJob]:
        """Jobs stuck in ``submitting`` on ``cluster``, for crash
        reconciliation: by default only those whose submitter's lease has
        expired (the submitter died mid-way), optionally only one owner's."""

        def work(connection: Connection) -> list[ArcJob]:
            query = select(arcjobs).where(arcjobs.c.arcstate == ArcState.SUBMITTING, arcjobs.c.cluster == cluster)
            if owner is not None:
                query = query.where(arcjobs.c.claimedby == owner)
            if lease_expired_only:
                query = query.where(self._lease_free(self.now()))
            rows = connection.execute(query.order_by(arcjobs.c.id)).mappings()
            return [ArcJob.from_row(row) for row in rows]

        return self._read(work)

    def clusters_in_use(self) -> set[str]:
        """Every cluster some job is assigned to (engines serve these even
        after a cluster was removed from the configuration)."""

        def work(connection: Connection) -> set[str]:
            query = select(arcjobs.c.cluster).where(arcjobs.c.cluster.is_not(None), arcjobs.c.cluster != "").distinct()
            return {str(cluster) for cluster in connection.execute(query).scalars()}

        return self._read(work)

    def counts_by_cluster_and_state(self) -> dict[tuple[str, str], int]:
        """Number of jobs per (cluster, arcstate); '' for jobs not yet on a cluster."""

        def work(connection: Connection) -> dict[tuple[str, str], int]:
            query = select(arcjobs.c.cluster, arcjobs.c.arcstate, func.count()).group_by(
                arcjobs.c.cluster, arcjobs.c.arcstate
            )
            counts: dict[tuple[str, str], int] = defaultdict(int)
            for cluster, state, count in connection.execute(query):  # NULL and '' are both "no cluster"
                counts[(cluster or "", state)] += int(count)
            return dict(counts)

        return self._read(work)

    def known_ce_ids(self, cluster: str, ce_ids: Collection[str]) -> set[str]:
        """Those of ``ce_ids`` that some job on ``cluster`` already records."""
        wanted = sorted(set(ce_ids))

        def work(connection: Connection) -> set[str]:
            found: set[str] = set()
            for part in chunks(wanted):
                query = select(arcjobs.c.IDFromEndpoint).where(
                    arcjobs.c.cluster == cluster, arcjobs.c.IDFromEndpoint.in_(part)
                )
                found.update(str(value) for value in connection.execute(query).scalars())
            return found

        return self._read(work) if wanted else set()

    def get_job_descriptions(self, arc_ids: Collection[int]) -> dict[int, str]:
        """The job description text of each arc job (what the submitter sends)."""
        wanted = unique_ints(arc_ids)

        def work(connection: Connection) -> dict[int, str]:
            found: dict[int, str] = {}
            for part in chunks(wanted):
                query = (
                    select(arcjobs.c.id, jobdescriptions.c.jobdescription)
                    .select_from(arcjobs.join(jobdescriptions, arcjobs.c.jobdesc == jobdescriptions.c.id))
                    .where(arcjobs.c.id.in_(part))
                )
                found.update({row.id: row.jobdescription for row in connection.execute(query)})
            return found

        return self._read(work) if wanted else {}


def _stamped(fields: Mapping[str, Any], current: _Current, now: datetime) -> dict[str, Any]:
    """``fields`` plus what every engine write sets: the check time, the
    modification time, a released lease, and ``tstate`` if ``State`` changes."""
    values = dict(fields)
    values.update(tarcstate=now, modified=now, claimedby=None, claimeduntil=None)
    if "State" in fields and fields["State"] != current.State:
        values["tstate"] = now
    return values


def _write_changes(connection: Connection, changes: Sequence[_Change]) -> None:
    """One ``executemany`` per distinct column set, each row guarded by
    ``id`` and the ``arcstate`` it was decided on."""
    groups: dict[tuple[str, ...], list[_Change]] = defaultdict(list)
    for change in changes:
        groups[tuple(sorted(change.values))].append(change)
    for columns, group in groups.items():
        statement = (
            update(arcjobs)
            .where(arcjobs.c.id == bindparam("b_id"), arcjobs.c.arcstate == bindparam("b_expected"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        connection.execute(
            statement,
            [
                {
                    "b_id": change.arc_id,
                    "b_expected": change.expected,
                    **{f"v_{name}": change.values[name] for name in columns},
                }
                for change in group
            ],
        )


def _require_unique(ids: Iterable[int]) -> None:
    seen: set[int] = set()
    for arc_id in ids:
        if arc_id in seen:
            raise ValueError(f"arc job {arc_id} appears more than once in one batch")
        seen.add(arc_id)
