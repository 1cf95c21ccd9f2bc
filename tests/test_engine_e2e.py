"""Jobs through ``actd run`` and the real A-REX: submit, run, fetch, kill, fail, resubmit, clean.

Every test runs against A-REX 6.17 (REST 1.0) and A-REX 7.0 (REST 1.1):
the module's ``make_stack`` and ``arc_rest`` are those of ``each_ce``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actframework.arc import ARCRest

from fixtures.arex import ArcCE
from fixtures.databases import DatabaseFactory
from fixtures.stack import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

CAT_JOB = ('&(executable="/bin/cat")(arguments="in.txt" "extra/more.txt")'
           '(inputfiles=("in.txt" "")("extra/more.txt" ""))(stdout="out.txt")(jobname="cat{index}")')
SLEEP_JOB = '&(executable="/bin/sleep")(arguments="600")(jobname="sleeper")'
FAILING_JOB = '&(executable="/bin/sh")(arguments="-c" "echo failing; exit 3")(stdout="out.txt")(jobname="failing")'


@pytest.fixture
def make_stack(database_factory: DatabaseFactory, tmp_path: Path, each_ce: ArcCE) -> Iterator[StackFactory]:
    """Stacks whose cluster is ``each_ce``."""
    factory = StackFactory(database_factory, tmp_path, each_ce)
    yield factory
    factory.close()


@pytest.fixture
def arc_rest(each_arc_rest: ARCRest) -> ARCRest:
    """A certificate client on ``each_ce``."""
    return each_arc_rest


def ce_job_ids(arc_rest: ARCRest) -> set[str]:
    return {job.id for job in arc_rest.get_jobs_list()}


def results_dir(stack, job_id: int) -> Path:
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    return stack.config.results_dir / ce_id


def test_twenty_jobs_with_inputs_reach_done_with_their_outputs_then_clean_removes_everything(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    stack = make_stack("sqlite", run=True)
    ids = stack.submit(
        [CAT_JOB.format(index=i) for i in range(20)],
        lambda index, job_id: {"in.txt": f"first {index}\n".encode(),
                               "extra/more.txt": f"second {job_id}\n".encode()},
    )
    stack.wait_for(ids, {"done"})
    jobs = stack.jobs(ids)
    ce_ids = {jobs[job_id]["a_IDFromEndpoint"] for job_id in ids}
    assert len(ce_ids) == 20
    for index, job_id in enumerate(ids):
        assert jobs[job_id]["a_State"] == "Finished"
        assert jobs[job_id]["a_ExitCode"] == 0
        out = results_dir(stack, job_id) / "out.txt"
        assert out.read_text() == f"first {index}\nsecond {job_id}\n"
        assert not (out.parent / "gmlog").exists()  # no diagnose files unless asked for, or failed
    assert ce_ids <= ce_job_ids(arc_rest)

    cleaned = stack.clean(ids)
    assert sorted(cleaned) == sorted(ids)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not ce_ids & ce_job_ids(arc_rest) and stack.store.counts_by_state() == {}:
            break
        time.sleep(0.5)
    assert not ce_ids & ce_job_ids(arc_rest), "the CE still lists cleaned jobs"
    assert stack.store.counts_by_state() == {}, "arc rows of cleaned jobs are left"
    for job_id in ids:
        assert not (stack.config.inputs_dir / str(job_id)).exists()
    for ce_id in ce_ids:
        assert not (stack.config.results_dir / ce_id).exists()


def test_running_jobs_killed_become_cancelled(make_stack: StackFactory, arc_rest: ARCRest) -> None:
    stack = make_stack("sqlite", run=True)
    ids = stack.submit([SLEEP_JOB] * 3)
    stack.wait_for(ids, {"running"})
    killed = stack.action("cancel", ids)
    assert sorted(item["c_id"] for item in killed) == sorted(ids)
    stack.wait_for(ids, {"cancelled"}, timeout=120)
    jobs = stack.jobs(ids)
    states = {r.job_id: r.value.state for r in arc_rest.get_jobs_info(
        [jobs[i]["a_IDFromEndpoint"] for i in ids]) if r.ok and r.value}
    assert set(states.values()) <= {"KILLED", "KILLING", "FAILED"}
    stack.clean(ids)


def test_failed_job_is_fetched_to_donefailed_then_resubmitted_and_runs_again(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    stack = make_stack("sqlite", run=True)
    [job_id] = stack.submit([FAILING_JOB])
    stack.wait_for([job_id], {"failed"})
    first = stack.jobs([job_id])[job_id]
    assert first["a_ExitCode"] == 3 and "exit code" in (first["a_Error"] or "")

    assert stack.action("fetch", [job_id])
    stack.wait_for([job_id], {"donefailed"})
    assert (results_dir(stack, job_id) / "out.txt").read_text() == "failing\n"
    assert (results_dir(stack, job_id) / "gmlog" / "status").is_file()  # diagnose files of a failed job

    assert stack.action("resubmit", [job_id])
    # It is submitted anew (a new CE job), runs and fails again the same way.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = stack.jobs([job_id])[job_id]
        if job["a_IDFromEndpoint"] not in (None, first["a_IDFromEndpoint"]):
            break
        time.sleep(0.3)
    stack.wait_for([job_id], {"failed"})
    second = stack.jobs([job_id])[job_id]
    assert second["a_IDFromEndpoint"] != first["a_IDFromEndpoint"]
    assert second["a_ExitCode"] == 3
    assert first["a_IDFromEndpoint"] not in ce_job_ids(arc_rest), "the first CE job was not cleaned"
    assert not (stack.config.results_dir / first["a_IDFromEndpoint"]).exists()
    stack.clean([job_id])


def test_job_failing_while_staging_is_rerun_with_a_renewed_delegation_until_the_ce_allows_no_more(
    make_stack: StackFactory,
) -> None:
    stack = make_stack("sqlite")
    bad_input = ('&(executable="/bin/cat")(arguments="in.txt")(stdout="out.txt")(rerun="1")'
                 '(inputfiles=("in.txt" "http://127.0.0.1:9/nothing-here"))(jobname="rerun")')
    [job_id] = stack.submit([bad_input])
    stack.wait_for([job_id], {"failed"}, timeout=240)
    log = stack.log("engine")
    assert "renewed delegation" in log
    job = stack.jobs([job_id])[job_id]
    assert job["a_State"] == "Failed"
    stack.clean([job_id])


def test_failure_with_a_configured_error_is_resubmitted_while_attempts_last(make_stack: StackFactory) -> None:
    stack = make_stack("sqlite", engine_settings={"resubmit_errors": ["wrong exit code"], "resubmit_attempts": 1})
    [job_id] = stack.submit([FAILING_JOB])
    stack.wait_for([job_id], {"failed"}, timeout=240)
    job = stack.session.get(f"{stack.url}/jobs", params={"id": str(job_id), "arc": "attemptsleft"}).json()[0]
    assert job["a_attemptsleft"] == 0
    assert stack.log("engine").count("submitted 1 job(s)") == 2  # the first time, and once more
    stack.clean([job_id])


def test_job_the_engine_cannot_use_is_cancelled_and_can_be_cleaned(make_stack: StackFactory) -> None:
    stack = make_stack("sqlite")
    [job_id] = stack.submit(['&(executable="/bin/true")(priority="high")(jobname="odd")'])
    stack.wait_for([job_id], {"cancelled"}, timeout=60)
    assert stack.clean([job_id]) == [job_id]
    deadline = time.monotonic() + 30
    while stack.store.counts_by_state() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.store.counts_by_state() == {}
