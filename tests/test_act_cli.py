"""Our ``act`` as users run it: a real process against ``actd run`` and the real A-REX."""

from __future__ import annotations

import os
import signal
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
    def __init__(self, binary: Path, stack: Stack | None, home: Path, proxy: Path, server: str | None = None,
                 ca_dir: Path | None = None) -> None:
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
                    "X509_CERT_DIR": str(ca_dir or "/etc/grid-security/certificates"),
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
    cli = Act(ACT, stack, tmp_path / "ours", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
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
        options = "--id, --name" if command in ("fetch", "resub") else "--id, --name, --state"
        assert f"Error: say which jobs: {options}, or -a/--all for all of them" in done.stderr
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
    out = act.run("sub", "bad.xrsl", expect=1).stdout
    assert "Job description bad.xrsl not submitted: line 2" in out
    (act.workdir / "noinput.xrsl").write_text(JOB.format(name="noinput"))
    assert "Given path in.txt is not a file" in act.run("sub", "noinput.xrsl", expect=1).stdout
    down = Act(ACT, None, tmp_path / "down", arc_ce.proxy, server=f"http://127.0.0.1:{free_port()}")
    down.token.write_text("t")
    failed = down.run("stat", expect=1)
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert act.run("--version", conf=False).stdout.startswith("act, version ")


def submit_one(act: Act, name: str, description: str, *extra: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    (act.workdir / f"{name}.xrsl").write_text(description)
    done = act.run("sub", *extra, f"{name}.xrsl")
    last = done.stdout.splitlines()[-1]
    assert last.startswith(f"Inserted job {name} with ID "), done.stdout
    return int(last.rsplit(" ", 1)[1]), done


def test_cat_shows_a_running_jobs_stdout_and_stderr_from_the_ce(act: Act) -> None:
    act.run("proxy")
    (act.workdir / "in.txt").write_text("shown by cat\n")
    job = ('&(executable="/bin/sh")(arguments="-c" "cat in.txt; echo to-stderr >&2; sleep 60")'
           '(inputfiles=("in.txt" ""))(stdout="out.txt")(stderr="err.txt")(jobname="catted")\n')
    job_id, submitted = submit_one(act, "catted", job, "--progress")
    assert submitted.stdout.splitlines()[0] == "Submitting batch of 1 jobs ..."  # the bar stays on stderr
    deadline = time.monotonic() + 180
    while True:
        shown = act.run("cat", "-i", str(job_id))
        if shown.stdout:
            break
        assert "stdout not yet available for job" in shown.stderr
        assert time.monotonic() < deadline, "stdout never appeared"
        time.sleep(1)
    assert shown.stdout == "shown by cat\n"
    assert act.run("cat", "-e", "-i", str(job_id)).stdout == "to-stderr\n"
    assert act.run("kill", "-i", str(job_id)).stdout == "Will kill 1 jobs\n"
    lines = act.run("stat", "--watch", "1", "-i", str(job_id)).stdout.splitlines()
    assert lines[-1].split()[-1] == "cancelled"
    assert act.run("clean", "-i", str(job_id)).stdout == "Cleaned 1 jobs\n"


def test_ctrl_c_during_get_removes_the_partial_download_and_keeps_the_job(act: Act) -> None:
    act.run("proxy")
    (act.workdir / "many.sh").write_text("#!/bin/sh\nmkdir out\nfor i in $(seq 600); do echo $i > out/f$i; done\n")
    many = ('&(executable="/bin/sh")(arguments="many.sh")(inputfiles=("many.sh" ""))'
            '(outputfiles=("out/" ""))(jobname="many")\n')
    job_id, _ = submit_one(act, "many", many)
    act.run("stat", "--watch", "1", "-i", str(job_id))
    assert act.stack.jobs([job_id])[job_id]["a_arcstate"] == "done"  # type: ignore[attr-defined]
    ce_id = act.stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]  # type: ignore[attr-defined]
    target = act.workdir / ce_id
    command = [str(act.binary), "--conf", str(act.conf), "get", "-i", str(job_id)]
    getter = subprocess.Popen(command, cwd=act.workdir, env=act.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (target / "out").is_dir() or len(list((target / "out").iterdir())) < 50:
        assert getter.poll() is None, f"get ended before it could be interrupted: {getter.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    getter.send_signal(signal.SIGINT)
    out, err = getter.communicate(timeout=60)
    assert getter.returncode == 1, (out, err)
    assert "Stopping job download ..." in err and "Traceback" not in err
    assert not target.exists()
    assert act.stack.jobs([job_id])[job_id]["a_arcstate"] == "done"  # type: ignore[attr-defined]
    # Nothing was lost: a second get downloads everything and cleans the job.
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job many stored in {ce_id}\n"
    assert len(list((target / "out").iterdir())) == 600
    assert act.run("stat", "-i", str(job_id)).stdout == ""
