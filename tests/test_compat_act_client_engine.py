"""The stock act-client 1.0.0 drives a whole job cycle against ``actd run``:
``act proxy`` → ``act sub`` → ``act stat`` until ``done`` → ``act get``
(outputs downloaded, job cleaned) → the engine removes it from the CE."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from test_compat_act_client import act_bin, default_proxy  # noqa: F401 (fixtures)

from actframework.arc import ARCRest

from fixtures.stack import Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

TIMEOUT = 120


class ActCLI:
    """act-client configured for one stack, run in ``workdir``."""

    def __init__(self, binary: Path, stack: Stack, home: Path, proxy: Path) -> None:
        self.binary = binary
        self.workdir = home / "work"
        self.workdir.mkdir(parents=True)
        self.token = home / "act-token"
        self.conf = home / "act-client.yaml"
        self.conf.write_text(f"server: {stack.url}\ntoken: {self.token}\nproxy: {proxy}\n"
                             f"clusters:\n  default:\n    - {stack.cluster}\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                    "LANG": "C.UTF-8"}

    def run(self, *args: str) -> str:
        done = subprocess.run([str(self.binary), "--conf", str(self.conf), *args], check=False,
                              cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"act {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout


def stat_rows(out: str) -> list[list[str]]:
    """The data rows of act-client's ``stat`` table (header and rule dropped)."""
    lines = [line for line in out.splitlines() if line.strip()]
    return [line.split() for line in lines[2:]]


def test_stock_act_client_runs_a_job_from_sub_to_get_against_actd_run(
    act_bin: Path, default_proxy: Path, make_stack: StackFactory, arc_ce, arc_rest: ARCRest,  # noqa: F811
    tmp_path: Path,
) -> None:
    stack = make_stack("sqlite", run=True)
    act = ActCLI(act_bin, stack, tmp_path / "home", arc_ce.proxy)
    assert act.run("proxy") == f"Successfully inserted proxy. Access token stored in {act.token}\n"

    (act.workdir / "in.txt").write_text("hello from act-client\n")
    (act.workdir / "job.xrsl").write_text(
        '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
        '(stdout="out.txt")(jobname="compat-cycle")\n')
    lines = act.run("sub", "job.xrsl").splitlines()
    assert lines[1].startswith("Inserted job compat-cycle with ID "), lines
    job_id = int(lines[1].rsplit(" ", 1)[1])

    deadline = time.monotonic() + 240
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        out = act.run("stat", "--id", str(job_id))
        header = out.splitlines()[0].split()
        assert header == ["id", "jobname", "JobID", "State", "arcstate"], out
        rows = stat_rows(out)
        if rows and rows[0][-1] == "done":
            break
        time.sleep(1)
    assert rows and rows[0][0] == str(job_id) and rows[0][1] == "compat-cycle" and rows[0][-1] == "done", rows
    assert rows[0][3] == "Finished"
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]

    out = act.run("get", "--id", str(job_id))
    assert out == f"Results for job compat-cycle stored in {ce_id}\n"
    assert (act.workdir / ce_id / "out.txt").read_text() == "hello from act-client\n"

    # act get cleaned the job: the user no longer sees it, and the engine
    # removes it from the CE, the job store and the data directory.
    assert stat_rows(act.run("stat", "--id", str(job_id))) == []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gone = stack.store.counts_by_state() == {} and ce_id not in {j.id for j in arc_rest.get_jobs_list()}
        if gone:
            break
        time.sleep(0.5)
    assert stack.store.counts_by_state() == {}
    assert ce_id not in {j.id for j in arc_rest.get_jobs_list()}
    assert not (stack.config.inputs_dir / str(job_id)).exists()
    assert not (stack.config.results_dir / ce_id).exists()
