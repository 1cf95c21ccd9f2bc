"""10,000 jobs held on a real CE through actd, against the same work done by ``ARCRest`` directly.

The bench starts its own A-REX (``scripts/arc-ce/start``, own state dir and
port) with ``maxjobs`` limiting the jobs in the batch system to
``--running`` (10), so that nearly all jobs wait in the CE's queue
(``PREPARED``) as they do on a busy site. The jobs sleep for an hour: what
the CE holds does not change during the bench. Then, in this order:

* **floor, submission**: one ``ARCRest`` connection makes one delegation
  of the user's proxy and bulk-POSTs the same job descriptions the engine
  sends (named, queued and delegated as the engine prepares them), in the
  engine's chunk size (``submit_batch``, 100). Timed from the delegation
  to the last answer; every job must have been given an id. The floor
  goes first, on the empty CE, so ours meets a CE that holds 10,000 more
  jobs: the comparison does not favour ours.
* **ours, submission**: ``actd serve`` and ``actd engine`` on SQLite, the
  user's proxy in the store as ``act proxy`` leaves it. The jobs are
  created as ``act sub`` creates them (``POST /jobs``, then ``PUT /jobs``
  with the descriptions, 5,000 per request). Timed from the first request
  until the store holds every job ``submitted`` with a CE id, all
  distinct; the engine's CPU time (``/proc``) over the same span.
* **status, 5 rounds** after an untimed warm-up of each side (the engine's
  first cycle also reads the owner's job list from the CE, which it does at
  most every ``listing_interval``, so not in a usual cycle), alternating
  which side goes first:
  - floor: one bulk ``POST /jobs?action=info`` of our 10,000 CE ids (the
    call the engine makes; ``ARCRest`` splits it under A-REX's body limit as
    it does for the engine), every id answered;
  - ours: one status cycle of the engine over the same 10,000 jobs. Their
    last-check times are set back in the store, so the running engine
    (``check_interval`` one day, so that nothing else is checked) finds
    them all due at once; the cycle's time is what the engine's own
    ``actd_engine_cycle_seconds{role="status"}`` histogram adds (idle cycles
    measured just before are taken off), its CPU time from ``/proc``, and
    it counts only once every job's check is written.
* **figures**: the engine's peak RSS (``VmHWM``) and the database's bytes
  per job (SQLite file plus WAL, after a checkpoint).

At the end every job is killed and cleaned, the bench waits until the CE
lists none and holds no delegation, and stops the CE if it started it.

Last line: ``RESULT submit_ratio=R1 status_ratio=R2 cpu_ms_per_job=C
engine_rss_mb=M db_kb_per_job=K``: R1 and R2 are our time over the floor's
(status: medians), C the engine's CPU milliseconds per job for submission
plus one status cycle (both are printed on their own as well). Goals: R1 <=
1.2, R2 <= 1.3, M <= 300.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import yaml

from actframework import jobdesc
from actframework.arc import ARCRest
from actframework.arc.submit import prepare_job
from actframework.config import write_private_file
from actframework.db import JobStore, open_store
from actframework.db.schema import arcjobs
from actframework.engine.submitter import token_name
from actframework.server.auth import issue_token
from actframework.server_config import ServerConfig
from actframework.x509 import load_proxy

from benchkit import (CACHE, BenchError, Profile, actd_command, clean_env, cpu_seconds, empty_ce, free_port,
                      log, peak_rss_mb, start_ce, stop_ce, top_frames)

DESCRIPTION = '&(executable="/bin/sleep")(arguments="3600")(jobname="scale{n}")'
PUT_BATCH = 5000
SUBMIT_BATCH = 100
ROUNDS = 5
GOALS = {"submit_ratio": 1.2, "status_ratio": 1.3, "engine_rss_mb": 300.0}
ONE_DAY = 86400


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --------------------------------------------------------------------------- the floor


class Floor:
    """The same work by ``ARCRest`` alone, as the user whose proxy actd holds."""

    def __init__(self, cluster: str, proxy: Path, ca_dir: Path) -> None:
        self.cluster, self.proxy, self.ca_dir = cluster, proxy, ca_dir

    def connect(self) -> ARCRest:
        return ARCRest.connect(self.cluster, proxy=self.proxy, ca_dir=self.ca_dir)

    def submit(self, jobs: int) -> tuple[float, float, list[str]]:
        """Seconds to delegate once and bulk-POST ``jobs`` jobs, the CPU
        seconds of this process meanwhile, and the jobs' CE ids."""
        queue = self.cluster.rsplit("/", 1)[1]
        with self.connect() as rest:
            started = time.perf_counter()
            cpu_before = time.process_time()
            delegation = rest.create_delegation(self.proxy)
            ids: list[str] = []
            for numbers in chunks(range(jobs), SUBMIT_BATCH):
                prepared = []
                for n in numbers:
                    description = jobdesc.parse_one(DESCRIPTION.format(n=n))
                    description.set_name(token_name(description.name, secrets.token_hex(8), n + 1))
                    prepared.append(prepare_job(description, input_dir=None, queue=queue,
                                                delegation_id=delegation, into_description=True).description)
                created = rest.create_jobs(jobdesc.unparse(prepared))
                failed = [result for result in created if not result.ok]
                if failed or len(created) != len(numbers):
                    raise BenchError(f"floor: {len(numbers)} jobs posted, {len(created)} answers, "
                                     f"refused: {failed[:3]}")
                ids += [result.value.id for result in created if result.value is not None]
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
        if len(set(ids)) != jobs:
            raise BenchError(f"floor: {jobs} jobs submitted, {len(set(ids))} distinct ids")
        return elapsed, cpu, ids

    def status(self, ids: Sequence[str]) -> float:
        """Seconds for one bulk info call of ``ids``, each of which must be answered."""
        with self.connect() as rest:
            started = time.perf_counter()
            results = rest.get_jobs_info(ids)
            elapsed = time.perf_counter() - started
        answered = {result.job_id for result in results if result.ok and result.value is not None}
        if answered != set(ids):
            raise BenchError(f"floor: info answered {len(answered)} of {len(ids)} jobs")
        return elapsed


