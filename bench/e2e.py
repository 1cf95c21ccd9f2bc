"""End to end: N trivial jobs through actframework against the CE's own floor.

Against the bench's own A-REX on loopback (``scripts/arc-ce/start`` with state
dir ``/tmp/actframework-bench/arc-ce`` and port 18453, as ``arc_client.py``;
started or reused), in one run, in rounds whose order alternates (the CE floor
goes first in the first round):

* **ours**: ``actd run`` (REST server and engine, SQLite, default engine
  settings) set up by ``actd init`` in a temporary directory. N copies of a
  trivial job are sent the way ``act sub`` sends them (``POST /jobs`` with the
  cluster list, ``PUT /jobs`` with the descriptions) and ``GET /jobs`` is
  polled every 0.5 s until all are ``done``, i.e. finished on the CE and
  their outputs fetched. Timed from the first POST to the poll that sees
  them all done. Every job's ``out.txt`` must then hold ``hello``.
* **cli**: the same through the ``act`` command as a user runs it, one
  process per command, on the same ``actd run``: ``act sub`` of N
  description files, ``act stat --json`` every 0.5 s until all are
  ``done`` (timed from the start of ``act sub`` to that ``act stat``), then
  ``act get``, timed on its own, which downloads every job's results (each
  ``out.txt`` must hold ``hello``) and cleans the jobs.
* **ce**: the same N descriptions straight to A-REX with ``ARCRest``: one
  delegation (not timed), one bulk POST, then ``action=info`` polled every
  0.5 s until all are FINISHED. Timed from the POST: the least any client
  can take for these jobs on this CE.

The user's token comes from ``act proxy`` (the CE's proxy delegated to
``actd serve``), run once at the start; the REST side uses it too.

The engine's peak RSS is ``VmHWM`` in ``/proc/<pid>/status`` of the
``actd engine`` child of ``actd run``, read just before it is stopped.

Last line: ``RESULT ratio_to_ce=R cli_ratio_to_ce=C engine_peak_rss_mb=M``:
R and C are the median times of ours and of the cli side divided by the
CE's median time, M the engine's peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from actframework import jobdesc
from actframework.arc import ARCRest
from actframework.arc.submit import post_jobs, prepare_job
from actframework.errors import ActError
from actframework.server_config import ServerConfig

REPO = Path(__file__).resolve().parent.parent
JOB = '&(executable="/bin/echo")(arguments="hello")(stdout="out.txt")(jobname="bench")'
POLL_S = 0.5
JOB_TIMEOUT_S = 600.0
SETTLE_S = 5.0
"""Seconds the CE gets to calm down after a measurement's cleaning."""
RESTING_BAD = frozenset({"donefailed", "failed", "cancelled", "lost"})
CLEANABLE = RESTING_BAD | {"done"}
"""The states DELETE /jobs removes."""
CE_BAD = frozenset({"FAILED", "KILLED", "WIPED"})
SIDES = ("ce", "ours", "cli")
ROUNDS = 3


class BenchError(Exception):
    """A measurement or the setup failed; the message says why."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def actd_command() -> list[str]:
    script = Path(sys.executable).with_name("actd")
    if script.exists():
        return [str(script)]
    found = shutil.which("actd")
    return [found] if found else [sys.executable, "-m", "actframework.actd"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Timeline:
    """When each state was first and last seen during one measurement."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def see(self, elapsed: float, states: Iterable[str]) -> None:
        for state in set(states):
            self.first.setdefault(state, elapsed)
            self.last[state] = elapsed

    def render(self) -> str:
        order = sorted(self.first, key=lambda s: (self.first[s], self.last[s]))
        return ", ".join(f"{s} {self.first[s]:.1f}-{self.last[s]:.1f}" for s in order)


# ---------------------------------------------------------------- the CE


