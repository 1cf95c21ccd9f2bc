"""End to end: N trivial jobs through actframework against the CE's own floor.

In one run, on a private A-REX on loopback (own state dir and port, as in
``arc_client.py``), in rounds whose order alternates:

* **ours**: ``actd run`` (server and engine, SQLite, default engine
  settings) in a fresh temporary setup; N jobs are sent the way ``act sub``
  sends them (``POST /jobs``, ``PUT /jobs``) and ``GET /jobs`` is polled
  every 0.5 s until all are ``done`` (outputs fetched). Timed from the first
  POST to the poll that sees them all done.
* **ce**: the same N descriptions straight to A-REX with one delegation and
  one bulk POST, then ``action=info`` polled every 0.5 s until all are
  FINISHED: the least any client can take on this CE. Timed from the POST.

The engine's peak RSS is read from ``/proc/<pid>/status`` (``VmHWM``) of the
engine child of ``actd run`` just before it is stopped.

Last line: ``RESULT ratio_to_ce=R engine_peak_rss_mb=M``: R is our median time
divided by the CE's median time (goal: R <= 1.3), M the largest engine peak RSS
in MiB.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arc_client import BenchError, log, run_checked, start_ce, stop_ce  # noqa: E402

from actframework.arc import ARCRest  # noqa: E402
from actframework.arc.submit import submit_jobs  # noqa: E402
from actframework.config import ServerConfig  # noqa: E402
from actframework.db import open_store  # noqa: E402
from actframework.errors import ActError  # noqa: E402
from actframework.server.auth import issue_token  # noqa: E402
from actframework.x509 import load_proxy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ACTF_BENCH_CACHE", "/tmp/actframework-bench"))
ACTD = Path(sys.executable).with_name("actd")
JOB = '&(executable="/bin/echo")(arguments="hello")(stdout="out.txt")(jobname="bench")'
POLL_S = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for process {pid}")


def engine_child(parent: int) -> int:
    """The pid of the ``actd engine`` child of ``actd run``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"engine" in cmdline:
            return int(entry.name)
    raise BenchError("actd run has no engine child")


