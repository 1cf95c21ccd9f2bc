"""The REST server at scale: ``GET /jobs`` of 10,000 and 100,000 jobs against its floor.

One ``actd serve`` and one ``actd engine`` on SQLite in a temporary
directory (``actd init``), separate processes so that the server's memory
is its own. The engine's only site is ``offline``: it takes every
confirmed job over (``tosubmit``) and submits none, so no CE is needed.
One user, whose token is made as the tests make it.

* **fill**: jobs created as ``act sub`` creates them (``POST /jobs`` with
  the cluster list, then ``PUT /jobs`` with the descriptions, 5,000 per
  request) until the store holds 10,000, then 100,000, each time waiting
  until the engine has taken all of them over;
* **ours**: ``GET /jobs?client=id,jobname&arc=JobID,State,arcstate``,
  timed from the request to the last byte of the body, with a kept-alive
  connection;
* **floor**: the same listing from the job store in this process
  (``JobStore.select_jobs``, the server's own query) plus the server's
  rendering and JSON encoding of every row: the work the answer needs,
  without HTTP and without the server.

Rounds alternate which side goes first. Before it counts anything the bench
checks that both sides give the same jobs, all of them.

Then ``act stat`` at each size, against the same server, as whole
processes, as users run it: our ``act`` (the one beside this interpreter)
and the stock act-client 1.0.0 (its own venv, made once, as
``bench/cli_startup.py`` makes it), both reading one act-client style
configuration with the user's token:

* ``act stat -a``, the table, by both clients;
* our ``act stat -a --json``; act-client has no JSON output, so its
  counterpart is its table, the only way it lists the jobs.

Rounds interleave the clients, the first one alternating; times are wall
medians. Every run's output is checked: the table lists every job's id
once, the JSON holds every job with the server's values, and our table is
act-client's to the byte. Each client's peak RSS is its own, from
``/usr/bin/time``; it is logged per size, so that its growth from 10,000 to 100,000
jobs can be set against the body's.

The server's peak RSS is ``VmHWM`` of the ``actd serve`` process at the end.

Last line: ``RESULT ratio_10k=R1 ratio_100k=R2 peak_rss_mb=M stat_vs_actclient=R3``,
each ratio_ our median time over the floor's, R3 the larger of our ``stat
-a`` and our ``stat --json`` over act-client's ``stat -a``, at the largest
size. Goal: R1, R2 <= 1.5, M <= 250 and R3 <= 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

from benchkit import BenchError, actd_command, clean_env, free_port, log
from cli_startup import CACHE, ensure_actclient

from actframework.config import write_private_file
from actframework.db import JobFilter, JobStore, open_store
from actframework.server.auth import issue_token
from actframework.server.routes.jobs import _render
from actframework.server_config import ServerConfig

CLUSTER = "https://ce.bench.invalid:443/batch"
CLIENT_COLUMNS = ("id", "jobname")
ARC_COLUMNS = ("JobID", "State", "arcstate")
PARAMS = {"client": ",".join(CLIENT_COLUMNS), "arc": ",".join(ARC_COLUMNS)}
DESCRIPTION = '&(executable="/bin/true")(jobname="bench{n}")'
BATCH = 5000
SIZES = (10_000, 100_000)
GOALS = {"ratio": 1.5, "peak_rss_mb": 250.0, "stat_vs_actclient": 1.0}
TIME = "/usr/bin/time"
#: The ``act stat`` runs timed: (client, what) -> the arguments after ``--conf FILE``.
STAT_RUNS = {("ours", "table"): ["stat", "-a"], ("ours", "json"): ["stat", "-a", "--json"],
             ("act-client", "table"): ["stat", "-a"]}


class Host:
    """``actd serve`` and ``actd engine`` in ``work``, and the user's session."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = work / "actd.yaml"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()
        self.session.trust_env = False
        self.proxyid = 0

    def start(self) -> None:
        ca_dir = self.work / "ca"
        ca_dir.mkdir()
        subprocess.run([*actd_command(), "init", "--config", str(self.config_path), "--data-dir", str(self.work / "data"),
                        "--listen", f"127.0.0.1:{self.port}", "--cluster", CLUSTER, "--ca-dir", str(ca_dir)],
                       check=True, capture_output=True, timeout=120, env=self.env())
        raw = yaml.safe_load(self.config_path.read_text())
        raw["engine"] = {**(raw.get("engine") or {}),
                         "sites": {"bench": {"endpoint": CLUSTER, "status": "offline"}}}
        write_private_file(self.config_path, yaml.safe_dump(raw))
        config = ServerConfig.load(self.config_path)
        expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
        with self.store() as store:
            self.proxyid = store.store_proxy("/DC=bench/CN=user", "", b"not read by this bench", expiry)
        self.session.headers["Authorization"] = f"Bearer {issue_token(config.jwt_secret, self.proxyid, expiry)}"
        for name in ("serve", "engine"):
            with (self.work / f"{name}.log").open("ab") as out:
                self.processes[name] = subprocess.Popen([*actd_command(), name, "--config", str(self.config_path)],
                                                        stdout=out, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.monotonic() + 60
        while not self._serving():
            if time.monotonic() > deadline or self.processes["serve"].poll() is not None:
                raise BenchError(f"actd serve did not come up:\n{self.log_tail('serve')}")
            time.sleep(0.1)
        log(f"actd serve on {self.url}, actd engine; work dir {self.work}")

    @staticmethod
    def env() -> dict[str, str]:
        return clean_env("ACTD_")

    def store(self) -> JobStore:
        return open_store(ServerConfig.load(self.config_path).database_url)

    def _serving(self) -> bool:
        try:
            return self.session.get(f"{self.url}/info", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                process.kill()
        self.session.close()

    def serve_peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.processes['serve'].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise BenchError("no VmHWM for actd serve")

    # ------------------------------------------------------------ filling

    def fill(self, total: int, have: int) -> None:
        """Create jobs until the user has ``total``, and wait for the handover."""
        started = time.monotonic()
        while have < total:
            count = min(BATCH, total - have)
            created = self._call("post", "/jobs", [{"clusterlist": [CLUSTER]}] * count)
            ids = [int(item["id"]) for item in created]
            confirmed = self._call("put", "/jobs", [{"id": i, "desc": DESCRIPTION.format(n=i)} for i in ids])
            refused = [item for item in confirmed if "msg" in item]
            if len(ids) != count or refused:
                raise BenchError(f"{count} jobs asked for, {len(ids)} created, refused: {refused[:3]}")
            have += count
        deadline = time.monotonic() + 1800
        with self.store() as store:
            while (waiting := _not_handed_over(store)) > 0:
                if time.monotonic() > deadline or self.processes["engine"].poll() is not None:
                    raise BenchError(f"{waiting} jobs not handed over:\n{self.log_tail('engine')}")
                time.sleep(0.5)
        log(f"{total} jobs created and handed over in {time.monotonic() - started:.0f} s")

    def _call(self, method: str, path: str, body: Any) -> Any:
        response = self.session.request(method, f"{self.url}{path}", json=body, timeout=600)
        if response.status_code >= 400:
            raise BenchError(f"{method.upper()} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    # ------------------------------------------------------------ the two sides

    def listing(self) -> tuple[float, bytes]:
        started = time.perf_counter()
        response = self.session.get(f"{self.url}/jobs", params=PARAMS, timeout=600)
        body = response.content
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"GET /jobs: HTTP {response.status_code}: {body[:300]!r}")
        return elapsed, body


def _not_handed_over(store: JobStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql(
            "SELECT count(*) FROM clientjobs WHERE arcjobid IS NULL").scalar_one())


def floor_listing(store: JobStore, proxyid: int) -> tuple[float, bytes]:
    started = time.perf_counter()
    rows = store.select_jobs(proxyid, JobFilter(), CLIENT_COLUMNS, ARC_COLUMNS)
    body = json.dumps([{key: _render(value) for key, value in row.items()} for row in rows],
                      separators=(",", ":")).encode()
    return time.perf_counter() - started, body


def check_same(ours: bytes, floor: bytes, total: int) -> None:
    """Both sides list the same ``total`` jobs with the same values."""
    theirs, mine = json.loads(floor), json.loads(ours)
    if len(mine) != total or mine != theirs:
        raise BenchError(f"the listings differ: {len(mine)} jobs over HTTP, {len(theirs)} from the store, "
                         f"{total} expected")
    if any(job["a_arcstate"] != "tosubmit" for job in mine):
        raise BenchError("some listed jobs were not handed over")


def measure(host: Host, total: int, rounds: int) -> tuple[float, float]:
    """Median seconds of ours and of the floor, rounds alternating who goes first."""
    times: dict[str, list[float]] = {"ours": [], "floor": []}
    with host.store() as store:
        sides: dict[str, Callable[[], tuple[float, bytes]]] = {
            "ours": host.listing, "floor": lambda: floor_listing(store, host.proxyid)}
        bodies: dict[str, bytes] = {}
        for side in ("ours", "floor"):  # warm-up, and the check that both do the whole work
            bodies[side] = sides[side]()[1]
        check_same(bodies["ours"], bodies["floor"], total)
        for round_ in range(rounds):
            order = ("ours", "floor") if round_ % 2 == 0 else ("floor", "ours")
            for side in order:
                elapsed, body = sides[side]()
                if len(body) != len(bodies[side]):
                    raise BenchError(f"{side}: the body changed size between rounds")
                times[side].append(elapsed)
    ours, floor = statistics.median(times["ours"]), statistics.median(times["floor"])
    log(f"{total:>7} jobs: ours median {ours:.3f} s (best {min(times['ours']):.3f}), "
        f"floor median {floor:.3f} s (best {min(times['floor']):.3f}), body {len(bodies['ours']) / 1e6:.1f} MB")
    return ours, floor


# ---------------------------------------------------------------- act stat


@dataclass
class StatRun:
    wall: float
    rss_mb: float


class StatClients:
    """Our ``act`` and act-client 1.0.0's, configured for ``host``'s user."""

    def __init__(self, host: Host) -> None:
        if not Path(TIME).exists():
            raise BenchError(f"{TIME} is needed to measure each client's peak RSS (Debian: apt-get install time)")
        ours = Path(sys.executable).with_name("act")
        if not ours.exists():
            raise BenchError(f"no act beside {sys.executable}: install actframework into this venv")
        self.acts = {"ours": ours, "act-client": ensure_actclient(CACHE / "act-client-venv")}
        self.home = host.work / "home"
        self.home.mkdir(exist_ok=True)
        token = host.session.headers["Authorization"].removeprefix("Bearer ")
        write_private_file(self.home / "token", token)
        self.conf = self.home / "act-client.yaml"
        self.conf.write_text(f"server: {host.url}\ntoken: {self.home / 'token'}\n"
                             f"proxy: {self.home / 'no-proxy.pem'}\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "LANG": "C.UTF-8",
                    "XDG_CONFIG_HOME": str(self.home / "config"), "XDG_DATA_HOME": str(self.home / "data")}

    def run(self, client: str, what: str, output: Path) -> StatRun:
        """One whole process, its output into ``output``: wall time and its own peak RSS.

        The RSS comes from ``/usr/bin/time``: a child forked from this big
        process would report this process's RSS as its peak (Linux carries
        the high-water mark across exec), one forked from ``time`` does not."""
        rss_file = output.with_suffix(".rss")
        argv = [TIME, "-f", "%M", "-o", str(rss_file),
                str(self.acts[client]), "--conf", str(self.conf), *STAT_RUNS[client, what]]
        with output.open("wb") as out:
            started = time.perf_counter()
            done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=self.env, cwd=self.home,
                                  check=False, timeout=600)
            wall = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"{client} act {' '.join(STAT_RUNS[client, what])} exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace').strip()[-500:]}")
        return StatRun(wall, int(rss_file.read_text().split()[-1]) / 1024)  # kB


