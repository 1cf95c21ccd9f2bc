"""act start-up: our ``act`` against the stock act-client 1.0.0, as whole processes.

Users run ``act`` once per command, and scripts run ``act stat`` in loops,
so what a command costs is mostly the start of the process. In one run,
interleaved, both clients are timed as whole processes (wall time, and the
CPU time of the process):

* ``act --help``: the start alone, no configuration read, no server asked;
* ``act stat``: the start, reading the configuration and the token, and one
  ``GET /jobs`` of the user's 100 jobs from the same running ``actd serve``,
  whose table both print (they must list the 100 jobs, and print the same
  table, since ours prints what act-client prints).

Both clients run from venvs of their own made from the same interpreter, as
users install them: ours is ``pip install <this tree>`` (no extra: the
client alone, not editable), rebuilt on every run so that it is the tree as
it is; act-client is ``pip install act-client==1.0.0``, made once. The
server is ``actd serve`` on SQLite on loopback, without an engine: the 100
jobs are created with the REST calls ``act sub`` makes (``POST`` and
``PUT /jobs``) and handed over as the engine's first step would, so they
wait in ``tosubmit``. The user's token is made as the tests make it (the
proxy of a self-signed user certificate stored as a finished delegation
stores it, and a token signed with the server's secret); both clients read
it from the same act-client style configuration.

With ``--pex``, the one-file ``act`` that ``scripts/build-pex`` makes (built
anew on every run) is timed too, for users without pip: ``act --help`` on
its first start (a fresh ``PEX_ROOT``: it unpacks its venv; a few rounds,
each costs seconds) and on later starts (``rounds`` rounds), next to ``act
--help`` from the venv.

Last line: ``RESULT help_vs_actclient=R1 stat_vs_actclient=R2``, each our
median wall time divided by act-client's; with ``--pex`` also
``pex_first_s=S`` (median first start, seconds) and ``pex_second_vs_venv=R``
(median later start over the venv's ``act --help``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from actframework.client.api import ACTClient
from actframework.config import write_private_file
from actframework.db import open_store
from actframework.errors import ActError
from actframework.server.auth import issue_token
from actframework.server_config import ServerConfig
from actframework.x509 import load_proxy, make_proxy, write_proxy

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ACTF_BENCH_CACHE", "/tmp/actframework-bench"))
ACT_CLIENT = "act-client==1.0.0"
ROUNDS = 20
JOBS = 100
CLUSTER = "https://ce.example.org/grid"
"""The cluster the jobs name; no engine runs, so it is never contacted."""
DESCRIPTION = '&(executable="/bin/true")(jobname="bench-{n}")'
COMMANDS = ("help", "stat")
CLIENTS = ("ours", "act-client")


class BenchError(Exception):
    """A measurement or the setup failed; the message says why."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_checked(cmd: list[str], what: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{what}: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the two clients


def make_venv(venv: Path) -> Path:
    """A venv of the interpreter this bench runs on (not of its venv); its Python."""
    python = venv / "bin" / "python"
    if not python.exists():
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        run_checked([base, "-m", "venv", str(venv)], f"python -m venv {venv}", timeout=300)
    return python


def ensure_actclient(venv: Path) -> Path:
    """act-client 1.0.0's ``act``, installing it on first use."""
    act = venv / "bin" / "act"
    probe = "import importlib.metadata as m; print(m.version('act-client'))"
    if act.exists():
        done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], check=False, capture_output=True,
                              text=True)
        if done.returncode == 0 and done.stdout.strip() == "1.0.0":
            return act
        shutil.rmtree(venv)
    log(f"installing {ACT_CLIENT} into {venv} ...")
    python = make_venv(venv)
    run_checked([str(python), "-m", "pip", "install", "-q", ACT_CLIENT], f"pip install {ACT_CLIENT}")
    return act


def install_ours(venv: Path) -> Path:
    """Our ``act``, installed from this tree as users install the client
    (no extra, not editable); pip rebuilds it on every run."""
    python = make_venv(venv)
    log(f"installing actframework from {REPO} into {venv} ...")
    run_checked([str(python), "-m", "pip", "install", "-q", str(REPO)], "pip install actframework")
    missing = subprocess.run([str(python), "-c", "import sqlalchemy"], check=False, capture_output=True)
    if missing.returncode == 0:
        raise BenchError(f"{venv} holds SQLAlchemy: it is not the client alone; remove the venv")
    return venv / "bin" / "act"


# ---------------------------------------------------------------- the server and the user


