"""The submission token the engine puts in each job's name on the CE, and how
reconciliation recognises it (tests/test_engine_faults.py has it at work)."""

from __future__ import annotations

from actframework.engine.submitter import name_has_token, token_name


def test_submission_token_is_in_the_name_and_found_only_for_its_job() -> None:
    name = token_name("my job", "ab12", 7)
    assert name == "my job actf:ab12:7"
    assert token_name(None, "ab12", 7) == "actf:ab12:7"
    assert name_has_token(name, "ab12", 7)
    assert not name_has_token(name, "ab12", 70)
    assert not name_has_token(name, "ab1", 7)
    assert not name_has_token(name, None, 7)
    assert not name_has_token(None, "ab12", 7)