def ours(exports: dict[str, str], jobs: int, work: Path) -> tuple[float, float]:
    """Our time for ``jobs`` jobs, and the engine's peak RSS in MiB."""
    port = free_port()
    config_path = work / "actd.yaml"
    cluster = f"https://localhost:{exports['ARC_CE_PORT']}/fork"
    run_checked([str(ACTD), "init", "--config", str(config_path), "--data-dir", str(work / "data"),
                 "--listen", f"127.0.0.1:{port}", "--cluster", cluster,
                 "--ca-dir", exports["X509_CERT_DIR"]], "actd init", timeout=120)
    config = ServerConfig.load(config_path)
    store = open_store(config.database_url)
    proxy = load_proxy(exports["X509_USER_PROXY"])
    expiry = proxy.not_after.replace(tzinfo=None)
    token = issue_token(config.jwt_secret, store.store_proxy(proxy.dn, "", proxy.to_pem(), expiry), expiry)
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTD_")}
    with (work / "actd.log").open("wb") as actd_log:
        process = subprocess.Popen([str(ACTD), "run", "--config", str(config_path)],
                                   stdout=actd_log, stderr=subprocess.STDOUT, env=env)
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if session.get(f"{url}/info", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise BenchError(f"actd run did not start:\n{(work / 'actd.log').read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(2)  # let the engine settle after its start
        started = time.monotonic()
        created = session.post(f"{url}/jobs", json=[{"clusterlist": [cluster]}] * jobs).json()
        ids = [item["id"] for item in created]
        confirmed = session.put(f"{url}/jobs", json=[{"id": i, "desc": JOB} for i in ids]).json()
        if any("msg" in item for item in confirmed):
            raise BenchError(f"submission refused: {confirmed[:3]}")
        query = {"id": ",".join(map(str, ids)), "client": "id", "arc": "arcstate,IDFromEndpoint"}
        while True:
            rows = session.get(f"{url}/jobs", params=query).json()
            if all(row.get("a_arcstate") == "done" for row in rows):
                break
            bad = [row for row in rows if row.get("a_arcstate") in ("failed", "cancelled", "donefailed", "lost")]
            if bad:
                raise BenchError(f"{len(bad)} job(s) ended {bad[0]['a_arcstate']}")
            if time.monotonic() - started > 600:
                raise BenchError("our jobs did not finish in 10 minutes")
            time.sleep(POLL_S)
        elapsed = time.monotonic() - started
        for row in rows:
            out = config.results_dir / row["a_IDFromEndpoint"] / "out.txt"
            if out.read_text() != "hello\n":
                raise BenchError(f"job {row['c_id']}: wrong output {out.read_text()!r}")
        rss = peak_rss_mb(engine_child(process.pid))
        session.delete(f"{url}/jobs", params={"id": query["id"]})
        deadline = time.monotonic() + 60  # let the engine clean the CE before the next round
        while time.monotonic() < deadline and session.get(f"{url}/jobs", params=query).json():
            time.sleep(0.5)
        time.sleep(3)
        return elapsed, rss
    finally:
        session.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()


def ce_floor(exports: dict[str, str], jobs: int) -> float:
    """The CE's own time for the same jobs: one bulk POST, polled until FINISHED."""
    rest = ARCRest.connect(exports["ARC_CE_URL"], proxy=exports["X509_USER_PROXY"], ca_dir=exports["X509_CERT_DIR"])
    delegation = None
    ids: list[str] = []
    try:
        started = time.monotonic()
        delegation = rest.create_delegation(exports["X509_USER_PROXY"])
        batch = submit_jobs(rest, [JOB] * jobs, queue="fork", delegation_id=delegation)
        ids = [result.job_id for result in batch.results if result.ok]
        if len(ids) != jobs:
            raise BenchError(f"the CE refused {jobs - len(ids)} job(s)")
        while True:
            states = [r.value.state if r.ok and r.value else None for r in rest.get_jobs_info(ids)]
            if all(state == "FINISHED" for state in states):
                break
            if any(state in ("FAILED", "KILLED", "WIPED") for state in states):
                raise BenchError("a job failed on the CE")
            if time.monotonic() - started > 600:
                raise BenchError("the CE did not finish the jobs in 10 minutes")
            time.sleep(POLL_S)
        return time.monotonic() - started
    finally:
        try:
            if ids:
                rest.clean_jobs(ids)
            time.sleep(3)
            if delegation:
                rest.delete_delegation(delegation)
        except ActError as exc:  # a leftover on the bench's own CE is harmless
            log(f"cleaning up after the CE floor: {exc}")
        rest.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ce-dir", type=Path, default=Path(os.environ.get(
        "ACTF_BENCH_ARC_CE_DIR", CACHE / "arc-ce")))
    parser.add_argument("--ce-port", type=int, default=int(os.environ.get("ACTF_BENCH_ARC_CE_PORT", "18453")))
    parser.add_argument("--keep", action="store_true", help="keep the temporary setups")
    args = parser.parse_args()
    exports = start_ce(args.ce_dir, args.ce_port)
    exports.setdefault("ARC_CE_PORT", str(args.ce_port))
    started_ce = exports["ARC_CE_STARTED"] == "1"
    ours_times: list[float] = []
    ce_times: list[float] = []
    rss: list[float] = []
    try:
        for round_ in range(args.rounds):
            order = ("ours", "ce") if round_ % 2 == 0 else ("ce", "ours")
            for side in order:
                if side == "ce":
                    ce_times.append(ce_floor(exports, args.jobs))
                    log(f"round {round_ + 1}: CE floor {ce_times[-1]:.1f} s")
                else:
                    work = Path(tempfile.mkdtemp(prefix="actf-e2e-"))
                    elapsed, peak = ours(exports, args.jobs, work)
                    ours_times.append(elapsed)
                    rss.append(peak)
                    log(f"round {round_ + 1}: ours {elapsed:.1f} s, engine peak RSS {peak:.1f} MiB ({work})")
                    if not args.keep:
                        subprocess.run(["rm", "-rf", str(work)], check=False)
    except BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        if started_ce:
            stop_ce(args.ce_dir)
    ours_median = statistics.median(ours_times)
    ce_median = statistics.median(ce_times)
    print(f"{args.jobs} trivial jobs, {args.rounds} round(s), medians: "
          f"ours (act sub to done) {ours_median:.1f} s, CE floor (POST to FINISHED) {ce_median:.1f} s")
    print(f"RESULT ratio_to_ce={ours_median / ce_median:.2f} engine_peak_rss_mb={max(rss):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
