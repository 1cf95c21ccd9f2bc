"""Acceptance tests: separate OS processes working on one database at once.

Each test starts two Python processes against the same database. They
connect, signal that they are ready, and wait for a shared start file, so
their work really overlaps; each prints what it got as JSON. The tests then
check the invariants the engine depends on: no job claimed twice, none lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import Engine

from actframework.db import JobStore, parse_id_list
from actframework.db.schema import arcjobs, clientjobs, jobdescriptions

from fixtures.databases import Seeder

CE = "https://ce.example.org:443/batch"
JOBS = 1000

WORKER = r"""
import json, os, sys, time
from datetime import timedelta
from pathlib import Path

from actframework.db import JobFilter, JobStore, make_engine, parse_id_list

mode, url, ready, go, argument = sys.argv[1:6]
engine = make_engine(url)
store = JobStore(engine)
with engine.connect():
    pass  # connected before the start signal, so start-up time does not skew the race
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.001)

got = []
if mode == "claim":
    owner = f"submitter-{os.getpid()}"
    while True:
        batch = store.claim_for_submit(argument, 50, owner, timedelta(minutes=5))
        if not batch:
            break
        got.extend(job.id for job in batch)
        time.sleep(0.002)  # a little "submission work" between batches
elif mode == "handover":
    while True:
        batch = store.handover(limit=50)
        if not batch:
            break
        got.extend([result.client_id, result.arc_id] for result in batch)
        time.sleep(0.002)
elif mode == "cancel":
    for chunk in json.loads(argument):
        outcomes = store.cancel_jobs(1, JobFilter(ids=parse_id_list(chunk)))
        got.extend([o.client_id, o.arc_id, o.arcstate_before] for o in outcomes)
print(json.dumps(got))
engine.dispose()
"""


def run_together(tmp_path: Path, *workers: tuple[str, str, str]) -> list[list]:
    """Run ``(mode, url, argument)`` workers simultaneously; their JSON outputs."""
    go = tmp_path / "go"
    processes = []
    for n, (mode, url, argument) in enumerate(workers):
        ready = tmp_path / f"ready-{n}"
        command = [sys.executable, "-c", WORKER, mode, url, str(ready), str(go), argument]
        processes.append((ready, subprocess.Popen(command, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True)))
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _ in processes):
        for _, process in processes:
            if process.poll() is not None:
                raise AssertionError(f"worker died early: {process.communicate()[1]}")
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    go.touch()
    outputs = []
    for _, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.append(json.loads(stdout))
    return outputs


def test_two_processes_claim_disjoint_complete_sets(
    db_url: str, db_engine: Engine, seed: Seeder, tmp_path: Path
) -> None:
    created = set(seed.arc_jobs(JOBS, clusterlist=CE))

    first, second = run_together(tmp_path, ("claim", db_url, CE), ("claim", db_url, CE))

    assert len(first) == len(set(first)) and len(second) == len(set(second))
    assert set(first) & set(second) == set()
    assert set(first) | set(second) == created
    assert first and second, "both processes should have claimed some jobs"
    with db_engine.connect() as connection:
        states = connection.execute(arcjobs.select().with_only_columns(arcjobs.c.arcstate)).scalars()
        assert set(states) == {"submitting"}


def test_two_processes_hand_over_each_job_exactly_once(
    db_url: str, db_engine: Engine, store: JobStore, seed: Seeder, tmp_path: Path
) -> None:
    client_ids = seed.user_jobs([None] * JOBS)

    first, second = run_together(tmp_path, ("handover", db_url, ""), ("handover", db_url, ""))

    handed = {client: arc for client, arc in first + second}
    assert len(first) + len(second) == JOBS == len(handed)
    assert set(handed) == set(client_ids)
    assert {c for c, _ in first} & {c for c, _ in second} == set()
    assert seed.count(arcjobs) == JOBS and seed.count(jobdescriptions) == JOBS
    with db_engine.connect() as connection:
        rows = connection.execute(
            clientjobs.select()
            .with_only_columns(clientjobs.c.id, clientjobs.c.arcjobid, arcjobs.c.appjobid)
            .select_from(clientjobs.join(arcjobs, clientjobs.c.arcjobid == arcjobs.c.id))
        ).all()
    assert len(rows) == JOBS
    assert all(handed[client] == arc and appjobid == str(client) for client, arc, appjobid in rows)


def test_cancel_racing_handover_leaves_no_orphans(
    db_url: str, store: JobStore, seed: Seeder, tmp_path: Path
) -> None:
    """A job handed over while the user cancels it is either deleted as a
    bare client job or as a tosubmit arc job: never an arc row left behind
    without its client job, never both outcomes."""
    client_ids = seed.user_jobs([None] * 400)
    chunks = [f"{client_ids[i]}-{client_ids[min(i + 19, len(client_ids) - 1)]}"
              for i in range(0, len(client_ids), 20)]
    chunks.reverse()  # cancel from the newest while handover starts at the oldest

    handed, cancelled = run_together(
        tmp_path, ("handover", db_url, ""), ("cancel", db_url, json.dumps(chunks))
    )

    assert sorted(c for c, _, _ in cancelled) == client_ids  # each cancelled exactly once
    arc_of = {client: arc for client, arc in handed}
    for client, arc, state in cancelled:
        if client in arc_of:
            assert (arc, state) == (arc_of[client], "tosubmit")
        else:
            assert (arc, state) == (None, None)
    assert seed.count(clientjobs) == 0
    assert seed.count(arcjobs) == 0 and seed.count(jobdescriptions) == 0
    assert store.owned_client_job_ids(1, client_ids) == set()
    assert parse_id_list(chunks[0])
