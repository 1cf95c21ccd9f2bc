"""Engine steps run one at a time in the test process, on the real A-REX and database.

Running the cycles by hand makes the moments that are hard to hit from the
outside exact: a user's kill landing in the middle of a submission, the
shared delegation being reused, renewed and replaced.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from actframework.arc import ARCRest
from actframework.db.filters import JobFilter, parse_id_list
from actframework.engine.actions import cancel_cycle
from actframework.engine.context import EngineContext
from actframework.engine.handover import handover_cycle
from actframework.engine.runner import Engine
from actframework.engine.status import status_cycle
from actframework.engine import submitter
from actframework.engine.submitter import submit_cycle
from actframework.plugins import StorageManager, load_backend

from fixtures.stack import Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

JOB = ('&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
       '(stdout="out.txt")(jobname="in-process")')


def engine_for(stack: Stack, storage: StorageManager | None = None) -> EngineContext:
    return Engine.create(stack.config, stack.store, storage or load_backend("actstore"), owner="test:1").context


def run_until(context: EngineContext, cluster: str, done, steps, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the engine did not get there in time"
        for step in steps:
            step(context, cluster)
        time.sleep(0.3)


def test_a_kill_that_arrives_during_submission_kills_the_job_on_the_ce(
    make_stack: StackFactory, arc_rest: ARCRest, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack("sqlite", engines=0)
    [job_id] = stack.submit([JOB], lambda i, j: {"in.txt": b"data\n"})
    upload_inputs = submitter.upload_inputs

    def kill_then_upload(ce: ARCRest, ce_id: str, client_id: int, root: Path, uploads: Sequence[Any]) -> int:
        """The user kills the job (as ``act kill`` through the server does)
        just as the engine uploads its inputs into the CE session."""
        outcomes = stack.store.cancel_jobs(stack.proxyid, JobFilter(ids=parse_id_list(str(client_id))))
        assert [o.arcstate_before for o in outcomes] == ["submitting"]
        shutil.rmtree(stack.config.inputs_dir / str(client_id))  # what the server does for such a kill
        return upload_inputs(ce, ce_id, client_id, root, uploads)

    monkeypatch.setattr(submitter, "upload_inputs", kill_then_upload)
    context = engine_for(stack)
    assert handover_cycle(context) == 1
    submit_cycle(context, stack.cluster)
    job = stack.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tocancel", "the kill was lost"
    ce_id = job["a_IDFromEndpoint"]
    assert ce_id, "the CE id of the job to kill was not kept"
    run_until(context, stack.cluster, lambda: stack.states([job_id])[job_id] == "cancelled",
              [cancel_cycle, status_cycle])
    [info] = arc_rest.get_jobs_info([ce_id])
    assert info.value is not None and info.value.state in {"KILLED", "KILLING", "FAILED"}
    arc_rest.clean_jobs([ce_id])


def test_one_delegation_per_proxy_and_ce_is_reused_renewed_and_replaced(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    stack = make_stack("sqlite", engines=0)
    context = engine_for(stack)
    cluster, proxyid = stack.cluster, stack.proxyid
    first = context.ce.delegation(cluster, proxyid)
    try:
        assert context.ce.delegation(cluster, proxyid) == first, "a second batch got a new delegation"
        assert first in {d.id for d in arc_rest.list_delegations()}

        # Close to its end: renewed in place (same id, the proxy's expiry again).
        soon = datetime.now(UTC) + timedelta(minutes=5)
        stack.store.update_delegation(cluster, proxyid, first, soon)
        before = arc_rest.get_delegation(first)
        assert context.ce.delegation(cluster, proxyid) == first
        record = stack.store.get_delegation(cluster, proxyid)
        assert record is not None and record.expirytime.replace(tzinfo=UTC) > soon + timedelta(hours=1)
        assert arc_rest.get_delegation(first) != before, "the CE still holds the old delegated proxy"

        # Deleted on the CE (by an admin, a CE cleanup): A-REX recreates a
        # delegation under the same id when it is renewed, so jobs keep it.
        arc_rest.delete_delegation(first)
        assert first not in {d.id for d in arc_rest.list_delegations()}
        assert context.ce.renew(cluster, proxyid, first) == first
        assert first in {d.id for d in arc_rest.list_delegations()}
    finally:
        arc_rest.delete_delegation(first)


def test_jobs_of_several_batches_share_the_delegation(make_stack: StackFactory) -> None:
    stack = make_stack("sqlite", engine_settings={"submit_batch": 2})
    ids = stack.submit([JOB] * 5, lambda i, j: {"in.txt": b"x\n"})
    stack.wait_for(ids, {"done"})
    rows = stack.session.get(f"{stack.url}/jobs", params={
        "id": ",".join(map(str, ids)), "arc": "DelegationID"}).json()
    assert len({row["a_DelegationID"] for row in rows}) == 1
    assert stack.log("engine").count("delegated proxy") == 1
    stack.clean(ids)


def test_one_cycle_sends_its_batches_to_the_ce_at_once(make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = make_stack("sqlite", engines=0, engine_settings={"submit_batch": 2, "submit_batches_at_once": 2})
    ids = stack.submit([JOB] * 5, lambda i, j: {"in.txt": b"x\n"})
    context = engine_for(stack)
    posts = {"now": 0, "peak": 0}
    sizes: list[int] = []
    lock = threading.Lock()
    real = ARCRest.create_jobs

    def counting(self: ARCRest, description: str, **kwargs: object) -> object:
        with lock:
            posts["now"] += 1
            posts["peak"] = max(posts["peak"], posts["now"])
        try:
            time.sleep(0.5)  # long enough that a second POST sent at once overlaps
            result = real(self, description, **kwargs)  # type: ignore[arg-type]
            with lock:
                sizes.append(len(result))
            return result
        finally:
            with lock:
                posts["now"] -= 1

    context.ce.delegation(stack.cluster, stack.proxyid)  # as after a first cycle: connected and delegated
    monkeypatch.setattr(ARCRest, "create_jobs", counting)
    while handover_cycle(context):
        pass
    assert submit_cycle(context, stack.cluster) == 4  # two batches of submit_batch in one cycle
    assert sorted(sizes) == [2, 2]
    assert posts["peak"] == 2, "the two batches went one after the other"
    monkeypatch.setattr(ARCRest, "create_jobs", real)
    assert submit_cycle(context, stack.cluster) == 1
    stack.start_engine()
    stack.wait_for(ids, {"done"})
    stack.clean(ids)