def start_ce(ce_dir: str | None, ce_port: int | None) -> dict[str, str]:
    """Start (or reuse) the bench's CE; its ``export`` lines as a dict. The
    bench has its own CE (own state dir and port) so that test sessions on
    the shared test CE neither disturb its timings nor lose their jobs."""
    log("scripts/arc-ce/start ...")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_CE_", "X509_"))}
    if ce_port is not None:
        env["ARC_CE_PORT"] = str(ce_port)
    done = subprocess.run([str(REPO / "scripts" / "arc-ce" / "start"), *([ce_dir] if ce_dir else [])],
                          check=False, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise BenchError(f"scripts/arc-ce/start failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")
    exports: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    for name in ("ARC_CE_URL", "ARC_CE_PORT", "ARC_CE_DIR", "ARC_CE_STARTED", "X509_USER_PROXY", "X509_CERT_DIR"):
        if not exports.get(name):
            raise BenchError(f"scripts/arc-ce/start printed no {name}")
    return exports


def stop_ce(ce_dir: str) -> None:
    log("scripts/arc-ce/stop ...")
    done = subprocess.run([str(REPO / "scripts" / "arc-ce" / "stop"), ce_dir], check=False,
                          capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        log(f"scripts/arc-ce/stop failed (exit {done.returncode}): {done.stderr.strip()}")


def ce_floor(exports: dict[str, str], jobs: int) -> tuple[float, Timeline]:
    """The CE's own time for the jobs: one bulk POST, polled until all FINISHED."""
    rest = ARCRest.connect(exports["ARC_CE_URL"], proxy=exports["X509_USER_PROXY"],
                           ca_dir=exports["X509_CERT_DIR"])
    delegation: str | None = None
    ids: list[str] = []
    timeline = Timeline()
    try:
        delegation = rest.create_delegation(exports["X509_USER_PROXY"])
        started = time.monotonic()
        job = prepare_job(jobdesc.parse_one(JOB), input_dir=REPO, queue="fork", delegation_id=delegation,
                          into_description=rest.version == "1.0")
        created = post_jobs(rest, [job] * jobs, queue="fork", delegation_id=delegation)
        ids = [r.value.id for r in created if r.ok and r.value is not None]
        refused = [r.error for r in created if not r.ok]
        if refused:
            raise BenchError(f"the CE refused {len(refused)} job(s): {refused[0]}")
        elapsed = wait_until(lambda: [r.value.state or "?" if r.ok and r.value is not None else "error"
                                      for r in rest.get_jobs_info(ids)],
                             len(ids), "FINISHED", CE_BAD, started, timeline, lambda: " on the CE")
        return elapsed, timeline
    finally:
        with no_interrupts():
            clean_ce_jobs(rest, ids, delegation)
            rest.close()


def clean_ce_jobs(rest: ARCRest, ids: list[str], delegation: str | None, timeout: float = 60.0,
                  what: str = "the CE floor measurement") -> None:
    """Kill (unless ended) and clean the bench's own CE jobs, wait until they
    are gone, then delete the delegation. Best effort: problems are logged."""
    try:
        deadline = time.monotonic() + timeout
        cleaned_at = -1e9
        remaining = list(ids)
        while remaining and time.monotonic() < deadline:
            results = rest.get_jobs_status(remaining)
            remaining = [r.job_id for r in results if r.ok]
            if remaining and time.monotonic() - cleaned_at > 10:
                running = [r.job_id for r in results if r.ok and r.value not in ("FINISHED", *CE_BAD)]
                if running:
                    rest.kill_jobs(running)
                rest.clean_jobs(remaining)
                cleaned_at = time.monotonic()
            if remaining:
                time.sleep(0.5)
        if remaining:
            log(f"warning: {len(remaining)} CE job(s) of {what} are still listed")
        if delegation:
            rest.delete_delegation(delegation)
    except ActError as exc:
        log(f"warning: cleaning up {what} on the CE: {exc}")


# ---------------------------------------------------------------- our stack


def wait_until(states: Callable[[], list[str]], jobs: int, goal: str, bad_states: frozenset[str], started: float,
               timeline: Timeline, detail: Callable[[], str]) -> float:
    """Poll ``states`` every :data:`POLL_S` until it shows ``jobs`` jobs, all
    in state ``goal``; the seconds since ``started`` then. A job in one of
    ``bad_states`` fails the measurement (``detail`` adds to the message)."""
    while True:
        now = states()
        elapsed = time.monotonic() - started
        timeline.see(elapsed, now)
        if len(now) == jobs and all(state == goal for state in now):
            return elapsed
        bad = [state for state in now if state in bad_states]
        if bad:
            raise BenchError(f"{len(bad)} job(s) ended {bad[0]}{detail()}")
        if elapsed > JOB_TIMEOUT_S:
            raise BenchError(f"the jobs were not {goal} after {JOB_TIMEOUT_S:.0f} s: {Counter(now)}")
        time.sleep(POLL_S)


def check_hello(out: Path, what: str) -> None:
    """The job's output holds what the job printed."""
    try:
        text = out.read_text()
    except OSError as exc:
        raise BenchError(f"{what}: {exc}") from None
    if "hello" not in text:
        raise BenchError(f"{what}: {out} holds {text!r}, not hello")


def arcstates(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row.get("a_arcstate") or "(none yet)") for row in rows]


class Stack:
    """``actd init`` + ``actd run`` in a temporary directory, and a user of it."""

    def __init__(self, exports: dict[str, str], work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cluster = f"https://localhost:{exports['ARC_CE_PORT']}/fork"
        self.config_path = work / "actd.yaml"
        self.log_path = work / "actd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()
        self.session.trust_env = False
        self.exports = exports
        self.config: ServerConfig | None = None
        self.submitted: list[int] = []
        """Ids of the measurement under way, for cleaning after an interruption."""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTD_")}
        init = subprocess.run(
            [*actd_command(), "init", "--config", str(self.config_path), "--data-dir", str(self.work / "data"),
             "--listen", f"127.0.0.1:{self.port}", "--cluster", self.cluster,
             "--ca-dir", self.exports["X509_CERT_DIR"]],
            check=False, capture_output=True, text=True, env=env, timeout=120)
        if init.returncode != 0:
            raise BenchError(f"actd init failed (exit {init.returncode}):\n{(init.stderr or init.stdout).strip()}")
        self.config = ServerConfig.load(self.config_path)
        with self.log_path.open("ab") as out:
            # A session of its own: a Ctrl-C on the terminal reaches only the
            # bench, which then stops actd run itself.
            self.process = subprocess.Popen([*actd_command(), "run", "--config", str(self.config_path)],
                                            stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        log(f"actd run (pid {self.process.pid}) on {self.url}, log {self.log_path}")
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"actd run exited with status {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"actd run did not come up in 60 s:\n{self.log_tail()}")
            if self._serving() and re.search(r"engine \S+ started", self.log_path.read_text(errors="replace")):
                break
            time.sleep(0.1)

    def use_token(self, token: str) -> None:
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _serving(self) -> bool:
        try:
            return self.session.get(f"{self.url}/info", timeout=2).status_code == 401  # no token yet
        except requests.RequestException:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def engine_pid(self) -> int:
        """The ``actd engine`` child of ``actd run``, found by its command line."""
        assert self.process is not None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                args = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and b"actframework.actd" in args and b"engine" in args:
                return int(entry.name)
        raise BenchError("actd run has no engine child")

    def engine_peak_rss_mib(self) -> float:
        pid = self.engine_pid()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmHWM in /proc/{pid}/status")

    # ------------------------------------------------------------ jobs

    def get_jobs(self, ids: list[int], arc: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.url}/jobs", timeout=60, params={
            "id": ",".join(map(str, ids)), "client": "id", "arc": arc})
        response.raise_for_status()
        return list(response.json())

    def measure(self, jobs: int) -> tuple[float, Timeline, list[int]]:
        """Submit as ``act sub`` does and wait until all are done."""
        timeline = Timeline()
        ids: list[int] = []
        self.submitted = ids
        started = time.monotonic()
        response = self.session.post(f"{self.url}/jobs", json=[{"clusterlist": [self.cluster]}] * jobs, timeout=60)
        response.raise_for_status()
        ids.extend(int(item["id"]) for item in response.json())
        response = self.session.put(f"{self.url}/jobs", json=[{"id": i, "desc": JOB} for i in ids], timeout=60)
        response.raise_for_status()
        refused = [item for item in response.json() if "msg" in item]
        if refused:
            raise BenchError(f"actd refused {len(refused)} description(s): {refused[0]['msg']}")
        submitted = time.monotonic() - started
        elapsed = wait_until(lambda: arcstates(self.get_jobs(ids, "arcstate")), len(ids), "done", RESTING_BAD,
                             started, timeline, lambda: f":\n{self.log_tail()}")
        log(f"ours: POST+PUT took {submitted:.2f} s")
        return elapsed, timeline, ids

    def check_outputs(self, ids: list[int]) -> None:
        assert self.config is not None
        for row in self.get_jobs(ids, "IDFromEndpoint"):
            ce_id = row.get("a_IDFromEndpoint")
            if not ce_id:
                raise BenchError(f"job {row['c_id']} has no IDFromEndpoint")
            check_hello(self.config.results_dir / str(ce_id) / "out.txt", f"job {row['c_id']}")

    def clean(self, ids: list[int], timeout: float = 90.0) -> None:
        """Remove our jobs as a user would (a kill first for any not yet at
        rest, then DELETE /jobs) and wait until the engine has removed their
        CE jobs; what is left on the CE then is cleaned directly. Best effort:
        problems are logged."""
        if not ids:
            return
        ce_ids: list[str] = []
        alive = self.process is not None and self.process.poll() is None
        try:
            if alive:
                rows = self.get_jobs(ids, "arcstate,IDFromEndpoint")
                ce_ids = [str(row["a_IDFromEndpoint"]) for row in rows if row.get("a_IDFromEndpoint")]
                busy = [int(row["c_id"]) for row in rows if row.get("a_arcstate") not in CLEANABLE]
                if busy:
                    log(f"cancelling {len(busy)} unfinished job(s) of ours ...")
                    self.session.patch(f"{self.url}/jobs", timeout=60, params={
                        "action": "cancel", "id": ",".join(map(str, busy))}).raise_for_status()
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline and any(
                            row.get("a_arcstate") not in CLEANABLE for row in self.get_jobs(busy, "arcstate")):
                        time.sleep(0.5)
                self.session.delete(f"{self.url}/jobs", timeout=60, params={
                    "id": ",".join(map(str, ids))}).raise_for_status()
        except requests.RequestException as exc:
            log(f"warning: cleaning our jobs through actd: {exc}")
        self.wait_ce_dropped(ce_ids, timeout if alive else 0)

    def ce_ids(self, ids: list[int]) -> list[str]:
        """The CE's ids of our jobs (those submitted)."""
        return [str(row["a_IDFromEndpoint"]) for row in self.get_jobs(ids, "IDFromEndpoint")
                if row.get("a_IDFromEndpoint")]

    def wait_ce_dropped(self, ce_ids: list[str], timeout: float) -> None:
        """Wait until the engine has removed these CE jobs; clean what is
        left directly. Best effort: problems are logged."""
        if not ce_ids:
            return
        try:
            with ARCRest.connect(self.exports["ARC_CE_URL"], proxy=self.exports["X509_USER_PROXY"],
                                 ca_dir=self.exports["X509_CERT_DIR"]) as rest:
                deadline = time.monotonic() + timeout
                while (left := [r.job_id for r in rest.get_jobs_status(ce_ids) if r.ok]) \
                        and time.monotonic() < deadline:
                    time.sleep(0.5)
                if left:
                    log(f"{len(left)} CE job(s) of ours are still on the CE; cleaning them directly")
                    clean_ce_jobs(rest, left, None, what="our jobs")
        except ActError as exc:
            log(f"warning: checking that the CE dropped our jobs: {exc}")

    def stop(self) -> None:
        process, self.process = self.process, None
        self.session.close()
        if process is None or process.poll() is not None:
            return
        log(f"stopping actd run (pid {process.pid}) ...")
        process.terminate()
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            log("actd run did not stop in 90 s; killing its process group")
            os.killpg(process.pid, signal.SIGKILL)  # its own session: pgid == pid
            process.wait(30)


# ---------------------------------------------------------------- the act command


class ActUser:
    """A user who runs ``act`` (the one beside this interpreter) against the
    stack, with an act-client style configuration of their own."""

    def __init__(self, stack: Stack, exports: dict[str, str], work: Path) -> None:
        self.act = Path(sys.executable).with_name("act")
        if not self.act.exists():
            raise BenchError(f"no act beside {sys.executable}: install actframework into this venv")
        self.stack = stack
        self.home = work / "user"
        self.home.mkdir()
        self.token = self.home / "token"
        self.conf = self.home / "act.yaml"
        self.conf.write_text(f"server: {stack.url}\ntoken: {self.token}\nproxy: {exports['X509_USER_PROXY']}\n"
                             f"clusters:\n  default:\n    - {stack.cluster}\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "LANG": "C.UTF-8",
                    "XDG_CONFIG_HOME": str(self.home / "config"), "XDG_DATA_HOME": str(self.home / "data")}
        self.submitted: list[int] = []
        """Ids of the measurement under way, for cleaning after an interruption."""

    def run(self, *args: str, cwd: Path | None = None) -> str:
        """One ``act`` command; its standard output."""
        try:
            done = subprocess.run([str(self.act), "--conf", str(self.conf), *args], check=False,
                                  capture_output=True, text=True, env=self.env, cwd=cwd or self.home, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"act {args[0]}: {exc}") from None
        if done.returncode != 0:
            raise BenchError(f"act {args[0]} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-1000:]}")
        return done.stdout

    def delegate(self) -> str:
        """``act proxy``: the CE's proxy delegated to our server; the token it stored."""
        out = self.run("proxy")
        if "Successfully inserted proxy" not in out:
            raise BenchError(f"act proxy printed: {out.strip()}")
        return self.token.read_text().strip()

    def measure(self, jobs: int, round_: int) -> tuple[float, float, Timeline]:
        """``act sub`` of ``jobs`` files, ``act stat`` until all are done,
        ``act get``; (seconds to done, seconds of act get, timeline)."""
        folder = self.home / f"round-{round_}"
        folder.mkdir()
        files = []
        for n in range(jobs):
            files.append(folder / f"job-{n}.xrsl")
            files[-1].write_text(JOB + "\n")
        timeline = Timeline()
        started = time.monotonic()
        out = self.run("sub", *map(str, files), cwd=folder)
        self.submitted = [int(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line.startswith("Inserted job")]
        if len(self.submitted) != jobs:
            raise BenchError(f"act sub inserted {len(self.submitted)} of {jobs} jobs:\n{out[-1000:]}")
        selection = ",".join(map(str, self.submitted))
        elapsed = wait_until(
            lambda: arcstates(json.loads(self.run("stat", "-i", selection, "--client", "id", "--arc", "arcstate",
                                                  "--json"))),
            jobs, "done", RESTING_BAD, started, timeline, lambda: f":\n{self.stack.log_tail()}")
        ce_ids = self.stack.ce_ids(self.submitted)
        fetch_started = time.monotonic()
        out = self.run("get", "-i", selection, cwd=folder)
        fetched = time.monotonic() - fetch_started
        self.check_downloads(folder, out)
        self.submitted = []  # act get cleaned them
        self.stack.wait_ce_dropped(ce_ids, 90.0)
        return elapsed, fetched, timeline

    def check_downloads(self, folder: Path, out: str) -> None:
        """Every job's results were stored, and its out.txt holds hello."""
        stored = [line.rsplit(" stored in ", 1)[1] for line in out.splitlines() if line.startswith("Results for job")]
        if len(stored) != len(self.submitted):
            raise BenchError(f"act get stored {len(stored)} of {len(self.submitted)} jobs' results:\n{out[-1000:]}")
        for directory in stored:
            check_hello(folder / directory / "out.txt", "act get")


# ---------------------------------------------------------------- main


class no_interrupts:
    """Defer SIGINT/SIGTERM while cleaning up, so a second Ctrl-C cannot
    leave processes or CE jobs behind; the deferred signal is re-raised after."""

    def __init__(self, reraise: bool = True) -> None:
        self.reraise = reraise

    def __enter__(self) -> None:
        self.pending: list[int] = []
        self.saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in self.saved:
            signal.signal(sig, lambda signum, _frame: self.pending.append(signum))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        if self.pending and self.reraise and exc[0] is None:
            raise KeyboardInterrupt


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def median_line(name: str, times: list[float]) -> str:
    each = ", ".join(f"{t:.1f}" for t in times)
    return f"  {name:<28} median {statistics.median(times):6.1f} s   (rounds: {each})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs per measurement (default 100)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="rounds; the medians are reported (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="leave the temporary directory")
    parser.add_argument("--ce-dir", default=os.environ.get("ACTF_BENCH_ARC_CE_DIR", "/tmp/actframework-bench/arc-ce"),
                        help="state dir of the bench's own CE (default %(default)s)")
    parser.add_argument("--ce-port", type=int, default=int(os.environ.get("ACTF_BENCH_ARC_CE_PORT", "18453")),
                        help="port of the bench's own CE (default %(default)s)")
    args = parser.parse_args()
    if args.jobs < 1 or args.rounds < 1:
        parser.error("--jobs and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)

    work = Path(tempfile.mkdtemp(prefix="actf-bench-e2e-"))
    exports: dict[str, str] = {}
    stack: Stack | None = None
    user: ActUser | None = None
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    get_times: list[float] = []
    rss = 0.0
    status = 0
    try:
        exports = start_ce(args.ce_dir, args.ce_port)
        log(f"CE {exports['ARC_CE_URL']} ({'started' if exports['ARC_CE_STARTED'] == '1' else 'reused'})")
        stack = Stack(exports, work)
        stack.start()
        user = ActUser(stack, exports, work)
        stack.use_token(user.delegate())
        for round_ in range(args.rounds):
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                if side == "ce":
                    elapsed, timeline = ce_floor(exports, args.jobs)
                elif side == "ours":
                    elapsed, timeline, ids = stack.measure(args.jobs)
                    stack.check_outputs(ids)
                    with no_interrupts():
                        stack.clean(ids)
                        stack.submitted = []
                else:
                    elapsed, fetched, timeline = user.measure(args.jobs, round_)
                    get_times.append(fetched)
                    log(f"round {round_ + 1}: act get of {args.jobs} jobs' results {fetched:.1f} s")
                times[side].append(elapsed)
                log(f"round {round_ + 1}: {side} {elapsed:.1f} s; states (first-last seen, s): {timeline.render()}")
                time.sleep(SETTLE_S)
        rss = stack.engine_peak_rss_mib()
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    except (BenchError, ActError, requests.RequestException, OSError, ValueError) as exc:
        print(f"FAILED: {exc}", flush=True)
        status = 1
    finally:
        with no_interrupts(reraise=False):
            if stack is not None:
                stack.clean(stack.submitted + (user.submitted if user else []), timeout=60)
                if status == 1 and stack.log_path.exists():
                    log(f"end of {stack.log_path}:\n{stack.log_tail(2000)}")
                stack.stop()
            if exports.get("ARC_CE_STARTED") == "1":
                stop_ce(exports["ARC_CE_DIR"])
            if args.keep:
                log(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    if status:
        return status

    ce_median = statistics.median(times["ce"])
    ratios = {side: statistics.median(times[side]) / ce_median for side in ("ours", "cli")}
    print(f"{args.jobs} trivial jobs (/bin/echo hello), {args.rounds} round(s), CE {exports['ARC_CE_URL']}:")
    print(median_line("ours (POST /jobs to done)", times["ours"]))
    print(median_line("cli (act sub to done)", times["cli"]))
    print(median_line("cli act get (download+clean)", get_times))
    print(median_line("CE floor (POST to FINISHED)", times["ce"]))
    print(f"  ratio ours / CE: {ratios['ours']:.2f}   cli / CE: {ratios['cli']:.2f}   "
          f"engine peak RSS: {rss:.1f} MiB")
    print(f"RESULT ratio_to_ce={ratios['ours']:.2f} cli_ratio_to_ce={ratios['cli']:.2f} "
          f"engine_peak_rss_mb={rss:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
