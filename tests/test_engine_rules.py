"""The engine's decisions as pure functions: CE state → arcstate, download lists, handover fields."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from actframework.arc import DIAGNOSE_FILES, ARCJob
from actframework.arc.downloads import downloads_for, fetch_for, with_failure_diagnose
from actframework.db.records import ArcJob, ClientJobRow
from actframework.engine.handover import prepare
from actframework.engine.settings import EngineSettings, Timeouts
from actframework.engine.status import decide
from actframework.engine.submitter import name_has_token, token_name

NOW = datetime(2026, 11, 24, 12, 0, 0)


def arc_job(arcstate: str = "submitted", *, state: str | None = "Queuing", tstate: datetime | None = None,
            created: datetime | None = None, attemptsleft: int = 0) -> ArcJob:
    return ArcJob(
        id=7, modified=NOW, created=created or NOW - timedelta(hours=1), arcstate=arcstate, tarcstate=NOW,
        tstate=tstate or NOW - timedelta(minutes=1), cluster="https://ce.example.org:443/batch",
        clusterlist="https://ce.example.org:443/batch", jobdesc=1, attemptsleft=attemptsleft,
        downloadfiles="/", proxyid=1, appjobid="3", priority=50, fairshare="", claimedby="e:1",
        claimeduntil=NOW, attributes=MappingProxyType({"State": state, "IDFromEndpoint": "ce7"}),
    )


def info(rest_state: str, **activity: Any) -> ARCJob:
    document = {"ComputingActivity": {"State": [f"emies:x", f"arcrest:{rest_state}"], **activity}}
    return ARCJob.from_info("ce7", document)


SETTINGS = EngineSettings()


@pytest.mark.parametrize(("rest_state", "arcstate"), [
    ("ACCEPTING", "submitted"), ("ACCEPTED", "submitted"), ("PREPARING", "submitted"),
    ("PREPARED", "submitted"), ("SUBMITTING", "submitted"), ("QUEUING", "submitted"),
    ("RUNNING", "running"), ("EXITINGLRMS", "running"), ("EXECUTED", "running"),
    ("HELD", "holding"), ("FINISHING", "finishing"), ("FINISHED", "finished"),
    ("KILLED", "cancelled"), ("WIPED", "cancelled"),
])
def test_ce_states_map_to_acts_arcstates(rest_state: str, arcstate: str) -> None:
    current = "running" if arcstate == "submitted" else "submitted"
    update = decide(arc_job(current), info(rest_state), SETTINGS, NOW)
    assert update.arcstate == arcstate
    assert update.expected_arcstate == current


@pytest.mark.parametrize("rest_state", ["OTHER", "KILLING"])
def test_other_and_killing_keep_the_arcstate_and_show_running(rest_state: str) -> None:
    update = decide(arc_job("running"), info(rest_state), SETTINGS, NOW)
    assert update.arcstate is None
    assert update.fields["State"] == "Running"


def test_an_unchanged_state_writes_fields_but_no_arcstate() -> None:
    update = decide(arc_job("running", state="Running"), info("RUNNING"), SETTINGS, NOW)
    assert update.arcstate is None and update.fields["State"] == "Running"


def test_finished_without_an_exit_code_gets_exit_code_zero() -> None:
    assert decide(arc_job(), info("FINISHED"), SETTINGS, NOW).fields["ExitCode"] == 0
    assert decide(arc_job(), info("FINISHED", ExitCode="2"), SETTINGS, NOW).fields["ExitCode"] == 2


@pytest.mark.parametrize("restart_state", ["PREPARING", "FINISHING"])
def test_failed_while_staging_is_rerun(restart_state: str) -> None:
    update = decide(arc_job("running"), info("FAILED", RestartState=[f"arcrest:{restart_state}"],
                                             Error="Failed in data staging"), SETTINGS, NOW)
    assert update.arcstate == "torerun" and update.fields["State"] == "Undefined"


def test_unreadable_output_list_is_not_rerun() -> None:
    update = decide(arc_job("running"), info("FAILED", RestartState=["arcrest:FINISHING"],
                                             Error="Error reading user generated output file list"), SETTINGS, NOW)
    assert update.arcstate == "failed"


def test_configured_error_with_attempts_left_is_resubmitted_with_one_attempt_less() -> None:
    settings = EngineSettings(resubmit_errors=("node crashed",))
    failing = info("FAILED", RestartState=["arcrest:RUNNING"], Error=["LRMS error: node crashed"])
    update = decide(arc_job("running", attemptsleft=2), failing, settings, NOW)
    assert update.arcstate == "toresubmit"
    assert update.fields["attemptsleft"] == 1 and update.fields["State"] == "Undefined"
    assert decide(arc_job("running", attemptsleft=0), failing, settings, NOW).arcstate == "failed"
    other = info("FAILED", RestartState=["arcrest:RUNNING"], Error="exit code 3")
    assert decide(arc_job("running", attemptsleft=2), other, settings, NOW).arcstate == "failed"


def test_cancelling_job_becomes_cancelled_when_terminal_or_stuck() -> None:
    assert decide(arc_job("cancelling"), info("KILLED"), SETTINGS, NOW).arcstate == "cancelled"
    assert decide(arc_job("cancelling"), info("FINISHED"), SETTINGS, NOW).arcstate == "cancelled"
    assert decide(arc_job("cancelling"), info("RUNNING"), SETTINGS, NOW).arcstate is None
    stuck = arc_job("cancelling", state="Running", tstate=NOW - timedelta(hours=2))
    assert decide(stuck, info("RUNNING"), SETTINGS, NOW).arcstate == "cancelled"
    short = EngineSettings(timeouts=Timeouts(cancelling=10))
    assert decide(arc_job("cancelling", tstate=NOW - timedelta(seconds=11)), info("KILLING"),
                  short, NOW).arcstate == "cancelled"


def test_a_state_kept_longer_than_its_max_time_is_cancelled() -> None:
    settings = EngineSettings(max_state_times=MappingProxyType({"running": 3600}))
    long_running = arc_job("running", state="Running", tstate=NOW - timedelta(hours=2))
    assert decide(long_running, info("RUNNING"), settings, NOW).arcstate == "tocancel"
    recent = arc_job("running", state="Running", tstate=NOW - timedelta(minutes=30))
    assert decide(recent, info("RUNNING"), settings, NOW).arcstate is None
    # The clock starts when the State changes: a job just arrived in it is not stuck.
    arriving = arc_job("submitted", state="Queuing", tstate=NOW - timedelta(hours=2))
    assert decide(arriving, info("RUNNING"), settings, NOW).arcstate == "running"


def test_ce_fields_are_filled_and_sanitised() -> None:
    job = arc_job(created=NOW - timedelta(seconds=100))
    update = decide(job, info("FINISHED", ExitCode="0", ExecutionNode=["wn1", "wn\u00e92"],
                              UsedTotalWallTime="1000", RequestedSlots="4", UsedTotalCPUTime="20000000",
                              Error=["a", "b"], Queue="batch", UsedMainMemory="512"), SETTINGS, NOW)
    fields = update.fields
    assert fields["ExecutionNode"] == "wn1,wn2"
    assert fields["UsedTotalWallTime"] == 100  # 1000/4 = 250, but only 100 s since created
    assert fields["UsedTotalCPUTime"] == -1
    assert fields["Error"] == "a;b"
    assert fields["Queue"] == "batch" and fields["UsedMainMemory"] == 512
    cleared = decide(job, info("RUNNING"), SETTINGS, NOW).fields
    assert cleared["Error"] is None  # an error that went away is cleared


# --------------------------------------------------------------------------- download lists


def paths_taken(pattern: re.Pattern[str] | None, paths: list[str]) -> list[str]:
    return [p for p in paths if pattern is None or pattern.fullmatch(p)]


SESSION = ["out.txt", "err.txt", "d/", "d/a.txt", "d/e/", "d/e/f.txt", "other/", "other/x"]


def test_downloads_for_adds_the_gmlog_directory_for_diagnose_files() -> None:
    assert downloads_for(None) == "/"
    assert downloads_for("gmlog") == "/;diagnose=gmlog/"
    assert downloads_for("/log/") == "/;diagnose=log/"


def test_slash_takes_the_whole_session_and_no_diagnose_files() -> None:
    fetch = fetch_for("ce1", Path("/r"), "/")
    assert fetch.pattern is None
    assert tuple(fetch.diagnose or ()) == ()


def test_a_failed_jobs_list_gets_all_diagnose_files_unless_it_names_some() -> None:
    assert with_failure_diagnose("/") == "/;diagnose=gmlog/"
    assert with_failure_diagnose(None) == "/;diagnose=gmlog/"
    assert with_failure_diagnose("/;diagnose=log/") == "/;diagnose=log/"
    fetch = fetch_for("ce1", Path("/r"), with_failure_diagnose("out.txt"))
    assert tuple(fetch.diagnose or ()) == tuple(DIAGNOSE_FILES) and fetch.diagnose_dir == "gmlog"


def test_named_files_and_directories_take_only_those_and_their_parents() -> None:
    fetch = fetch_for("ce1", Path("/r"), "out.txt;d/e/")
    assert paths_taken(fetch.pattern, SESSION) == ["out.txt", "d/", "d/e/", "d/e/f.txt"]
    nested = fetch_for("ce1", Path("/r"), "d/e/f.txt")
    assert paths_taken(nested.pattern, SESSION) == ["d/", "d/e/", "d/e/f.txt"]


def test_diagnose_entries_choose_files_and_directory() -> None:
    into_dir = fetch_for("ce1", Path("/r"), "out.txt;diagnose=logs/")
    assert into_dir.diagnose_dir == "logs" and tuple(into_dir.diagnose or ()) == tuple(DIAGNOSE_FILES)
    one = fetch_for("ce1", Path("/r"), "diagnose=logs/errors")
    assert one.diagnose_dir == "logs" and tuple(one.diagnose or ()) == ("errors",)
    assert paths_taken(one.pattern, SESSION) == []
    root = fetch_for("ce1", Path("/r"), "diagnose=errors")
    assert root.diagnose_dir == "" and tuple(root.diagnose or ()) == ("errors",)


# --------------------------------------------------------------------------- tokens and handover


def test_submission_token_is_in_the_name_and_found_only_for_its_job() -> None:
    name = token_name("my job", "ab12", 7)
    assert name == "my job actf:ab12:7"
    assert token_name(None, "ab12", 7) == "actf:ab12:7"
    assert name_has_token(name, "ab12", 7)
    assert not name_has_token(name, "ab12", 70)
    assert not name_has_token(name, "ab1", 7)
    assert not name_has_token(name, None, 7)
    assert not name_has_token(None, "ab12", 7)


def client_job(description: str) -> ClientJobRow:
    return ClientJobRow(id=5, jobname="j", jobdesc=description, clusterlist="https://ce/x", proxyid=1, created=NOW)


def test_handover_takes_priority_and_gmlog_from_the_description() -> None:
    fields = prepare(client_job('&(executable="/bin/true")(priority="80")(gmlog="log")'), attempts=2)
    assert (fields.priority, fields.downloadfiles, fields.attemptsleft, fields.arcstate) == (
        80, "/;diagnose=log/", 2, "tosubmit")
    assert prepare(client_job('&(executable="/bin/true")(priority="500")'), 0).priority == 100
    assert prepare(client_job('&(executable="/bin/true")'), 0).priority == 50


@pytest.mark.parametrize("description", ['&(executable="/bin/true")(priority="high")', "not xrsl at all",
                                         '+(&(executable="a"))(&(executable="b"))'])
def test_handover_cancels_a_job_whose_description_the_engine_cannot_use(description: str) -> None:
    assert prepare(client_job(description), 3).arcstate == "cancelled"
