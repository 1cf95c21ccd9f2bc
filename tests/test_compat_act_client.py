"""The stock ``act`` client (act-client 1.0.0 from PyPI) against a live
``actd serve``: every command's output, and what it leaves on the server
(database rows, stored proxies, uploaded input files).

act-client runs from its own virtual environment, created once and kept in
``/tmp/actframework-test-cache`` for later sessions. Its ``act proxy``
signs the delegation with the proxy at the ARC default path
``/tmp/x509up_u<uid>`` whatever its configuration says, so the tests put
the test user's proxy there and restore what was there before.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fixtures.server import LiveServer

from actframework.db.schema import arcjobs, clientjobs, proxies

# The tests of this file share /tmp/x509up_u<uid> (where act-client looks for
# the proxy): under pytest-xdist they run on one worker, one after another.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("default-proxy")]

ACT_CLIENT = "act-client==1.0.0"
CACHE = Path("/tmp/actframework-test-cache") / "act-client-1.0.0"
DEFAULT_PROXY = Path(f"/tmp/x509up_u{os.getuid()}")
TIMEOUT = 120


@pytest.fixture(scope="session")
def act_bin() -> Path:
    """The ``act`` executable of act-client 1.0.0 in its own venv."""
    act = CACHE / "bin" / "act"
    complete = CACHE / ".installed"
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / f"{CACHE.name}.lock", "w") as lock:
        # Test sessions side by side (pytest-xdist workers) install it once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (complete.exists() and act.exists()):
            _install_act_client(complete)
    return act


def _install_act_client(complete: Path) -> None:
    shutil.rmtree(CACHE, ignore_errors=True)
    for step in ([sys.executable, "-m", "venv", str(CACHE)],
                 [str(CACHE / "bin" / "python"), "-m", "pip", "install", "-q", ACT_CLIENT]):
        done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(CACHE, ignore_errors=True)
            pytest.fail(f"cannot install {ACT_CLIENT}: {' '.join(step)}\n{done.stdout}\n{done.stderr}")
    complete.write_text(ACT_CLIENT + "\n")


@pytest.fixture
def default_proxy(arc_ce) -> Iterator[Path]:
    """The test user's proxy at ``/tmp/x509up_u<uid>``; whatever was there
    before comes back afterwards."""
    saved: tuple[bytes, int] | None = None
    if DEFAULT_PROXY.exists():
        saved = (DEFAULT_PROXY.read_bytes(), stat.S_IMODE(DEFAULT_PROXY.stat().st_mode))
    content = arc_ce.proxy.read_bytes()
    fd = os.open(DEFAULT_PROXY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.chmod(DEFAULT_PROXY, 0o600)
    try:
        yield DEFAULT_PROXY
    finally:
        if saved is None:
            if DEFAULT_PROXY.exists() and DEFAULT_PROXY.read_bytes() == content:
                DEFAULT_PROXY.unlink()
        else:
            DEFAULT_PROXY.write_bytes(saved[0])
            os.chmod(DEFAULT_PROXY, saved[1])


@dataclass
class Act:
    """act-client configured for one live server, run in ``workdir``."""

    bin: Path
    api: LiveServer
    workdir: Path
    conf: Path
    token: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        """Run ``act --conf <conf> args...``, which must exit 0; its stdout."""
        done = subprocess.run([str(self.bin), "--conf", str(self.conf), *args], check=False, cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"act {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def delegate(self) -> None:
        out = self.run("proxy")
        assert out == f"Successfully inserted proxy. Access token stored in {self.token}\n"


@pytest.fixture
def act(act_bin: Path, api: LiveServer, arc_ce, default_proxy: Path, tmp_path: Path) -> Act:
    home = tmp_path / "home"
    workdir = tmp_path / "work"
    for path in (home, workdir):
        path.mkdir()
    token = home / "act-token"
    conf = home / "act-client.yaml"
    conf.write_text(f"server: {api.url}\ntoken: {token}\nproxy: {arc_ce.proxy}\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "LANG": "C.UTF-8",
    }
    return Act(act_bin, api, workdir, conf, token, env)


def client_rows(api: LiveServer) -> list[dict[str, Any]]:
    with api.store.engine.connect() as connection:
        rows = connection.execute(sa.select(clientjobs).order_by(clientjobs.c.id)).mappings().all()
    return [{key: value.decode() if isinstance(value, bytes) else value for key, value in row.items()}
            for row in rows]


def write_job(act: Act, name: str, inputs: str = "") -> Path:
    path = act.workdir / f"{name}.xrsl"
    path.write_text(f'&(executable="/bin/cat")(arguments="in.txt")(jobname="{name}")'
                    f'(stdout="out.txt"){inputs}\n')
    return path


def submit(act: Act, name: str, cluster: str) -> int:
    """``act sub`` of a job that uploads ``in.txt``; its client job id."""
    (act.workdir / "in.txt").write_bytes(b"input for " + name.encode() + b"\n")
    job = write_job(act, name, '(inputfiles=("in.txt" ""))')
    lines = act.run("sub", "--clusterlist", cluster, job.name).splitlines()
    # act-client names the batch size (100), not the number of jobs in it.
    assert lines[0] == "Submitting batch of 100 jobs ..."
    assert lines[1].startswith(f"Inserted job {name} with ID "), lines
    assert len(lines) == 2, lines
    return int(lines[1].rsplit(" ", 1)[1])


@pytest.fixture
def cluster(api: LiveServer) -> str:
    return api.config.clusters[0]


# --------------------------------------------------------------------------- tests


def test_act_proxy_stores_the_delegated_proxy(act: Act, api: LiveServer, arc_ce) -> None:
    act.delegate()
    assert act.token.is_file() and act.token.read_text().count(".") == 2
    with api.store.engine.connect() as connection:
        rows = connection.execute(sa.select(proxies)).mappings().all()
    assert [row["dn"] for row in rows] == [arc_ce.user_dn]
    path = Path(rows[0]["proxypath"])
    assert path.parent == api.config.proxies_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == rows[0]["proxy"]

    act.delegate()  # again: the same user keeps one row
    with api.store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(proxies)).scalar() == 1


def test_act_info_lists_our_clusters(act: Act, api: LiveServer) -> None:
    act.delegate()
    out = act.run("info")
    assert out.splitlines() == [f"aCT server URL: {api.url}", "Clusters:", *api.config.clusters]


def test_act_sub_uploads_inputs_and_confirms_the_job(act: Act, api: LiveServer, cluster: str) -> None:
    act.delegate()
    job_id = submit(act, "withinput", cluster)

    [row] = client_rows(api)
    assert row["id"] == job_id and row["jobname"] == "withinput"
    assert row["arcjobid"] is None and row["clusterlist"] == cluster
    stored = api.config.inputs_dir / str(job_id) / "in.txt"
    assert stored.read_bytes() == b"input for withinput\n"
    assert row["jobdesc"] and f'"in.txt" "{stored}"' in row["jobdesc"]

    out = act.run("stat").splitlines()
    assert out[0].split() == ["id", "jobname", "JobID", "State", "arcstate"]
    assert set(out[1]) == {"-"}
    assert out[2].split() == [str(job_id), "withinput", "''", "''", "''"]
    assert len(out) == 3


def test_act_sub_with_a_missing_input_leaves_no_job(act: Act, api: LiveServer, cluster: str) -> None:
    act.delegate()
    job = write_job(act, "noinput", '(inputfiles=("missing.txt" ""))')
    log_start = len(api.log())
    out = act.run("sub", "--clusterlist", cluster, job.name)  # exits 0 all the same
    # The job was created (POST) before the upload failed; act-client then
    # cancels it, which removes a job the server never handed over.
    assert out.splitlines() == [
        "Submitting batch of 100 jobs ...",
        f"Job description {job.name} not submitted: Given path missing.txt is not a file",
        "Cleaning up failed or cancelled jobs ...",
    ]
    requests_seen = [line.split(" method=", 1)[1].split(" duration_ms")[0]
                     for line in api.log()[log_start:].splitlines() if " method=" in line]
    assert requests_seen == ["POST route=/jobs status=200", "PATCH route=/jobs status=200"]
    assert client_rows(api) == []
    assert list(api.config.inputs_dir.iterdir()) == []
    assert act.run("stat") == ""


def test_act_kill_removes_a_job_not_yet_handed_over(act: Act, api: LiveServer, cluster: str) -> None:
    act.delegate()
    keep = submit(act, "keep", cluster)
    job_id = submit(act, "victim", cluster)
    assert (api.config.inputs_dir / str(job_id)).is_dir()

    assert act.run("kill", "-i", str(job_id)).splitlines() == ["Will kill 1 jobs"]
    assert [row["id"] for row in client_rows(api)] == [keep]
    assert not (api.config.inputs_dir / str(job_id)).exists()
    assert (api.config.inputs_dir / str(keep) / "in.txt").is_file()
    stat_lines = act.run("stat").splitlines()
    assert [line.split()[0] for line in stat_lines[2:]] == [str(keep)]


def test_act_clean_removes_a_done_job(act: Act, api: LiveServer, cluster: str) -> None:
    act.delegate()
    done = submit(act, "finished", cluster)
    waiting = submit(act, "waiting", cluster)
    arc_ids = {result.client_id: result.arc_id for result in api.store.handover()}
    assert api.store.set_arcstate([arc_ids[done]], "done", expected=["tosubmit"]) == [arc_ids[done]]

    stat_lines = act.run("stat", "-s", "done").splitlines()
    assert [line.split()[0] for line in stat_lines[2:]] == [str(done)]
    assert stat_lines[2].split()[-1] == "done"

    assert act.run("clean").splitlines() == ["Cleaned 1 jobs"]
    assert [row["id"] for row in client_rows(api)] == [waiting]
    assert not (api.config.inputs_dir / str(done)).exists()
    with api.store.engine.connect() as connection:
        states = dict(connection.execute(sa.select(arcjobs.c.id, arcjobs.c.arcstate)).all())
    # The engine still has to remove the job from the CE; the client's row is gone.
    assert states == {arc_ids[done]: "toclean", arc_ids[waiting]: "tosubmit"}
    assert act.run("clean").splitlines() == ["Cleaned 0 jobs"]
