"""What several benches need: logging, ports, the bench's own CE, and a
process's CPU time and peak memory read from ``/proc``.

A bench runs as a script (``.venv/bin/python bench/<name>.py``), so this
module is imported as ``benchkit`` from the script's own directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ACTF_BENCH_CACHE", "/tmp/actframework-bench"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: REST states in which a job no longer runs: cleaned, not killed.
TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED", "WIPED"})


class BenchError(Exception):
    """The setup, a measurement or a check failed; the message says why."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def actd_command() -> list[str]:
    """``actd`` of the interpreter running the bench."""
    script = Path(sys.executable).with_name("actd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "actframework.actd"]


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables starting with ``prefixes``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run_checked(cmd: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{what}: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def start_ce(ce_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """Start (or reuse) a bench's own CE with ``scripts/arc-ce/start``;
    ``settings`` are its ``ARC_CE_*`` variables (they shape a CE only when
    it is launched, not when a running one is reused). Its exports as a dict."""
    env = clean_env("ARC_CE_", "X509_")
    env.update({"ARC_CE_PORT": str(port), **settings})
    log(f"starting the CE in {ce_dir} on port {port} ...")
    done = run_checked([str(REPO / "scripts" / "arc-ce" / "start"), str(ce_dir)],
                       "scripts/arc-ce/start", env=env, timeout=900)
    exports: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    for name in ("ARC_CE_URL", "X509_USER_PROXY", "X509_CERT_DIR", "ARC_CE_STARTED"):
        if name not in exports:
            raise BenchError(f"scripts/arc-ce/start printed no {name}")
    return exports


def stop_ce(ce_dir: Path, wipe: bool = False) -> None:
    log("stopping the CE ...")
    env = {**clean_env("ARC_CE_"), "ARC_CE_WIPE": "1" if wipe else "0"}
    done = subprocess.run([str(REPO / "scripts" / "arc-ce" / "stop"), str(ce_dir)],
                          check=False, capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0:
        log(f"scripts/arc-ce/stop failed (exit {done.returncode}): {done.stderr.strip()}")


def empty_ce(connect: Callable[[], Any], timeout: float, workers: int = 10, clean_every: float = 10.0) -> None:
    """Kill (unless ended) and clean every job on a CE, delete every
    delegation, and wait until the CE lists neither. ``connect`` gives an
    ``ARCRest`` (taken as a callable so that this module imports nothing of
    actframework: the pyarcrest side of ``arc_client.py`` imports it too)."""
    with connect() as rest:
        deadline = time.monotonic() + timeout
        cleaned_at = -1e9
        while ids := [job.id for job in rest.get_jobs_list()]:
            if time.monotonic() > deadline:
                raise BenchError(f"the CE still lists {len(ids)} jobs {timeout:.0f} s after cleaning")
            if time.monotonic() - cleaned_at > clean_every:
                live = [r.job_id for r in rest.get_jobs_status(ids) if not (r.ok and r.value in TERMINAL)]
                if live:
                    rest.kill_jobs(live)
                rest.clean_jobs(ids)
                cleaned_at = time.monotonic()
            time.sleep(0.5)
        while delegations := rest.list_delegations():
            if time.monotonic() > deadline:
                raise BenchError(f"the CE still holds {len(delegations)} delegations")
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda d: rest.delete_delegation(d.id), delegations))


class Profile:
    """``py-spy record`` of a process while a ``with`` block runs; the
    collapsed stacks go to ``output``, and :func:`top_frames` sums them up."""

    def __init__(self, pid: int, output: Path | None, rate: int = 200, wall: bool = False) -> None:
        """``wall``: sample every thread, waiting or not (where the time
        goes); else only the thread holding the GIL (where the CPU goes)."""
        self.pid, self.output, self.rate, self.wall = pid, output, rate, wall
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profile:
        if self.output is not None:
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            if not Path(spy).exists():
                raise BenchError("--profile needs py-spy: pip install py-spy")
            self.process = subprocess.Popen(
                [spy, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw",
                 "--idle" if self.wall else "--gil", "--output", str(self.output), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # attached before the work starts
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(60)


def top_frames(collapsed: Path, count: int = 12) -> str:
    """The functions with most samples in a collapsed-stacks file: own
    samples (at the top of a stack) and samples anywhere on the stack."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = stack.split(";")
        total += int(samples)
        own[frames[-1]] += int(samples)
        for frame in set(frames):
            anywhere[frame] += int(samples)
    if not total:
        return "no samples"
    lines = [f"{total} samples; own:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(count)]
    lines.append("on the stack:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in anywhere.most_common(count)]
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    """``VmHWM`` of process ``pid``: the most memory it has held at once."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for process {pid}")
