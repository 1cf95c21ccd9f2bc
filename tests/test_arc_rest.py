"""ARCRest and the transfer pools against the real A-REX."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from actframework.arc import ARCRest, split_cluster_url
from actframework.arc.transfer import Fetch, Upload, fetch_jobs, upload_inputs
from actframework.errors import ARCAuthError, ARCError, ARCHTTPError, ARCVersionError, MissingResultFile

from fixtures.arc_client import wait_for_states as wait_for

pytestmark = [pytest.mark.integration, pytest.mark.arex]


@pytest.fixture(scope="module")
def arc_rest(each_arc_rest: ARCRest) -> ARCRest:
    """Every test here runs against A-REX 6.17 (REST 1.0) and 7.0 (REST 1.1)."""
    return each_arc_rest

def test_cluster_url_gives_service_and_queue() -> None:
    assert split_cluster_url("https://ce.example.org/batch") == ("https://ce.example.org:443/arex", "batch")
    assert split_cluster_url("https://ce:9443") == ("https://ce:9443/arex", None)
    assert split_cluster_url("https://ce:9443/arex") == ("https://ce:9443/arex", None)
    with pytest.raises(ARCError):
        split_cluster_url("http://ce/q")


def test_version_is_negotiated_and_an_unoffered_one_refused(each_ce, arc_rest: ARCRest) -> None:
    if each_ce.release == "6.17":
        assert arc_rest.version == "1.0"
        assert ARCRest.api_versions(arc_rest.http) == ["1.0"]
        with pytest.raises(ARCVersionError, match="does not offer REST version 1.1"):
            ARCRest.connect(each_ce.url, proxy=each_ce.proxy, ca_dir=each_ce.ca_dir, version="1.1")
    else:
        # ARC 7 offers both; the client takes the highest, and 1.0 on request.
        assert arc_rest.version == "1.1"
        assert ARCRest.api_versions(arc_rest.http) == ["1.0", "1.1"]
        with ARCRest.connect(each_ce.url, proxy=each_ce.proxy, ca_dir=each_ce.ca_dir, version="1.0") as legacy:
            assert legacy.version == "1.0" and isinstance(legacy.get_jobs_list(), list)
        with pytest.raises(ARCVersionError, match="does not offer REST version 2.0"):
            ARCRest.connect(each_ce.url, proxy=each_ce.proxy, ca_dir=each_ce.ca_dir, version="2.0")


def test_versions_need_a_certificate_on_6_17_and_nothing_on_7_0(each_ce) -> None:
    if each_ce.release == "6.17":
        # A-REX 6.17 refuses every request without a client certificate, /rest included.
        with pytest.raises(ARCAuthError, match="403 the CE does not accept our credentials"):
            ARCRest.connect(each_ce.url, ca_dir=each_ce.ca_dir)
    else:
        with ARCRest.connect(each_ce.url, ca_dir=each_ce.ca_dir) as anonymous:
            assert anonymous.version == "1.1"


def test_ce_info_is_the_glue2_document(arc_rest: ARCRest) -> None:
    assert "ComputingService" in str(arc_rest.get_ce_info()["Domains"])


def test_bulk_submit_upload_poll_fetch_with_filter_and_clean_50_jobs(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    count = 50
    jobs = "".join(
        f'(&(executable="/bin/sh")(arguments="-c" "mkdir -p sub; cat in.txt > sub/out.txt; echo skip > other.txt")'
        f'(inputfiles=("in.txt" ""))(outputfiles=("sub/" "")("other.txt" ""))(jobname="bulk-{n}"))'
        for n in range(count)
    )
    created = arc_rest.create_jobs("+" + jobs)
    assert len(created) == count and all(r.ok for r in created), created
    ids = [r.unwrap().id for r in created]
    ce_jobs.extend(ids)
    inputs = []
    for n in range(count):
        path = tmp_path / f"in-{n}.txt"
        path.write_text(f"input of job {n}\n")
        inputs.append(Upload(ids[n], [("in.txt", path)]))
    assert upload_inputs(arc_rest, inputs, workers=10) == [[] for _ in range(count)]

    wait_for(arc_rest, ids, {"FINISHED"}, timeout=180)
    fetches = [Fetch(job_id, tmp_path / "out" / job_id, re.compile(r"sub/.*"), diagnose=("errors",))
               for job_id in ids]
    outcomes = fetch_jobs(arc_rest, fetches, workers=10)
    for n, (job_id, outcome) in enumerate(zip(ids, outcomes)):
        assert outcome.ok and outcome.files == ["gmlog/errors", "sub/out.txt"], outcome
        assert (tmp_path / "out" / job_id / "sub" / "out.txt").read_text() == f"input of job {n}\n"
        assert not (tmp_path / "out" / job_id / "other.txt").exists()

    assert all(r.ok for r in arc_rest.clean_jobs(ids))
    deadline = time.monotonic() + 60
    while {j.id for j in arc_rest.get_jobs_list()} & set(ids) and time.monotonic() < deadline:
        time.sleep(1)
    assert not {j.id for j in arc_rest.get_jobs_list()} & set(ids)
    ce_jobs.clear()


def test_running_job_is_killed(arc_rest: ARCRest, ce_jobs: list[str]) -> None:
    [result] = arc_rest.create_jobs('&(executable="/bin/sleep")(arguments="600")(jobname="sleeper")')
    job_id = result.unwrap().id
    ce_jobs.append(job_id)
    wait_for(arc_rest, [job_id], {"RUNNING"}, timeout=60)
    assert arc_rest.kill_jobs([job_id])[0].ok
    wait_for(arc_rest, [job_id], {"KILLED"}, timeout=60)
    info = arc_rest.get_jobs_info([job_id])[0].unwrap()
    assert info.state == "KILLED" and info.display_state == "Killed" and info.is_terminal


def test_job_failing_in_preparing_is_restarted(arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path) -> None:
    [result] = arc_rest.create_jobs(
        '&(executable="/bin/true")(inputfiles=("missing" "https://localhost:9/nothing/here"))'
        '(rerun="2")(jobname="badinput")'
    )
    job_id = result.unwrap().id
    ce_jobs.append(job_id)
    wait_for(arc_rest, [job_id], {"FAILED"}, timeout=120)
    info = arc_rest.get_jobs_info([job_id])[0].unwrap()
    assert info.restart_state == "PREPARING" and info.errors

    def preparations() -> int:
        arc_rest.download_diagnose_file(job_id, "errors", tmp_path / "errors")
        return (tmp_path / "errors").read_text().count("-> PREPARING")

    before = preparations()
    assert arc_rest.restart_jobs([job_id])[0].ok
    # A-REX's own job log shows the job going through PREPARING once more.
    deadline = time.monotonic() + 60
    while preparations() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert preparations() > before


def test_per_job_errors_are_aligned_with_the_input(arc_rest: ARCRest, ce_jobs: list[str]) -> None:
    [result] = arc_rest.create_jobs('&(executable="/bin/true")(jobname="aligned")')
    job_id = result.unwrap().id
    ce_jobs.append(job_id)
    results = arc_rest.get_jobs_status(["unknown-1", job_id, "unknown-2", job_id])
    assert [r.job_id for r in results] == ["unknown-1", job_id, "unknown-2", job_id]
    assert [r.ok for r in results] == [False, True, False, True]
    assert isinstance(results[0].error, ARCHTTPError) and results[0].error.status == 404
    assert arc_rest.get_jobs_delegations([job_id])[0].unwrap() == []


def test_description_the_ce_rejects_is_a_per_job_error(arc_rest: ARCRest) -> None:
    [result] = arc_rest.create_jobs('&(executable="/bin/true")(jobname="rejected"')  # unbalanced
    assert not result.ok and isinstance(result.error, ARCHTTPError) and result.error.status >= 400


def test_missing_session_file_and_job_are_missing_result_files(arc_rest: ARCRest, tmp_path: Path) -> None:
    with pytest.raises(MissingResultFile):
        arc_rest.list_session("no-such-job")
    with pytest.raises(MissingResultFile):
        arc_rest.download_file("no-such-job", "out.txt", tmp_path / "out.txt")
    assert list(tmp_path.iterdir()) == []
