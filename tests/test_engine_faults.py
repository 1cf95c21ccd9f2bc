"""The engine under faults: SIGKILLed or SIGTERMed mid-flight, a CE or the database that goes
away, engines side by side.

Each test checks the two promises of the engine's design on the real A-REX:
no job is lost (every job ends ``done``) and none runs twice (the CE held
exactly one job per client job, found by the submission token the engine
puts in each job's name on the CE).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from actframework.arc import ARCRest
from actframework.db.schema import arcjobs
from actframework.engine.runner import stop_bound

from fixtures.private_db import PrivateServer
from fixtures.server import free_port
from fixtures.stack import Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

REPO = Path(__file__).resolve().parents[1]
TOKEN_TAG = re.compile(r"\bactf:[0-9a-f]+:(\d+)\b")


def marked_job(marker: str) -> str:
    """A trivial job with an input file, named so its CE jobs can be found."""
    return (f'&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
            f'(stdout="out.txt")(jobname="{marker}")')


def ce_jobs_by_arc_id(rest: ARCRest, marker: str) -> Counter[int]:
    """How many CE jobs carry each arc id's token, among jobs named ``marker``."""
    ids = [job.id for job in rest.get_jobs_list()]
    found: Counter[int] = Counter()
    for result in rest.get_jobs_info(ids):
        if not result.ok or result.value is None or not (result.value.name or "").startswith(marker):
            continue
        match = TOKEN_TAG.search(result.value.name or "")
        assert match, f"CE job {result.job_id} named {result.value.name!r} has no submission token"
        found[int(match.group(1))] += 1
    return found


def arc_ids(stack: Stack, ids: list[int]) -> dict[int, int]:
    """client id → arc id."""
    rows = stack.session.get(f"{stack.url}/jobs", params={
        "id": ",".join(map(str, ids)), "client": "id", "arc": "id"}).json()
    return {row["c_id"]: row["a_id"] for row in rows}


def assert_one_ce_job_each(stack: Stack, rest: ARCRest, ids: list[int], marker: str) -> None:
    mapping = arc_ids(stack, ids)
    counts = ce_jobs_by_arc_id(rest, marker)
    assert sorted(counts) == sorted(mapping.values()), "CE jobs and client jobs do not match one to one"
    doubles = {arc_id: n for arc_id, n in counts.items() if n != 1}
    assert not doubles, f"jobs submitted more than once: {doubles}"
    jobs = stack.jobs(ids)
    assert len({job["a_IDFromEndpoint"] for job in jobs.values()}) == len(ids)


def inputs(index: int, job_id: int) -> dict[str, bytes]:
    return {"in.txt": f"input of {job_id}\n".encode()}


def assert_outputs(stack: Stack, ids: list[int]) -> None:
    for job_id, job in stack.jobs(ids).items():
        out = stack.config.results_dir / job["a_IDFromEndpoint"] / "out.txt"
        assert out.read_text() == f"input of {job_id}\n"


def assert_all_done_once(stack: Stack, rest: ARCRest, ids: list[int], marker: str, timeout: float = 300) -> None:
    """The two promises: every job ends ``done`` with its outputs, and the CE
    held exactly one job for each."""
    stack.wait_for(ids, {"done"}, timeout=timeout)
    assert_one_ce_job_each(stack, rest, ids, marker)
    assert_outputs(stack, ids)


