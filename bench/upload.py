"""Upload throughput: the webdav backend against curl, same file, same work, on two servers.

Two WebDAV servers on loopback, both HTTPS with the bench CE's host
certificate for ``localhost`` (``scripts/arc-ce/start``, state dir
``/tmp/actframework-bench/arc-ce``, port 18453; started or reused, and
stopped again if this run started it):

* **nginx** (Debian's ``nginx-core``, its ``dav`` module; no client
  certificate asked for: OpenSSL in nginx refuses RFC 3820 proxies): a fast
  server, so that a slow client shows in the ratio;
* **WsgiDAV** (the test suite's server, ``tests/fixtures/webdav.py``, the
  user's RFC 3820 proxy verified as client certificate): the server the
  tests use, whose own ceiling is below what clients can send.

One file of ``--size-mib`` random bytes (default 1024) goes to each server,
in rounds whose order alternates (ABBA), after one untimed warm-up each.
Both sides do the same work over one connection, a ``MKCOL`` of the job's
collection then one streamed ``PUT``, and both are timed without process
start-up:

* **ours**: a fresh Python process loads the ``webdav`` backend by name and
  calls ``stage_inputs`` for one job with that file, as ``act sub
  --storage webdav`` does; the call is timed inside the process, whose peak
  RSS (``VmHWM``) is read at its end;
* **curl**: one ``curl`` process doing ``-X MKCOL`` then ``--next -T FILE``
  on the kept-alive connection, timed by its own ``%{time_total}`` of each
  transfer (connection and TLS set-up included, as in ours).

Each upload is checked byte for byte (SHA-256 of the file the server
stored against the source's) and removed before the next one, and the disk
is synced before each (otherwise the previous gigabyte is written back
during the next upload). Both bests and medians are logged.

Last line: ``RESULT throughput_vs_curl=R median_vs_curl=RM
wsgidav_vs_curl=RW peak_rss_mb=M``: R is curl's best time on nginx divided
by ours (above 1: we are faster), RM the same of the medians, RW the best
ratio on WsgiDAV, M our largest peak RSS in MiB (a streamed upload keeps it
flat, far below the file size). Goal: R >= 0.9.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from benchkit import REPO, BenchError, free_port, log, start_ce, stop_ce

sys.path.insert(0, str(REPO / "tests"))

from fixtures.arex import ArcCE, arc_ce_from_exports  # noqa: E402
from fixtures.webdav import WebDAVServers  # noqa: E402

CHILD = r"""
import json, sys, time
from pathlib import Path
from actframework.hookspecs import Caller, Credentials, InputFile, StorageContext, StorageJob
from actframework.plugins import load_backend

url, source, proxy, ca_dir, job_id = sys.argv[1:6]
backend = load_backend("webdav", {"url": url, "timeout": 600})
context = StorageContext(caller=Caller.CLIENT, credentials=Credentials(proxy=Path(proxy), ca_dir=Path(ca_dir)))
job = StorageJob(id=int(job_id), description="", inputs=(InputFile("payload.bin", source),))
started = time.monotonic()
staged = backend.stage_inputs(context, job)
elapsed = time.monotonic() - started
peak_kib = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "peak_kib": peak_kib, "size": staged[0].size}))
"""

NGINX_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        client_max_body_size 0;
        location / {{
            root {root};
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
        }}
    }}
}}
"""


class DavServer(Protocol):
    url: str
    root: Path

    def reset(self) -> None: ...