def check_table(client: str, output: Path, ids: list[int]) -> None:
    """The table's header, rule and one row per job, each job once."""
    lines = output.read_text().splitlines()
    listed = sorted(int(line.split(None, 1)[0]) for line in lines[2:])
    if len(lines) != len(ids) + 2 or listed != ids or not lines[0].startswith("id "):
        raise BenchError(f"{client} act stat -a printed {len(lines) - 2} rows, not the {len(ids)} jobs")


def check_json(output: Path, rows: list[dict[str, Any]]) -> None:
    """Every job, with the values the server lists."""
    printed = json.loads(output.read_bytes())
    if printed != rows:
        raise BenchError(f"our act stat --json printed {len(printed)} jobs, not the {len(rows)} the server lists")


def measure_stat(clients: StatClients, store: JobStore, proxyid: int, total: int, rounds: int
                 ) -> dict[tuple[str, str], list[StatRun]]:
    """An untimed, checked warm-up of each run, then ``rounds`` interleaved rounds, each checked."""
    rows = [{key: _render(value) for key, value in row.items()}
            for row in store.select_jobs(proxyid, JobFilter(), CLIENT_COLUMNS, ARC_COLUMNS)]
    ids = sorted(int(row["c_id"]) for row in rows)
    if len(ids) != total:
        raise BenchError(f"the store lists {len(ids)} jobs, not {total}")
    outputs = {key: clients.home / f"{key[0]}-{key[1]}.out" for key in STAT_RUNS}
    runs: dict[tuple[str, str], list[StatRun]] = {key: [] for key in STAT_RUNS}
    keys = list(STAT_RUNS)
    for round_ in range(-1, rounds):
        for key in keys if round_ % 2 == 0 else keys[::-1]:
            run = clients.run(*key, outputs[key])
            if key[1] == "json":
                check_json(outputs[key], rows)
            else:
                check_table(key[0], outputs[key], ids)
            if round_ >= 0:
                runs[key].append(run)
        if round_ == -1 and outputs["ours", "table"].read_bytes() != outputs["act-client", "table"].read_bytes():
            raise BenchError("our act stat -a table differs from act-client's")
    for (client, what), samples in runs.items():
        walls = [sample.wall for sample in samples]
        log(f"{total:>7} jobs: {client:<10} act stat -a{' --json' if what == 'json' else '':<7} "
            f"median {statistics.median(walls):.3f} s (best {min(walls):.3f}), "
            f"peak RSS {max(sample.rss_mb for sample in samples):.0f} MB")
    return runs


