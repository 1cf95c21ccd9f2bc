"""Store operations lock only the rows they work on (PostgreSQL, MariaDB).

Over-locking is not a correctness bug, but it makes concurrent claims skip
rows that are free and makes users wait for each other. InnoDB in particular
can keep locks on every row a locking read visits, depending on the index
the optimizer picks. Each test pauses an operation in the middle of its
transaction (a competing connection holds one row the operation needs, or a
``prepare`` callback runs inside it) and checks that a row the operation has
no business with can still be taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from actframework.db import ArcJobDefaults, ClientJobRow, Confirmation, JobFilter, JobStore, StatusUpdate
from actframework.db.schema import arcjobs, clientjobs

from fixtures.databases import Seeder

pytestmark = pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)


def is_free(store: JobStore, table: sa.Table, row_id: int) -> bool:
    """Whether another transaction could lock the row right now."""
    with store.engine.connect() as probe:
        probe.begin()
        query = sa.select(table.c.id).where(table.c.id == row_id).with_for_update(skip_locked=True)
        free = probe.execute(query).first() is not None
        probe.rollback()
    return free


@contextmanager
def paused_while(store: JobStore, table: sa.Table, held_id: int,
                 operation: Callable[[], Any]) -> Iterator[list[Any]]:
    """Run ``operation`` in a thread while row ``held_id`` is locked by
    another transaction, so the operation stops inside its transaction;
    release the row on exit and wait for the operation to finish."""
    results: list[Any] = []
    with store.engine.connect() as holder:
        holder.begin()
        holder.execute(sa.select(table.c.id).where(table.c.id == held_id).with_for_update()).all()
        worker = threading.Thread(target=lambda: results.append(operation()))
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive(), "the operation should be waiting for the held row"
        try:
            yield results
        finally:
            holder.rollback()
            worker.join(30)
    assert results, "the operation did not finish"


def test_delete_arc_jobs_locks_only_its_rows(store: JobStore, seed: Seeder) -> None:
    first, between, last = seed.arc_jobs(3, "toclean")
    with paused_while(store, arcjobs, last, lambda: store.delete_arc_jobs([first, last])):
        assert is_free(store, arcjobs, between)
    assert store.delete_arc_jobs([between]) == [between]


def test_status_updates_lock_only_their_rows(store: JobStore, seed: Seeder) -> None:
    first, between, last = seed.arc_jobs(3, "running")
    updates = [StatusUpdate(first, "running"), StatusUpdate(last, "running")]
    with paused_while(store, arcjobs, last, lambda: store.apply_status_updates(updates)):
        assert is_free(store, arcjobs, between)


def test_confirm_locks_only_its_rows(store: JobStore) -> None:
    first, between, last = store.create_client_jobs(1, [["https://ce/q"]] * 3)
    confirmations = [Confirmation(first, "a", "&(executable=a)"), Confirmation(last, "b", "&(executable=b)")]
    with paused_while(store, clientjobs, last, lambda: store.confirm_client_jobs(1, confirmations)):
        assert is_free(store, clientjobs, between)


@pytest.mark.parametrize("operation", ["cancel_jobs", "clean_jobs", "fetch_jobs", "resubmit_jobs"])
def test_user_operations_do_not_lock_other_users_jobs(store: JobStore, seed: Seeder, operation: str) -> None:
    state = {"cancel_jobs": "running", "clean_jobs": "done"}.get(operation, "failed")
    (mine_first,) = seed.user_jobs([state])
    theirs = seed.user_jobs([state, None], proxyid=2)
    (mine_last,) = seed.user_jobs([state])
    held_arc = seed.get(clientjobs, mine_last)["arcjobid"]
    their_arc = seed.get(clientjobs, theirs[0])["arcjobid"]
    call = getattr(store, operation)
    with paused_while(store, arcjobs, held_arc, lambda: call(1, JobFilter())):
        for client_id in theirs:
            assert is_free(store, clientjobs, client_id)
        assert is_free(store, arcjobs, their_arc)
    assert mine_first


def test_handover_locks_only_the_batch(store: JobStore) -> None:
    jobs = store.create_client_jobs(1, [["https://ce/q"]] * 10)
    store.confirm_client_jobs(1, [Confirmation(job, "n", "&(executable=x)") for job in jobs])
    probes: list[bool] = []

    def prepare(job: ClientJobRow) -> ArcJobDefaults:
        if not probes:  # inside the handover transaction, batch rows locked
            probes.extend(is_free(store, clientjobs, other) for other in jobs[2:])
            probes.append(not is_free(store, clientjobs, jobs[0]))
        return ArcJobDefaults()

    assert len(store.handover(limit=2, prepare=prepare)) == 2
    assert probes and all(probes)
