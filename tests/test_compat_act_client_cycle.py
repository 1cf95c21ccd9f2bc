"""The stock ``act`` client (act-client 1.0.0) through a whole job cycle
against ``actd run`` and the real A-REX: ``act sub`` with a local input
file, ``act stat`` until the job is done, ``act get`` of its output, and
the clean ``act get`` does afterwards, which the engine finishes by
removing the job from the CE and the host.

act-client comes from the cached venv of ``test_compat_act_client``; the
stack's own proxy and token stand in for ``act proxy``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_compat_act_client import TIMEOUT, act_bin  # noqa: F401  (act_bin is a fixture)

from actframework.arc import ARCRest

from fixtures.stack import Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

INPUT = b"compat input\nsecond line\n"
JOB = ('&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
       '(stdout="out.txt")(gmlog="gmlog")(jobname="compat")\n')
#: ``act stat``'s columns by default: ``--client id,jobname``, ``--arc JobID,State,arcstate``.
STAT_COLUMNS = ["id", "jobname", "JobID", "State", "arcstate"]
#: States a job passes through on its way to ``done``.
ON_THE_WAY = {"", "tosubmit", "submitting", "submitted", "running", "holding", "finishing", "finished", "tofetch",
              "fetching", "done"}


class ActCli:
    """act-client with its own configuration, run in ``workdir``."""

    def __init__(self, act: Path, stack: Stack, proxy: Path, root: Path) -> None:
        self.act = act
        home = root / "home"
        self.workdir = root / "work"
        for path in (home, self.workdir):
            path.mkdir(parents=True)
        token = home / "token"
        token.write_text(stack.token)
        self.conf = home / "config.yaml"
        self.conf.write_text(yaml.safe_dump({
            "server": stack.url, "token": str(token), "proxy": str(proxy),
            "clusters": {"default": [stack.cluster]},
        }))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "LANG": "C.UTF-8",
        }
        self.stack = stack

    def run(self, *args: str) -> str:
        """``act --conf <conf> args...``, which must exit 0 and write nothing
        to stderr; its stdout."""
        done = subprocess.run([str(self.act), "--conf", str(self.conf), *args], check=False, cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0 and not done.stderr, (
            f"act {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}\n{self.stack.logs()}")
        return done.stdout


def stat_table(rows: list[list[str]]) -> str:
    """The table act-client 1.0.0 prints for ``rows`` (values as shown)."""
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, name in enumerate(STAT_COLUMNS)]
    lines = ["".join(f"{name: <{width}} " for name, width in zip(STAT_COLUMNS, widths, strict=True)),
             "-" * (sum(widths) + len(widths) - 1)]
    lines += ["".join(f"{value: <{width}} " for value, width in zip(row, widths, strict=True)) for row in rows]
    return "".join(line + "\n" for line in lines)


def parse_stat(out: str) -> list[list[str]]:
    """The rows of ``act stat`` output, checked to be laid out as act-client
    lays them out."""
    if not out:
        return []
    lines = out.splitlines()
    assert lines[0].split() == STAT_COLUMNS, out
    rows = [line.split() for line in lines[2:]]
    assert all(len(row) == len(STAT_COLUMNS) for row in rows), out
    assert out == stat_table(rows), out
    return rows


def wait_until_done(cli: ActCli, job_id: int, timeout: float = 240) -> tuple[list[str], list[str]]:
    """Poll ``act stat`` until the job is ``done``: its row, and the arc
    states seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [row] = parse_stat(cli.run("stat", "-i", str(job_id)))
        assert row[:2] == [str(job_id), "compat"], row
        state = "" if row[4] == "''" else row[4]
        if not seen or seen[-1] != state:
            seen.append(state)
        assert state in ON_THE_WAY, f"job went {seen}\n{cli.stack.logs()}"
        if state == "done":
            return row, seen
        time.sleep(1)
    pytest.fail(f"job not done after {timeout} s, states seen: {seen}\n{cli.stack.logs()}")


def ce_job_ids(arc_rest: ARCRest) -> set[str]:
    return {job.id for job in arc_rest.get_jobs_list()}


@pytest.fixture
def cli(act_bin: Path, make_stack: StackFactory, arc_ce: Any, tmp_path: Path) -> ActCli:  # noqa: F811
    stack = make_stack("sqlite", run=True)
    return ActCli(act_bin, stack, arc_ce.proxy, tmp_path / "act")


# --------------------------------------------------------------------------- tests


def test_act_sub_stat_get_runs_a_job_to_its_output_and_cleans_it_everywhere(
    cli: ActCli, arc_ce: Any, arc_rest: ARCRest,
) -> None:
    stack = cli.stack
    (cli.workdir / "in.txt").write_bytes(INPUT)
    (cli.workdir / "job.xrsl").write_text(JOB)

    # act sub, to the clusters of the "default" group of the configuration
    lines = cli.run("sub", "job.xrsl").splitlines()
    assert lines[0] == "Submitting batch of 100 jobs ..."
    assert lines[1].startswith("Inserted job compat with ID "), lines
    assert len(lines) == 2, lines
    job_id = int(lines[1].rsplit(" ", 1)[1])
    assert (stack.config.inputs_dir / str(job_id) / "in.txt").read_bytes() == INPUT

    # act stat, until done
    row, seen = wait_until_done(cli, job_id)
    assert seen[-1] == "done" and len(seen) >= 2, seen
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert ce_id and ce_id in ce_job_ids(arc_rest)
    assert row == [str(job_id), "compat", f"https://localhost:{arc_ce.port}/arex/rest/1.0/jobs/{ce_id}",
                   "Finished", "done"]
    # the same table for all jobs, and none when filtering on another state
    assert parse_stat(cli.run("stat")) == [row]
    assert cli.run("stat", "-s", "running") == ""

    # act get: into <CE job id>/ in the working directory, then cleaned
    out = cli.run("get")
    assert out.splitlines() == [f"Results for job compat stored in {ce_id}"], out
    downloaded = cli.workdir / ce_id
    assert (downloaded / "out.txt").read_bytes() == INPUT
    # the session (out.txt; A-REX keeps no inputs) and A-REX's diagnose files in
    # the gmlog/ the job asked for
    assert sorted(path.name for path in downloaded.iterdir()) == ["gmlog", "out.txt"]
    assert (downloaded / "gmlog" / "diag").is_file() and (downloaded / "gmlog" / "status").is_file()
    assert (downloaded / "gmlog" / "status").read_text().strip() == "FINISHED"

    assert cli.run("stat") == ""
    assert cli.run("get") == ""  # nothing left to download
    assert not (cli.workdir / f"{ce_id}_1").exists()

    # The engine removes the CE job, its arc row and the job's files.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (stack.store.counts_by_state() == {} and ce_id not in ce_job_ids(arc_rest)
                and not (stack.config.inputs_dir / str(job_id)).exists()
                and not (stack.config.results_dir / ce_id).exists()):
            break
        time.sleep(0.5)
    logs = stack.logs()
    assert stack.store.counts_by_state() == {}, f"arc rows of the cleaned job are left\n{logs}"
    assert ce_id not in ce_job_ids(arc_rest), f"the CE still lists the cleaned job\n{logs}"
    assert not (stack.config.inputs_dir / str(job_id)).exists(), logs
    assert not (stack.config.results_dir / ce_id).exists(), logs
    assert list(stack.config.inputs_dir.iterdir()) == []
    assert list(stack.config.results_dir.iterdir()) == []
