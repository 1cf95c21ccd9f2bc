"""``actd arc`` against the real A-REX: readable tables, --json, exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from actframework.actd import cli

pytestmark = [pytest.mark.integration, pytest.mark.arex]


@pytest.fixture
def actd_arc(arc_ce):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["arc", "--proxy", str(arc_ce.proxy), "--ca-dir", str(arc_ce.ca_dir), *args])

    return run


def test_version_and_info_are_readable(arc_ce, actd_arc) -> None:
    result = actd_arc("version", arc_ce.url)
    assert result.exit_code == 0 and result.output == "offered: 1.0\nchosen:  1.0\n"
    info = actd_arc("info", f"https://localhost:{arc_ce.port}/fork")
    assert info.exit_code == 0
    assert info.output.splitlines()[1].split()[:1] == ["QUEUE"] and "fork" in info.output


def test_json_output_parses(arc_ce, actd_arc) -> None:
    result = actd_arc("--json", "version", arc_ce.url)
    assert json.loads(result.output) == {"offered": ["1.0"], "chosen": "1.0"}
    assert isinstance(json.loads(actd_arc("--json", "jobs", "list", arc_ce.url).output), list)


def test_delegation_lifecycle(arc_ce, actd_arc) -> None:
    new = actd_arc("delegations", "new", arc_ce.url)
    assert new.exit_code == 0
    delegation_id = new.output.strip()
    try:
        assert delegation_id in actd_arc("delegations", "list", arc_ce.url).output
        assert actd_arc("delegations", "renew", arc_ce.url, delegation_id).output == f"renewed {delegation_id}\n"
    finally:
        deleted = actd_arc("delegations", "delete", arc_ce.url, delegation_id)
    assert deleted.exit_code == 0
    assert delegation_id not in actd_arc("delegations", "list", arc_ce.url).output


def test_per_job_errors_are_shown_and_exit_1(arc_ce, actd_arc) -> None:
    result = actd_arc("jobs", "status", arc_ce.url, "no-such-job")
    assert result.exit_code == 1
    assert "no-such-job" in result.output and "404 Job not found" in result.output


def test_unreachable_ce_is_one_line_and_exit_1(actd_arc) -> None:
    result = actd_arc("version", "https://localhost:1/arex")
    assert result.exit_code == 1
    assert result.stderr == "actd: GET https://localhost:1/arex/rest: connection refused\n"
