"""What A-REX 7.0 answers on REST 1.1 and 6.17 on REST 1.0, seen raw on the
wire, and that ARCRest reads both alike.

Each test runs against both CEs; where they differ, the test says how.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actframework.arc import ARCRest
from actframework.errors import ARCAuthError

from fixtures.arex import ArcCE, arc_session

pytestmark = [pytest.mark.integration, pytest.mark.arex]

NO_SUCH_STATE = "NO-SUCH-STATE"


@pytest.fixture(scope="module")
def arc_rest(each_arc_rest: ARCRest) -> ARCRest:
    return each_arc_rest


def _one_job(ce: ArcCE, ce_jobs: list[str], name: str) -> tuple[dict, str]:
    """Create a job that waits for two uploads, one of which never comes (a
    job in PREPARING is killed in seconds); the raw answer and the job's id."""
    with arc_session(ce) as session:
        answer = session.post(f"{ce.rest_url}/jobs", params={"action": "new"},
                              data=f'&(executable="/bin/true")(inputfiles=("in.txt" "")("never" ""))(jobname="{name}")')
    assert answer.status_code == 201, answer.text
    body = answer.json()
    job = body["job"][0] if isinstance(body["job"], list) else body["job"]
    ce_jobs.append(job["id"])
    return body, job["id"]


def test_one_job_is_a_one_element_array_on_1_1_and_a_bare_object_on_1_0(
    each_ce: ArcCE, arc_rest: ARCRest, ce_jobs: list[str]
) -> None:
    created, job_id = _one_job(each_ce, ce_jobs, "one-of-one")
    with arc_session(each_ce) as session:
        status = session.post(f"{each_ce.rest_url}/jobs", params={"action": "status"},
                              json={"job": [{"id": job_id}]}).json()
    if each_ce.release == "6.17":
        assert isinstance(created["job"], dict) and isinstance(status["job"], dict)
    else:
        assert isinstance(created["job"], list) and isinstance(status["job"], list)
        assert [item["id"] for item in status["job"]] == [job_id]
    [result] = arc_rest.get_jobs_status([job_id])
    assert result.ok and result.value in {"ACCEPTING", "ACCEPTED", "PREPARING"}


def test_an_empty_job_list_is_an_empty_array_on_1_1_and_an_empty_body_on_1_0(
    each_ce: ArcCE, arc_rest: ARCRest
) -> None:
    with arc_session(each_ce) as session:
        answer = session.get(f"{each_ce.rest_url}/jobs", params={"state": NO_SUCH_STATE})
    assert answer.status_code == 200
    if each_ce.release == "6.17":
        assert answer.text == ""
    else:
        assert answer.json() == {"job": []}
    assert arc_rest.get_jobs_list([NO_SUCH_STATE]) == []


def test_a_session_listing_is_arrays_on_1_1_and_a_bare_string_on_1_0(
    each_ce: ArcCE, arc_rest: ARCRest, ce_jobs: list[str]
) -> None:
    _, job_id = _one_job(each_ce, ce_jobs, "listed")
    arc_rest.upload_file(job_id, "in.txt", b"one file\n")
    with arc_session(each_ce) as session:
        listing = session.get(f"{each_ce.rest_url}/jobs/{job_id}/session").json()
    if each_ce.release == "6.17":
        assert listing == {"file": "in.txt"}
    else:
        assert listing == {"file": ["in.txt"], "dir": []}
    read = arc_rest.list_session(job_id)
    assert read.files == ("in.txt",) and read.dirs == ()


def test_job_ids_are_12_hex_characters_on_7_0(each_ce: ArcCE, ce_jobs: list[str]) -> None:
    _, job_id = _one_job(each_ce, ce_jobs, "id-shape")
    if each_ce.release == "6.17":
        # 6.17 makes long ids of letters and digits.
        assert re.fullmatch(r"[A-Za-z0-9]{40,}", job_id), job_id
    else:
        assert re.fullmatch(r"[0-9a-f]{12}", job_id), job_id


def test_info_needs_no_credentials_on_7_0_and_a_certificate_on_6_17(each_ce: ArcCE) -> None:
    with arc_session(each_ce, anonymous=True) as session:
        answer = session.get(f"{each_ce.rest_url}/info")
    if each_ce.release == "6.17":
        assert answer.status_code == 403
        return
    assert answer.status_code == 200 and "ComputingService" in answer.text
    with ARCRest.connect(each_ce.url, ca_dir=each_ce.ca_dir) as anonymous:
        assert "ComputingService" in str(anonymous.get_ce_info()["Domains"])
        with pytest.raises(ARCAuthError) as refused:
            anonymous.get_jobs_list()
    # Jobs still need credentials: 7.0 refuses with 500 where 6.17 says 403.
    assert refused.value.status == 500 and "User can't be assigned configuration" in str(refused.value)


def test_the_delegation_location_header_is_well_formed_on_7_0(
    each_ce: ArcCE, arc_rest: ARCRest, ce_delegations: list[str]
) -> None:
    with arc_session(each_ce) as session:
        answer = session.post(f"{each_ce.rest_url}/delegations", params={"action": "new"})
    assert answer.status_code == 201
    location = answer.headers["Location"]
    delegation_id = location.rsplit("/", 1)[-1]
    ce_delegations.append(delegation_id)
    api = "/arex/rest/" + each_ce.rest_url.rsplit("/", 1)[-1]
    if each_ce.release == "6.17":
        # 6.17 appends the id to the request's path and query.
        assert location == f"{api}/delegations?action=new/{delegation_id}"
    else:
        assert location == f"{api}/delegations/{delegation_id}"
    made, csr = arc_rest.new_delegation()
    ce_delegations.append(made)
    assert re.fullmatch(r"[0-9a-f]{12}", made) and csr.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    listed = {d.id: d.type for d in arc_rest.list_delegations()}
    assert {delegation_id, made} <= set(listed)
    # REST 1.1 says what a delegation holds; 1.0 does not.
    assert listed[made] == (None if arc_rest.version == "1.0" else "x509")


def test_a_downloaded_session_file_is_the_uploaded_one(
    each_ce: ArcCE, arc_rest: ARCRest, ce_jobs: list[str], tmp_path: Path
) -> None:
    _, job_id = _one_job(each_ce, ce_jobs, "roundtrip")
    arc_rest.upload_file(job_id, "in.txt", b"\x00binary\xffdata\n")
    assert arc_rest.download_file(job_id, "in.txt", tmp_path / "back") == 13
    assert (tmp_path / "back").read_bytes() == b"\x00binary\xffdata\n"