def self_signed_proxy(directory: Path) -> Path:
    """An RFC 3820 proxy of a self-signed user certificate. The server only
    stores it, as a finished delegation would; nothing here verifies it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "actframework bench"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "bench user")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path, proxy_path = directory / "usercert.pem", directory / "userkey.pem", directory / "proxy.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_private_file(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()).decode())
    write_proxy(make_proxy(cert_path, key_path, lifetime=timedelta(hours=6)), proxy_path)
    return proxy_path


@dataclass
class Server:
    """``actd serve`` on SQLite in ``work``, and one user with ``jobs`` queued jobs."""

    work: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work / "actd.log"

    def start(self) -> ServerConfig:
        actd = Path(sys.executable).with_name("actd")
        config_path = self.work / "actd.yaml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTD_")}
        run_checked([str(actd), "init", "--config", str(config_path), "--data-dir", str(self.work / "data"),
                     "--listen", f"127.0.0.1:{self.port}", "--cluster", CLUSTER,
                     "--ca-dir", str(self.work / "ca")], "actd init", timeout=120)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen([str(actd), "serve", "--config", str(config_path)], stdout=out,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"actd serve did not start:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        log(f"actd serve (pid {self.process.pid}) on {self.url}")
        return ServerConfig.load(config_path)

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/info", timeout=2).status_code == 401
        except requests.RequestException:
            return False

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def queue_jobs(config: ServerConfig, url: str, proxy_path: Path, jobs: int) -> tuple[str, list[int]]:
    """The user's token, and ids of ``jobs`` jobs waiting in ``tosubmit``."""
    proxy = load_proxy(proxy_path)
    expiry = proxy.not_after.replace(tzinfo=None)
    store = open_store(config.database_url)
    try:
        proxyid = store.store_proxy(proxy.dn, "", proxy.to_pem(), expiry)
        token = issue_token(config.jwt_secret, proxyid, expiry)
        with ACTClient(url, token=token) as act:
            created = act.create_jobs([[CLUSTER]] * jobs)
            ids = [int(job["id"]) for job in created if "id" in job]
            if len(ids) != jobs:
                raise BenchError(f"POST /jobs created {len(ids)} of {jobs} jobs: {created[:3]}")
            confirmed = act.confirm_jobs([(job_id, DESCRIPTION.format(n=job_id)) for job_id in ids])
            if any("id" not in job for job in confirmed):
                raise BenchError(f"PUT /jobs refused jobs: {[job for job in confirmed if 'id' not in job][:3]}")
        handed = store.handover(limit=jobs)
        if len(handed) != jobs:
            raise BenchError(f"{len(handed)} of {jobs} jobs were handed over")
    finally:
        store.close()
    return token, ids


# ---------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall: float
    cpu: float
    stdout: str


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """One whole process: wall time, and its user + system CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}:\n{(done.stderr or done.stdout).strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, done.stdout)


def listed_ids(table: str) -> set[int]:
    """The ids in the first column of ``act stat``'s table (after its header and rule)."""
    return {int(line.split()[0]) for line in table.splitlines()[2:] if line.strip()}


def check(client: str, command: str, sample: Sample, ids: list[int]) -> None:
    if command == "help":
        if "usage: act" not in sample.stdout.lower():
            raise BenchError(f"{client} act --help printed no usage:\n{sample.stdout[:500]}")
    elif listed_ids(sample.stdout) != set(ids):
        raise BenchError(f"{client} act stat did not list the {len(ids)} jobs:\n{sample.stdout[:1000]}")


def measure(acts: dict[str, Path], conf: Path, home: Path, ids: list[int], rounds: int
            ) -> dict[tuple[str, str], list[Sample]]:
    """One untimed warm-up each, then ``rounds`` rounds; within a round each
    command runs for both clients back to back, the first one alternating."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
    argv = {"help": ["--help"], "stat": ["--conf", str(conf), "stat"]}
    samples: dict[tuple[str, str], list[Sample]] = {(c, cmd): [] for c in CLIENTS for cmd in COMMANDS}
    for round_ in range(-1, rounds):
        order = CLIENTS if round_ % 2 == 0 else CLIENTS[::-1]
        for command in COMMANDS:
            for client in order:
                sample = timed([str(acts[client]), *argv[command]], env, home)
                check(client, command, sample, ids)
                if round_ >= 0:
                    samples[client, command].append(sample)
    ours, theirs = samples["ours", "stat"][0].stdout, samples["act-client", "stat"][0].stdout
    if ours != theirs:
        raise BenchError(f"the two act stat tables differ:\n--- ours\n{ours[:600]}\n--- act-client\n{theirs[:600]}")
    return samples


#: First starts of the one-file act timed (each unpacks a venv: seconds).
PEX_FIRST_ROUNDS = 3


def build_pex(out: Path) -> Path:
    """The one-file ``act`` of this tree (``scripts/build-pex``), for this interpreter."""
    log(f"building the one-file act into {out} ...")
    base = getattr(sys, "_base_executable", sys.executable)
    env_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    try:
        done = subprocess.run([str(REPO / "scripts" / "build-pex"), "-o", str(out), "--python", base],
                              check=False, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "PATH": env_path})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"scripts/build-pex: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"scripts/build-pex failed:\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return out


def measure_pex(pex: Path, venv_act: Path, home: Path, rounds: int) -> dict[str, list[Sample]]:
    """``act --help`` of the one-file act: first starts (each with a fresh
    ``PEX_ROOT``), then later starts interleaved with the venv's ``act``."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    samples: dict[str, list[Sample]] = {"pex first": [], "pex later": [], "venv": []}
    for round_ in range(PEX_FIRST_ROUNDS):
        root = home / f"pex-root-{round_}"
        sample = timed([str(pex), "--help"], {**env, "PEX_ROOT": str(root)}, home)
        check("one-file", "help", sample, [])
        samples["pex first"].append(sample)
        if round_:
            shutil.rmtree(root)
    warm = {**env, "PEX_ROOT": str(home / "pex-root-0")}
    for round_ in range(-1, rounds):
        for name, argv, use in (("pex later", [str(pex), "--help"], warm), ("venv", [str(venv_act), "--help"], env)):
            sample = timed(argv, use, home)
            check(name, "help", sample, [])
            if round_ >= 0:
                samples[name].append(sample)
    return samples


