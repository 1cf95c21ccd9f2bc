"""Submission and delegations against the real A-REX, in the engine's steps:
prepare each job, one POST per language, then the uploads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actframework import jobdesc
from actframework.arc import ARCRest
from actframework.arc.submit import post_jobs, prepare_job
from actframework.arc.transfer import Fetch, Upload, fetch_jobs, upload_inputs
from actframework.errors import InputFileError
from actframework.x509 import load_proxy

from fixtures.arc_client import wait_for_states as wait_for

pytestmark = [pytest.mark.integration, pytest.mark.arex]


@pytest.fixture(scope="module")
def arc_rest(each_arc_rest: ARCRest) -> ARCRest:
    """Every test here runs against A-REX 6.17 (REST 1.0) and 7.0 (REST 1.1)."""
    return each_arc_rest


def submit(rest: ARCRest, texts: list[str], ce_jobs: list[str], input_dir: Path, *,
           queue: str | None = None, delegation_id: str | None = None) -> list[str]:
    """Jobs of one language to the CE as the engine sends them; their CE
    ids, in input order, registered in ``ce_jobs`` for the tidy-up."""
    prepared = [prepare_job(jobdesc.parse_one(text), input_dir=input_dir, queue=queue,
                            delegation_id=delegation_id, into_description=rest.version == "1.0")
                for text in texts]
    ids = [result.unwrap().id for result in post_jobs(rest, prepared, queue=queue, delegation_id=delegation_id)]
    ce_jobs.extend(ids)
    assert len(ids) == len(texts)
    uploads = [Upload(job_id, job.uploads) for job_id, job in zip(ids, prepared, strict=True) if job.uploads]
    assert upload_inputs(rest, uploads, workers=4) == [[] for _ in uploads]
    return ids


def test_prepare_adds_outputs_and_uploads_as_arcsub_does(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "data.txt").write_text("data\n")
    job = jobdesc.parse_one(
        '&(executable="run.sh")(stdout="out")(stderr="err")(gmlog="log")'
        '(inputfiles=("data.txt" "")("remote" "https://host/remote"))(outputfiles=("result" ""))'
    )
    prepared = prepare_job(job, input_dir=tmp_path, queue="fork", delegation_id="d1")
    described = prepared.description
    assert [(e.name, e.source) for e in described.inputs] == [
        ("data.txt", "5"), ("remote", "https://host/remote"), ("run.sh", "18")]  # sizes, as arcsub writes them
    assert [(e.name, e.target) for e in described.outputs] == [
        ("result", ""), ("out", ""), ("err", ""), ("log/", "")]
    assert described.queue == "fork" and described.delegation_id == "d1"
    assert prepared.uploads == (("data.txt", tmp_path / "data.txt"), ("run.sh", tmp_path / "run.sh"))
    assert job.queue is None, "the caller's job is not modified"


def test_prepare_gives_adl_uploads_an_empty_source(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("data\n")
    job = jobdesc.parse_one(
        f'<ActivityDescription xmlns="{ADL_NS}"><Application><Executable><Path>/bin/true</Path></Executable>'
        "</Application><DataStaging><InputFile><Name>in.txt</Name></InputFile></DataStaging></ActivityDescription>")
    prepared = prepare_job(job, input_dir=tmp_path)
    assert [(e.name, e.source) for e in prepared.description.inputs] == [("in.txt", "")]
    assert prepared.uploads == (("in.txt", tmp_path / "in.txt"),)


def test_prepare_refuses_a_missing_local_input(tmp_path: Path) -> None:
    job = jobdesc.parse_one('&(executable="/bin/true")(inputfiles=("in.txt" "sub/in.txt"))')
    with pytest.raises(InputFileError, match=f"{tmp_path / 'sub' / 'in.txt'} does not exist"):
        prepare_job(job, input_dir=tmp_path)


def test_posted_jobs_align_with_their_descriptions_and_run_with_their_uploads(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    descriptions = []
    for n in range(10):
        (tmp_path / f"in{n}.txt").write_text(f"input {n}\n")
        descriptions.append(
            f'&(executable="/bin/sh")(arguments="-c" "cat in.txt")(stdout="stdout")'
            f'(inputfiles=("in.txt" "in{n}.txt"))(jobname="pipeline-{n}")'
        )

    ids = submit(arc_rest, descriptions, ce_jobs, tmp_path)
    assert _names(arc_rest, ids) == [f"pipeline-{n}" for n in range(10)]
    wait_for(arc_rest, ids, {"FINISHED"}, timeout=120)
    outcomes = fetch_jobs(arc_rest, [Fetch(i, tmp_path / "out" / i, diagnose=()) for i in ids])
    assert [(tmp_path / "out" / i / "stdout").read_text() for i in ids] == [f"input {n}\n" for n in range(10)]
    assert all(o.files == ["stdout"] for o in outcomes)


def _names(rest: ARCRest, ids: list[str], timeout: float = 30.0) -> list[str | None]:
    """The CE's names of ``ids``, in order. A-REX 7 answers a job's info
    from a record its main loop writes a moment after the job was accepted,
    so a job just created may still show no name: read again until every
    job has one or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        infos = {r.job_id: r.unwrap() for r in rest.get_jobs_info(ids)}
        names = [infos[i].name for i in ids]
        if None not in names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def test_delegation_is_created_renewed_read_and_deleted(each_ce, arc_rest: ARCRest, ce_delegations: list[str]) -> None:
    delegation_id = arc_rest.create_delegation(each_ce.proxy)
    ce_delegations.append(delegation_id)
    assert delegation_id in {d.id for d in arc_rest.list_delegations()}
    first = arc_rest.get_delegation(delegation_id)
    assert load_proxy(each_ce.proxy).certificate.subject.rfc4514_string() in _subjects(first)

    arc_rest.renew_delegation(delegation_id, each_ce.proxy)
    assert arc_rest.get_delegation(delegation_id) != first

    arc_rest.delete_delegation(delegation_id)
    ce_delegations.remove(delegation_id)
    assert delegation_id not in {d.id for d in arc_rest.list_delegations()}


