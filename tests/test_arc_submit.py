"""Submission pipeline and delegations against the real A-REX."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actframework import xrsl
from actframework.arc import ARCRest
from actframework.arc.submit import prepare_job
from actframework.arc.transfer import Fetch
from actframework.errors import ARCHTTPError, InputFileError, XRSLParseError
from actframework.x509 import load_proxy

from test_arc_rest import TERMINAL, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.arex]


@pytest.fixture(scope="module")
def rest(arc_ce) -> Iterator[ARCRest]:
    client = ARCRest.connect(arc_ce.url, proxy=arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    yield client
    client.close()


@pytest.fixture
def jobs_to_clean(rest: ARCRest) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    if ids:
        rest.kill_jobs(ids)
        wait_for(rest, ids, TERMINAL, timeout=60, strict=False)
        rest.clean_jobs(ids)


@pytest.fixture
def delegations(rest: ARCRest) -> Iterator[list[str]]:
    """Delegations made by a test, deleted afterwards so they do not pile up on the CE."""
    made: list[str] = []
    yield made
    for delegation_id in made:
        try:
            rest.delete_delegation(delegation_id)
        except ARCHTTPError:
            pass


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
    rest: ARCRest, jobs_to_clean: list[str], tmp_path: Path
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

    batch = rest.submit_jobs(descriptions, input_dir=tmp_path, workers=4)
    assert len(batch.results) == 12 and batch.delegation_id is None
    assert isinstance(batch.results[3].error, XRSLParseError)
    assert isinstance(batch.results[5].error, InputFileError)
    good = [r for i, r in enumerate(batch.results) if i not in (3, 5)]
    assert all(r.ok for r in good), good
    ids = [r.job_id for r in good]
    jobs_to_clean.extend(ids)
    wait_for(rest, ids, {"FINISHED"}, timeout=120)
    outcomes = rest.fetch_jobs([Fetch(i, tmp_path / "out" / i, diagnose=()) for i in ids])
    assert [(tmp_path / "out" / i / "stdout").read_text() for i in ids] == [f"input {n}\n" for n in range(10)]
    assert all(o.files == ["stdout"] for o in outcomes)


def test_delegation_is_created_renewed_read_and_deleted(arc_ce, rest: ARCRest, delegations: list[str]) -> None:
    delegation_id = rest.create_delegation(arc_ce.proxy)
    delegations.append(delegation_id)
    assert delegation_id in {d.id for d in rest.list_delegations()}
    first = rest.get_delegation(delegation_id)
    assert load_proxy(arc_ce.proxy).certificate.subject.rfc4514_string() in _subjects(first)

    rest.renew_delegation(delegation_id, arc_ce.proxy)
    assert rest.get_delegation(delegation_id) != first

    rest.delete_delegation(delegation_id)
    delegations.remove(delegation_id)
    assert delegation_id not in {d.id for d in rest.list_delegations()}


def test_ce_stages_an_https_input_through_the_delegation(
    arc_ce, rest: ARCRest, jobs_to_clean: list[str], delegations: list[str], tmp_path: Path
) -> None:
    source = f"{arc_ce.rest_url}/info"  # served by the CE itself, over https, to the delegated proxy
    batch = rest.submit_jobs(
        [f'&(executable="/bin/sh")(arguments="-c" "wc -c < info.json > size")'
         f'(inputfiles=("info.json" "{source}"))(outputfiles=("info.json" "")("size" ""))(jobname="staged")'],
        proxy=arc_ce.proxy,
    )
    assert batch.delegation_id is not None
    delegations.append(batch.delegation_id)
    [result] = batch.results
    job_id = result.unwrap().id
    jobs_to_clean.append(job_id)
    assert rest.get_jobs_delegations([job_id])[0].unwrap() == [batch.delegation_id]
    wait_for(rest, [job_id], {"FINISHED"}, timeout=120)
    [outcome] = rest.fetch_jobs([Fetch(job_id, tmp_path, diagnose=())])
    assert outcome.ok and sorted(outcome.files) == ["info.json", "size"]
    text = (tmp_path / "info.json").read_text()
    assert "ComputingService" in text or text.lstrip().startswith("<")
    assert int((tmp_path / "size").read_text()) == len(text.encode())


def _subjects(pem: bytes) -> set[str]:
    from cryptography import x509

    return {c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(pem)}


def test_job_waiting_for_its_inputs_goes_away_after_kill_and_clean(rest: ARCRest, jobs_to_clean: list[str]) -> None:
    """A-REX removes a job that waits for uploads (PREPARING) only once it is killed."""
    [created] = rest.create_jobs('&(executable="/bin/true")(inputfiles=("never" ""))(jobname="waits")')
    job_id = created.unwrap().id
    jobs_to_clean.append(job_id)
    wait_for(rest, [job_id], {"PREPARING"}, timeout=30)
    assert rest.kill_jobs([job_id])[0].ok and rest.clean_jobs([job_id])[0].ok
    deadline = time.monotonic() + 60
    while job_id in {j.id for j in rest.get_jobs_list()} and time.monotonic() < deadline:
        time.sleep(1)
    assert job_id not in {j.id for j in rest.get_jobs_list()}
    jobs_to_clean.remove(job_id)
