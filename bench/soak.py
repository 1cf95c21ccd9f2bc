"""A site's day, compressed: many users, many jobs, and the faults a site meets.

Everything runs on loopback and is started here: an A-REX of its own
(``scripts/arc-ce/start`` with a state dir under a temporary directory, a
free port and ``ARC_CE_USERS`` users), a private PostgreSQL (``initdb`` and
``pg_ctl`` as user ``postgres``, trust auth), a WebDAV server
(``tests/fixtures/webdav.py``) for the users who keep their inputs there,
and ``actd serve`` plus ``actd engine`` as separate processes on that
database, with short engine intervals, a small ``maxjobs`` for the CE and a
``timeouts.tosubmit`` shorter than the time jobs wait in the queue.

The load (deterministic for a ``--seed``): each user has a certificate of the
test CA, a home of their own with an ``act`` configuration, and runs the real
``act`` CLI: ``act proxy`` with proxies that live a few minutes (made with
``make_proxy`` and renewed while jobs run), ``act sub`` of several
descriptions per call (each job with an input file, an output file derived
from it, a sleep of 0-6 s, some with a failing exit code), ``act stat``,
``act kill`` of some jobs (queued or running), ``act resub`` of some failed
jobs, ``act fetch`` of some others, and ``act get``/``act clean`` of all.
Every run of a job appends its name to a runs log, so runs can be counted.

The faults, at fixed points of the run's progress: SIGKILL of the engine
(started again), a restart of PostgreSQL, a restart of the CE (``stop`` then
``start``, which also kills the fork jobs running on it), and SIGKILL of
``actd serve`` while a user's ``act sub`` uploads large inputs (serve is
started again and the user retries as a person would: looks at ``act
stat``, keeps the jobs that were confirmed, kills the half-made ones,
submits the rest again). A process that exits on its own is started again,
as a service manager would, and reported.

At the end every confirmed job must be ``done`` with the right output,
``failed``/``donefailed`` with an ``Error`` its user can read, or
``cancelled`` after its user's kill; no job may have run more often than
once plus its user's resubmissions; and after the cleans nothing may be left
on the CE, in ``data_dir/inputs`` and ``data_dir/results``, or on WebDAV.
Fairness: while every user had jobs waiting in ``tosubmit``, the number of
each user's jobs ``submitted``/``running`` is read from the job store every
second; Jain's index of each sample, averaged.

Last line: ``RESULT jobs=N lost=L duplicated=D wrongly_cancelled=W
leftover_files=F fairness=J``. Exit status 1 when L, D, W or F is not 0, J
is below 0.9 (``--fairness-goal``), a fault was not injected, or something
failed to start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import sqlalchemy as sa  # noqa: E402
import yaml  # noqa: E402

from actframework.arc import ARCRest  # noqa: E402
from actframework.config import write_private_file  # noqa: E402
from actframework.server_config import new_jwt_secret, render_server_config  # noqa: E402
from actframework.db import upgrade  # noqa: E402
from actframework.x509 import make_proxy, write_proxy  # noqa: E402
from benchkit import free_port  # noqa: E402

#: Job states in which a job takes a slot of the CE, for the fairness samples.
RUNNING_STATES = ("submitted", "running")
#: The fraction of jobs ended after which each fault is injected, in order.
FAULT_POINTS = (("engine_sigkill", 0.10), ("serve_sigkill_mid_upload", 0.22),
                ("postgresql_restart", 0.35), ("ce_restart", 0.50))
FAIRNESS_GOAL = 0.9
BIG_INPUT_MIB = 24
"""Size of each large input of the sub that ``actd serve`` dies under: large
enough that the upload is still going when the bench sees its first bytes."""
INSERTED = re.compile(r"^Inserted job (\S+) with ID (\d+)$")
STORED = re.compile(r"^Results for job (\S+) stored in (.+)$")
NO_OUTPUT = re.compile(r"^No output files for job (\S+)$")


class SoakError(Exception):
    """Something the soak needs did not start or work; the message says what."""


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def venv_script(name: str) -> str:
    """The venv's console script (``actd``, ``act``) next to this interpreter."""
    script = Path(sys.executable).with_name(name)
    if not script.exists():
        raise SoakError(f"{script} is missing: run the bench with the venv's python (scripts/test makes it)")
    return str(script)


def jain(shares: Sequence[float]) -> float | None:
    """Jain's fairness index, (sum x)^2 / (n sum x^2); None when all are 0."""
    squares = sum(x * x for x in shares)
    return sum(shares) ** 2 / (len(shares) * squares) if squares else None


# --------------------------------------------------------------------------- the load


@dataclass
class JobSpec:
    """One job as its user plans it (drawn from the seed)."""

    name: str
    seconds: int
    exit_code: int
    kill_when: str | None
    """``queued`` or ``running``: the user kills it when seen so; else never."""
    resub: bool
    """If it fails, the user resubmits it once."""
    fetch: bool
    """If it fails (and is not resubmitted), the user fetches its outputs."""
    input_bytes: bytes
    big: bool = False