def test_ce_stages_an_https_input_through_the_delegation(
    each_ce, arc_rest: ARCRest, ce_jobs: list[str], ce_delegations: list[str], tmp_path: Path
) -> None:
    source = f"{each_ce.rest_url}/info"  # served by the CE itself, over https, to the delegated proxy
    delegation_id = arc_rest.create_delegation(each_ce.proxy)
    ce_delegations.append(delegation_id)
    [job_id] = submit(
        arc_rest,
        [f'&(executable="/bin/sh")(arguments="-c" "wc -c < info.json > size")'
         f'(inputfiles=("info.json" "{source}"))(outputfiles=("info.json" "")("size" ""))(jobname="staged")'],
        ce_jobs, tmp_path, delegation_id=delegation_id,
    )
    assert arc_rest.get_jobs_delegations([job_id])[0].unwrap() == [delegation_id]
    assert arc_rest.get_jobs_info([job_id], with_delegations=True)[0].unwrap().delegation_ids == (delegation_id,)
    wait_for(arc_rest, [job_id], {"FINISHED"}, timeout=120)
    [outcome] = fetch_jobs(arc_rest, [Fetch(job_id, tmp_path / "out", diagnose=())])
    assert outcome.ok and sorted(outcome.files) == ["info.json", "size"]
    text = (tmp_path / "out" / "info.json").read_text()
    assert "ComputingService" in text or text.lstrip().startswith("<")
    assert int((tmp_path / "out" / "size").read_text()) == len(text.encode())


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