def test_sigkilled_engine_restarted_three_times_loses_no_job_and_submits_none_twice(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    seed = random.randrange(2**32)
    moments = random.Random(seed)
    print(f"random seed {seed}")
    stack = make_stack("postgresql", engine_settings={"submit_batch": 10, "ce_timeout": 10})
    marker = f"sigkill-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 40, inputs)
    for _ in range(3):
        time.sleep(moments.uniform(0.3, 3.0))
        stack.kill("engine", signal.SIGKILL)
        stack.start_engine()
    assert_all_done_once(stack, arc_rest, ids, marker)
    stack.clean(ids)


def test_engine_killed_between_submission_and_upload_reconciles_from_the_ce(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    """The narrow windows, made wide: a submitter killed right after its bulk
    POST (jobs ``submitting`` with or without CE ids) is repaired on restart."""
    stack = make_stack("sqlite", engines=0, engine_settings={"ce_timeout": 10})
    marker = f"window-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 10, inputs)
    stack.start_engine()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill as soon as any job has a CE id
        if any(stack.jobs(ids)[i]["a_IDFromEndpoint"] for i in ids):
            break
        time.sleep(0.02)
    stack.kill("engine", signal.SIGKILL)
    stack.start_engine()
    assert_all_done_once(stack, arc_rest, ids, marker, timeout=240)
    stack.clean(ids)


def test_ce_down_for_thirty_seconds_mid_flight_all_jobs_still_finish(
    make_stack: StackFactory, own_arc_ce
) -> None:
    arc_ce = own_arc_ce  # this test stops its CE: never the shared one
    arc_rest = ARCRest.connect(arc_ce.url, proxy=arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    stack = make_stack("sqlite", engine_settings={"ce_timeout": 10}, ce=arc_ce)
    marker = f"outage-{uuid.uuid4().hex[:8]}"
    first = stack.submit([marked_job(marker)] * 10, inputs)
    stack.wait_for(first, {"submitted", "running", "finishing", "finished", "done"}, timeout=120)
    env = {**os.environ, "ARC_CE_DIR": str(arc_ce.state_dir), "ARC_CE_PORT": str(arc_ce.port)}
    subprocess.run([str(REPO / "scripts/arc-ce/stop")], env=env, check=True, capture_output=True)
    try:
        second = stack.submit([marked_job(marker)] * 10, inputs)
        time.sleep(30)
    finally:
        started = subprocess.run([str(REPO / "scripts/arc-ce/start")], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr[-2000:]
    ids = first + second
    stack.wait_for(ids, {"done"}, timeout=300)
    assert "connection refused" in stack.log("engine")  # it did meet the outage
    assert_one_ce_job_each(stack, arc_rest, ids, marker)
    assert_outputs(stack, ids)
    stack.clean(ids)


def metric_sum(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus counter's samples whose labels include ``labels``."""
    total = 0.0
    for line in requests.get(url, timeout=10).text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_two_engines_on_one_database_share_the_work_without_doing_any_job_twice(
    make_stack: StackFactory, arc_rest: ARCRest, backend: str
) -> None:
    stack = make_stack(backend, engines=0, engine_settings={"ce_timeout": 10})
    marker = f"pair-{backend}-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 30, inputs)
    metrics = []
    for name in ("engine-a", "engine-b"):
        port = free_port()
        stack.start_engine(name, metrics_listen=f"127.0.0.1:{port}", submit_batch=5, fetch_batch=5)
        metrics.append(f"http://127.0.0.1:{port}/metrics")
    stack.wait_for(ids, {"done"}, timeout=300)
    time.sleep(0.5)
    submitted = [metric_sum(url, "actd_engine_jobs_processed_total", role="submit", outcome="submitted")
                 for url in metrics]
    fetched = [metric_sum(url, "actd_engine_jobs_processed_total", role="fetch", outcome="done")
               for url in metrics]
    assert sum(submitted) == len(ids), f"submissions per engine: {submitted}"
    assert sum(fetched) == len(ids), f"fetches per engine: {fetched}"
    assert all(count > 0 for count in submitted), f"one engine did all submissions: {submitted}"
    assert_one_ce_job_each(stack, arc_rest, ids, marker)
    assert_outputs(stack, ids)
    stack.clean(ids)


def leases_of(stack: Stack, owner: str) -> int:
    with stack.store.engine.connect() as connection:
        return int(connection.execute(
            sa.select(sa.func.count()).select_from(arcjobs).where(arcjobs.c.claimedby == owner)).scalar_one())


def test_sigterm_mid_cycle_stops_the_engine_within_its_bound_and_leaves_no_lease(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    """SIGTERM while the engine holds leases (submitting a batch, checking,
    fetching): it exits within ``stop_bound(ce_timeout)`` (checked at three
    times that, the machine being shared) and no row is left leased to it;
    a new engine then finishes every job, each submitted once."""
    ce_timeout = 10
    stack = make_stack("postgresql", engines=0, engine_settings={"ce_timeout": ce_timeout, "submit_batch": 5})
    marker = f"sigterm-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 20, inputs)
    engine = stack.start_engine()
    owner = f"{socket.gethostname()[:48]}:{engine.pid}"
    deadline = time.monotonic() + 120
    while leases_of(stack, owner) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leases_of(stack, owner) > 0, stack.logs()

    started = time.monotonic()
    engine.send_signal(signal.SIGTERM)
    status = engine.wait(3 * stop_bound(ce_timeout))
    took = time.monotonic() - started
    stack.processes.pop("engine")

    assert status == 0
    print(f"engine stopped {took:.1f} s after SIGTERM (bound {stop_bound(ce_timeout)} s)")
    assert leases_of(stack, owner) == 0
    assert f"engine {owner} stopped" in stack.log("engine")

    stack.start_engine()
    stack.wait_for(ids, {"done"}, timeout=300)
    assert_one_ce_job_each(stack, arc_rest, ids, marker)
    assert_outputs(stack, ids)
    stack.clean(ids)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_database_restarted_mid_run_server_and_engine_lose_nothing(
    private_database: Callable[[str], PrivateServer], make_stack: StackFactory, arc_rest: ARCRest,
    backend: str
) -> None:
    """The database (a private server) goes down for 5 s while jobs are being
    submitted and followed, and comes back. The engine and the server wait
    for it (``database.outage_wait``, 60 s), a request made meanwhile is
    answered once it is back, every job ends ``done`` with its output, each
    ran once on the CE, and each process logged the outage once. (The
    database server is asked for first so that it stops after the stack.)"""
    database = private_database(backend)
    stack = make_stack(backend, database_url=database.url, engine_settings={"ce_timeout": 10, "submit_batch": 5})
    marker = f"dbrestart-{backend}-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 15, inputs)
    stack.wait_for(ids[:1], {"submitting", "submitted", "running", "finishing", "finished", "done"}, timeout=120)

    database.stop()
    during: list[requests.Response] = []
    asking = threading.Thread(target=lambda: during.append(
        stack.session.get(f"{stack.url}/jobs", params={"id": str(ids[0])}, timeout=120)))
    asking.start()
    time.sleep(5)
    database.start()
    asking.join(120)
    assert during and during[0].status_code == 200, during[0].text if during else "no answer"

    more = stack.submit([marked_job(marker)] * 5, inputs)
    ids += more
    stack.wait_for(ids, {"done"}, timeout=300)
    assert_one_ce_job_each(stack, arc_rest, ids, marker)
    assert_outputs(stack, ids)
    for name in ("engine", "serve"):
        assert stack.log(name).count("cannot be reached") == 1, stack.log(name)[-3000:]
        assert "Traceback" not in stack.log(name), stack.log(name)[-3000:]
    stack.clean(ids)


def test_server_answers_503_while_the_database_stays_down(
    private_database: Callable[[str], PrivateServer], make_stack: StackFactory
) -> None:
    """Past ``database.outage_wait`` the server answers 503 with a message
    (no traceback, no 500); once the database is back it answers again."""
    database = private_database("postgresql")
    stack = make_stack("postgresql", engines=0, database_url=database.url, outage_wait=2)
    assert stack.session.get(f"{stack.url}/jobs").status_code == 200
    database.stop()
    answer = stack.session.get(f"{stack.url}/jobs", timeout=60)
    assert answer.status_code == 503
    assert answer.json() == {"msg": "The job database is unavailable; try again later"}
    database.start()
    assert stack.session.get(f"{stack.url}/jobs").status_code == 200
    assert "Traceback" not in stack.log("serve")