@dataclass
class JobRecord:
    """What the bench knows about one of a user's jobs."""

    spec: JobSpec
    id: int | None = None
    kill_requested: bool = False
    resubs: int = 0
    state: str | None = None
    error: str = ""
    final: str | None = None
    """done, failed, donefailed, cancelled, lost, or ``vanished``."""
    output_ok: bool | None = None
    gone: bool = False
    """Cleaned (or removed by its kill) and no longer listed."""
    unseen_polls: int = 0


def expected_output(spec: JobSpec) -> str:
    return f"{spec.name}\n{hashlib.md5(spec.input_bytes).hexdigest()}  -\n"  # noqa: S324 (a checksum)


def description(spec: JobSpec, runs_log: Path, input_path: Path) -> str:
    """The job's xRSL: log the run, sleep, derive out.txt from in.txt, exit."""
    script = (f"echo {spec.name} $$ $(date +%s%N) >> {runs_log}; sleep {spec.seconds}; "
              f"{{ echo {spec.name}; md5sum < in.txt; }} > out.txt; exit {spec.exit_code}")
    return (f'&(executable="/bin/sh")(arguments="-c" "{script}")(inputfiles=("in.txt" "{input_path}"))'
            f'(outputfiles=("out.txt" ""))(stdout="stdout")(stderr="stderr")(jobname="{spec.name}")')


