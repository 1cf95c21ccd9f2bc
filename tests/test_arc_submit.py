"""Submission pipeline and delegations against the real A-REX."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actframework import xrsl
from actframework.arc import ARCRest
from actframework.arc.submit import prepare_job
from actframework.arc.transfer import Fetch
from actframework.errors import InputFileError, XRSLParseError
from actframework.x509 import load_proxy

from fixtures.arc_client import wait_for_states as wait_for

pytestmark = [pytest.mark.integration, pytest.mark.arex]


def test_prepare_adds_outputs_and_uploads_as_arcsub_does(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "data.txt").write_text("data\n")
    [job] = xrsl.parse(
        '&(executable="run.sh")(stdout="out")(stderr="err")(gmlog="log")'
        '(inputfiles=("data.txt" "")("remote" "https://host/remote"))(outputfiles=("result" ""))'
    )
    prepared = prepare_job(job, input_dir=tmp_path, queue="fork", delegation_id="d1")
    described = prepared.description
    assert described.inputfiles == [("data.txt", ""), ("remote", "https://host/remote"), ("run.sh", "")]
    assert described.outputfiles == [("result", ""), ("out", ""), ("err", ""), ("log/", "")]
    assert described.get_string("queue") == "fork" and described.get_string("delegationid") == "d1"
    assert prepared.uploads == (("data.txt", tmp_path / "data.txt"), ("run.sh", tmp_path / "run.sh"))
    assert job.get("queue") is None, "the caller's job is not modified"


def test_prepare_refuses_a_missing_local_input(tmp_path: Path) -> None:
    [job] = xrsl.parse('&(executable="/bin/true")(inputfiles=("in.txt" "sub/in.txt"))')
    with pytest.raises(InputFileError, match=f"{tmp_path / 'sub' / 'in.txt'} does not exist"):
        prepare_job(job, input_dir=tmp_path)


def test_submit_jobs_aligns_results_with_input_and_uploads_inputs(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    descriptions = []
    for n in range(10):
        (tmp_path / f"in{n}.txt").write_text(f"input {n}\n")
        descriptions.append(
            f'&(executable="/bin/sh")(arguments="-c" "cat in.txt")(stdout="stdout")'
            f'(inputfiles=("in.txt" "in{n}.txt"))(jobname="pipeline-{n}")'
        )
    descriptions.insert(3, '&(executable="/bin/true"')  # not xRSL
    descriptions.insert(5, '&(executable="/bin/true")(inputfiles=("x" "absent.txt"))')

    batch = arc_rest.submit_jobs(descriptions, input_dir=tmp_path, workers=4)
    assert len(batch.results) == 12 and batch.delegation_id is None
    assert isinstance(batch.results[3].error, XRSLParseError)
    assert isinstance(batch.results[5].error, InputFileError)
    good = [r for i, r in enumerate(batch.results) if i not in (3, 5)]
    assert all(r.ok for r in good), good
    ids = [r.job_id for r in good]
    ce_jobs.extend(ids)
    wait_for(arc_rest, ids, {"FINISHED"}, timeout=120)
    outcomes = arc_rest.fetch_jobs([Fetch(i, tmp_path / "out" / i, diagnose=()) for i in ids])
    assert [(tmp_path / "out" / i / "stdout").read_text() for i in ids] == [f"input {n}\n" for n in range(10)]
    assert all(o.files == ["stdout"] for o in outcomes)


def test_delegation_is_created_renewed_read_and_deleted(arc_ce, arc_rest: ARCRest, ce_delegations: list[str]) -> None:
    delegation_id = arc_rest.create_delegation(arc_ce.proxy)
    ce_delegations.append(delegation_id)
    assert delegation_id in {d.id for d in arc_rest.list_delegations()}
    first = arc_rest.get_delegation(delegation_id)
    assert load_proxy(arc_ce.proxy).certificate.subject.rfc4514_string() in _subjects(first)

    arc_rest.renew_delegation(delegation_id, arc_ce.proxy)
    assert arc_rest.get_delegation(delegation_id) != first

    arc_rest.delete_delegation(delegation_id)
    ce_delegations.remove(delegation_id)
    assert delegation_id not in {d.id for d in arc_rest.list_delegations()}


def test_ce_stages_an_https_input_through_the_delegation(
    arc_ce, arc_rest: ARCRest, ce_jobs: list[str], ce_delegations: list[str], tmp_path: Path
) -> None:
    source = f"{arc_ce.rest_url}/info"  # served by the CE itself, over https, to the delegated proxy
    batch = arc_rest.submit_jobs(
        [f'&(executable="/bin/sh")(arguments="-c" "wc -c < info.json > size")'
         f'(inputfiles=("info.json" "{source}"))(outputfiles=("info.json" "")("size" ""))(jobname="staged")'],
        proxy=arc_ce.proxy,
    )
    assert batch.delegation_id is not None
    ce_delegations.append(batch.delegation_id)
    [result] = batch.results
    job_id = result.unwrap().id
    ce_jobs.append(job_id)
    assert arc_rest.get_jobs_delegations([job_id])[0].unwrap() == [batch.delegation_id]
    assert arc_rest.get_jobs_info([job_id], with_delegations=True)[0].unwrap().delegation_ids == (
        batch.delegation_id,)
    wait_for(arc_rest, [job_id], {"FINISHED"}, timeout=120)
    [outcome] = arc_rest.fetch_jobs([Fetch(job_id, tmp_path, diagnose=())])
    assert outcome.ok and sorted(outcome.files) == ["info.json", "size"]
    text = (tmp_path / "info.json").read_text()
    assert "ComputingService" in text or text.lstrip().startswith("<")
    assert int((tmp_path / "size").read_text()) == len(text.encode())


def _subjects(pem: bytes) -> set[str]:
    from cryptography import x509

    return {c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(pem)}


def test_job_waiting_for_its_inputs_goes_away_after_kill_and_clean(arc_rest: ARCRest, ce_jobs: list[str]) -> None:
    """A job waiting for uploads (PREPARING) ignores clean; killed first, it can be cleaned."""
    [created] = arc_rest.create_jobs('&(executable="/bin/true")(inputfiles=("never" ""))(jobname="waits")')
    job_id = created.unwrap().id
    ce_jobs.append(job_id)
    wait_for(arc_rest, [job_id], {"PREPARING"}, timeout=30)
    assert arc_rest.kill_jobs([job_id])[0].ok
    wait_for(arc_rest, [job_id], {"KILLED", "FAILED"}, timeout=60)
    assert arc_rest.clean_jobs([job_id])[0].ok
    deadline = time.monotonic() + 60
    while job_id in {j.id for j in arc_rest.get_jobs_list()} and time.monotonic() < deadline:
        time.sleep(1)
    assert job_id not in {j.id for j in arc_rest.get_jobs_list()}
    ce_jobs.remove(job_id)