@dataclass
class NginxDav:
    """nginx serving ``root`` over WebDAV on loopback."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    work: Path

    @classmethod
    def start(cls, work: Path, cert: Path, key: Path) -> NginxDav:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise BenchError("nginx is not installed (apt-get install nginx-core)")
        work.mkdir(parents=True)
        root = work / "root"
        root.mkdir()
        port = free_port()
        (work / "nginx.conf").write_text(NGINX_CONFIG.format(work=work, port=port, cert=cert, key=key, root=root))
        process = subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(f"https://localhost:{port}/", root, process, work)
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sk", "-o", "/dev/null", server.url], check=False).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"nginx did not start:\n{(work / 'error.log').read_text()[-2000:]}")
            time.sleep(0.2)
        return server

    def reset(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"nginx exited:\n{(self.work / 'error.log').read_text()[-2000:]}")
        for child in self.root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def ours(server: DavServer, source: Path, ce: ArcCE, job_id: int) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, server.url, str(source), str(ce.proxy), str(ce.ca_dir),
                           str(job_id)],
                          check=False, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise BenchError(f"ours failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return float(answer["seconds"]), int(answer["peak_kib"])


def curl(server: DavServer, source: Path, ce: ArcCE, job_id: int) -> float:
    """MKCOL then PUT in one curl process on one connection; the sum of the two transfers' time_total."""
    credentials = ["--cert", str(ce.proxy), "--key", str(ce.proxy), "--cacert", str(ce.ca_file)]
    collection = server.url + quote(str(job_id)) + "/"
    done = subprocess.run(["curl", "-sS", *credentials, "-o", "/dev/null", "-w", "%{http_code} %{time_total}\n",
                           "-X", "MKCOL", collection, "--next",
                           "-sS", "--fail", *credentials, "-o", "/dev/null", "-w", "%{http_code} %{time_total}\n",
                           "-T", str(source), collection + "payload.bin"],
                          check=False, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise BenchError(f"curl failed ({done.returncode}): {done.stderr.strip()}")
    answers = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if len(answers) != 2 or answers[0][0] not in ("201", "405") or answers[1][0] not in ("201", "204"):
        raise BenchError(f"curl: unexpected answers {answers}")
    return sum(float(seconds) for _, seconds in answers)


def measure(name: str, server: DavServer, source: Path, digest: str, ce: ArcCE, rounds: int,
            peaks: list[int]) -> dict[str, list[float]]:
    """Rounds of ours and curl on ``server``; each side's seconds."""
    size = source.stat().st_size
    times: dict[str, list[float]] = {"ours": [], "curl": []}
    job_id = 0
    for warm in (ours, curl):  # first-touch costs on both sides, untimed
        job_id += 1
        server.reset()
        warm(server, source, ce, job_id)
    for round_number in range(rounds):
        for who in (["ours", "curl"] if round_number % 2 == 0 else ["curl", "ours"]):
            job_id += 1
            server.reset()
            os.sync()
            if who == "ours":
                seconds, peak = ours(server, source, ce, job_id)
                peaks.append(peak)
            else:
                seconds = curl(server, source, ce, job_id)
            stored = server.root / str(job_id) / "payload.bin"
            if not stored.is_file() or stored.stat().st_size != size or sha256(stored) != digest:
                raise BenchError(f"{name}, {who}: the server does not hold the bytes sent")
            times[who].append(seconds)
            log(f"{name} round {round_number + 1} {who}: {seconds:.2f} s, {size / seconds / 2**20:.0f} MiB/s"
                + (f", peak RSS {peaks[-1] / 1024:.0f} MiB" if who == "ours" else ""))
    server.reset()
    for label, pick in (("median", statistics.median), ("best", min)):
        log(f"{name} {label}: ours {pick(times['ours']):.2f} s ({size / pick(times['ours']) / 2**20:.0f} MiB/s), "
            f"curl {pick(times['curl']):.2f} s ({size / pick(times['curl']) / 2**20:.0f} MiB/s)")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--ce-dir", type=Path, default=Path("/tmp/actframework-bench/arc-ce"))
    parser.add_argument("--ce-port", type=int, default=18453)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("FAILED: curl is not installed (apt-get install curl)")
        return 1

    work = Path(tempfile.mkdtemp(prefix="actf-bench-upload-"))
    exports: dict[str, str] = {}
    servers: WebDAVServers | None = None
    nginx: NginxDav | None = None
    try:
        exports = start_ce(args.ce_dir, args.ce_port)
        ce = arc_ce_from_exports(exports)
        servers = WebDAVServers(ce, work / "dav")
        wsgidav = servers.get("x509")
        nginx = NginxDav.start(work / "nginx", wsgidav.host_cert, wsgidav.host_key)
        source = work / "payload.bin"
        log(f"writing {args.size_mib} MiB of random bytes to {source}")
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1024 * 1024))
        digest = sha256(source)
        peaks: list[int] = []
        fast = measure("nginx", nginx, source, digest, ce, args.rounds, peaks)
        slow = measure("wsgidav", wsgidav, source, digest, ce, args.rounds, peaks)
        log(f"WsgiDAV's peak RSS {wsgidav.peak_rss_bytes() / 2**20:.0f} MiB")
    except BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        if servers is not None:
            servers.stop()
        shutil.rmtree(work, ignore_errors=True)
        if exports.get("ARC_CE_STARTED") == "1":
            stop_ce(args.ce_dir)
    ratio = min(fast["curl"]) / min(fast["ours"])
    print(f"RESULT throughput_vs_curl={ratio:.2f} "
          f"median_vs_curl={statistics.median(fast['curl']) / statistics.median(fast['ours']):.2f} "
          f"wsgidav_vs_curl={min(slow['curl']) / min(slow['ours']):.2f} peak_rss_mb={max(peaks) / 1024:.1f}",
          flush=True)
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