def plan_jobs(rng: random.Random, user: int, count: int, big: int) -> list[JobSpec]:
    specs = []
    for index in range(count + big):
        is_big = index >= count
        failing = not is_big and rng.random() < 0.12
        kill = None if is_big or rng.random() >= 0.06 else rng.choice(("queued", "running"))
        size = BIG_INPUT_MIB * 2**20 if is_big else rng.randint(32, 4096)
        payload = (rng.randbytes(size // 2).hex().encode() if not is_big
                   else os.urandom(size))  # large inputs need not be reproducible
        specs.append(JobSpec(
            name=f"soak-u{user}-{'big' if is_big else 'j'}{index:04d}",
            seconds=rng.randint(0, 6),
            exit_code=rng.choice((1, 2, 3, 42)) if failing else 0,
            kill_when=kill,
            resub=failing and rng.random() < 0.4,
            fetch=rng.random() < 0.5,
            input_bytes=payload,
            big=is_big,
        ))
    return specs


# --------------------------------------------------------------------------- the site


@dataclass
class Site:
    """The CE, PostgreSQL, WebDAV, actd serve and actd engine of the soak."""

    work: Path
    args: argparse.Namespace
    ce: dict[str, str] = field(default_factory=dict)
    ce_dir: Path = Path()
    ce_port: int = 0
    pg_bin: Path = Path()
    pg_data: Path = Path()
    pg_port: int = 0
    db_url: str = ""
    config_path: Path = Path()
    data_dir: Path = Path()
    url: str = ""
    cluster: str = ""
    webdav: Any = None
    webdav_servers: Any = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    planned_down: set[str] = field(default_factory=set)
    unplanned_restarts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the bench ends: users and samplers stop at their next step."""

    # ------------------------------------------------------------------ CE

    def ce_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_CE_", "X509_"))}
        env.update(ARC_CE_PORT=str(self.ce_port), ARC_CE_USERS=str(max(2, self.args.users)),
                   ARC_CE_WAKEUP="1", ARC_CE_STOP_GRACE="5")
        return env

    def start_ce(self) -> None:
        done = subprocess.run([str(REPO / "scripts/arc-ce/start"), str(self.ce_dir)], env=self.ce_env(),
                              capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise SoakError(f"scripts/arc-ce/start failed:\n{done.stderr.strip()[-2000:]}")
        for line in done.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            self.ce[name] = shlex.split(value)[0] if value else ""

    def stop_ce(self) -> None:
        subprocess.run([str(REPO / "scripts/arc-ce/stop"), str(self.ce_dir)], env=self.ce_env(),
                       capture_output=True, text=True, timeout=300, check=False)

    def user_credentials(self, user: int) -> tuple[str, Path, Path, Path]:
        """(DN, certificate, key, long-lived proxy) of test user ``user`` (1-based)."""
        suffix = "" if user == 1 else str(user)
        return (self.ce[f"ARC_CE_USER{suffix}_DN"], Path(self.ce[f"X509_USER{suffix}_CERT"]),
                Path(self.ce[f"X509_USER{suffix}_KEY"]), Path(self.ce[f"X509_USER{suffix}_PROXY"]))

    # ------------------------------------------------------------------ PostgreSQL

    def pg_ctl(self, *command: str) -> None:
        options = f"-p {self.pg_port} -k {self.pg_data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = subprocess.run(["runuser", "-u", "postgres", "--", str(self.pg_bin / "pg_ctl"), "-D",
                               str(self.pg_data), "-l", str(self.pg_data.parent / "postgresql.log"), "-w",
                               "-t", "60", "-o", options, *command],
                              capture_output=True, text=True, timeout=120, check=False, cwd="/")
        if done.returncode != 0:
            raise SoakError(f"pg_ctl {' '.join(command)} failed:\n{done.stderr.strip()[-2000:]}")

    def start_postgresql(self) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                          key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
        if not versions:
            raise SoakError("no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)")
        self.pg_bin = versions[-1].parent
        home = self.work / "pg"
        home.mkdir()
        shutil.chown(home, "postgres", "postgres")
        self.pg_data = home / "data"
        self.pg_port = free_port()
        done = subprocess.run(["runuser", "-u", "postgres", "--", str(self.pg_bin / "initdb"), "-D",
                               str(self.pg_data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
                              capture_output=True, text=True, timeout=300, check=False, cwd="/")
        if done.returncode != 0:
            raise SoakError(f"initdb failed:\n{done.stderr.strip()[-2000:]}")
        self.pg_ctl("start")
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/postgres"

    def stop_postgresql(self) -> None:
        if self.pg_data.is_dir() and (self.pg_data / "postmaster.pid").exists():
            with suppress(SoakError):
                self.pg_ctl("-m", "immediate", "stop")

    # ------------------------------------------------------------------ actd

    def write_config(self) -> None:
        self.data_dir = self.work / "data"
        serve_port = free_port()
        self.url = f"http://127.0.0.1:{serve_port}"
        self.cluster = f"https://localhost:{self.ce_port}/fork"
        raw = yaml.safe_load(render_server_config(
            data_dir=self.data_dir, database_url=self.db_url, listen=f"127.0.0.1:{serve_port}",
            clusters=[self.cluster], ca_dir=Path(self.ce["X509_CERT_DIR"]), jwt_secret=new_jwt_secret()))
        raw["engine"] = {
            "poll_interval": 0.5, "check_interval": 2, "lease": 60, "ce_timeout": 20,
            "submit_batch": 50, "credential_check_interval": 5, "delegation_renew_before": 60,
            "timeouts": {"tosubmit": self.args.tosubmit},
            "sites": {"ce": {"endpoint": self.cluster, "maxjobs": self.args.maxjobs}},
        }
        self.config_path = self.work / "actd.yaml"
        write_private_file(self.config_path, yaml.safe_dump(raw))
        upgrade(self.db_url)

    def start_actd(self, name: str) -> None:
        """``actd serve`` or ``actd engine``, in a session of its own (so a
        Ctrl-C reaches only the bench, which then stops it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTD_")}
        with (self.work / f"{name}.log").open("ab") as out:
            process = subprocess.Popen([venv_script("actd"), name, "--config", str(self.config_path)],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        with self.lock:
            self.processes[name] = process
            self.planned_down.discard(name)
        if name == "serve":
            self.wait_for_serve()

    def wait_for_serve(self, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(requests.RequestException):
                if requests.get(f"{self.url}/info", timeout=2).status_code == 401:
                    return
            time.sleep(0.2)
        raise SoakError(f"actd serve did not answer on {self.url} within {timeout:.0f} s")

    def sigkill(self, name: str) -> None:
        with self.lock:
            self.planned_down.add(name)
            process = self.processes.get(name)
        if process is not None and process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)

    def watch_processes(self) -> None:
        """Start again a serve or engine that exited when nobody killed it,
        as systemd's ``Restart=on-failure`` would, and remember it."""
        with self.lock:
            exited = [name for name, process in self.processes.items()
                      if process.poll() is not None and name not in self.planned_down]
        for name in exited:
            code = self.processes[name].returncode
            self.unplanned_restarts[name] += 1
            log(f"actd {name} exited by itself with status {code}; starting it again "
                f"(the end of {self.work / (name + '.log')} says why)")
            self.start_actd(name)

    def stop_actd(self) -> None:
        with self.lock:
            self.planned_down.update(self.processes)
            processes = list(self.processes.values())
        for process in processes:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    # ------------------------------------------------------------------ WebDAV

    def start_webdav(self, dns: Sequence[str]) -> None:
        from fixtures.arex import arc_ce_from_exports
        from fixtures.webdav import WebDAVServers

        self.webdav_servers = WebDAVServers(arc_ce_from_exports(self.ce), self.work / "dav")
        try:
            # The first user is admitted too: the fixture checks that the
            # server answers with that user's proxy.
            self.webdav = self.webdav_servers.get("x509", allowed_dns=[self.user_credentials(1)[0], *dns])
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the fixture fails the way pytest tests fail
            raise SoakError(f"the WebDAV server did not start: {exc}") from None

    def store(self) -> sa.Engine:
        return sa.create_engine(self.db_url, pool_pre_ping=True)


# --------------------------------------------------------------------------- users


class User(threading.Thread):
    """One user at a terminal, running ``act`` commands in turn."""

    def __init__(self, site: Site, number: int, specs: list[JobSpec], storage: str, runs_log: Path,
                 deadline: float, big_request: threading.Event, big_done: threading.Event) -> None:
        super().__init__(name=f"user{number}", daemon=True)
        self.site = site
        self.number = number
        self.storage = storage
        self.deadline = deadline
        self.big_request = big_request
        self.big_done = big_done
        self.home = site.work / f"user{number}"
        self.proxy = self.home / "proxy.pem"
        self.downloads = self.home / "downloads"
        self.descriptions = self.home / "jobs"
        for directory in (self.downloads, self.descriptions):
            directory.mkdir(parents=True)
        self.dn, self.cert, self.key, self.long_proxy = site.user_credentials(number)
        self.records = {spec.name: JobRecord(spec) for spec in specs}
        self.pending = [spec.name for spec in specs if not spec.big]
        self.big = [spec.name for spec in specs if spec.big]
        for spec in specs:
            (self.descriptions / f"{spec.name}.in").write_bytes(spec.input_bytes)
            (self.descriptions / f"{spec.name}.xrsl").write_text(
                description(spec, runs_log, self.descriptions / f"{spec.name}.in"))
        self.by_id: dict[int, JobRecord] = {}
        self.proxy_renew_at = 0.0
        self.commands: Counter[str] = Counter()
        self.failed_commands: Counter[str] = Counter()
        self.finished = False
        self.error: BaseException | None = None
        self.first_wave = threading.Event()
        """Set once the user's first act sub returned: the engine starts after all of them."""
        config: dict[str, Any] = {"server": site.url, "clusters": {"default": [site.cluster]},
                                  "proxy": str(self.proxy)}
        if storage == "webdav":
            config["storage"] = "webdav"
            config["storage_options"] = {"url": site.webdav.url_for(f"user{number}")}
            (site.webdav.root / f"user{number}").mkdir()
        self.config_dir = self.home / ".config" / "act-client"
        self.config_dir.mkdir(parents=True)
        (self.config_dir / "config.yaml").write_text(yaml.safe_dump(config))

    # ------------------------------------------------------------------ act

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "LANG": "C.UTF-8",
                "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_DATA_HOME": str(self.home / ".local/share"),
                "X509_CERT_DIR": self.site.ce["X509_CERT_DIR"]}

    def act(self, *words: str, timeout: float = 300) -> tuple[int, str]:
        """Run ``act WORDS`` as this user; (exit status, stdout and stderr)."""
        self.commands[words[0]] += 1
        try:
            done = subprocess.run([venv_script("act"), *words], cwd=self.home, env=self.env(),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            self.failed_commands[words[0]] += 1
            return 124, f"act {words[0]} timed out"
        if done.returncode != 0:
            self.failed_commands[words[0]] += 1
        return done.returncode, done.stdout + done.stderr

    def renew_proxy(self) -> None:
        """A fresh short proxy, delegated with ``act proxy`` at half its life."""
        if time.monotonic() < self.proxy_renew_at:
            return
        lifetime = timedelta(minutes=self.site.args.proxy_minutes)
        write_proxy(make_proxy(self.cert, self.key, lifetime), self.proxy)
        status, output = self.act("proxy")
        if status == 0:
            self.proxy_renew_at = time.monotonic() + lifetime.total_seconds() / 2
        else:
            log(f"user{self.number}: act proxy failed, will retry: {output.strip()[-300:]}")
            self.proxy_renew_at = time.monotonic() + 5

    def stat(self) -> list[dict[str, Any]] | None:
        status, output = self.act("stat", "--json", "--client", "id,jobname", "--arc", "arcstate,Error,ExitCode")
        if status != 0:
            return None
        start = output.find("[")
        try:
            return list(json.loads(output[start:])) if start >= 0 else []
        except json.JSONDecodeError:
            return None

    # ------------------------------------------------------------------ submitting

    def submit(self, names: list[str], watch_upload: bool = False) -> None:
        """``act sub`` of these jobs; the ones it did not report inserted go
        back to the pending list after the user has looked at ``act stat``."""
        files = [str(self.descriptions / f"{name}.xrsl") for name in names]
        if watch_upload:
            status, output = self.sub_with_server_crash(files)
        else:
            status, output = self.act("sub", *files, timeout=600)
        inserted = self.parse_inserted(output)
        if status != 0:
            log(f"user{self.number}: act sub of {len(names)} jobs failed ({len(inserted)} reported inserted): "
                f"{output.strip().splitlines()[-1][-300:] if output.strip() else ''}")
            self.recover_after_failed_sub(names, inserted)

    def parse_inserted(self, output: str) -> dict[str, int]:
        inserted = {}
        for line in output.splitlines():
            match = INSERTED.match(line.strip())
            if match and match.group(1) in self.records:
                inserted[match.group(1)] = int(match.group(2))
                self.adopt(match.group(1), int(match.group(2)))
        return inserted

    def adopt(self, name: str, job_id: int) -> None:
        record = self.records[name]
        record.id = job_id
        self.by_id[job_id] = record
        if name in self.pending:
            self.pending.remove(name)

    def recover_after_failed_sub(self, names: list[str], inserted: dict[str, int]) -> None:
        """What a user does after ``act sub`` failed half-way: looks at
        ``act stat`` (until the server answers), keeps the jobs that carry
        their names (confirmed), kills the nameless ones (created, never
        confirmed), and submits the others again later."""
        rows = None
        while rows is None and time.monotonic() < self.deadline:
            rows = self.stat()
            if rows is None:
                time.sleep(2)
        for row in rows or []:
            name = row.get("c_jobname")
            if name in self.records and self.records[name].id is None and name in names:
                log(f"user{self.number}: {name} was confirmed although act sub failed; keeping it")
                self.adopt(name, int(row["c_id"]))
        nameless = [str(row["c_id"]) for row in rows or [] if not row.get("c_jobname")]
        if nameless:
            status, output = self.act("kill", "-i", ",".join(nameless))
            log(f"user{self.number}: killed {len(nameless)} unconfirmed job(s) of the failed sub "
                f"(act kill exit {status})")
        retry = [name for name in names if self.records[name].id is None and name not in self.pending]
        self.pending[:0] = retry  # the next act sub sends them again

    def sub_with_server_crash(self, files: list[str]) -> tuple[int, str]:
        """``act sub`` of the large jobs; ``actd serve`` is SIGKILLed as soon
        as an upload is seen under way in ``data_dir/inputs``, then started
        again."""
        self.commands["sub"] += 1
        process = subprocess.Popen([venv_script("act"), "sub", *files], cwd=self.home, env=self.env(),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        partial = None
        deadline = time.monotonic() + 120
        while process.poll() is None and partial is None and time.monotonic() < deadline:
            partial = self.upload_under_way()
            time.sleep(0.005)
        if partial is not None:
            self.site.sigkill("serve")
            log(f"fault: SIGKILLed actd serve while user{self.number}'s act sub was uploading "
                f"({partial / 2**20:.1f} of {BIG_INPUT_MIB} MiB of one input written)")
        else:
            log(f"fault: no upload of user{self.number} was seen under way; SIGKILLing actd serve now")
            self.site.sigkill("serve")
        output, _ = process.communicate(timeout=600)
        time.sleep(1)
        self.site.start_actd("serve")
        log("fault: actd serve started again")
        if process.returncode != 0:
            self.failed_commands["sub"] += 1
        return process.returncode, output.decode(errors="replace")

    def upload_under_way(self) -> int | None:
        """Bytes written so far of an upload in ``data_dir/inputs``, if one is
        under way. Other users' job directories come and go meanwhile."""
        try:
            for path in self.site.data_dir.joinpath("inputs").rglob(".upload-*"):
                size = path.stat().st_size
                if size > 0:
                    return size
        except OSError:
            pass
        return None

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        try:
            self.loop()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.finished = True
            self.first_wave.set()

    def loop(self) -> None:
        rng = random.Random(f"{self.site.args.seed}-loop-{self.number}")
        wave = self.site.args.wave
        while time.monotonic() < self.deadline and not self.site.stopping.is_set():
            self.renew_proxy()
            if self.big_request.is_set() and self.big:
                big, self.big = self.big, []
                self.submit(big, watch_upload=True)
                self.big_done.set()
            rows = self.stat()
            if rows is not None:
                self.observe(rows)
                waiting = sum(1 for r in self.by_id.values() if r.state in (None, "tosubmit") and not r.gone)
                if self.pending and waiting < wave:
                    self.submit(self.pending[:wave])
                self.first_wave.set()
                self.act_on_states()
            if not self.pending and not self.big and all(r.gone for r in self.by_id.values()):
                break
            time.sleep(self.site.args.poll * rng.uniform(0.7, 1.3))
        rows = [] if self.site.stopping.is_set() else self.stat() or []
        if rows:  # whatever remains: act clean (and kill what still runs)
            self.observe(rows)
            self.act("kill", "-a")
            self.act("clean", "-a")

    def observe(self, rows: list[dict[str, Any]]) -> None:
        listed = set()
        for row in rows:
            job_id = int(row["c_id"])
            record = self.by_id.get(job_id)
            if record is None:
                name = row.get("c_jobname")
                if name in self.records and self.records[name].id is None:
                    self.adopt(name, job_id)  # confirmed by a sub whose answer was lost
                    record = self.records[name]
                else:
                    continue
            listed.add(job_id)
            record.state = row.get("a_arcstate")
            record.unseen_polls = 0
            record.error = str(row.get("a_Error") or "")
        for record in self.by_id.values():
            if record.gone or record.id in listed:
                continue
            record.unseen_polls += 1
            if record.kill_requested and record.final is None:
                record.final, record.gone = "cancelled", True  # a kill of a queued job removes it
            elif record.final is not None or record.unseen_polls >= 2:
                record.gone = True
                record.final = record.final or "vanished"

    def act_on_states(self) -> None:
        active = [r for r in self.by_id.values() if not r.gone and r.id is not None]
        kill = [r for r in active if r.spec.kill_when and not r.kill_requested and r.final is None and (
            (r.spec.kill_when == "queued" and r.state in (None, "tosubmit"))
            or (r.spec.kill_when == "running" and r.state in ("submitted", "running")))]
        if kill:
            for record in kill:
                record.kill_requested = True
            self.act("kill", "-i", ",".join(str(r.id) for r in kill))
        done = [r for r in active if r.state in ("done", "donefailed")]
        if done:
            self.get(done)
        failed = [r for r in active if r.state == "failed" and r.final is None]
        resub = [r for r in failed if not r.kill_requested and r.resubs < 2 and (
            (r.spec.resub and r.resubs == 0) or r.spec.exit_code == 0)]
        if resub:
            for record in resub:
                record.resubs += 1  # counted before: a run may follow even if the answer is lost
                record.error = ""
            self.act("resub", "-i", ",".join(str(r.id) for r in resub))
        fetch = [r for r in failed if r not in resub and r.spec.fetch and not r.kill_requested]
        if fetch:
            self.act("fetch", "-i", ",".join(str(r.id) for r in fetch))
        for record in failed:
            if record not in resub and record not in fetch:
                record.final = "failed"  # with the Error it shows now
        for record in active:
            if record.state in ("cancelled", "lost") and record.final is None:
                record.final = record.state
        clean = [r for r in active if r.final is not None and r.state in ("failed", "cancelled", "lost")]
        if clean:
            self.act("clean", "-i", ",".join(str(r.id) for r in clean))

    def get(self, records: list[JobRecord]) -> None:
        """``act get`` the jobs and check each one's out.txt."""
        status, output = self.act("get", "--use-jobname", "-i", ",".join(str(r.id) for r in records),
                                  timeout=600)
        for line in output.splitlines():
            stored = STORED.match(line.strip())
            empty = NO_OUTPUT.match(line.strip())
            name = stored.group(1) if stored else empty.group(1) if empty else None
            if name not in self.records:
                continue
            record = self.records[name]
            record.final = record.state if record.state in ("done", "donefailed") else "done"
            if stored:
                directory = self.home / stored.group(2)
                out = directory / "out.txt"
                record.output_ok = out.is_file() and out.read_text(errors="replace") == expected_output(record.spec)
                shutil.rmtree(directory, ignore_errors=True)
            else:
                record.output_ok = False


# --------------------------------------------------------------------------- faults and samples


class Faults(threading.Thread):
    """Injects the faults at their points of the run's progress."""

    def __init__(self, site: Site, users: list[User], progress: Callable[[], float],
                 big_request: threading.Event, big_done: threading.Event, deadline: float) -> None:
        super().__init__(name="faults", daemon=True)
        self.site, self.users, self.progress = site, users, progress
        self.big_request, self.big_done, self.deadline = big_request, big_done, deadline
        self.done: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for fault, point in FAULT_POINTS:
                while self.progress() < point and time.monotonic() < self.deadline:
                    time.sleep(0.5)
                if time.monotonic() >= self.deadline:
                    return
                log(f"fault: {fault} at {self.progress():.0%} of the jobs ended")
                getattr(self, fault)()
                self.done.append(fault)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def engine_sigkill(self) -> None:
        self.site.sigkill("engine")
        time.sleep(2)
        self.site.start_actd("engine")
        log("fault: actd engine SIGKILLed and started again")

    def serve_sigkill_mid_upload(self) -> None:
        self.big_request.set()
        self.big_done.wait(max(1.0, self.deadline - time.monotonic()))

    def postgresql_restart(self) -> None:
        started = time.monotonic()
        self.site.pg_ctl("-m", "fast", "restart")
        log(f"fault: PostgreSQL restarted in {time.monotonic() - started:.1f} s")

    def ce_restart(self) -> None:
        started = time.monotonic()
        self.site.stop_ce()
        time.sleep(3)
        self.site.start_ce()
        log(f"fault: CE stopped and started again in {time.monotonic() - started:.1f} s")


class FairnessSampler(threading.Thread):
    """Every second: each user's jobs submitted/running, while all wait."""

    def __init__(self, site: Site, users: int) -> None:
        super().__init__(name="fairness", daemon=True)
        self.site, self.users = site, users
        self.indices: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        engine = self.site.store()
        query = sa.text("SELECT proxyid, arcstate, count(*) FROM arcjobs GROUP BY proxyid, arcstate")
        while not self.stop.wait(1.0) and not self.site.stopping.is_set():
            try:
                with engine.connect() as connection:
                    rows = connection.execute(query).all()
            except sa.exc.SQLAlchemyError:
                continue  # PostgreSQL restarting
            waiting = {proxyid for proxyid, state, count in rows if state == "tosubmit" and count}
            if len(waiting) < self.users:
                continue
            running = Counter({proxyid: 0 for proxyid in waiting})
            for proxyid, state, count in rows:
                if state in RUNNING_STATES and proxyid in waiting:
                    running[proxyid] += count
            index = jain(list(running.values()))
            if index is not None:
                self.indices.append(index)
        engine.dispose()


# --------------------------------------------------------------------------- the end


def count_runs(runs_log: Path) -> Counter[str]:
    runs: Counter[str] = Counter()
    for line in runs_log.read_text(errors="replace").splitlines():
        if line.strip():
            runs[line.split()[0]] += 1
    return runs


def leftovers(site: Site, users: list[User], wait: float) -> int:
    """Files and directories left in data_dir/inputs and results, jobs left
    on the CE (asked as each user), entries left on WebDAV; waits up to
    ``wait`` seconds for the engine's cleans to finish first."""
    deadline = time.monotonic() + wait
    engine = site.store()
    try:
        while time.monotonic() < deadline:
            with suppress(sa.exc.SQLAlchemyError), engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT (SELECT count(*) FROM arcjobs) + "
                                                  "(SELECT count(*) FROM clientjobs)")).scalar()
                if rows == 0 and count_leftovers(site, users, quiet=True) == 0:
                    break
            time.sleep(2)
        with suppress(sa.exc.SQLAlchemyError), engine.connect() as connection:
            for table in ("clientjobs", "arcjobs"):
                left = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608
                if left:
                    log(f"leftover: {left} row(s) in {table}")
    finally:
        engine.dispose()
    return count_leftovers(site, users, quiet=False)


def count_leftovers(site: Site, users: list[User], quiet: bool) -> int:
    total = 0
    for sub in ("inputs", "results"):
        found = sorted((site.data_dir / sub).rglob("*")) if (site.data_dir / sub).is_dir() else []
        total += len(found)
        if found and not quiet:
            log(f"leftover: {len(found)} path(s) in {site.data_dir / sub}: {[str(p) for p in found[:5]]}")
    for user in users:
        try:
            with ARCRest.connect(site.ce["ARC_CE_URL"], proxy=user.long_proxy,
                                 ca_dir=site.ce["X509_CERT_DIR"]) as rest:
                jobs = rest.get_jobs_list()
        except Exception as exc:  # noqa: BLE001 (counted as unknown, shown)
            if not quiet:
                log(f"leftover: could not list user{user.number}'s CE jobs: {exc}")
            total += 1
            continue
        total += len(jobs)
        if jobs and not quiet:
            log(f"leftover: {len(jobs)} job(s) of user{user.number} on the CE")
        if user.storage == "webdav":
            found = sorted((site.webdav.root / f"user{user.number}").rglob("*"))
            total += len(found)
            if found and not quiet:
                log(f"leftover: {len(found)} path(s) on WebDAV: {[str(p) for p in found[:5]]}")
    return total


@dataclass
class Verdict:
    jobs: int = 0
    lost: int = 0
    duplicated: int = 0
    wrongly_cancelled: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


def judge(users: list[User], runs: Counter[str]) -> Verdict:
    verdict = Verdict()
    for user in users:
        for record in user.records.values():
            if record.id is None:
                if runs.get(record.spec.name):
                    log(f"duplicated: {record.spec.name} ran {runs[record.spec.name]} time(s) but was never "
                        "confirmed")
                    verdict.duplicated += runs[record.spec.name]
                continue
            verdict.jobs += 1
            allowed = 1 + record.resubs
            extra = runs.get(record.spec.name, 0) - allowed
            if extra > 0:
                verdict.duplicated += extra
                log(f"duplicated: {record.spec.name} (id {record.id}) ran {runs[record.spec.name]} times, "
                    f"allowed {allowed}")
            final = record.final
            if final == "done" and record.output_ok:
                verdict.outcomes["done"] += 1
            elif final in ("failed", "donefailed") and record.error:
                verdict.outcomes[final] += 1
                if record.spec.exit_code == 0 and not record.kill_requested:
                    verdict.outcomes[f"{final} (not meant to)"] += 1
            elif final == "cancelled" and record.kill_requested:
                verdict.outcomes["cancelled by user"] += 1
            elif final == "cancelled":
                verdict.wrongly_cancelled += 1
                log(f"wrongly cancelled: {record.spec.name} (id {record.id}): {record.error!r}")
            else:
                verdict.lost += 1
                log(f"lost: {record.spec.name} (id {record.id}): final {final!r}, last state {record.state!r}, "
                    f"output ok {record.output_ok}, error {record.error!r}")
    return verdict


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="the CI size: fewer jobs and shorter proxies (unless given explicitly)")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--jobs", type=int, help="jobs in all [1000; --quick 80]")
    parser.add_argument("--webdav-users", type=int, default=2, help="users who keep their inputs on WebDAV")
    parser.add_argument("--maxjobs", type=int, help="the CE's maxjobs in the engine's sites [40; --quick 20]")
    parser.add_argument("--tosubmit", type=int, default=5, help="engine timeouts.tosubmit, seconds")
    parser.add_argument("--proxy-minutes", type=float, help="lifetime of the users' proxies [6; --quick 3]")
    parser.add_argument("--wave", type=int, help="descriptions per act sub [100; --quick 25]")
    parser.add_argument("--poll", type=float, help="seconds between a user's looks at act stat [5; --quick 3]")
    parser.add_argument("--timeout", type=float, help="seconds the load may take [3600; --quick 300]")
    parser.add_argument("--seed", type=int, default=1, help="draws the load: same seed, same jobs and choices")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")
    parser.add_argument("--fairness-goal", type=float, default=FAIRNESS_GOAL,
                        help=f"the least fairness that passes [{FAIRNESS_GOAL}]; 0 reports it without a verdict")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"jobs": (1000, 80), "maxjobs": (40, 20), "proxy_minutes": (6.0, 3.0), "wave": (100, 25),
                "poll": (5.0, 3.0), "timeout": (3600.0, 300.0)}
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    if args.users < 2 or args.jobs < args.users:
        parser.error("--users must be at least 2 and --jobs at least --users")
    return args


