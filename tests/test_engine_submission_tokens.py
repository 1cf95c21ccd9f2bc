"""The submission token the engine puts in each job's name on the CE, and how
reconciliation recognises it (tests/test_engine_faults.py has it at work), and
which failed submissions are left to reconciliation."""

from __future__ import annotations

from actframework.engine.submitter import may_have_created, name_has_token, token_name
from actframework.errors import ARCHTTPError, ARCResponseError, ARCVersionError, TransportError


def test_submission_token_is_in_the_name_and_found_only_for_its_job() -> None:
    name = token_name("my job", "ab12", 7)
    assert name == "my job actf:ab12:7"
    assert token_name(None, "ab12", 7) == "actf:ab12:7"
    assert name_has_token(name, "ab12", 7)
    assert not name_has_token(name, "ab12", 70)
    assert not name_has_token(name, "ab1", 7)
    assert not name_has_token(name, None, 7)
    assert not name_has_token(None, "ab12", 7)


def test_a_bulk_post_without_a_readable_answer_may_have_created_jobs_but_a_refused_one_did_not() -> None:
    assert may_have_created(TransportError("POST https://ce/jobs: connection closed by the server"))
    assert may_have_created(ARCResponseError("create jobs: the CE's answer is not JSON (text/html, from a proxy?)"))
    assert may_have_created(ARCHTTPError(502, "Bad Gateway"))
    assert may_have_created(ARCHTTPError(504, "Gateway Timeout"))
    assert not may_have_created(ARCHTTPError(500, "Internal Server Error"))
    assert not may_have_created(ARCHTTPError(403, "Forbidden"))
    assert not may_have_created(ARCVersionError("REST 1.0 takes queue and delegation in the description"))
