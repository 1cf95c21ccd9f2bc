"""Upload throughput: the webdav backend against ``curl -T``, same file, same server.

The WebDAV server is the test suite's (``tests/fixtures/webdav.py``: WsgiDAV
on cheroot, HTTPS on loopback, the user's RFC 3820 proxy as TLS client
certificate), using the credentials of the bench's own A-REX test CE
(``scripts/arc-ce/start``, state dir ``/tmp/actframework-bench/arc-ce``, port
18453; started or reused, and stopped again if this run started it). One
file of ``--size-mib`` random bytes (default 1024) is uploaded, in rounds
whose order alternates, after one untimed warm-up upload each:

* **ours**: a fresh Python process loads the ``webdav`` backend by name and
  calls ``stage_inputs`` for one job with that file, as ``act sub --storage
  webdav`` does (MKCOL of the job's collection, one streamed PUT, TLS
  verified against the test CA). The upload is timed inside the process,
  whose peak RSS (``VmHWM``) is read at its end.
* **curl**: ``curl -T FILE --cert PROXY --key PROXY --cacert CA URL``,
  timed around the process.

Each upload is checked (size on the server's disk) and removed before the
next one, and the disk is synced before each (otherwise the previous
upload's gigabyte is written back during the next one). Last line: ``RESULT throughput_vs_curl=R peak_rss_mb=M``: R is
curl's best time divided by ours (above 1: we are faster; the medians are
logged too), M our largest peak RSS in MiB (a streamed upload keeps it
flat, far below the file size). Rounds alternate the order (ABBA), 4 by
default, because on this machine every other upload is slow whoever sends it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

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


def log(message: str) -> None:
    print(f"[upload] {message}", file=sys.stderr, flush=True)


def start_ce(ce_dir: str, ce_port: int) -> dict[str, str]:
    """The bench CE's exports (its credentials are what the WebDAV server trusts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_CE_", "X509_"))}
    env["ARC_CE_PORT"] = str(ce_port)
    log("scripts/arc-ce/start ...")
    done = subprocess.run([str(REPO / "scripts" / "arc-ce" / "start"), ce_dir], check=False,
                          capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise SystemExit(f"scripts/arc-ce/start failed:\n{done.stderr.strip()[-2000:]}")
    exports = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def ours(server: Any, source: Path, ce: Any, job_id: int) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, server.url, str(source), str(ce.proxy), str(ce.ca_dir),
                           str(job_id)], check=True, capture_output=True, text=True, timeout=1800)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return float(answer["seconds"]), int(answer["peak_kib"])


def curl(server: Any, source: Path, ce: Any, job_id: int) -> float:
    url = server.url_for(f"{job_id}/payload.bin")
    started = time.monotonic()
    done = subprocess.run(["curl", "-sS", "--fail", "-T", str(source), "--cert", str(ce.proxy), "--key",
                           str(ce.proxy), "--cacert", str(ce.ca_file), "-o", "/dev/null", url],
                          check=False, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"curl failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--ce-dir", default="/tmp/actframework-bench/arc-ce")
    parser.add_argument("--ce-port", type=int, default=18453)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed (apt-get install curl)")

    from fixtures.arex import arc_ce_from_exports
    from fixtures.webdav import WebDAVServers

    exports = start_ce(args.ce_dir, args.ce_port)
    ce = arc_ce_from_exports(exports)
    work = Path(tempfile.mkdtemp(prefix="actf-bench-upload-"))
    servers = WebDAVServers(ce, work / "dav")
    try:
        server = servers.get("x509")
        source = work / "payload.bin"
        log(f"writing {args.size_mib} MiB of random bytes to {source}")
        with source.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1024 * 1024))
        size = source.stat().st_size
        times: dict[str, list[float]] = {"ours": [], "curl": []}
        peaks: list[int] = []
        job_id = 0
        log("warm-up: one untimed upload each")  # first-touch costs on both sides
        for warm in (ours, curl):
            job_id += 1
            server.reset()
            (server.root / str(job_id)).mkdir()
            warm(server, source, ce, job_id)
            server.reset()
        for round_number in range(args.rounds):
            order = ["ours", "curl"] if round_number % 2 == 0 else ["curl", "ours"]
            for who in order:
                job_id += 1
                server.reset()
                (server.root / str(job_id)).mkdir()  # curl cannot MKCOL; ours makes it (405 is fine)
                os.sync()  # the last upload's dirty pages must not be flushed during this one
                if who == "ours":
                    seconds, peak = ours(server, source, ce, job_id)
                    peaks.append(peak)
                else:
                    seconds = curl(server, source, ce, job_id)
                stored = server.root / str(job_id) / "payload.bin"
                if stored.stat().st_size != size:
                    raise SystemExit(f"{who}: the server holds {stored.stat().st_size} bytes, not {size}")
                times[who].append(seconds)
                log(f"round {round_number + 1} {who}: {seconds:.2f} s, {size / seconds / 2**20:.0f} MiB/s"
                    + (f", peak RSS {peaks[-1] / 1024:.0f} MiB" if who == "ours" else ""))
                server.reset()
        for name, pick in (("median", statistics.median), ("best", min)):
            log(f"{name}: ours {pick(times['ours']):.2f} s ({size / pick(times['ours']) / 2**20:.0f} MiB/s), "
                f"curl {pick(times['curl']):.2f} s ({size / pick(times['curl']) / 2**20:.0f} MiB/s)")
        log(f"server peak RSS {server.peak_rss_bytes() / 2**20:.0f} MiB")
        # Noise on this machine only ever adds time, and it comes in waves
        # (every other upload is slow, whoever sends it): the best of each
        # side is the fairest comparison; the medians are logged above.
        print(f"RESULT throughput_vs_curl={min(times['curl']) / min(times['ours']):.2f} "
              f"peak_rss_mb={max(peaks) / 1024:.1f}")
    finally:
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)
        if exports.get("ARC_CE_STARTED") == "1":
            subprocess.run([str(REPO / "scripts" / "arc-ce" / "stop"), args.ce_dir], check=False,
                           capture_output=True, timeout=180)


if __name__ == "__main__":
    main()