def share(total: int, users: int) -> list[int]:
    """Jobs per user: unequal on purpose (weights from 1.4 down to 0.6)."""
    weights = [1.4 - 0.8 * i / (users - 1) for i in range(users)]
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM ends the bench like Ctrl-C: through the cleanup."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("FAILED: the soak must run as root (A-REX, PostgreSQL as user postgres)", file=sys.stderr)
        return 1
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="actf-soak-"))
    work.chmod(0o755)  # the CE's jobs (user nobody) and PostgreSQL (user postgres) reach into it
    site = Site(work=work, args=args)
    site.ce_dir = work / "arc-ce"
    site.ce_port = free_port()
    users: list[User] = []
    status = 1
    log(f"work dir {work}; {args.users} users, {args.jobs} jobs, maxjobs {args.maxjobs}, "
        f"tosubmit timeout {args.tosubmit} s, proxies of {args.proxy_minutes:g} min, seed {args.seed}")
    try:
        with interrupts_as_exceptions():
            status = soak(site, args, users, started)
    except SoakError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("FAILED: interrupted", file=sys.stderr)
    finally:
        with suppress(KeyboardInterrupt):
            site.stopping.set()
            site.stop_actd()
            if site.webdav_servers is not None:
                site.webdav_servers.stop()
            site.stop_postgresql()
            site.stop_ce()
            if args.keep:
                log(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
            log(f"stopped everything; {time.monotonic() - started:.0f} s in all")
    return status


def soak(site: Site, args: argparse.Namespace, users: list[User], started: float) -> int:
    log("starting the CE, PostgreSQL, WebDAV, actd serve and actd engine")
    site.start_ce()
    site.start_postgresql()
    site.write_config()
    runs_log = site.work / "runs" / "runs.log"
    runs_log.parent.mkdir()
    runs_log.touch()
    runs_log.chmod(0o666)  # appended to by the jobs, which run as nobody
    webdav_users = set(range(args.users - args.webdav_users + 1, args.users + 1))
    if webdav_users:
        site.start_webdav([site.user_credentials(n)[0] for n in sorted(webdav_users)])
    site.start_actd("serve")
    log(f"ready after {time.monotonic() - started:.0f} s: actd serve on {site.url}, CE {site.cluster}")

    rng = random.Random(args.seed)
    big_request, big_done = threading.Event(), threading.Event()
    deadline = time.monotonic() + args.timeout
    for number, count in enumerate(share(args.jobs, args.users), start=1):
        specs = plan_jobs(random.Random(rng.random()), number, count, big=4 if number == 1 else 0)
        storage = "webdav" if number in webdav_users else "actstore"
        users.append(User(site, number, specs, storage, runs_log, deadline, big_request, big_done))
    total = sum(len(u.records) for u in users)

    def progress() -> float:
        return sum(1 for u in users for r in u.records.values() if r.final is not None) / total

    sampler = FairnessSampler(site, args.users)
    faults = Faults(site, users, progress, big_request, big_done, deadline)
    sampler.start()
    for user in users:
        user.start()
    # The site opens with every user's first jobs queued: the engine starts
    # once all first subs are in, so the first submissions are shared too
    # (otherwise whichever user's act sub ends first takes every free slot).
    for user in users:
        user.first_wave.wait(max(1.0, deadline - time.monotonic()))
    site.start_actd("engine")
    log(f"actd engine started after {time.monotonic() - started:.0f} s, with every user's first jobs queued")
    faults.start()
    last_report = 0.0
    while any(user.is_alive() for user in users):
        site.watch_processes()
        if time.monotonic() - last_report > 20:
            last_report = time.monotonic()
            states = Counter(r.state or "-" for u in users for r in u.records.values()
                             if r.id is not None and not r.gone)
            log(f"progress {progress():.0%}: {dict(states)}; fairness samples {len(sampler.indices)}")
        time.sleep(1)
    sampler.stop.set()
    for thread in (*users, faults):
        if thread.error is not None:
            raise SoakError(f"{thread.name} failed: {thread.error!r}")
    if time.monotonic() >= deadline:
        log(f"the load did not finish within {args.timeout:.0f} s")
    log(f"all users done after {time.monotonic() - started:.0f} s; faults injected: {', '.join(faults.done)}")

    left = leftovers(site, users, wait=90)
    runs = count_runs(runs_log)
    verdict = judge(users, runs)
    fairness = sum(sampler.indices) / len(sampler.indices) if sampler.indices else 0.0
    commands = sum((u.commands for u in users), Counter())
    failed = sum((u.failed_commands for u in users), Counter())
    log(f"outcomes: {dict(verdict.outcomes)}; runs logged {sum(runs.values())}")
    log(f"act commands: {dict(commands)}; failed: {dict(failed)}")
    log(f"fairness: {len(sampler.indices)} samples, min {min(sampler.indices, default=0):.3f}")
    if site.unplanned_restarts:
        log(f"processes that exited by themselves and were started again: {dict(site.unplanned_restarts)}")
    missing_faults = [name for name, _ in FAULT_POINTS if name not in faults.done]
    if missing_faults:
        log(f"faults not injected (the load ended first): {missing_faults}")
    print(f"RESULT jobs={verdict.jobs} lost={verdict.lost} duplicated={verdict.duplicated} "
          f"wrongly_cancelled={verdict.wrongly_cancelled} leftover_files={left} fairness={fairness:.3f}",
          flush=True)
    ok = (verdict.lost == verdict.duplicated == verdict.wrongly_cancelled == left == 0
          and fairness >= args.fairness_goal and not missing_faults)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
