"""The status checker's rules as pure functions: what one CE report does to one job.

Every report here is a real :meth:`ARCJob.from_info` document, shaped as
A-REX renders it (``State`` a list with an ``arcrest:`` entry, single
values as strings, repeated ones as lists), and every job a full
:class:`ArcJob` record as the store hands it to the status checker.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from actframework.arc import ARCJob
from actframework.db._core import arc_field_values
from actframework.db.records import UNCHANGED, ArcJob
from actframework.engine_settings import EngineSettings, Timeouts
from actframework.engine.status import MAX_SANE_CPU_TIME, ce_report, decide, listing_interval, missing_rule

NOW = datetime(2026, 11, 24, 12, 0, 0)
DEFAULTS = EngineSettings()


def job(arcstate: str = "running", *, state: str | None = "Running", tstate: datetime | None = None,
        created: datetime | None = NOW - timedelta(days=1), attemptsleft: int | None = 0) -> ArcJob:
    """A job as claimed for a status check (``state`` is its stored ``State``)."""
    return ArcJob(
        id=41, modified=NOW, created=created, arcstate=arcstate, tarcstate=NOW - timedelta(seconds=30),
        tstate=tstate if tstate is not None else NOW - timedelta(minutes=2),
        cluster="https://ce.example.org:443/batch", clusterlist="https://ce.example.org:443/batch",
        jobdesc=9, attemptsleft=attemptsleft, downloadfiles="/", proxyid=1, appjobid="17", priority=50,
        fairshare="", claimedby="host:1", claimeduntil=NOW + timedelta(minutes=10),
        attributes=MappingProxyType({"State": state, "IDFromEndpoint": "abc123"}),
    )


def report(rest_state: str | None, **activity: Any) -> ARCJob:
    """A CE info document for one job, in ``rest_state`` (None: no arcrest entry)."""
    states = ["emies:processing-running", "nordugrid:INLRMS:R"]
    if rest_state is not None:
        states.append(f"arcrest:{rest_state}")
    return ARCJob.from_info("abc123", {"ComputingActivity": {"State": states, "ID": "abc123", **activity}})


# --------------------------------------------------------------------------- CE state → arcstate


CE_STATES = [
    ("ACCEPTING", "submitted", "Accepted"), ("ACCEPTED", "submitted", "Accepted"),
    ("PREPARING", "submitted", "Preparing"), ("PREPARED", "submitted", "Preparing"),
    ("SUBMITTING", "submitted", "Submitting"), ("QUEUING", "submitted", "Queuing"),
    ("RUNNING", "running", "Running"), ("EXITINGLRMS", "running", "Running"),
    ("EXECUTED", "running", "Running"), ("HELD", "holding", "Hold"),
    ("FINISHING", "finishing", "Finishing"), ("FINISHED", "finished", "Finished"),
    ("KILLED", "cancelled", "Killed"), ("WIPED", "cancelled", "Deleted"),
]


@pytest.mark.parametrize(("rest_state", "arcstate", "display"), CE_STATES)
def test_each_ce_state_moves_the_job_to_acts_arcstate(rest_state: str, arcstate: str, display: str) -> None:
    before = "holding" if arcstate != "holding" else "running"
    update = decide(job(before, state="Hold" if before == "holding" else "Running"), report(rest_state),
                    DEFAULTS, NOW)
    assert (update.arc_id, update.expected_arcstate, update.arcstate) == (41, before, arcstate)
    assert update.report.state == display


@pytest.mark.parametrize(("rest_state", "arcstate", "display"), CE_STATES)
def test_a_ce_state_matching_the_current_arcstate_changes_no_arcstate(
    rest_state: str, arcstate: str, display: str
) -> None:
    update = decide(job(arcstate, state=display), report(rest_state), DEFAULTS, NOW)
    assert update.expected_arcstate == arcstate
    assert update.arcstate is None
    assert update.report.state == display


@pytest.mark.parametrize("rest_state", ["OTHER", "KILLING"])
@pytest.mark.parametrize("before", ["submitted", "running", "holding", "finishing"])
def test_other_and_killing_leave_the_arcstate_alone(rest_state: str, before: str) -> None:
    update = decide(job(before, state="Queuing"), report(rest_state), DEFAULTS, NOW)
    assert update.arcstate is None and update.expected_arcstate == before
    assert update.report.state == "Running"


@pytest.mark.parametrize("rest_state", ["BOGUS", None])
def test_an_unknown_or_missing_ce_state_changes_nothing_and_shows_undefined(rest_state: str | None) -> None:
    update = decide(job("running"), report(rest_state), DEFAULTS, NOW)
    assert update.arcstate is None
    assert update.report.state == "Undefined"


def test_the_arcrest_entry_is_found_among_the_other_state_notations() -> None:
    activity = {"State": ["arcrest:FINISHED", "emies:terminal", "nordugrid:FINISHED"]}
    info = ARCJob.from_info("abc123", {"ComputingActivity": activity})
    assert decide(job("running"), info, DEFAULTS, NOW).arcstate == "finished"
    several = ARCJob.from_info("abc123", {"ComputingActivity": [activity, {"State": ["arcrest:RUNNING"]}]})
    assert decide(job("running"), several, DEFAULTS, NOW).arcstate == "finished"


# --------------------------------------------------------------------------- exit codes


def test_finished_without_an_exit_code_gets_zero() -> None:
    update = decide(job("running"), report("FINISHED"), DEFAULTS, NOW)
    assert update.report.exit_code == 0


@pytest.mark.parametrize(("given", "stored"), [("3", 3), ("0", 0), ("137", 137)])
def test_finished_keeps_the_exit_code_the_ce_gave(given: str, stored: int) -> None:
    assert decide(job("running"), report("FINISHED", ExitCode=given), DEFAULTS, NOW).report.exit_code == stored


@pytest.mark.parametrize("rest_state", ["FAILED", "RUNNING", "KILLED"])
def test_only_finished_gets_a_default_exit_code(rest_state: str) -> None:
    assert decide(job("running"), report(rest_state), DEFAULTS, NOW).report.exit_code is None
    assert decide(job("running"), report(rest_state, ExitCode="2"), DEFAULTS, NOW).report.exit_code == 2


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("restart_state", ["PREPARING", "FINISHING"])
def test_a_job_that_failed_while_staging_data_is_rerun(restart_state: str) -> None:
    info = report("FAILED", RestartState=["emies:x", f"arcrest:{restart_state}"],
                  Error=["Failed in files download (pre-processing)"])
    update = decide(job("running", attemptsleft=2), info, DEFAULTS, NOW)
    assert update.arcstate == "torerun"
    assert update.report.state == "Undefined"
    assert update.attemptsleft is None  # a rerun uses no resubmission attempt


def test_a_single_string_restart_state_counts_too() -> None:
    info = report("FAILED", RestartState="arcrest:PREPARING", Error="staging failed")
    assert decide(job("submitted", state="Preparing"), info, DEFAULTS, NOW).arcstate == "torerun"


@pytest.mark.parametrize("restart_state", ["RUNNING", "SUBMITTING", "QUEUING", "FINISHED"])
def test_a_job_that_failed_elsewhere_is_not_rerun(restart_state: str) -> None:
    info = report("FAILED", RestartState=[f"arcrest:{restart_state}"], Error="Job failed with exit code 1")
    update = decide(job("running"), info, DEFAULTS, NOW)
    assert update.arcstate == "failed"
    assert update.report.state == "Failed"
    assert update.error == "Job failed with exit code 1"


def test_an_unreadable_output_list_is_not_rerun() -> None:
    info = report("FAILED", RestartState=["arcrest:FINISHING"],
                  Error=["Failed in files upload (post-processing)",
                         "Error reading user generated output file list in /session/x"])
    update = decide(job("running"), info, DEFAULTS, NOW)
    assert update.arcstate == "failed"
    assert update.report.state == "Failed"


RESUBMIT = EngineSettings(resubmit_errors=("LRMS error: (-1)", "node crashed"))


@pytest.mark.parametrize(("attempts", "left"), [(3, 2), (1, 0)])
def test_a_configured_error_with_attempts_left_is_resubmitted_with_one_less(attempts: int, left: int) -> None:
    info = report("FAILED", RestartState=["arcrest:RUNNING"], Error=["Job was lost", "worker: node crashed"])
    update = decide(job("running", attemptsleft=attempts), info, RESUBMIT, NOW)
    assert update.arcstate == "toresubmit"
    assert update.attemptsleft == left
    assert update.report.state == "Undefined"


@pytest.mark.parametrize("attempts", [0, None])
def test_a_configured_error_without_attempts_left_fails(attempts: int | None) -> None:
    info = report("FAILED", RestartState=["arcrest:RUNNING"], Error="LRMS error: (-1) Job was killed")
    update = decide(job("running", attemptsleft=attempts), info, RESUBMIT, NOW)
    assert update.arcstate == "failed"
    assert update.attemptsleft is None


def test_an_error_no_pattern_matches_fails_even_with_attempts_left() -> None:
    info = report("FAILED", RestartState=["arcrest:RUNNING"], Error="LRMS error: (271) exit code 1")
    assert decide(job("running", attemptsleft=3), info, RESUBMIT, NOW).arcstate == "failed"
    assert decide(job("running", attemptsleft=3), info, DEFAULTS, NOW).arcstate == "failed"


def test_a_staging_failure_is_rerun_rather_than_resubmitted() -> None:
    info = report("FAILED", RestartState=["arcrest:PREPARING"], Error="node crashed during staging")
    update = decide(job("submitted", state="Preparing", attemptsleft=3), info, RESUBMIT, NOW)
    assert update.arcstate == "torerun"
    assert update.attemptsleft is None


# --------------------------------------------------------------------------- cancelling


@pytest.mark.parametrize("rest_state", ["FINISHED", "FAILED", "KILLED", "WIPED"])
def test_a_cancelling_job_that_ended_is_cancelled(rest_state: str) -> None:
    info = report(rest_state, RestartState=["arcrest:PREPARING"])  # a failure is not rerun either
    update = decide(job("cancelling", attemptsleft=3), info, RESUBMIT, NOW)
    assert (update.expected_arcstate, update.arcstate) == ("cancelling", "cancelled")
    assert update.attemptsleft is None


@pytest.mark.parametrize("rest_state", ["RUNNING", "KILLING", "QUEUING", "FINISHING", "OTHER"])
def test_a_cancelling_job_still_alive_stays_cancelling(rest_state: str) -> None:
    update = decide(job("cancelling", tstate=NOW - timedelta(minutes=59)), report(rest_state), DEFAULTS, NOW)
    assert (update.expected_arcstate, update.arcstate) == ("cancelling", None)
    assert update.report.state is not None


def test_a_cancelling_job_stuck_longer_than_the_timeout_is_cancelled() -> None:
    stuck = job("cancelling", state="Running", tstate=NOW - timedelta(seconds=3601))
    assert decide(stuck, report("KILLING"), DEFAULTS, NOW).arcstate == "cancelled"
    at_limit = job("cancelling", state="Running", tstate=NOW - timedelta(seconds=3600))
    assert decide(at_limit, report("KILLING"), DEFAULTS, NOW).arcstate is None
    short = EngineSettings(timeouts=Timeouts(cancelling=60))
    assert decide(job("cancelling", tstate=NOW - timedelta(seconds=61)), report("RUNNING"), short,
                  NOW).arcstate == "cancelled"
    assert decide(job("cancelling", tstate=NOW - timedelta(seconds=59)), report("RUNNING"), short,
                  NOW).arcstate is None


def test_max_state_times_do_not_apply_to_cancelling_jobs() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"running": 60}))
    update = decide(job("cancelling", tstate=NOW - timedelta(minutes=30)), report("RUNNING"), settings, NOW)
    assert update.arcstate is None


# --------------------------------------------------------------------------- stuck states


def test_a_job_kept_in_one_state_longer_than_its_max_time_is_cancelled() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"queuing": 600, "hold": 60}))
    queued = job("submitted", state="Queuing", tstate=NOW - timedelta(seconds=601))
    update = decide(queued, report("QUEUING"), settings, NOW)
    assert (update.expected_arcstate, update.arcstate) == ("submitted", "tocancel")
    held = job("holding", state="Hold", tstate=NOW - timedelta(seconds=61))
    assert decide(held, report("HELD"), settings, NOW).arcstate == "tocancel"


def test_a_job_within_its_max_time_or_in_another_state_is_left_alone() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"queuing": 600}))
    recent = job("submitted", state="Queuing", tstate=NOW - timedelta(seconds=599))
    assert decide(recent, report("QUEUING"), settings, NOW).arcstate is None
    long_running = job("running", state="Running", tstate=NOW - timedelta(days=30))
    assert decide(long_running, report("RUNNING"), settings, NOW).arcstate is None
    assert decide(long_running, report("RUNNING"), DEFAULTS, NOW).arcstate is None


def test_the_max_time_counts_from_the_last_state_change() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"running": 600}))
    # Queuing for a day, now running: the Running clock starts now.
    arriving = job("submitted", state="Queuing", tstate=NOW - timedelta(days=1))
    assert decide(arriving, report("RUNNING"), settings, NOW).arcstate == "running"
    # Same arcstate, new State (Accepted → Queuing): no stale clock either.
    settings = EngineSettings(max_state_times=MappingProxyType({"queuing": 600}))
    accepted = job("submitted", state="Accepted", tstate=NOW - timedelta(days=1))
    assert decide(accepted, report("QUEUING"), settings, NOW).arcstate is None


def test_a_state_change_wins_over_a_max_time() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"running": 600}))
    # Stored as Running for long, but the CE now reports it finished.
    finishing = job("running", state="Running", tstate=NOW - timedelta(days=1))
    assert decide(finishing, report("FINISHED"), settings, NOW).arcstate == "finished"


# --------------------------------------------------------------------------- CE reports


def test_an_implausible_cpu_time_is_stored_as_minus_one() -> None:
    assert ce_report(job(), report("RUNNING", UsedTotalCPUTime=str(MAX_SANE_CPU_TIME + 1)), NOW).used_cpu_time == -1
    sane = ce_report(job(), report("RUNNING", UsedTotalCPUTime=str(MAX_SANE_CPU_TIME)), NOW)
    assert sane.used_cpu_time == MAX_SANE_CPU_TIME
    assert MAX_SANE_CPU_TIME == 10**7
    assert ce_report(job(), report("RUNNING", UsedTotalCPUTime="1234"), NOW).used_cpu_time == 1234
    assert ce_report(job(), report("RUNNING"), NOW).used_cpu_time is None


def test_wall_time_is_per_slot_and_never_more_than_the_job_has_existed() -> None:
    old = job(created=NOW - timedelta(days=1))
    assert ce_report(old, report("RUNNING", UsedTotalWallTime="8000", RequestedSlots="4"), NOW).used_wall_time == 2000
    assert ce_report(old, report("RUNNING", UsedTotalWallTime="8000"), NOW).used_wall_time == 8000
    young = job(created=NOW - timedelta(seconds=1500))
    assert ce_report(young, report("RUNNING", UsedTotalWallTime="8000", RequestedSlots="4"), NOW).used_wall_time == 1500
    assert ce_report(young, report("RUNNING", UsedTotalWallTime="1000"), NOW).used_wall_time == 1000
    # A creation time in the future (clock skew) caps at zero, never below.
    future = job(created=NOW + timedelta(minutes=5))
    assert ce_report(future, report("RUNNING", UsedTotalWallTime="100"), NOW).used_wall_time == 0
    unknown_age = job(created=None)
    unknown = ce_report(unknown_age, report("RUNNING", UsedTotalWallTime="9000", RequestedSlots="3"), NOW)
    assert unknown.used_wall_time == 3000
    assert ce_report(old, report("RUNNING"), NOW).used_wall_time is None


def test_execution_nodes_are_joined_with_commas_and_non_ascii_is_dropped() -> None:
    nodes = ce_report(job(), report("RUNNING", ExecutionNode=["wn01.example.org", "wn\u00e902", "n\u00f6de3"]), NOW)
    assert nodes.execution_node == "wn01.example.org,wn02,nde3"
    assert ce_report(job(), report("RUNNING", ExecutionNode="wn7"), NOW).execution_node == "wn7"
    assert ce_report(job(), report("RUNNING"), NOW).execution_node is None


def test_errors_are_joined_and_cleared_when_the_ce_reports_none() -> None:
    assert decide(job(), report("FAILED", Error=["first", "second"]), DEFAULTS, NOW).error == "first;second"
    cleared = decide(job(), report("RUNNING"), DEFAULTS, NOW)
    assert cleared.error is None
    assert "Error" in cleared.columns() and cleared.columns()["Error"] is None


def test_every_reported_attribute_is_stored_in_its_column() -> None:
    activity = {
        "Type": "single", "LocalIDFromManager": "4711", "WaitingPosition": "3", "Owner": "/DC=org/CN=Alice",
        "LocalOwner": "griduser", "RequestedTotalCPUTime": "7200", "RequestedTotalWallTime": "3600",
        "RequestedSlots": "2", "StdIn": "in.txt", "StdOut": "out.txt", "StdErr": "err.txt", "LogDir": "log",
        "Queue": "batch", "UsedMainMemory": "2048", "SubmissionTime": "2026-11-24T10:00:00Z",
        "StartTime": "2026-11-24T10:05:00Z", "ComputingManagerEndTime": "2026-11-24T11:00:00Z",
        "WorkingAreaEraseTime": "2026-12-01T11:00:00Z", "ProxyExpirationTime": "2026-11-25T10:00:00Z",
        "RestartState": ["arcrest:RUNNING"], "ExitCode": "0",
    }
    fields = ce_report(job(), report("FINISHED", **activity), NOW).columns()
    assert fields == {
        "State": "Finished", "RestartState": "Running", "Type": "single",
        "LocalIDFromManager": "4711", "WaitingPosition": 3, "Owner": "/DC=org/CN=Alice",
        "LocalOwner": "griduser", "RequestedTotalCPUTime": 7200, "RequestedTotalWallTime": 3600,
        "RequestedSlots": 2, "StdIn": "in.txt", "StdOut": "out.txt", "StdErr": "err.txt", "LogDir": "log",
        "Queue": "batch", "UsedMainMemory": 2048,
        "SubmissionTime": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        "StartTime": datetime(2026, 11, 24, 10, 5, tzinfo=UTC),
        "EndTime": datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
        "WorkingAreaEraseTime": datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
        "ProxyExpirationTime": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "ExitCode": 0,
    }
    # Every name is a column the store lets the engine write.
    assert set(arc_field_values(fields)) == set(fields)


def test_a_minimal_report_writes_only_the_state_and_clears_the_error() -> None:
    assert ce_report(job(), report("QUEUING"), NOW).columns() == {"State": "Queuing"}
    assert decide(job(), report("QUEUING"), DEFAULTS, NOW).columns() == {"State": "Queuing", "Error": None}


def test_every_decision_writes_only_columns_the_store_accepts() -> None:
    info = report("FAILED", RestartState=["arcrest:RUNNING"], Error="node crashed", UsedTotalWallTime="10",
                  UsedTotalCPUTime="5", ExecutionNode=["a", "b"])
    for settings in (DEFAULTS, RESUBMIT):
        update = decide(job("running", attemptsleft=2), info, settings, NOW)
        assert set(arc_field_values(update.columns())) == set(update.columns())


# --------------------------------------------------------------------------- missing from the CE's job list

MISSING_AFTER = EngineSettings(timeouts=Timeouts(missing=600))


def missing_job(arcstate: str = "running", missingsince: datetime | None = None) -> ArcJob:
    return replace(job(arcstate), missingsince=missingsince)


def test_a_listed_job_has_no_missing_clock() -> None:
    checked = missing_job(missingsince=NOW - timedelta(minutes=3))
    update = missing_rule(checked, decide(checked, report("RUNNING"), MISSING_AFTER, NOW),
                          frozenset({"abc123"}), MISSING_AFTER, NOW)
    assert update.arcstate is None and update.missingsince is None


def test_a_job_first_missing_from_the_list_starts_its_clock_and_waits() -> None:
    checked = missing_job()
    update = missing_rule(checked, decide(checked, report("RUNNING"), MISSING_AFTER, NOW),
                          frozenset({"other"}), MISSING_AFTER, NOW)
    assert update.arcstate is None and update.missingsince == NOW


def test_a_job_missing_for_less_than_the_timeout_keeps_its_first_missing_time() -> None:
    since = NOW - timedelta(seconds=599)
    checked = missing_job(missingsince=since)
    update = missing_rule(checked, decide(checked, report("RUNNING"), MISSING_AFTER, NOW),
                          frozenset(), MISSING_AFTER, NOW)
    assert update.arcstate is None and update.missingsince == since


def test_a_job_missing_for_the_timeout_is_cancelled_with_a_reason() -> None:
    checked = missing_job(missingsince=NOW - timedelta(seconds=600))
    update = missing_rule(checked, decide(checked, report("RUNNING"), MISSING_AFTER, NOW),
                          frozenset(), MISSING_AFTER, NOW)
    assert update.arcstate == "tocancel"
    assert update.error == "missing from the CE's job list for 600 s; cancelled"


def test_a_missing_cancelling_job_is_cancelled_at_once() -> None:
    checked = missing_job("cancelling")
    update = missing_rule(checked, decide(checked, report("KILLING"), MISSING_AFTER, NOW),
                          frozenset(), MISSING_AFTER, NOW)
    assert update.arcstate == "cancelled"


def test_a_missing_job_that_the_report_moves_on_follows_the_report() -> None:
    checked = missing_job(missingsince=NOW - timedelta(days=30))
    update = missing_rule(checked, decide(checked, report("FINISHED"), MISSING_AFTER, NOW),
                          frozenset(), MISSING_AFTER, NOW)
    assert update.arcstate == "finished"


def test_a_cancelling_job_keeps_the_reason_it_was_cancelled_for() -> None:
    update = decide(job("cancelling"), report("KILLING"), DEFAULTS, NOW)
    assert update.error is UNCHANGED and "Error" not in update.columns()
    update = decide(job("cancelling"), report("KILLED", Error="killed by user"), DEFAULTS, NOW)
    assert update.error == "killed by user"
    with_reason = replace(job("cancelling"), attributes=MappingProxyType({
        "State": "Running", "IDFromEndpoint": "abc123", "Error": "missing from the CE's job list for 600 s; cancelled"}))
    assert decide(with_reason, report("KILLED", Error="killed by user"), DEFAULTS, NOW).error is UNCHANGED


def test_the_job_list_is_read_often_enough_for_the_missing_timeout_but_at_most_every_ten_minutes() -> None:
    assert listing_interval(DEFAULTS) == 600
    assert listing_interval(EngineSettings(timeouts=Timeouts(missing=8), check_interval=1)) == 2
    assert listing_interval(EngineSettings(timeouts=Timeouts(missing=8), check_interval=5)) == 5
