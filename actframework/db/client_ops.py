"""What the REST server does to jobs on behalf of one user.

Every operation takes the ``proxyid`` of the authenticated user and touches
only that user's jobs: isolation between users is enforced here, in the
``WHERE`` clause, not left to each REST handler.

Semantics follow aCT's REST API. Where the API needs an
arc row (state filters, fetch, resubmit, clean) the queries are INNER JOINs
``clientjobs → arcjobs``; otherwise LEFT JOINs, so jobs not yet handed over
to the engine show up with empty arc fields.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import bindparam

from actframework.db._core import StoreCore, chunks, unique_ints
from actframework.db.filters import JobFilter
from actframework.db.records import CancelOutcome, CleanOutcome, Confirmation
from actframework.db.schema import (
    CLUSTERLIST_MAX_LENGTH,
    JOBNAME_MAX_LENGTH,
    arcjobs,
    clientjobs,
    jobdescriptions,
)
from actframework.errors import InvalidColumnError, StoreError
from actframework.idlist import MAX_ID
from actframework.jobstates import CANCELLABLE, CLEANABLE, FETCHABLE, RESUBMITTABLE, ArcState

_CLIENT_COLUMNS = tuple(column.name for column in clientjobs.columns)
#: Engine-internal columns users neither see nor select (``GET /info``,
#: ``act stat --arc``): the submission token only matters to crash recovery.
_HIDDEN_ARC_COLUMNS = frozenset({"submissiontoken", "refusedsince", "missingsince"})
_ARC_COLUMNS = tuple(column.name for column in arcjobs.columns if column.name not in _HIDDEN_ARC_COLUMNS)
_JOINED = clientjobs.join(arcjobs, clientjobs.c.arcjobid == arcjobs.c.id)
_OUTER = clientjobs.outerjoin(arcjobs, clientjobs.c.arcjobid == arcjobs.c.id)
#: Jobs per read of a listing (:meth:`ClientOps.iter_job_pages`).
LISTING_PAGE = 5000
#: The label of the keyset column of a listing's pages (not a column name).
_KEY = "_key_id"


class ClientOps(StoreCore):
    """Job operations of the REST server (``/jobs``, ``/info``)."""

    # ------------------------------------------------------------------ submission

    def create_client_jobs(self, proxyid: int, clusterlists: Sequence[Sequence[str]]) -> list[int]:
        """Create one unconfirmed client job per cluster list (POST /jobs).

        Returns the new job ids in input order. The cluster URLs must already
        be normalised and allowed by the server; they are stored comma-joined.
        """
        rows = []
        for clusters in clusterlists:
            if any("," in cluster for cluster in clusters):
                raise StoreError("a cluster URL must not contain a comma")
            joined = ",".join(clusters)
            if len(joined) > CLUSTERLIST_MAX_LENGTH:
                raise StoreError(f"cluster list is {len(joined)} characters long; at most {CLUSTERLIST_MAX_LENGTH} fit")
            rows.append(joined)
        if not rows:
            return []

        def work(connection: Connection) -> list[int]:
            now = self.now()
            return self._insert_returning_ids(
                connection,
                clientjobs,
                [
                    {
                        "created": now,
                        "modified": now,
                        "clusterlist": joined,
                        "proxyid": proxyid,
                        "jobname": None,
                        "jobdesc": None,
                        "arcjobid": None,
                    }
                    for joined in rows
                ],
            )

        return self._write(work)

    def confirm_client_jobs(self, proxyid: int, confirmations: Sequence[Confirmation]) -> list[bool]:
        """Store final descriptions (PUT /jobs); setting it is what confirms a job.

        Returns, aligned with the input, True where the job belongs to the
        user and got its description. A job the engine has already taken over
        keeps the description it was taken over with and gets False, so a late
        re-confirmation cannot silently diverge from what will be submitted.
        """
        for confirmation in confirmations:
            if confirmation.jobname is not None and len(confirmation.jobname) > JOBNAME_MAX_LENGTH:
                raise StoreError(f"job {confirmation.id}: job name is longer than {JOBNAME_MAX_LENGTH} characters")
        if not confirmations:
            return []

        def work(connection: Connection) -> list[bool]:
            wanted = unique_ints(confirmation.id for confirmation in confirmations)
            eligible: set[int] = set()
            for part in chunks(wanted):
                query = (
                    select(clientjobs.c.id)
                    .where(
                        clientjobs.c.id.in_(part),
                        clientjobs.c.proxyid == proxyid,
                        clientjobs.c.arcjobid.is_(None),
                    )
                    .order_by(clientjobs.c.id)
                )
                eligible.update(connection.execute(self._locked_by_id(query, clientjobs)).scalars())
            params = [
                {"b_id": c.id, "b_name": c.jobname, "b_desc": c.jobdesc} for c in confirmations if c.id in eligible
            ]
            if params:
                connection.execute(
                    update(clientjobs)
                    .where(clientjobs.c.id == bindparam("b_id"))
                    .values(jobname=bindparam("b_name"), jobdesc=bindparam("b_desc"), modified=self.now()),
                    params,
                )
            return [c.id in eligible for c in confirmations]

        return self._write(work)

    def owned_client_job_ids(self, proxyid: int, ids: Collection[int]) -> set[int]:
        """Those of ``ids`` that exist and belong to the user. Ids outside the
        id column's range exist nowhere and do not reach the database (SQLite
        refuses integers beyond 64 bits)."""
        wanted = [value for value in unique_ints(ids) if 0 <= value <= MAX_ID]

        def work(connection: Connection) -> set[int]:
            owned: set[int] = set()
            for part in chunks(wanted):
                owned.update(
                    connection.execute(
                        select(clientjobs.c.id).where(clientjobs.c.id.in_(part), clientjobs.c.proxyid == proxyid)
                    ).scalars()
                )
            return owned

        return self._read(work) if wanted else set()

    # ------------------------------------------------------------------ reading

    @staticmethod
    def column_names() -> dict[str, list[str]]:
        """Column names of both tables in table order (GET /info)."""
        return {"client": list(_CLIENT_COLUMNS), "arc": list(_ARC_COLUMNS)}

    def select_jobs(
        self,
        proxyid: int,
        flt: JobFilter,
        client_cols: Sequence[str],
        arc_cols: Sequence[str],
    ) -> list[dict[str, Any]]:
        """The user's jobs with the chosen columns (GET /jobs), by client id.

        Keys are ``c_<column>`` and ``a_<column>``. An unknown column raises
        :class:`InvalidColumnError`; no columns at all gives ``[]``. Without a
        state filter, jobs not yet handed over have every ``a_*`` None.
        """
        return [row for page in self.iter_job_pages(proxyid, flt, client_cols, arc_cols) for row in page]

    def iter_job_pages(
        self,
        proxyid: int,
        flt: JobFilter,
        client_cols: Sequence[str],
        arc_cols: Sequence[str],
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """:meth:`select_jobs` in pages of at most ``page_size`` jobs, by client id.

        Each page is its own short read (keyset on the client id), so a
        listing of 100,000 jobs never holds them all in memory, nor a
        transaction or a database connection while its reader is slow. A
        job created or removed while the pages are read shows or not, as
        with any listing of a moving set; none shows twice. The columns are
        checked before the first page is read.
        """
        for name in client_cols:
            if name not in clientjobs.c:
                raise InvalidColumnError(name)
        for name in arc_cols:
            if name not in arcjobs.c:
                raise InvalidColumnError(name)
        if not client_cols and not arc_cols:
            return iter(())
        columns = [clientjobs.c[name].label(f"c_{name}") for name in client_cols]
        columns += [arcjobs.c[name].label(f"a_{name}") for name in arc_cols]
        query = select(clientjobs.c.id.label(_KEY), *columns).where(
            clientjobs.c.proxyid == proxyid, *flt.client_conditions(clientjobs)
        )
        if flt.has_state:
            query = query.select_from(_JOINED).where(arcjobs.c.arcstate == flt.state)
        else:
            query = query.select_from(_OUTER)
        query = query.order_by(clientjobs.c.id).limit(page_size or LISTING_PAGE)
        return self._pages(query)

    def _pages(self, query: Select[Any]) -> Iterator[list[dict[str, Any]]]:
        after = 0
        while True:
            page_query = query.where(clientjobs.c.id > after)

            def work(connection: Connection, page_query: Select[Any] = page_query) -> list[dict[str, Any]]:
                return [dict(row) for row in connection.execute(page_query).mappings()]

            rows = self._read(work)
            if not rows:
                return
            after = rows[-1][_KEY]
            for row in rows:
                del row[_KEY]
            yield rows

    # ------------------------------------------------------------------ cancel

    def cancel_jobs(self, proxyid: int, flt: JobFilter) -> list[CancelOutcome]:
        """Kill the user's jobs (PATCH /jobs?action=cancel), by client id.

        Accepted ``state`` filters: none/'', submitted, running, tosubmit,
        submitting; any other gives ``[]``. Per job:

        * not handed over yet → its client row is deleted;
        * ``tosubmit`` → its arc, description and client rows are deleted;
        * submitted/running/submitting → ``tocancel``, for the engine to kill.

        Race-free against handover and submission: the user's client rows are
        locked first, then their arc rows are read (and locked) afresh, so a
        job being handed over at this moment is either still a bare client row
        (deleted) or already an arc row (cancelled), never lost and never
        both. An engine lease on the row is kept: a submitter still finishing
        the job's submission must record its CE id (the kill needs it).
        """
        if (flt.state or "") not in CANCELLABLE:
            return []
        states = {flt.state or ""} if flt.has_state else set(CANCELLABLE)

        def work(connection: Connection) -> list[CancelOutcome]:
            now = self.now()
            client_rows = connection.execute(
                self._locked_for_user(
                    select(clientjobs.c.id, clientjobs.c.arcjobid)
                    .where(clientjobs.c.proxyid == proxyid, *flt.client_conditions(clientjobs))
                    .order_by(clientjobs.c.id)
                )
            ).all()
            if not client_rows:
                return []
            arc_rows = self._cancel_arc_rows(connection, proxyid, flt, states)
            existing = set() if flt.has_state else self._existing_arc_ids(connection, proxyid, flt)

            outcomes: list[CancelOutcome] = []
            delete_clients: list[int] = []
            delete_arcs: list[int] = []
            delete_descs: list[int] = []
            to_cancel: list[int] = []
            for client_id, arc_id in client_rows:
                if arc_id in arc_rows:
                    arcstate, desc_id = arc_rows[arc_id]
                    if arcstate == ArcState.TOSUBMIT:
                        delete_clients.append(client_id)
                        delete_arcs.append(arc_id)
                        if desc_id is not None:
                            delete_descs.append(desc_id)
                    else:
                        to_cancel.append(arc_id)
                    removed = arcstate in (ArcState.TOSUBMIT, ArcState.SUBMITTING)
                    outcomes.append(CancelOutcome(client_id, arc_id, arcstate, removed))
                elif not flt.has_state and (arc_id is None or arc_id not in existing):
                    # Not handed over (or its arc row is already gone).
                    delete_clients.append(client_id)
                    outcomes.append(CancelOutcome(client_id, None, None, True))

            for part in chunks(to_cancel):
                connection.execute(
                    update(arcjobs)
                    .where(arcjobs.c.id.in_(part))
                    .values(arcstate=ArcState.TOCANCEL, tarcstate=now, modified=now)
                )
            for part in chunks(delete_arcs):
                connection.execute(delete(arcjobs).where(arcjobs.c.id.in_(part)))
            for part in chunks(delete_descs):
                connection.execute(delete(jobdescriptions).where(jobdescriptions.c.id.in_(part)))
            for part in chunks(delete_clients):
                connection.execute(delete(clientjobs).where(clientjobs.c.id.in_(part)))
            return outcomes

        return self._write(work)

    def _cancel_arc_rows(
        self, connection: Connection, proxyid: int, flt: JobFilter, states: set[str]
    ) -> dict[int, tuple[str, int | None]]:
        """Lock and read the user's arc rows in ``states``: id → (arcstate, jobdesc)."""
        query = (
            select(arcjobs.c.id, arcjobs.c.arcstate, arcjobs.c.jobdesc)
            .select_from(_JOINED)
            .where(
                clientjobs.c.proxyid == proxyid,
                *flt.client_conditions(clientjobs),
                arcjobs.c.arcstate.in_(sorted(states)),
            )
            .order_by(arcjobs.c.id)
        )
        rows = connection.execute(self._locked_for_user(query, of=arcjobs)).all()
        return {row.id: (row.arcstate, row.jobdesc) for row in rows}

    @staticmethod
    def _existing_arc_ids(connection: Connection, proxyid: int, flt: JobFilter) -> set[int]:
        """Ids of the user's selected jobs' arc rows that exist, in any state."""
        query = (
            select(arcjobs.c.id)
            .select_from(_JOINED)
            .where(clientjobs.c.proxyid == proxyid, *flt.client_conditions(clientjobs))
        )
        return set(connection.execute(query).scalars())

    # ------------------------------------------------------------------ fetch, resubmit

    def fetch_jobs(self, proxyid: int, flt: JobFilter) -> list[int]:
        """Ask the engine to download a failed job's outputs (PATCH fetch):
        ``failed`` → ``tofetch``. The state filter is ignored, as in aCT.
        Returns the client ids changed, ascending."""
        return self._user_transition(proxyid, flt, FETCHABLE, ArcState.TOFETCH)

    def resubmit_jobs(self, proxyid: int, flt: JobFilter) -> list[int]:
        """Resubmit failed jobs from scratch (PATCH resubmit): ``failed`` or
        ``donefailed`` → ``toresubmit``. The state filter is ignored."""
        return self._user_transition(proxyid, flt, RESUBMITTABLE, ArcState.TORESUBMIT)

    def _user_transition(
        self, proxyid: int, flt: JobFilter, from_states: frozenset[str], to_state: ArcState
    ) -> list[int]:
        """Move the user's jobs in ``from_states`` to ``to_state``.

        The source states are terminal, so no engine process works on these
        rows and any lease on them is stale: it is cleared, or it would keep
        the engine from claiming the job until it expired.
        """

        def work(connection: Connection) -> list[int]:
            now = self.now()
            rows = self._lock_user_arc_rows(connection, proxyid, flt, from_states)
            for part in chunks([row.arc_id for row in rows]):
                connection.execute(
                    update(arcjobs)
                    .where(arcjobs.c.id.in_(part))
                    .values(arcstate=to_state, tarcstate=now, modified=now, claimedby=None, claimeduntil=None)
                )
            return [row.client_id for row in rows]

        return self._write(work)

    def _lock_user_arc_rows(
        self,
        connection: Connection,
        proxyid: int,
        flt: JobFilter,
        states: Collection[str],
        *extra: Any,
    ) -> list[Row[Any]]:
        """Lock the user's selected arc rows that are in ``states``."""
        query = (
            select(clientjobs.c.id.label("client_id"), arcjobs.c.id.label("arc_id"), arcjobs.c.arcstate, *extra)
            .select_from(_JOINED)
            .where(
                clientjobs.c.proxyid == proxyid,
                *flt.client_conditions(clientjobs),
                arcjobs.c.arcstate.in_(sorted(states)),
            )
            .order_by(clientjobs.c.id)
        )
        return list(connection.execute(self._locked_for_user(query, of=arcjobs)).all())

    # ------------------------------------------------------------------ clean

    def clean_jobs(self, proxyid: int, flt: JobFilter) -> list[CleanOutcome]:
        """Clean finished jobs (DELETE /jobs), by client id.

        Jobs in done, donefailed, cancelled, failed or lost (the only allowed
        ``state`` filters; any other gives ``[]``) get ``toclean`` so the
        engine removes them from the CE and deletes the arc row; their client
        rows are deleted now. ``ce_id`` lets the server remove the results
        directory.
        """
        if flt.has_state and flt.state not in CLEANABLE:
            return []
        states = {flt.state or ""} if flt.has_state else set(CLEANABLE)

        def work(connection: Connection) -> list[CleanOutcome]:
            now = self.now()
            rows = self._lock_user_arc_rows(connection, proxyid, flt, states, arcjobs.c.IDFromEndpoint.label("ce_id"))
            arc_ids = [row.arc_id for row in rows]
            for part in chunks(arc_ids):
                connection.execute(
                    update(arcjobs)
                    .where(arcjobs.c.id.in_(part))
                    .values(arcstate=ArcState.TOCLEAN, tarcstate=now, modified=now, claimedby=None, claimeduntil=None)
                )
            for part in chunks([row.client_id for row in rows]):
                connection.execute(delete(clientjobs).where(clientjobs.c.id.in_(part)))
            return [CleanOutcome(row.client_id, row.arc_id, row.arcstate, row.ce_id) for row in rows]

        return self._write(work)
