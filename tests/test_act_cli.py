"""Our ``act`` as users run it: a real process against ``actd run`` and the real A-REX."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_compat_act_client import act_bin  # noqa: F401 (fixture)

from fixtures.server import free_port
from fixtures.stack import Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

ACT = Path(sys.executable).with_name("act")
JOB = ('&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
       '(stdout="out.txt")(jobname="{name}")\n')


class Act:
    def __init__(self, binary: Path, stack: Stack | None, home: Path, proxy: Path, server: str | None = None) -> None:
        self.binary = binary
        self.workdir = home / "work"
        self.workdir.mkdir(parents=True)
        self.token = home / "token"
        self.conf = home / "config.yaml"
        url = server or (stack.url if stack else "http://127.0.0.1:1")
        cluster = stack.cluster if stack else "https://ce.example.org/batch"
        self.conf.write_text(f"server: {url}\ntoken: {self.token}\nproxy: {proxy}\n"
                             f"clusters:\n  default:\n    - {cluster}\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
                    "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}

    def run(self, *args: str, expect: int = 0, conf: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), *(["--conf", str(self.conf)] if conf else []), *args]
        done = subprocess.run(command, cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == expect, f"act {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}"
        return done


@pytest.fixture
def act(make_stack: StackFactory, arc_ce, tmp_path: Path) -> Act:
    if not ACT.exists():
        pytest.fail(f"{ACT} is missing: install actframework into the test interpreter")
    stack = make_stack("sqlite", run=True)
    cli = Act(ACT, stack, tmp_path / "ours", arc_ce.proxy)
    cli.stack = stack  # type: ignore[attr-defined]
    return cli


def wait_for_state(act: Act, job_id: int, state: str, timeout: float = 240) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = act.run("stat", "-i", str(job_id)).stdout.splitlines()
        if len(lines) == 3 and lines[2].split()[-1] == state:
            return lines
        time.sleep(1)
    pytest.fail(f"job {job_id} not {state}: {lines}")


def test_a_job_from_proxy_to_get(act: Act) -> None:
    stack: Stack = act.stack  # type: ignore[attr-defined]
    assert act.run("proxy").stdout == f"Successfully inserted proxy. Access token stored in {act.token}\n"
    assert oct(act.token.stat().st_mode & 0o777) == "0o600"
    assert act.run("info").stdout == f"aCT server URL: {stack.url}\nClusters:\n{stack.cluster}\n"

    (act.workdir / "in.txt").write_text("input for the cli\n")
    (act.workdir / "job.xrsl").write_text(JOB.format(name="cli"))
    out = act.run("sub", "job.xrsl").stdout.splitlines()
    assert out[0] == "Submitting batch of 1 jobs ..."
    assert out[1].startswith("Inserted job cli with ID ")
    job_id = int(out[1].rsplit(" ", 1)[1])

    lines = wait_for_state(act, job_id, "done")
    assert lines[0].split() == ["id", "jobname", "JobID", "State", "arcstate"]
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job cli stored in {ce_id}\n"
    assert (act.workdir / ce_id / "out.txt").read_text() == "input for the cli\n"
    assert act.run("stat", "-i", str(job_id)).stdout == ""  # get cleaned it


def test_our_stat_prints_the_same_table_as_act_client(act: Act, act_bin: Path, arc_ce) -> None:  # noqa: F811
    stack: Stack = act.stack  # type: ignore[attr-defined]
    act.run("proxy")
    (act.workdir / "in.txt").write_text("x\n")
    for name in ("first", "a-longer-name"):
        (act.workdir / f"{name}.xrsl").write_text(JOB.format(name=name))
    lines = act.run("sub", "first.xrsl", "a-longer-name.xrsl").stdout.splitlines()
    for line in lines[1:]:  # compare once nothing moves any more
        wait_for_state(act, int(line.rsplit(" ", 1)[1]), "done")
    theirs = Act(act_bin, stack, act.workdir.parent.parent / "theirs", arc_ce.proxy)
    theirs.token.write_text(act.token.read_text())
    for args in (["stat"], ["stat", "--arc", "arcstate,cluster", "--client", "id,jobname,created"]):
        assert act.run(*args).stdout == theirs.run(*args).stdout
    act.run("clean", "-a")


def test_job_commands_need_a_selection(act: Act) -> None:
    act.run("proxy")
    for command in ("kill", "clean", "get", "fetch", "resub"):
        done = act.run(command, expect=2)
        assert "Error: say which jobs: --id, --name, --state, or -a/--all for all of them" in done.stderr
    assert act.run("kill", "-a").stdout == "Will kill 0 jobs\n"
    assert act.run("clean", "-a").stdout == "Cleaned 0 jobs\n"
    assert act.run("fetch", "-a").stdout == "Will fetch 0 jobs\n"
    assert act.run("resub", "-a").stdout == "Will resubmit 0 jobs\n"
    assert 'State parameter not "done" or "donefailed"' in act.run("get", "-s", "running", "-a", expect=2).stderr


def test_errors_are_one_line_with_exit_code_1(act: Act, tmp_path: Path, arc_ce) -> None:
    done = act.run("stat", expect=1)
    assert done.stderr == f"Error reading token file {act.token}. Run act proxy.\n"
    missing = act.run("--conf", str(tmp_path / "nothing.yaml"), "stat", expect=1, conf=False)
    assert missing.stderr == f"config file {tmp_path / 'nothing.yaml'} does not exist\n"
    act.run("proxy")
    (act.workdir / "bad.xrsl").write_text('&(executable="/bin/true")\n(jobname="x"\n')
    out = act.run("sub", "bad.xrsl").stdout
    assert "bad.xrsl" in out and "line" in out and "not submitted" in out
    (act.workdir / "noinput.xrsl").write_text(JOB.format(name="noinput"))
    assert "Given path in.txt is not a file" in act.run("sub", "noinput.xrsl").stdout
    down = Act(ACT, None, tmp_path / "down", arc_ce.proxy, server=f"http://127.0.0.1:{free_port()}")
    down.token.write_text("t")
    failed = down.run("stat", expect=1)
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert act.run("--version", conf=False).stdout.startswith("act, version ")
