"""The engine against the real A-REX behind a relay that breaks some answers.

The CE really acts on each request; only what comes back is garbled, as a
misbehaving proxy in front of a CE would garble it. The promises hold: no
job is lost, none runs twice (exactly one CE job per client job, found by
its submission token), and jobs whose answers cannot be read wait while the
others go on.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from actframework.arc import ARCRest
from actframework.arc.jobs import as_list
from actframework.x509 import load_proxy

from fixtures.breaking_relay import NO_ANSWER, Answer, BreakingRelay, Exchange
from fixtures.stack import StackFactory
from test_engine_e2e import SLEEP_JOB
from test_engine_faults import assert_all_done_once, inputs, marked_job

pytestmark = [pytest.mark.integration, pytest.mark.arex]

HTML = b"<html><head><title>Proxy Error</title></head><body><h1>Proxy Error</h1></body></html>"
#: Short enough that reconciliation (which waits out a submission's longest
#: possible duration) starts within seconds; status checks in chunks of two
#: jobs, so that a garbled info answer meets a cycle of several calls.
SETTINGS = {"ce_timeout": 5, "submit_batch": 3, "status_chunk": 2}


def is_jobs_post(exchange: Exchange, action: str) -> bool:
    """A bulk ``POST /jobs?action=<action>`` the CE accepted (201)."""
    return (exchange.method == "POST" and exchange.path.endswith("/jobs") and exchange.action == action
            and exchange.status == 201)


def ids_in(body: bytes) -> set[str]:
    """The job ids of a ``{"job": ...}`` request or answer."""
    return {job["id"] for job in as_list(json.loads(body).get("job")) if job.get("id")}


def without_info_documents(body: bytes, ids: set[str]) -> bytes:
    """An info answer with the info documents of ``ids`` replaced by a string."""
    document = json.loads(body)
    for job in as_list(document.get("job")):
        if job.get("id") in ids:
            job["info_document"] = "garbage"
    return json.dumps(document).encode()


def garble_created(exchange: Exchange, count: int) -> Answer | None:
    """The ``count``-th bulk POST's answer (from 1), after A-REX created the
    jobs: an HTML page with the CE's 201, JSON cut short, a gateway's 502
    page, one created job's id nulled; later ones pass."""
    if count == 1:
        return Answer(201, HTML, "text/html")
    if count == 2:
        return Answer(201, exchange.body[: len(exchange.body) // 2])
    if count == 3:
        return Answer(502, HTML, "text/html")
    if count == 4:
        document = json.loads(exchange.body)
        as_list(document.get("job"))[0]["id"] = None
        return Answer(201, json.dumps(document).encode())
    return None


def test_bulk_submissions_whose_answers_are_garbled_after_the_ce_created_the_jobs_run_each_job_once(
    make_stack: StackFactory, arc_rest: ARCRest, breaking_relay: BreakingRelay
) -> None:
    posts = listings = infos = 0
    unseen: set[str] = set()  # CE jobs the engine was not told of

    def rewrite(exchange: Exchange) -> Answer | None:
        nonlocal posts, listings, infos
        with breaking_relay.lock:
            if exchange.method == "GET" and exchange.path.endswith("/jobs") and listings < 2:
                listings += 1  # reconciliation looks for the tokens in a job list ...
                return Answer(200, b'{"job": ["x"]}')
            if is_jobs_post(exchange, "info") and infos < 2 and unseen & ids_in(exchange.request_body):
                infos += 1  # ... and the names in the jobs' information
                if infos == 2:
                    return Answer(201, HTML, "text/html")
                return Answer(201, without_info_documents(exchange.body, unseen))
            if not is_jobs_post(exchange, "new"):
                return None
            posts += 1
            count = posts
        if count <= 3:  # answers without a single readable id
            with breaking_relay.lock:
                unseen.update(ids_in(exchange.body))
        return garble_created(exchange, count)

    breaking_relay.rewrite = rewrite
    stack = make_stack("sqlite", cluster=breaking_relay.cluster(), engine_settings=SETTINGS)
    marker = f"garbled-new-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 12, inputs)
    assert_all_done_once(stack, arc_rest, ids, marker)
    assert posts >= 4, f"only {posts} bulk submission(s) met the relay"
    log = stack.log("engine")
    assert "bulk submission got no usable answer" in log and "cannot be read" in log
    assert (listings, infos) == (2, 2)
    assert "reconciliation failed: list jobs" in log and "cannot tell whether" in log
    stack.clean(ids)


def test_jobs_whose_information_is_garbled_wait_while_the_others_finish(
    make_stack: StackFactory, arc_rest: ARCRest, breaking_relay: BreakingRelay
) -> None:
    marker = f"garbled-info-{uuid.uuid4().hex[:8]}"
    hidden = f"{marker}-hidden"
    garbling = threading.Event()
    garbling.set()
    whole_answers_broken = 0
    hidden_answers = 0

    def rewrite(exchange: Exchange) -> Answer | None:
        nonlocal whole_answers_broken, hidden_answers
        if not garbling.is_set() or not is_jobs_post(exchange, "info"):
            return None
        with breaking_relay.lock:
            whole_answers_broken += 1
            if whole_answers_broken <= 2:  # a few whole answers first
                return Answer(201, HTML, "text/html")
        document = json.loads(exchange.body)
        for job in as_list(document.get("job")):
            activity = (job.get("info_document") or {}).get("ComputingActivity") or {}
            if str(activity.get("Name", "")).startswith(hidden):
                job["info_document"] = ["not", "an", "info", "document"]
                hidden_answers += 1
        return Answer(201, json.dumps(document).encode())

    breaking_relay.rewrite = rewrite
    stack = make_stack("sqlite", cluster=breaking_relay.cluster(), engine_settings=SETTINGS)
    ids = stack.submit([marked_job(hidden)] * 3 + [marked_job(marker)] * 5, inputs)
    waiting, others = ids[:3], ids[3:]
    stack.wait_for(others, {"done"}, timeout=300)
    states = stack.states(waiting)
    assert all(state in {"submitted", "submitting"} for state in states.values()), states
    assert hidden_answers > 0
    garbling.clear()
    assert_all_done_once(stack, arc_rest, ids, marker)
    stack.clean(ids)


def test_a_kill_whose_answer_cannot_be_read_is_sent_again_not_taken_as_refused(
    make_stack: StackFactory, arc_rest: ARCRest, breaking_relay: BreakingRelay
) -> None:
    kills = 0

    def rewrite(exchange: Exchange) -> Answer | None:
        nonlocal kills
        if not is_jobs_post(exchange, "kill"):
            return None
        with breaking_relay.lock:
            kills += 1
            if kills > 1:
                return None
        document = json.loads(exchange.body)
        for job in as_list(document.get("job")):
            job.pop("status-code", None)
        return Answer(201, json.dumps(document).encode())

    breaking_relay.rewrite = rewrite
    stack = make_stack("sqlite", cluster=breaking_relay.cluster(), engine_settings=SETTINGS)
    ids = stack.submit([SLEEP_JOB] * 2)
    stack.wait_for(ids, {"running"})
    stack.action("cancel", ids)
    stack.wait_for(ids, {"cancelled"}, timeout=120)
    assert kills >= 2, "the kill whose answer was unreadable was not sent again"
    jobs = stack.jobs(ids)
    states = {r.job_id: r.value.state for r in arc_rest.get_jobs_info(
        [jobs[i]["a_IDFromEndpoint"] for i in ids]) if r.ok and r.value}
    assert set(states.values()) <= {"KILLED", "KILLING", "FAILED"}
    stack.clean(ids)


def test_an_owner_whose_answers_cannot_be_read_waits_while_other_owners_go_on(
    make_stack: StackFactory, arc_ce: Any, arc_rest: ARCRest, breaking_relay: BreakingRelay
) -> None:
    garbling = threading.Event()
    garbling.set()
    broken = 0

    def rewrite(exchange: Exchange) -> Answer | None:
        nonlocal broken
        second = (exchange.client_dn or "").startswith(arc_ce.user2_dn + "/")
        if not (garbling.is_set() and second and is_jobs_post(exchange, "info")):
            return None
        with breaking_relay.lock:
            broken += 1
        return Answer(201, HTML, "text/html")

    breaking_relay.rewrite = rewrite
    stack = make_stack("sqlite", cluster=breaking_relay.cluster(), engine_settings=SETTINGS)
    other = stack.as_user(load_proxy(arc_ce.proxy2))
    marker = f"garbled-owner-{uuid.uuid4().hex[:8]}"
    waiting = other.submit([marked_job(marker)] * 3, inputs)
    going_on = stack.submit([marked_job(marker)] * 3, inputs)
    assert_all_done_once(stack, arc_rest, going_on, marker)
    states = other.states(waiting)
    assert broken > 0 and all(state == "submitted" for state in states.values()), (broken, states)
    garbling.clear()
    with ARCRest.connect(arc_ce.url, proxy=arc_ce.proxy2, ca_dir=arc_ce.ca_dir) as rest2:
        assert_all_done_once(other, rest2, waiting, marker)
    stack.clean(going_on)
    other.clean(waiting)


def test_input_uploads_cut_off_without_an_answer_are_sent_again_and_every_job_runs_with_its_whole_input(
    make_stack: StackFactory, arc_rest: ARCRest, breaking_relay: BreakingRelay
) -> None:
    """The CE gets half of each input file and the engine no answer at all,
    for more tries than the engine's HTTP retries make: the jobs wait,
    ``submitting`` with their CE ids (the CE waits for the rest of each file,
    whose size the description names), the reconciliation sends the inputs
    again once the relay lets them through, and every job's output is its
    whole input."""
    broken: dict[str, int] = {}  # session path → uploads cut off so far
    cut_per_file = 5  # the engine's RetryPolicy tries 4 times

    def is_upload(method: str, path: str) -> bool:
        return method == "PUT" and "/session/" in path

    def cut_request(method: str, path: str, body: bytes) -> bytes | None:
        if not is_upload(method, path):
            return None
        with breaking_relay.lock:
            if broken.get(path, 0) >= cut_per_file:
                return None
        return body[: len(body) // 2]

    def rewrite(exchange: Exchange) -> Answer | None:
        if not is_upload(exchange.method, exchange.path):
            return None
        with breaking_relay.lock:
            if broken.get(exchange.path, 0) >= cut_per_file:
                return None
            broken[exchange.path] = broken.get(exchange.path, 0) + 1
        return NO_ANSWER

    breaking_relay.cut_request = cut_request
    breaking_relay.rewrite = rewrite
    stack = make_stack("sqlite", cluster=breaking_relay.cluster(), engine_settings=SETTINGS)
    marker = f"cut-upload-{uuid.uuid4().hex[:8]}"
    ids = stack.submit([marked_job(marker)] * 6, inputs)
    assert_all_done_once(stack, arc_rest, ids, marker)
    assert len(broken) == len(ids) and set(broken.values()) == {cut_per_file}, broken
    log = stack.log("engine")
    assert "the CE gave no answer while their inputs went up" in log
