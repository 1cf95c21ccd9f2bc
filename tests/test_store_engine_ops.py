"""Engine write-backs, transitions and counts, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from actframework.db import CEReport, JobFilter, JobStore, StatusUpdate, SubmissionRecord
from actframework.db.schema import arcjobs, clientjobs, jobdescriptions
from actframework.errors import InvalidColumnError

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
LEASE = timedelta(minutes=10)
JOB_URL = "https://ce.example.org:443/arex/rest/1.0/jobs/"


def submitted_fields(ce_id: str) -> dict[str, object]:
    return {"IDFromEndpoint": ce_id, "JobID": JOB_URL + ce_id, "DelegationID": "deleg-1",
            "State": "Accepted"}


# --------------------------------------------------------------------------- submissions


def test_record_submissions_stores_ce_fields_and_clears_the_lease(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    seed.arc_jobs(3, clusterlist=CE)
    claimed = store.claim_for_submit(CE, 3, "sub", LEASE)
    clock.advance(seconds=20)
    written = store.record_submissions([
        SubmissionRecord(claimed[0].id, "submitted", submitted_fields("aaa")),
        SubmissionRecord(claimed[1].id, "tosubmit", {}),
        SubmissionRecord(claimed[2].id, "cancelled", {"Error": "matchmaking failed"}),
    ])
    assert written == [job.id for job in claimed]
    first = seed.get(arcjobs, claimed[0].id)
    assert first["arcstate"] == "submitted" and first["IDFromEndpoint"] == "aaa"
    assert first["JobID"] == JOB_URL + "aaa" and first["State"] == "Accepted"
    assert first["tarcstate"] == first["tstate"] == clock()
    assert first["claimedby"] is None and first["claimeduntil"] is None
    assert seed.get(arcjobs, claimed[1].id)["arcstate"] == "tosubmit"
    assert seed.get(arcjobs, claimed[2].id)["Error"] == "matchmaking failed"


def test_record_submissions_keeps_a_users_cancel(store: JobStore, seed: Seeder) -> None:
    """A kill that arrives while the job is being submitted must not be lost:
    the row stays tocancel and gets the CE id so the engine can kill it."""
    (client_id,) = seed.user_jobs(["tosubmit"], clusterlist=CE)
    (job,) = store.claim_for_submit(CE, 1, "sub", LEASE)
    (outcome,) = store.cancel_jobs(1, JobFilter())
    assert outcome.arcstate_before == "submitting"

    recorded = store.record_submissions([SubmissionRecord(job.id, "submitted", submitted_fields("zzz"))])
    assert recorded == [job.id]

    row = seed.get(arcjobs, job.id)
    assert row["arcstate"] == "tocancel"
    assert row["IDFromEndpoint"] == "zzz" and row["JobID"] == JOB_URL + "zzz"
    assert row["claimedby"] is None
    assert [j.id for j in store.claim_for_cancel(CE, 5, "canceller", LEASE)] == [job.id]
    assert client_id


def test_record_submissions_ignores_rows_in_other_states(store: JobStore, seed: Seeder) -> None:
    (cancelled,) = seed.arc_jobs(1, "cancelled", cluster=CE)
    (tosubmit,) = seed.arc_jobs(1, "tosubmit", cluster=CE)
    result = store.record_submissions([
        SubmissionRecord(cancelled, "submitted", submitted_fields("a")),
        SubmissionRecord(tosubmit, "submitted", submitted_fields("b")),
        SubmissionRecord(987654, "submitted", {}),
    ])
    assert result == []
    assert seed.get(arcjobs, cancelled)["arcstate"] == "cancelled"
    assert seed.get(arcjobs, cancelled)["IDFromEndpoint"] is None


def test_record_submissions_validates_field_names(store: JobStore, seed: Seeder) -> None:
    (arc_id,) = seed.arc_jobs(1, "submitting", cluster=CE)
    for bad in ("NoSuchColumn", "jobid", "id", "claimedby", "arcstate", "tstate"):
        with pytest.raises(InvalidColumnError):
            store.record_submissions([SubmissionRecord(arc_id, "submitted", {bad: "x"})])
    with pytest.raises(ValueError):
        store.record_submissions([SubmissionRecord(arc_id, "sent", {})])
    with pytest.raises(ValueError):
        store.record_submissions([SubmissionRecord(arc_id, "submitted"), SubmissionRecord(arc_id, "failed")])
    assert seed.get(arcjobs, arc_id)["arcstate"] == "submitting"


def test_long_ce_text_is_cut_to_the_column_and_aware_times_become_utc(
    store: JobStore, seed: Seeder
) -> None:
    (arc_id,) = seed.arc_jobs(1, "submitting", cluster=CE)
    end = datetime(2024, 6, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.record_submissions([SubmissionRecord(arc_id, "submitted",
                                               {"Error": "e" * 5000, "EndTime": end, "ExitCode": 3,
                                                "UsedTotalWallTime": 3600})])
    row = seed.get(arcjobs, arc_id)
    assert row["Error"] == "e" * 1024
    assert row["EndTime"] == datetime(2024, 6, 1, 12, 0, 0, 123456)
    assert row["ExitCode"] == 3 and row["UsedTotalWallTime"] == 3600


# --------------------------------------------------------------------------- status


def test_status_updates_apply_only_in_the_expected_state(store: JobStore, seed: Seeder, clock: Clock) -> None:
    running = seed.arc_jobs(3, "running", cluster=CE, JobID=JOB_URL + "x", State="Running")
    claimed = store.claim_for_status(CE, 10, "status", LEASE, checked_before=clock() + timedelta(seconds=1))
    assert len(claimed) == 3
    # The user cancels the second job while its status is being checked.
    store.set_arcstate([running[1]], "tocancel", expected={"running"})
    clock.advance(minutes=1)

    applied = store.apply_status_updates([
        StatusUpdate(running[0], "running", "finished", CEReport(state="Finished", exit_code=0)),
        StatusUpdate(running[1], "running", "finished", CEReport(state="Finished")),
        StatusUpdate(running[2], "running", None, CEReport(state="Running", used_cpu_time=42)),
    ])

    assert applied == [running[0], running[2]]
    finished = seed.get(arcjobs, running[0])
    assert finished["arcstate"] == "finished" and finished["State"] == "Finished"
    assert finished["tarcstate"] == finished["tstate"] == clock()
    assert finished["claimedby"] is None
    assert seed.get(arcjobs, running[1])["arcstate"] == "tocancel"  # never overwritten
    unchanged = seed.get(arcjobs, running[2])
    assert unchanged["arcstate"] == "running" and unchanged["UsedTotalCPUTime"] == 42
    assert unchanged["tarcstate"] == clock()                # checked now
    assert unchanged["tstate"] == clock() - timedelta(minutes=1)  # State did not change


def test_status_update_without_changes_refreshes_the_check_time(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    (arc_id,) = seed.arc_jobs(1, "submitted", cluster=CE)
    clock.advance(minutes=5)
    assert store.apply_status_updates([StatusUpdate(arc_id, "submitted")]) == [arc_id]
    row = seed.get(arcjobs, arc_id)
    assert row["tarcstate"] == clock() and row["arcstate"] == "submitted"


def test_many_status_updates_with_mixed_columns(store: JobStore, seed: Seeder) -> None:
    ids = seed.arc_jobs(300, "running", cluster=CE, State="Running")
    updates = []
    for n, arc_id in enumerate(ids):
        if n % 3 == 0:
            updates.append(StatusUpdate(arc_id, "running", "finished", CEReport(state="Finished", exit_code=n)))
        elif n % 3 == 1:
            updates.append(StatusUpdate(arc_id, "running", None, CEReport(used_wall_time=n)))
        else:
            failed = CEReport(state="Failed")
            updates.append(StatusUpdate(arc_id, "running", "failed", failed, error=f"err {n}"))
    assert store.apply_status_updates(updates) == ids
    assert store.counts_by_state(CE) == {"finished": 100, "running": 100, "failed": 100}
    assert seed.get(arcjobs, ids[3])["ExitCode"] == 3
    assert seed.get(arcjobs, ids[5])["Error"] == "err 5"


# --------------------------------------------------------------------------- transitions


def test_set_arcstate_checks_the_expected_states(store: JobStore, seed: Seeder, clock: Clock) -> None:
    finished = seed.arc_jobs(2, "finished", cluster=CE)
    (tofetch,) = seed.arc_jobs(1, "tofetch", cluster=CE)
    clock.advance(seconds=1)
    assert store.set_arcstate([*finished, tofetch], "done", expected={"finished"}) == finished
    assert seed.get(arcjobs, finished[0])["arcstate"] == "done"
    assert seed.get(arcjobs, finished[0])["tarcstate"] == clock()
    assert seed.get(arcjobs, tofetch)["arcstate"] == "tofetch"


def test_set_arcstate_resubmit_resets_created_and_writes_fields(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    (arc_id,) = seed.arc_jobs(1, "toresubmit", cluster=CE, IDFromEndpoint="old", JobID="old")
    claimed = store.claim_for_resubmit(CE, 1, "sub", LEASE)
    clock.advance(hours=1)
    changed = store.set_arcstate([arc_id], "tosubmit", expected={"toresubmit"}, reset_created=True,
                                 fields={"IDFromEndpoint": None, "JobID": None, "cluster": "",
                                         "State": "Undefined"})
    assert changed == [arc_id] and claimed
    row = seed.get(arcjobs, arc_id)
    assert row["arcstate"] == "tosubmit" and row["created"] == clock()
    assert row["IDFromEndpoint"] is None and row["cluster"] == "" and row["claimedby"] is None
    assert row["tstate"] == clock()


def test_set_arcstate_rejects_unknown_states(store: JobStore) -> None:
    with pytest.raises(ValueError):
        store.set_arcstate([1], "finito", expected={"finished"})
    with pytest.raises(ValueError):
        store.set_arcstate([1], "done", expected={"finnished"})


def test_delete_arc_jobs_removes_rows_and_descriptions(store: JobStore, seed: Seeder) -> None:
    cleaned = seed.arc_jobs(3, "toclean", cluster=CE)
    (running,) = seed.arc_jobs(1, "running", cluster=CE)
    descs = [seed.get(arcjobs, arc_id)["jobdesc"] for arc_id in cleaned]
    assert store.delete_arc_jobs([*cleaned, running], expected={"toclean"}) == cleaned
    assert all(seed.row(arcjobs, arc_id) is None for arc_id in cleaned)
    assert all(seed.row(jobdescriptions, desc) is None for desc in descs)
    assert seed.row(arcjobs, running) is not None
    assert store.delete_arc_jobs([running]) == [running]
    assert store.delete_arc_jobs([]) == []


# --------------------------------------------------------------------------- reads


def test_counts(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(3, "running", cluster=CE)
    seed.arc_jobs(2, "submitted", cluster=CE)
    seed.arc_jobs(4, "running", cluster="https://other:443/q")
    seed.arc_jobs(1, "tosubmit", cluster="")
    assert store.count_occupying(CE) == 5
    assert store.count_occupying("https://nowhere:443/q") == 0
    assert store.counts_by_state(CE) == {"running": 3, "submitted": 2}
    assert store.counts_by_state() == {"running": 7, "submitted": 2, "tosubmit": 1}


def test_finished_jobs_waiting_for_their_users_do_not_occupy_their_cluster(store: JobStore, seed: Seeder) -> None:
    for state in ("submitting", "holding", "finishing", "tocancel", "cancelling", "torerun"):
        seed.arc_jobs(1, state, cluster=CE)
    for state in ("finished", "failed", "tofetch", "done", "donefailed", "cancelled", "toclean", "lost"):
        seed.arc_jobs(1, state, cluster=CE)
    assert store.count_occupying(CE) == 6


def test_submitting_jobs_for_crash_reconciliation(store: JobStore, seed: Seeder, clock: Clock) -> None:
    seed.arc_jobs(2, clusterlist=CE)
    first = store.claim_for_submit(CE, 1, "sub-dead", LEASE)
    clock.advance(minutes=5)
    second = store.claim_for_submit(CE, 1, "sub-alive", LEASE)
    assert store.submitting_jobs(CE) == []  # both leases still running
    assert [j.id for j in store.submitting_jobs(CE, lease_expired_only=False)] == [first[0].id, second[0].id]
    assert [j.id for j in store.submitting_jobs(CE, owner="sub-alive", lease_expired_only=False)] == [
        second[0].id]
    clock.advance(minutes=6)  # first lease expired, second still valid
    (stuck,) = store.submitting_jobs(CE)
    assert stuck.id == first[0].id and stuck.claimedby == "sub-dead"
    assert store.submitting_jobs("https://other:443/q", lease_expired_only=False) == []


def test_get_job_descriptions(store: JobStore, seed: Seeder) -> None:
    (client_id,) = seed.user_jobs(["tosubmit"])
    arc_id = seed.get(clientjobs, client_id)["arcjobid"]
    assert store.get_job_descriptions([arc_id, 555555]) == {arc_id: "&(executable=/bin/true)"}
    assert store.get_job_descriptions([]) == {}
