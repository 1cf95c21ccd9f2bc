"""ARCRest on answers recorded off the real A-REX (``tests/data/arex/``),
replayed by a scripted local server: REST 1.0's single objects, per-job
404/505, a full CE, a connection dropped in the middle of an upload, and
id lists larger than A-REX reads in one request."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from actframework.arc import ARCRest
from actframework.arc.rest import MAX_ID_BODY
from actframework.arc.transfer import Upload, upload_inputs
from actframework.errors import ARCHTTPError
from actframework.http import HTTPClient, RetryPolicy

from fixtures.scripted_http import ScriptedServer, answer, drop

DATA = Path(__file__).parent / "data" / "arex"
JOB = "J1xLDmMNypAoOSAtDmABFKDmABFKDmABFKDmIXIKDmABFKDmo0trwn"
FAST = RetryPolicy(attempts=3, backoff=0.01, max_sleep=0.02)


def recorded(name: str) -> bytes:
    return (DATA / name).read_bytes()


def client(server: ScriptedServer, version: str = "1.0") -> ARCRest:
    return ARCRest(HTTPClient(server.url.removesuffix("/base"), retry=FAST), version)


def replay(body: bytes, status: int = 201):
    return lambda handler, n: answer(handler, status, body)


def test_single_objects_of_rest_1_0_are_lists_here(scripted_server: ScriptedServer) -> None:
    rest = client(scripted_server)
    scripted_server.script = replay(recorded("create_single.json"))
    [created] = rest.create_jobs('&(executable="/bin/true")')
    assert created.unwrap().id == JOB and created.unwrap().state == "ACCEPTING"

    scripted_server.script = replay(recorded("info_single.json"))
    job = rest.get_jobs_info([JOB])[0].unwrap()
    assert (job.state, job.restart_state, job.exit_code) == ("FAILED", "OTHER", 3)
    assert job.errors == ("LRMS error: (3) Job finished with wrong exit code - 3 != 0",)
    assert job.execution_nodes == ("vm",) and job.display_state == "Failed"
    assert job.end_time == datetime(2026, 11, 24, 5, 36, tzinfo=timezone.utc)

    scripted_server.script = replay(recorded("listing_root.json"), 200)
    listing = rest.list_session(JOB)
    assert listing.files == ("stdout", "out.txt") and listing.dirs == ("d",)
    scripted_server.script = replay(recorded("listing_sub.json"), 200)
    assert rest.list_session(JOB, "d").dirs == ("e",)
    scripted_server.script = replay(b'{"file": "only", "dirs": ["x", "y"]}', 200)  # pyarcrest's key too
    assert rest.list_session(JOB).dirs == ("x", "y")

    scripted_server.script = replay(recorded("delegations_single.json"), 200)
    assert [d.id for d in rest.list_delegations()] == ["2251e12b5dab"]


def test_per_job_404_and_505_are_errors_in_place(scripted_server: ScriptedServer) -> None:
    rest = client(scripted_server)
    scripted_server.script = replay(recorded("status_with_404.json"))
    ok, missing = rest.get_jobs_status([JOB, "nonexist"])
    assert ok.unwrap() == "FAILED"
    assert isinstance(missing.error, ARCHTTPError) and missing.error.status == 404

    scripted_server.script = replay(recorded("restart_505.json"))
    [refused] = rest.restart_jobs([JOB])
    assert isinstance(refused.error, ARCHTTPError)
    assert (refused.error.status, refused.error.reason) == (505, "No more restarts allowed")

    scripted_server.script = replay(recorded("delegations_with_404.json"))
    none, unknown = rest.get_jobs_delegations([JOB, "nonexist"])
    assert none.unwrap() == [] and unknown.error.status == 404  # type: ignore[union-attr]


def test_a_full_ce_refuses_the_whole_submission(scripted_server: ScriptedServer) -> None:
    def full(handler: BaseHTTPRequestHandler, n: int) -> None:
        # A-REX puts the reason into the status line, with no body.
        handler.send_response(500, "No more jobs allowed")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    scripted_server.script = full
    with pytest.raises(ARCHTTPError) as info:
        client(scripted_server).create_jobs('&(executable="/bin/true")')
    assert (info.value.status, info.value.reason) == (500, "No more jobs allowed")
    assert len(scripted_server.seen) == 1, "job creation is never repeated"


def test_upload_dropped_midway_is_sent_again_from_the_start(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    def flaky(handler: BaseHTTPRequestHandler, n: int) -> None:
        drop(handler) if n == 1 else answer(handler, 200)

    scripted_server.script = flaky
    source = tmp_path / "in.dat"
    source.write_bytes(bytes(range(256)) * 4096)
    assert upload_inputs(client(scripted_server), [Upload(JOB, [("in.dat", source)])]) == [[]]
    assert [len(s.body) for s in scripted_server.seen] == [source.stat().st_size] * 2
    assert scripted_server.seen[1].body == source.read_bytes()


def test_upload_that_keeps_failing_is_reported_for_its_job_only(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    def broken_for_one(handler: BaseHTTPRequestHandler, n: int) -> None:
        drop(handler) if "/bad/" in handler.path else answer(handler, 200)

    scripted_server.script = broken_for_one
    source = tmp_path / "in.dat"
    source.write_bytes(b"x")
    errors = upload_inputs(client(scripted_server), [Upload("good", [("a", source)]), Upload("bad", [("a", source)])])
    assert errors[0] == [] and len(errors[1]) == 1 and "connection closed by the server" in errors[1][0]


def test_id_lists_are_split_under_the_body_limit_and_results_stay_aligned(scripted_server: ScriptedServer) -> None:
    def echo_status(handler: BaseHTTPRequestHandler, n: int) -> None:
        sent = json.loads(scripted_server.seen[-1].body)["job"]
        body = {"job": [{"status-code": "200", "reason": "OK", "id": j["id"], "state": "RUNNING"} for j in sent]}
        answer(handler, 201, json.dumps(body).encode())

    scripted_server.script = echo_status
    ids = [f"{n:054d}" for n in range(40_000)]
    results = client(scripted_server).get_jobs_status(ids)
    assert [r.job_id for r in results] == ids and all(r.value == "RUNNING" for r in results)
    assert len(scripted_server.seen) >= 3
    assert all(len(s.body) < MAX_ID_BODY for s in scripted_server.seen)


def test_a_job_the_ce_does_not_answer_for_is_an_error(scripted_server: ScriptedServer) -> None:
    scripted_server.script = replay(b'{"job": {"status-code": "200", "reason": "OK", "id": "a", "state": "RUNNING"}}')
    a, b = client(scripted_server).get_jobs_status(["a", "b"])
    assert a.ok and not b.ok and "no result for this job" in str(b.error)


def test_rest_1_1_sends_queue_and_delegation_as_parameters(scripted_server: ScriptedServer) -> None:
    scripted_server.script = replay(b'{"version": ["1.0", "1.1"]}', 200)
    assert ARCRest.api_versions(HTTPClient(scripted_server.url.removesuffix("/base"))) == ["1.0", "1.1"]
    scripted_server.script = replay(recorded("create_single.json"))
    client(scripted_server, "1.1").create_jobs('&(executable="/bin/true")', queue="long", delegation_id="d7")
    assert scripted_server.seen[-1].path == "/arex/rest/1.1/jobs?action=new&queue=long&delegation_id=d7"