def test_a_cut_off_upload_keeps_the_job_waiting_until_the_whole_file_is_sent(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    """An upload can be cut off half way (the engine killed, the connection
    dropped). The prepared xRSL names each uploaded file's size, so the CE
    waits for the whole file, and the upload sent again completes the job;
    it never runs with the shorter file."""
    data = b"0123456789" * 1000
    (tmp_path / "in.txt").write_bytes(data)
    job = jobdesc.parse_one('&(executable="/bin/sh")(arguments="-c" "wc -c <in.txt")(stdout="stdout")'
                            '(inputfiles=("in.txt" ""))(jobname="cut-off-upload")')
    prepared = prepare_job(job, input_dir=tmp_path, into_description=arc_rest.version == "1.0")
    [created] = post_jobs(arc_rest, [prepared])
    job_id = created.unwrap().id
    ce_jobs.append(job_id)

    arc_rest.upload_file(job_id, "in.txt", data[:4000])
    waiting = {"ACCEPTING", "ACCEPTED", "PREPARING"}
    deadline = time.monotonic() + 15  # a whole upload leaves PREPARING within a few seconds
    while time.monotonic() < deadline:
        [state] = arc_rest.get_jobs_status([job_id])
        assert state.value in waiting, state
        time.sleep(0.5)

    arc_rest.upload_file(job_id, "in.txt", data)
    wait_for(arc_rest, [job_id], {"FINISHED"}, timeout=120)
    fetch_jobs(arc_rest, [Fetch(job_id, tmp_path / "out", diagnose=())])
    assert (tmp_path / "out" / "stdout").read_text().strip() == str(len(data))


# --------------------------------------------------------------------------- ADL

ADL_NS = "http://www.eu-emi.eu/es/2010/12/adl"


def adl_job(name: str, script: str, inputs: str = "", outputs: str = "") -> str:
    """An ADL job running ``run.sh`` (uploaded: it is not listed) with
    ``script`` as its argument, standard output in ``stdout``."""
    return (f'<ActivityDescription xmlns="{ADL_NS}"><ActivityIdentification><Name>{name}</Name>'
            "</ActivityIdentification><Application><Executable><Path>run.sh</Path>"
            f"<Argument>{script}</Argument></Executable><Output>stdout</Output></Application>"
            f"<DataStaging>{inputs}{outputs}</DataStaging></ActivityDescription>")


def recording_posts(arc_rest: ARCRest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents ``arc_rest`` POSTs to create jobs, from now on."""
    documents: list[str] = []
    create = arc_rest.create_jobs

    def recorded(document: str, **options: str | None) -> list:
        documents.append(document)
        return create(document, **options)

    monkeypatch.setattr(arc_rest, "create_jobs", recorded)
    return documents


def test_adl_jobs_go_to_the_ce_in_one_activitydescriptions_and_run_with_their_uploads(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "run.sh").write_text('#!/bin/sh\necho "$1: $(cat in.txt) $(cat common.txt)"\n')
    (tmp_path / "common.txt").write_text("common")
    descriptions = []
    for n in range(4):
        (tmp_path / f"in{n}.txt").write_text(f"input {n}")
        # in.txt names the local file it is uploaded from; common.txt, without a Source, is the file of its name
        descriptions.append(adl_job(f"adl-{n}", f"job {n}", f"<InputFile><Name>in.txt</Name><Source>"
                                    f"<URI>in{n}.txt</URI></Source></InputFile><InputFile><Name>common.txt</Name>"
                                    "</InputFile>"))
    posts = recording_posts(arc_rest, monkeypatch)
    ids = submit(arc_rest, descriptions, ce_jobs, tmp_path, queue="fork")
    [post] = posts
    assert post.startswith("<ActivityDescriptions><ActivityDescription ") and post.count("<ActivityDescription ") == 4
    # REST 1.0 has no queue parameter, so the queue goes into each description;
    # REST 1.1 takes it as a parameter of the POST and the descriptions stay as they were.
    assert post.count("<QueueName>fork</QueueName>") == (4 if arc_rest.version == "1.0" else 0)
    wait_for(arc_rest, ids, {"FINISHED"}, timeout=120)
    infos = {r.job_id: r.unwrap() for r in arc_rest.get_jobs_info(ids)}
    assert [infos[i].name for i in ids] == [f"adl-{n}" for n in range(4)]
    assert {infos[i].queue for i in ids} == {"fork"}
    outcomes = fetch_jobs(arc_rest, [Fetch(i, tmp_path / "out" / i, diagnose=()) for i in ids])
    assert all(o.files == ["stdout"] for o in outcomes), outcomes
    assert [(tmp_path / "out" / i / "stdout").read_text() for i in ids] == [
        f"job {n}: input {n} common\n" for n in range(4)]


def test_an_adl_job_stages_an_https_input_through_its_delegation(
    each_ce, arc_rest: ARCRest, ce_jobs: list[str], ce_delegations: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = f"{each_ce.rest_url}/info"
    description = (
        f'<ActivityDescription xmlns="{ADL_NS}"><ActivityIdentification><Name>staged</Name>'
        "</ActivityIdentification><Application><Executable><Path>/bin/sh</Path><Argument>-c</Argument>"
        "<Argument>wc -c &lt; info.json &gt; size</Argument></Executable></Application><DataStaging>"
        f"<InputFile><Name>info.json</Name><Source><URI>{source}</URI></Source></InputFile>"
        "<OutputFile><Name>info.json</Name></OutputFile><OutputFile><Name>size</Name></OutputFile>"
        "</DataStaging></ActivityDescription>")
    delegation_id = arc_rest.create_delegation(each_ce.proxy)
    ce_delegations.append(delegation_id)
    posts = recording_posts(arc_rest, monkeypatch)
    [job_id] = submit(arc_rest, [description], ce_jobs, tmp_path, delegation_id=delegation_id)
    # REST 1.0 takes the delegation only in the description; REST 1.1 as a
    # parameter of the POST, which leaves the description alone.
    [post] = posts
    assert (delegation_id in post) == (arc_rest.version == "1.0")
    assert arc_rest.get_jobs_delegations([job_id])[0].unwrap() == [delegation_id]
    wait_for(arc_rest, [job_id], {"FINISHED"}, timeout=120)
    [outcome] = fetch_jobs(arc_rest, [Fetch(job_id, tmp_path / "out", diagnose=())])
    assert outcome.ok and sorted(outcome.files) == ["info.json", "size"]
    assert int((tmp_path / "out" / "size").read_text()) == (tmp_path / "out" / "info.json").stat().st_size > 0


def test_a_fetch_removes_what_a_killed_fetch_of_the_same_job_left(
    arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    """A fetch killed before its clean-up (SIGKILL) leaves its hidden
    partial directory; the next fetch of the job starts over and removes it.
    Partial directories of other jobs are not touched."""
    from actframework.arc.downloads import fetch_outputs

    [job_id] = submit(arc_rest, ['&(executable="/bin/sh")(arguments="-c" "echo out > out.txt")'
                                 '(outputfiles=("out.txt" ""))(jobname="refetched")'], ce_jobs, tmp_path)
    wait_for(arc_rest, [job_id], {"FINISHED"}, timeout=120)
    results = tmp_path / "results"
    stale = results / f".{job_id}.partial-0badf00d"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "half.txt").write_text("half")
    other = results / ".otherjob.partial-0badf00d"
    other.mkdir()

    assert fetch_outputs(arc_rest, job_id, results / job_id, "/") == ["out.txt"]
    assert (results / job_id / "out.txt").read_text() == "out\n"
    assert sorted(path.name for path in results.iterdir()) == [".otherjob.partial-0badf00d", job_id]
