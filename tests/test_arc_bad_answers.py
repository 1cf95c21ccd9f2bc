"""ARCRest on answers that are not what the CE should send, from a scripted
local server: bodies that are not JSON (a proxy's HTML page), JSON cut
short, the wrong shapes, ``null`` where a state belongs. Each is one
:class:`ARCResponseError` (for the whole request, or for one job of a bulk
answer while the others keep their results), never ``JSONDecodeError``,
``AttributeError`` or a state ``"None"``."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from actframework.arc import ARCJob, ARCRest
from actframework.errors import ARCAuthError, ARCHTTPError, ARCResponseError, TransportError
from actframework.http import HTTPClient, RetryPolicy

from fixtures.scripted_http import ScriptedServer, answer

FAST = RetryPolicy(attempts=2, backoff=0.01, max_sleep=0.02)
HTML = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
        + b"<p>The proxy server received an invalid response from an upstream server.</p>" * 50
        + b"</body></html>")
RUNNING = {"status-code": "200", "reason": "OK", "id": "a", "state": "RUNNING"}
ACTIVITY = {"ComputingActivity": {"State": ["nordugrid:INLRMS:R", "arcrest:RUNNING"], "Name": "good"}}


@pytest.fixture
def rest(scripted_server: ScriptedServer) -> ARCRest:
    return ARCRest(HTTPClient(scripted_server.url.removesuffix("/base"), retry=FAST), "1.0")


def replay(server: ScriptedServer, body: bytes | object, status: int = 201, ctype: str = "application/json") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    server.script = lambda handler, n: answer(handler, status, data, ctype)


def one_line_and_short(error: Exception) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 300, message
    return message


def test_a_body_that_is_not_json_is_a_response_error(scripted_server: ScriptedServer, rest: ARCRest) -> None:
    replay(scripted_server, b"all good, trust me", 200, "text/plain")
    with pytest.raises(ARCResponseError, match=r"^info: the CE's answer is not JSON \(text/plain\)"):
        rest.get_ce_info()


@pytest.mark.parametrize("call", ["info", "status", "create", "list", "session", "delegations", "versions"])
def test_an_html_page_from_a_proxy_with_status_200_is_a_short_response_error(
    scripted_server: ScriptedServer, rest: ARCRest, call: str
) -> None:
    replay(scripted_server, HTML, 201 if call in {"status", "create"} else 200, "text/html; charset=utf-8")
    calls = {
        "info": rest.get_ce_info,
        "status": lambda: rest.get_jobs_status(["a"]),
        "create": lambda: rest.create_jobs('&(executable="/bin/true")'),
        "list": rest.get_jobs_list,
        "session": lambda: rest.list_session("a"),
        "delegations": rest.list_delegations,
        "versions": lambda: ARCRest.api_versions(rest.http),
    }
    with pytest.raises(ARCResponseError) as caught:
        calls[call]()
    message = one_line_and_short(caught.value)
    assert "not JSON (text/html, from a proxy?)" in message and "502 Bad Gateway" in message


def test_a_page_with_an_unexpected_success_status_is_a_response_error(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, HTML, 200, "text/html")
    with pytest.raises(ARCResponseError) as caught:
        rest.create_jobs('&(executable="/bin/true")')
    assert one_line_and_short(caught.value).startswith("create jobs: the CE answered 200 where 201 was expected")


def test_an_html_error_page_with_status_502_is_the_status_not_the_page(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, HTML, 502, "text/html")
    with pytest.raises(ARCHTTPError) as caught:
        rest.create_jobs('&(executable="/bin/true")')
    assert caught.value.status == 502 and "<" not in one_line_and_short(caught.value)
    with pytest.raises(ARCHTTPError, match="502"):
        rest.get_jobs_status(["a"])
    assert len(scripted_server.seen) == 1 + FAST.attempts  # the status request was retried, the POST not


def test_json_cut_short_is_a_response_error(scripted_server: ScriptedServer, rest: ARCRest) -> None:
    body = json.dumps({"job": [RUNNING, {**RUNNING, "id": "b"}]}).encode()
    replay(scripted_server, body[: len(body) // 2])
    with pytest.raises(ARCResponseError, match="^status: the CE's answer is JSON that is cut short"):
        rest.get_jobs_status(["a", "b"])


def test_a_body_shorter_than_its_length_is_a_transport_error(scripted_server: ScriptedServer, rest: ARCRest) -> None:
    def short(handler: BaseHTTPRequestHandler, n: int) -> None:
        handler.send_response(201)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"job": [{"status-code": "201", "id": "a"')
        handler.close_connection = True

    scripted_server.script = short
    with pytest.raises(TransportError):
        rest.create_jobs('&(executable="/bin/true")')


@pytest.mark.parametrize("body", [[RUNNING], "RUNNING", 42, None])
def test_an_answer_that_is_not_an_object_is_a_response_error(
    scripted_server: ScriptedServer, rest: ARCRest, body: object
) -> None:
    replay(scripted_server, json.dumps(body).encode())
    with pytest.raises(ARCResponseError, match=r"^status: the CE's answer is (a list|a string|a number|null), not an object"):
        rest.get_jobs_status(["a"])


def test_a_job_element_that_is_a_string_is_an_error_of_the_jobs_left_without_a_result(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, {"job": ["x"]})
    [result] = rest.get_jobs_status(["a"])
    assert isinstance(result.error, ARCResponseError)
    assert "1 element(s) of the CE's answer name no job" in str(result.error)

    replay(scripted_server, {"job": [RUNNING, "x", {"status-code": "200", "state": "RUNNING"}]})
    a, b = rest.get_jobs_status(["a", "b"])
    assert a.value == "RUNNING" and isinstance(b.error, ARCResponseError)
    assert "2 element(s)" in str(b.error)


@pytest.mark.parametrize("state", [None, 7, ["RUNNING"], ""])
def test_a_null_or_non_string_state_is_an_error_of_that_job_never_the_state_none(
    scripted_server: ScriptedServer, rest: ARCRest, state: object
) -> None:
    replay(scripted_server, {"job": [RUNNING, {**RUNNING, "id": "b", "state": state}]})
    a, b = rest.get_jobs_status(["a", "b"])
    assert a.value == "RUNNING"
    assert isinstance(b.error, ARCResponseError) and b.value is None
    assert one_line_and_short(b.error).startswith("status b: 'state' is ")


def test_a_job_element_without_a_status_code_is_an_error_of_that_job(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, {"job": [RUNNING, {"id": "b", "state": "RUNNING", "status-code": None}]})
    a, b = rest.get_jobs_status(["a", "b"])
    assert a.ok and isinstance(b.error, ARCResponseError) and "no status code" in str(b.error)


@pytest.mark.parametrize("document", [
    None, "FINISHED", ["x"], {}, {"ComputingActivity": "FINISHED"}, {"ComputingActivity": ["x"]},
    {"ComputingActivity": None},
])
def test_an_info_document_of_the_wrong_shape_is_an_error_of_that_job(
    scripted_server: ScriptedServer, rest: ARCRest, document: object
) -> None:
    good = {"status-code": "200", "reason": "OK", "id": "a", "info_document": ACTIVITY}
    replay(scripted_server, {"job": [good, {**good, "id": "b", "info_document": document}]})
    a, b = rest.get_jobs_info(["a", "b"])
    assert a.unwrap().state == "RUNNING" and a.unwrap().name == "good"
    assert isinstance(b.error, ARCResponseError) and one_line_and_short(b.error).startswith("info b: ")
    with pytest.raises(ARCResponseError):
        ARCJob.from_info("b", document)


def test_single_fields_of_the_wrong_kind_in_an_info_document_read_as_absent() -> None:
    job = ARCJob.from_info("a", {"ComputingActivity": {
        "State": ["arcrest:FINISHED", {"odd": 1}], "Name": {"x": 1}, "Queue": ["a", "b"], "Error": [None, "bad", 3],
        "ExecutionNode": {"n": 1}, "ExitCode": [], "StdOut": 5,
    }})
    assert job.state == "FINISHED" and job.name is None and job.queue is None
    assert job.errors == ("bad", "3") and job.execution_nodes == () and job.exit_code is None
    assert job.stdout == "5"


def test_good_and_bad_elements_mixed_give_per_job_errors_and_keep_the_good_results(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    def item(job_id: str, **fields: object) -> dict[str, object]:
        return {"status-code": "200", "reason": "OK", "id": job_id, "info_document": ACTIVITY, **fields}

    replay(scripted_server, {"job": [
        item("a"), item("b", info_document=[]), 17, item("c"), item("d", **{"status-code": "404", "reason": None}),
        item("e", **{"status-code": "two hundred"}),
    ]})
    a, b, c, d, e, f = rest.get_jobs_info(["a", "b", "c", "d", "e", "f"])
    assert a.unwrap().state == c.unwrap().state == "RUNNING"
    assert isinstance(b.error, ARCResponseError) and "info b" in str(b.error)
    assert isinstance(d.error, ARCHTTPError) and d.error.status == 404 and "None" not in str(d.error)
    assert isinstance(e.error, ARCResponseError) and "no status code" in str(e.error)
    assert isinstance(f.error, ARCResponseError) and "name no job, e.g. 17" in str(f.error)


def test_created_jobs_with_unreadable_elements_say_they_may_exist(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, {"job": [
        {"status-code": "201", "reason": "Created", "id": "a", "state": None},
        {"status-code": "201", "reason": "Created"},
        "x",
        {"status-code": "500", "reason": "Bad description"},
    ]})
    a, no_id, garbage, refused = rest.create_jobs("+(&(executable=/bin/true))" * 4)
    assert a.unwrap().id == "a" and a.unwrap().state == ""
    assert isinstance(no_id.error, ARCResponseError) and "created a job but its id is missing" in str(no_id.error)
    assert isinstance(garbage.error, ARCResponseError)
    assert isinstance(refused.error, ARCHTTPError) and refused.error.status == 500


@pytest.mark.parametrize("listing", [
    {"job": ["x"]}, {"job": [{"id": "a"}, {"state": "RUNNING"}]}, {"job": {"id": None}},
    {"job": [{"id": "a", "state": 5}]},
])
def test_a_job_listing_with_any_unusable_element_is_unusable_as_a_whole(
    scripted_server: ScriptedServer, rest: ARCRest, listing: object
) -> None:
    replay(scripted_server, listing, 200)
    with pytest.raises(ARCResponseError, match="^list jobs"):
        rest.get_jobs_list()


def test_a_listed_job_with_a_null_state_has_no_state(scripted_server: ScriptedServer, rest: ARCRest) -> None:
    replay(scripted_server, {"job": [{"id": "a", "state": None}, {"id": "b", "state": "RUNNING"}]}, 200)
    assert [(j.id, j.state) for j in rest.get_jobs_list()] == [("a", None), ("b", "RUNNING")]


@pytest.mark.parametrize("body", [{"delegation": ["x"]}, {"delegation": [{"type": "x509"}]}])
def test_a_delegation_listing_of_the_wrong_shape_is_a_response_error(
    scripted_server: ScriptedServer, rest: ARCRest, body: object
) -> None:
    replay(scripted_server, body, 200)
    with pytest.raises(ARCResponseError, match="^list delegations"):
        rest.list_delegations()


def test_a_session_listing_of_the_wrong_shape_is_a_response_error(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, {"file": [{"name": "x"}]}, 200)
    with pytest.raises(ARCResponseError, match="^list a/: an entry is an object"):
        rest.list_session("a")


def test_delegation_ids_that_are_not_strings_are_an_error_of_that_job(
    scripted_server: ScriptedServer, rest: ARCRest
) -> None:
    replay(scripted_server, {"job": [
        {"status-code": "200", "id": "a", "delegation_id": ["d1"]},
        {"status-code": "200", "id": "b", "delegation_id": [{"id": "d2"}]},
    ]})
    a, b = rest.get_jobs_delegations(["a", "b"])
    assert a.value == ["d1"] and isinstance(b.error, ARCResponseError)


@pytest.mark.parametrize(("status", "reason", "refusal"), [
    (403, "User can't be assigned configuration", True),  # A-REX 6
    (500, "User can't be assigned configuration", True),  # A-REX 7: a refusal, not a failure
    (500, "Internal error", False),
])
def test_a_refusal_of_our_credentials_is_an_auth_error_whatever_its_status(
    scripted_server: ScriptedServer, rest: ARCRest, status: int, reason: str, refusal: bool
) -> None:
    def refuse(handler: BaseHTTPRequestHandler, n: int) -> None:
        handler.send_response(status, reason)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    scripted_server.script = refuse
    with pytest.raises(ARCHTTPError) as raised:
        rest.get_jobs_list()
    assert isinstance(raised.value, ARCAuthError) == refusal
    assert raised.value.status == status and reason in str(raised.value)