def report_pex(samples: dict[str, list[Sample]]) -> dict[str, float]:
    print("one-file act (scripts/build-pex), act --help (ms)")
    for name in ("pex first", "pex later", "venv"):
        walls = [s.wall * 1000 for s in samples[name]]
        label = {"pex first": "one-file, first start", "pex later": "one-file, later starts",
                 "venv": "venv"}[name]
        print(f"  {label:<24}{statistics.median(walls):>12.0f}{min(walls):>11.0f}  ({len(walls)} runs)")
    first = statistics.median(s.wall for s in samples["pex first"])
    later = statistics.median(s.wall for s in samples["pex later"]) / statistics.median(
        s.wall for s in samples["venv"])
    return {"pex_first_s": first, "pex_second_vs_venv": later}


def report(samples: dict[tuple[str, str], list[Sample]], jobs: int) -> dict[str, float]:
    """The table of medians and bests; our median wall time over act-client's, per command."""
    rounds = len(samples["ours", "help"])
    print(f"act start-up, {rounds} rounds, whole processes; stat lists {jobs} jobs (ms)")
    print(f"  {'command':<10}{'client':<12}{'wall median':>12}{'wall best':>11}{'cpu median':>12}{'cpu best':>10}")
    ratios: dict[str, float] = {}
    for command in COMMANDS:
        for client in CLIENTS:
            walls = [s.wall * 1000 for s in samples[client, command]]
            cpus = [s.cpu * 1000 for s in samples[client, command]]
            print(f"  {'act ' + command:<10}{client:<12}{statistics.median(walls):>12.0f}{min(walls):>11.0f}"
                  f"{statistics.median(cpus):>12.0f}{min(cpus):>10.0f}")
        ratios[command] = (statistics.median(s.wall for s in samples["ours", command])
                           / statistics.median(s.wall for s in samples["act-client", command]))
        print(f"  {'':<10}{'ours / act-client (wall medians)':<44}{ratios[command]:.2f}")
    return ratios


def run(work: Path, rounds: int, jobs: int, pex: bool = False
        ) -> tuple[dict[tuple[str, str], list[Sample]], dict[str, list[Sample]]]:
    """Install both clients, start the server with the user's jobs, time;
    with ``pex``, the one-file act as well."""
    acts = {"ours": install_ours(CACHE / "act-venv"), "act-client": ensure_actclient(CACHE / "act-client-venv")}
    pex_samples: dict[str, list[Sample]] = {}
    if pex:
        pex_home = work / "pex-home"
        pex_home.mkdir()
        pex_samples = measure_pex(build_pex(work / "act.pex"), acts["ours"], pex_home, rounds)
    with Server(work) as server:
        config = server.start()
        home = work / "home"
        home.mkdir()
        proxy = self_signed_proxy(home)
        token, ids = queue_jobs(config, server.url, proxy, jobs)
        write_private_file(home / "token", token)
        conf = home / "act-client.yaml"
        conf.write_text(f"server: {server.url}\ntoken: {home / 'token'}\nproxy: {proxy}\n")
        log(f"{len(ids)} jobs queued; timing {rounds} rounds ...")
        return measure(acts, conf, home, ids, rounds), pex_samples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=JOBS, help="the user's jobs act stat lists (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="leave the temporary directory (config, actd.log)")
    parser.add_argument("--pex", action="store_true", help="also time the one-file act of scripts/build-pex "
                        "(needs pex; builds it, a few minutes)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.jobs < 1:
        parser.error("--rounds and --jobs must be at least 1")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cli-startup-", dir=CACHE))
    try:
        samples, pex_samples = run(work, args.rounds, args.jobs, args.pex)
    except (BenchError, ActError, requests.RequestException, OSError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    ratios = report(samples, args.jobs)
    result = f"RESULT help_vs_actclient={ratios['help']:.2f} stat_vs_actclient={ratios['stat']:.2f}"
    if pex_samples:
        pex = report_pex(pex_samples)
        result += f" pex_first_s={pex['pex_first_s']:.2f} pex_second_vs_venv={pex['pex_second_vs_venv']:.2f}"
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
