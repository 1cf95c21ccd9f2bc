"""The one-file ``act`` (``scripts/build-pex``), run outside any venv.

The PEX is built with a site distribution baked in (a copy of
``examples/site-example`` naming the test's ``actd run`` and its CE, as a
site admin would write it), and run by the plain interpreter with an empty
``HOME`` and ``PATH=/usr/bin:/bin``: no venv, no pip. It must print its
version, take its server and clusters from the baked-in site settings, and
take a job from ``act proxy`` to ``act get`` against ``actd run`` and the
real A-REX. Its first start (unpacking its venv) and second start are
printed; ``bench/cli_startup.py --pex`` measures them properly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_act_cli import JOB, Act, wait_for_state

from fixtures.stack import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex, pytest.mark.xdist_group("pex-build")]

REPO = Path(__file__).resolve().parents[1]
PEX = Path(sys.executable).with_name("pex")
EXAMPLE_SERVER = "https://act.example-grid.org:8443"
EXAMPLE_CLUSTERS = "  default:\n    - https://ce1.example-grid.org/batch\n    - https://ce2.example-grid.org/batch\n"


def _site_copy(target: Path, server: str, cluster: str, ca_file: Path) -> Path:
    """``examples/site-example`` for this server, its CE and its CA."""
    shutil.copytree(REPO / "examples" / "site-example", target, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    snippet = target / "etc" / "act.d" / "site-example.yaml"
    text = snippet.read_text()
    assert f"server: {EXAMPLE_SERVER}\n" in text and EXAMPLE_CLUSTERS in text
    snippet.write_text(text.replace(f"server: {EXAMPLE_SERVER}\n", f"server: {server}\n")
                       .replace(EXAMPLE_CLUSTERS, f"  default:\n    - {cluster}\n"))
    shutil.copyfile(ca_file, target / "etc" / "act.d" / "site-example-ca.pem")
    return target


def test_the_one_file_act_runs_a_job_outside_any_venv(make_stack: StackFactory, arc_ce, tmp_path: Path) -> None:
    if not PEX.exists():
        pytest.fail(f"{PEX} is missing: pex comes with the test extra")
    stack = make_stack("sqlite", run=True)
    site = _site_copy(tmp_path / "site", stack.url, stack.cluster, arc_ce.ca_file)
    pex_file = tmp_path / "act.pex"
    interpreter = getattr(sys, "_base_executable", sys.executable)  # the interpreter, not this venv's
    built = subprocess.run([str(REPO / "scripts" / "build-pex"), "-o", str(pex_file), "--python", interpreter,
                            "--site", str(site)], capture_output=True, text=True, timeout=1200,
                           env={**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
                                "PATH": f"{PEX.parent}:/usr/bin:/bin"})
    assert built.returncode == 0, built.stdout + built.stderr

    home = tmp_path / "user"
    act = Act(pex_file, stack, home, arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.env.update({"PATH": "/usr/bin:/bin", "PEX_ROOT": str(home / "pex-root")})
    user_file = home / "config" / "act-client" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    # The user's own file says where the proxy is and keeps inputs on the aCT
    # server (this test has no WebDAV server); the rest is the site's.
    user_file.write_text(f"token: {act.token}\nproxy: {arc_ce.proxy}\nstorage: actstore\n")

    starts = []
    for _ in range(2):
        started = time.perf_counter()
        assert act.run("--version", conf=False).stdout.startswith("act, version ")
        starts.append(time.perf_counter() - started)
    print(f"one-file act --version: first start {starts[0]:.2f} s, second {starts[1] * 1000:.0f} ms")
    config = act.run("config", conf=False).stdout
    [server] = [line.split(None, 1)[1] for line in config.splitlines() if line.startswith("  server ")]
    assert server.startswith(f"{stack.url}  [site package: {home / 'pex-root'}/")
    assert server.endswith("/etc/actframework/act.d/site-example.yaml]")

    assert act.run("proxy", conf=False).stdout == (
        f"Successfully inserted proxy. Access token stored in {act.token}\n")
    assert act.run("info", conf=False).stdout == f"aCT server URL: {stack.url}\nClusters:\n{stack.cluster}\n"
    (act.workdir / "in.txt").write_text("input for the one-file act\n")
    (act.workdir / "job.xrsl").write_text(JOB.format(name="pex"))
    out = act.run("sub", "job.xrsl", conf=False).stdout.splitlines()
    assert out[1].startswith("Inserted job pex with ID "), out
    job_id = int(out[1].rsplit(" ", 1)[1])
    wait_for_state(_NoConf(act), job_id, "done")
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert act.run("get", "-i", str(job_id), conf=False).stdout == f"Results for job pex stored in {ce_id}\n"
    assert (act.workdir / ce_id / "out.txt").read_text() == "input for the one-file act\n"


class _NoConf:
    """``act`` without ``--conf``, for helpers that call ``run(*args)``."""

    def __init__(self, act: Act) -> None:
        self._act = act

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._act.run(*args, conf=False)
