"""The example third-party backend (``tests/plugin_dists/localdir``) serving a
job end to end on the real A-REX.

It is pip-installed into a directory of its own that only the ``act``
commands of the test see (the engine and the server do not have it, as on a
site where only users install it). Its directory is the test WebDAV
server's, which exports it to the CE: A-REX fetches the input from there
with the user's delegated proxy, the aCT server never holds it, and ``act
get`` brings the engine's outputs and what the backend's directory holds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fixtures.webdav import WebDAVServer

pytestmark = [pytest.mark.integration, pytest.mark.arex]

DIST = Path(__file__).resolve().parent / "plugin_dists" / "localdir"


@pytest.fixture(scope="module")
def localdir_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the localdir distribution installed in it, for ``PYTHONPATH``."""
    target = tmp_path_factory.mktemp("localdir-site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(target),
            str(DIST),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"pip install {DIST} failed:\n{done.stdout}{done.stderr}"
    return target


def test_the_localdir_example_serves_a_job_on_a_real_ce(
    make_stack: Any, arc_ce: Any, webdav: WebDAVServer, localdir_site: Path, tmp_path: Path
) -> None:
    from test_act_cli import ACT, Act, wait_for_state

    stack = make_stack("sqlite", run=True)
    act = Act(ACT, stack, tmp_path / "user", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.env["PYTHONPATH"] = str(localdir_site)
    base = webdav.url.rstrip("/")
    act.conf.write_text(
        act.conf.read_text() + f"storage: localdir\nstorage_options:\n  root: {webdav.root}\n  root_url: {base}\n"
    )
    act.run("proxy")
    (act.workdir / "in.txt").write_text("kept in a directory, fetched by A-REX\n")
    (act.workdir / "job.xrsl").write_text(
        '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))(stdout="out.txt")(jobname="localdir")\n'
    )
    out = act.run("sub", "job.xrsl").stdout.splitlines()
    job_id = int(out[-1].rsplit(" ", 1)[1])
    assert (webdav.root / str(job_id) / "in.txt").read_text() == "kept in a directory, fetched by A-REX\n"
    assert not (stack.config.inputs_dir / str(job_id)).exists()  # nothing went through the aCT server
    [stored] = stack.session.get(f"{stack.url}/jobs", params={"id": str(job_id), "client": "jobdesc"}).json()
    assert f'("in.txt" "{base}/{job_id}/in.txt")' in stored["c_jobdesc"]

    wait_for_state(act, job_id, "done")
    [fetched] = [r for r in webdav.access_log() if r.method == "GET" and r.path == f"/{job_id}/in.txt"]
    assert fetched.user == arc_ce.user_dn  # A-REX came with the user's delegation
    # Something of the site's left a result where the backend keeps results.
    (webdav.root / f"{job_id}-results").mkdir()
    (webdav.root / f"{job_id}-results" / "summary.txt").write_text("from the directory\n")

    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job localdir stored in {ce_id}\n"
    assert (act.workdir / ce_id / "out.txt").read_text() == "kept in a directory, fetched by A-REX\n"
    assert (act.workdir / ce_id / "summary.txt").read_text() == "from the directory\n"
    # act get cleaned the job, and the backend its directory.
    assert not (webdav.root / str(job_id)).exists()
    assert not (webdav.root / f"{job_id}-results").exists()
    assert stack.jobs([job_id]) == {}
