"""A job its CE stops listing (while still answering for it) is cancelled
after ``timeouts.missing``, with a reason; the others go on. Against the
real A-REX behind a relay that leaves the job out of ``GET /jobs``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fixtures.breaking_relay import Answer, BreakingRelay, Exchange
from fixtures.stack import RESTING, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]


def test_a_job_missing_from_the_ce_list_for_the_timeout_is_cancelled_and_the_others_finish(
    make_stack: StackFactory, arc_ce, breaking_relay: BreakingRelay
) -> None:
    relay_ce = replace(arc_ce, port=breaking_relay.port)  # the engine reaches the CE through the relay
    stack = make_stack("sqlite", ce=relay_ce, engine_settings={"timeouts": {"missing": 4}})
    hidden, kept = stack.submit([
        '&(executable="/bin/sleep")(arguments="40")(jobname="hidden")',
        '&(executable="/bin/sh")(arguments="-c" "sleep 8; echo kept > out.txt")'
        '(outputfiles=("out.txt" ""))(jobname="kept")',
    ])
    stack.wait_for([hidden, kept], {"submitted", "running"}, timeout=120)
    hidden_ce_id = stack.jobs([hidden])[hidden]["a_IDFromEndpoint"]

    def leave_out_hidden(exchange: Exchange) -> Answer | None:
        if exchange.method != "GET" or not exchange.path.endswith("/jobs") or exchange.status != 200:
            return None
        listing = json.loads(exchange.body)
        jobs = listing.get("job") or []
        jobs = [jobs] if isinstance(jobs, dict) else jobs
        listing["job"] = [job for job in jobs if job.get("id") != hidden_ce_id]
        return Answer(200, json.dumps(listing).encode())

    breaking_relay.rewrite = leave_out_hidden
    final = stack.wait_for([hidden, kept], RESTING, timeout=180)
    assert final == {hidden: "cancelled", kept: "done"}, stack.logs()
    assert stack.jobs([hidden])[hidden]["a_Error"] == "missing from the CE's job list for 4 s; cancelled"
    stack.clean([hidden, kept])