# --------------------------------------------------------------------------- ours


class Host:
    """``actd serve`` and ``actd engine`` on SQLite, with the CE as their cluster."""

    def __init__(self, work: Path, cluster: str, proxy: Path, ca_dir: Path) -> None:
        self.work, self.cluster, self.proxy, self.ca_dir = work, cluster, proxy, ca_dir
        self.port = free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = work / "actd.yaml"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()
        self.session.trust_env = False
        self.store: JobStore | None = None

    def start(self) -> None:
        subprocess.run([*actd_command(), "init", "--config", str(self.config_path),
                        "--data-dir", str(self.work / "data"), "--listen", f"127.0.0.1:{self.port}",
                        "--cluster", self.cluster, "--ca-dir", str(self.ca_dir)],
                       check=True, capture_output=True, timeout=120, env=clean_env("ACTD_"))
        raw = yaml.safe_load(self.config_path.read_text())
        raw["engine"] = {**(raw.get("engine") or {}), "submit_batch": SUBMIT_BATCH, "status_batch": 10000,
                         "check_interval": ONE_DAY, "poll_interval": 0.2,
                         "metrics_listen": f"127.0.0.1:{self.metrics_port}"}
        write_private_file(self.config_path, yaml.safe_dump(raw))
        config = ServerConfig.load(self.config_path)
        self.store = open_store(config.database_url)
        proxy = load_proxy(self.proxy)
        expiry = proxy.not_after.replace(tzinfo=None)
        proxyid = self.store.store_proxy(proxy.dn, "", proxy.to_pem(), expiry)
        self.session.headers["Authorization"] = f"Bearer {issue_token(config.jwt_secret, proxyid, expiry)}"
        for name in ("serve", "engine"):
            with (self.work / f"{name}.log").open("ab") as out:
                self.processes[name] = subprocess.Popen(
                    [*actd_command(), name, "--config", str(self.config_path)],
                    stdout=out, stderr=subprocess.STDOUT, env=clean_env("ACTD_"))
        deadline = time.monotonic() + 90
        while not (self._answers(f"{self.url}/info") and self._answers(self.metrics_url)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes.values()):
                raise BenchError(f"actd did not come up:\n{self.log_tail('serve')}\n{self.log_tail('engine')}")
            time.sleep(0.2)
        time.sleep(3)  # the engine's start-up (imports, first idle cycles) is not the work measured
        log(f"actd serve on {self.url}, actd engine (metrics {self.metrics_url}); work dir {self.work}")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def engine_pid(self) -> int:
        return self.processes["engine"].pid

    def _answers(self, url: str) -> bool:
        try:
            return self.session.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        self.session.close()
        if self.store is not None:
            self.store.engine.dispose()

    def _call(self, method: str, path: str, body: Any) -> Any:
        response = self.session.request(method, f"{self.url}{path}", json=body, timeout=600)
        if response.status_code >= 400:
            raise BenchError(f"{method.upper()} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def _count(self, condition: Any) -> int:
        assert self.store is not None
        with self.store.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(arcjobs).where(condition))
                       .scalar_one())

    def submit(self, jobs: int, timeout: float) -> tuple[float, float]:
        """Seconds from the first ``POST /jobs`` until all ``jobs`` are
        submitted, and the engine's CPU seconds meanwhile."""
        cpu_before = cpu_seconds(self.engine_pid)
        started = time.perf_counter()
        for numbers in chunks(range(jobs), PUT_BATCH):
            created = self._call("post", "/jobs", [{"clusterlist": [self.cluster]}] * len(numbers))
            ids = [int(item["id"]) for item in created]
            confirmed = self._call("put", "/jobs", [{"id": job_id, "desc": DESCRIPTION.format(n=n)}
                                                    for job_id, n in zip(ids, numbers, strict=True)])
            refused = [item for item in confirmed if "msg" in item]
            if len(ids) != len(numbers) or refused:
                raise BenchError(f"{len(numbers)} jobs asked for, {len(ids)} created, refused: {refused[:3]}")
        submitted = arcjobs.c.arcstate == "submitted"
        deadline = time.monotonic() + timeout
        while (done := self._count(submitted)) < jobs:
            if time.monotonic() > deadline or self.processes["engine"].poll() is not None:
                raise BenchError(f"{done} of {jobs} jobs submitted after {timeout:.0f} s:\n"
                                 f"{self.log_tail('engine')}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(self.engine_pid) - cpu_before
        return elapsed, cpu

    def ce_ids(self) -> list[str]:
        assert self.store is not None
        with self.store.engine.connect() as connection:
            ids = [str(row[0]) for row in connection.execute(sa.select(arcjobs.c.IDFromEndpoint))]
        if len(set(ids)) != len(ids) or not all(ids):
            raise BenchError("the store's jobs do not each have their own CE id")
        return ids

    def status_sum(self) -> tuple[float, float]:
        """The status step's cycle count and seconds so far, from the engine's metrics."""
        count = total = 0.0
        for line in requests.get(self.metrics_url, timeout=10).text.splitlines():
            if 'step="status"' in line or 'role="status"' in line:
                if line.startswith("actd_engine_cycle_seconds_count"):
                    count += float(line.rsplit(" ", 1)[1])
                elif line.startswith("actd_engine_cycle_seconds_sum"):
                    total += float(line.rsplit(" ", 1)[1])
        return count, total

    def status_cycle(self, jobs: int, timeout: float) -> tuple[float, float]:
        """Seconds and engine CPU seconds of one status cycle over every job."""
        assert self.store is not None
        idle_count, idle_sum = self.status_sum()
        time.sleep(2)
        count, total = self.status_sum()
        idle_mean = (total - idle_sum) / (count - idle_count) if count > idle_count else 0.0
        cpu_before = cpu_seconds(self.engine_pid)
        due_since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=ONE_DAY + 60)
        marked = datetime.now(UTC).replace(tzinfo=None)
        with self.store.engine.begin() as connection:
            connection.execute(sa.update(arcjobs).values(tarcstate=due_since))
        checked = arcjobs.c.tarcstate >= marked
        deadline = time.monotonic() + timeout
        while (done := self._count(checked)) < jobs:
            if time.monotonic() > deadline:
                raise BenchError(f"{done} of {jobs} jobs checked after {timeout:.0f} s:\n{self.log_tail('engine')}")
            time.sleep(0.1)
        cpu = cpu_seconds(self.engine_pid) - cpu_before
        time.sleep(0.5)  # the cycle's observation follows its last write
        after_count, after_sum = self.status_sum()
        cycles = after_count - count
        return (after_sum - total) - max(0.0, cycles - 1) * idle_mean, cpu

    def db_bytes(self) -> int:
        """The database's size (file and WAL after a checkpoint); with actd stopped."""
        path = Path(sa.engine.make_url(ServerConfig.load(self.config_path).database_url).database or "")
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=10, help="the CE's limit of jobs in the batch system")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--ce-dir", type=Path,
                        default=Path(os.environ.get("ACTF_BENCH_SCALE_CE_DIR", CACHE / "scale-ce")))
    parser.add_argument("--ce-port", type=int, default=int(os.environ.get("ACTF_BENCH_SCALE_CE_PORT", "18463")))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the engine with py-spy into DIR (submit.txt, status-N.txt) and print "
                             "the top functions; sampling slows the engine, so the ratios are then no figures")
    parser.add_argument("--wall", action="store_true",
                        help="with --profile: sample waiting threads too (where the time goes, not the CPU)")
    args = parser.parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    def profiled(name: str) -> Profile:
        return Profile(host.engine_pid if host else 0, args.profile / f"{name}.txt" if args.profile else None,
                       wall=args.wall)

    work = Path(tempfile.mkdtemp(prefix="actf-bench-scale-"))
    started_ce = False
    host: Host | None = None
    floor: Floor | None = None
    try:
        exports = start_ce(args.ce_dir, args.ce_port, ARC_CE_MAXJOBS=f"-1 {args.running} -1 -1 -1")
        started_ce = exports["ARC_CE_STARTED"] == "1"
        if not started_ce:
            log(f"note: reusing a running CE in {args.ce_dir}; its maxjobs is what it was started with")
        cluster = f"https://localhost:{args.ce_port}/fork"
        proxy, ca_dir = Path(exports["X509_USER_PROXY"]), Path(exports["X509_CERT_DIR"])
        floor = Floor(cluster, proxy, ca_dir)
        empty_ce(floor.connect, 600)

        floor_submit, floor_cpu, _floor_ids = floor.submit(args.jobs)
        log(f"floor: {args.jobs} jobs submitted in {floor_submit:.1f} s, CPU {floor_cpu:.1f} s")
        host = Host(work, cluster, proxy, ca_dir)
        host.start()
        with profiled("submit"):
            ours_submit, submit_cpu = host.submit(args.jobs, timeout=max(600, args.jobs * 0.3))
        log(f"ours: {args.jobs} jobs submitted in {ours_submit:.1f} s, engine CPU {submit_cpu:.1f} s")
        ids = host.ce_ids()

        # Untimed warm-ups: the floor's first call, and the engine's first
        # cycle, which also reads the owner's job list (at most every
        # listing_interval, 600 s by default: not what a cycle usually does).
        floor.status(ids)
        host.status_cycle(args.jobs, timeout=600)
        times: dict[str, list[float]] = {"ours": [], "floor": []}
        status_cpu: list[float] = []
        for round_ in range(args.rounds):
            for side in (("floor", "ours") if round_ % 2 == 0 else ("ours", "floor")):
                if side == "floor":
                    times["floor"].append(floor.status(ids))
                else:
                    with profiled(f"status-{round_ + 1}"):
                        elapsed, cpu = host.status_cycle(args.jobs, timeout=600)
                    times["ours"].append(elapsed)
                    status_cpu.append(cpu)
            log(f"status round {round_ + 1}: ours {times['ours'][-1]:.2f} s "
                f"(engine CPU {status_cpu[-1]:.2f} s), floor {times['floor'][-1]:.2f} s")
        rss = peak_rss_mb(host.engine_pid)
        host.stop()
        db_kb = host.db_bytes() / args.jobs / 1024
    except (BenchError, subprocess.SubprocessError, requests.RequestException, OSError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        if host is not None:
            host.stop()
        try:
            if floor is not None:
                empty_ce(floor.connect, max(1800, args.jobs * 0.2), clean_every=30)
        except (BenchError, requests.RequestException, OSError) as exc:
            print(f"FAILED to empty the CE: {exc}", flush=True)
        if started_ce:
            stop_ce(args.ce_dir, wipe=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    if args.profile is not None:
        for name in ("submit", "status-1"):
            log(f"profile of the engine, {name}:\n{top_frames(args.profile / f'{name}.txt')}")
    submit_ratio = ours_submit / floor_submit
    status_ratio = statistics.median(times["ours"]) / statistics.median(times["floor"])
    submit_ms = submit_cpu / args.jobs * 1000
    status_ms = statistics.median(status_cpu) / args.jobs * 1000
    log(f"engine CPU per job: submission {submit_ms:.2f} ms (the floor's: {floor_cpu / args.jobs * 1000:.2f} ms), "
        f"one status cycle {status_ms:.2f} ms")
    print(f"RESULT submit_ratio={submit_ratio:.2f} status_ratio={status_ratio:.2f} "
          f"cpu_ms_per_job={submit_ms + status_ms:.2f} engine_rss_mb={rss:.0f} db_kb_per_job={db_kb:.2f} "
          f"cpu_ms_submit={submit_ms:.2f} cpu_ms_status={status_ms:.2f}", flush=True)
    met = (submit_ratio <= GOALS["submit_ratio"] and status_ratio <= GOALS["status_ratio"]
           and rss <= GOALS["engine_rss_mb"])
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