def stat_ratio(runs: dict[tuple[str, str], list[StatRun]]) -> float:
    """The larger of ours (table, JSON) over act-client's table, wall medians."""
    theirs = statistics.median(run.wall for run in runs["act-client", "table"])
    return max(statistics.median(run.wall for run in runs["ours", what]) for what in ("table", "json")) / theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=lambda text: tuple(int(n) for n in text.split(",")), default=SIZES,
                        help="job counts, comma-separated [10000,100000]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="actf-bench-server-"))
    host = Host(work)
    ratios: list[float] = []
    try:
        host.start()
        clients = StatClients(host)
        have = 0
        for total in args.sizes:
            host.fill(total, have)
            have = total
            ours, floor = measure(host, total, args.rounds)
            ratios.append(ours / floor)
            with host.store() as store:
                stat_runs = measure_stat(clients, store, host.proxyid, total, args.rounds)
        peak = host.serve_peak_rss_mb()
        stat_vs_actclient = stat_ratio(stat_runs)
    except (BenchError, subprocess.SubprocessError, requests.RequestException, OSError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        host.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    names = [f"ratio_{total // 1000}k" if total >= 1000 else f"ratio_{total}" for total in args.sizes]
    figures = " ".join(f"{name}={ratio:.2f}" for name, ratio in zip(names, ratios, strict=True))
    print(f"RESULT {figures} peak_rss_mb={peak:.0f} stat_vs_actclient={stat_vs_actclient:.2f}", flush=True)
    met = (all(ratio <= GOALS["ratio"] for ratio in ratios) and peak <= GOALS["peak_rss_mb"]
           and stat_vs_actclient <= GOALS["stat_vs_actclient"])
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
