"""ARC CE REST client: actframework against pyarcrest 0.5 and arcsub/arcstat.

Against a real A-REX on loopback, in one run, interleaved, 3 rounds:

* submission of 100 single-job xRSL descriptions, each with one small local
  input file that the client uploads into the job's session:
  - ours: ``ARCRest.submit_jobs(descriptions, input_dir=..., workers=10)``,
    timed around the call (no delegation: the jobs need uploads only);
  - pyarcrest 0.5 (own venv, run as a subprocess): ``createJobs`` of one
    ``+`` xRSL holding the 100 jobs, then ``uploadJobFiles(workers=10)``;
  - ``arcsub -T arcrest`` of 100 ``.xrsl`` files, the whole process timed.
* one status query of 100 finished jobs: ``get_jobs_status``,
  pyarcrest's ``getJobsStatus`` and an ``arcstat -a`` process. All three ask
  about the same jobs: those arcsub submitted in that round, once they have
  all finished (arcstat can only query jobs in its job list).

The in-process clients connect right before the timed call (that first
request is their warm-up); the processes are timed whole. Every measurement
starts with an empty CE: between measurements the jobs are killed (unless
finished), cleaned and waited for until ``GET /jobs`` is empty, and the
delegations arcsub leaves behind (one per job) are deleted, all outside the
timing.

The CE is a private one (own state dir and port, see ``--ce-dir`` and
``--ce-port``), so that cleaning it never touches jobs of a test session on
the shared CE; it is started by ``scripts/arc-ce/start`` and stopped again
if this run started it.

Last line: ``RESULT submit_vs_pyarcrest=.. submit_vs_arcsub=.. status_vs_pyarcrest=.. status_vs_arcsub=..``,
each our median time divided by the peer's median time.

The same file is also the pyarcrest worker: run by the pyarcrest venv's
Python with ``--pyarcrest-worker MODE SPEC.json``, it imports nothing of
actframework and prints its timings as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ACTF_BENCH_CACHE", "/tmp/actframework-bench"))
PYARCREST_REQUIREMENTS = ("pyarcrest==0.5", "cryptography<38")
ROUNDS = 3
JOBS = 100
WORKERS = 10
SETTLE = 5.0
"""Seconds of quiet on the emptied CE before each submission."""
TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED", "WIPED"})

JOB_TEMPLATE = (
    '(executable="/bin/sh")(arguments="-c" "cat in.txt > out.txt")'
    '(inputfiles=("in.txt" "{source}"))(outputfiles=("out.txt" ""))(jobname="b{n}")'
)


class BenchError(Exception):
    """A measurement or the setup failed; the message says why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- pyarcrest worker


def pyarcrest_worker(mode: str, spec_path: str) -> int:
    """Runs inside the pyarcrest venv: one measurement, timings as JSON on stdout."""
    from pyarcrest.arc import ARCRest as PyARCRest  # type: ignore[import-not-found]

    spec = json.loads(Path(spec_path).read_text())
    out: dict[str, object] = {}
    started = time.perf_counter()
    client = PyARCRest.getClient(url=spec["url"], proxypath=spec["proxy"])
    out["client"] = time.perf_counter() - started
    try:
        if mode == "submit":
            t0 = time.perf_counter()
            created = client.createJobs(spec["description"], isADL=False)
            t1 = time.perf_counter()
            ids = [r.value[0] for r in created if not r.error]
            failed = [str(r.value) for r in created if r.error]
            upload_errors: list[str] = []
            if ids:
                per_job = client.uploadJobFiles(ids, spec["inputs"][: len(ids)], workers=spec["workers"])
                upload_errors = [f"{job}: {errs[0]}" for job, errs in zip(ids, per_job) if errs]
            t2 = time.perf_counter()
            out.update(create=t1 - t0, upload=t2 - t1, total=t2 - t0, ids=ids,
                       errors=failed + upload_errors)
        elif mode == "status":
            t0 = time.perf_counter()
            results = client.getJobsStatus(spec["ids"])
            t1 = time.perf_counter()
            out.update(status=t1 - t0,
                       states=dict(Counter("error" if r.error else str(r.value) for r in results)))
        else:
            raise SystemExit(f"unknown worker mode {mode!r}")
    finally:
        client.close()
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- setup


def ensure_pyarcrest_venv(venv: Path) -> Path:
    """The pyarcrest venv's Python, creating the venv when missing or wrong."""
    python = venv / "bin" / "python"
    probe = "import importlib.metadata as m; print(m.version('pyarcrest'))"
    if python.exists():
        done = subprocess.run([str(python), "-c", probe], check=False, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == "0.5":
            return python
        shutil.rmtree(venv)
    log(f"creating the pyarcrest venv in {venv} ...")
    base = getattr(sys, "_base_executable", sys.executable)
    run_checked([base, "-m", "venv", str(venv)], "python -m venv", timeout=300)
    run_checked([str(python), "-m", "pip", "install", "-q", *PYARCREST_REQUIREMENTS],
                "pip install pyarcrest", timeout=600)
    return python


def run_checked(cmd: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{what}: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def start_ce(ce_dir: Path, port: int) -> dict[str, str]:
    """Start (or reuse) the bench's own CE; its exports as a dict."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_CE_", "X509_"))}
    env["ARC_CE_PORT"] = str(port)
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


def stop_ce(ce_dir: Path) -> None:
    log("stopping the CE ...")
    done = subprocess.run([str(REPO / "scripts" / "arc-ce" / "stop"), str(ce_dir)],
                          check=False, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        log(f"scripts/arc-ce/stop failed (exit {done.returncode}): {done.stderr.strip()}")


class Inputs:
    """The job descriptions and input files every client submits."""

    def __init__(self, root: Path, jobs: int) -> None:
        self.dir = root / "inputs"
        self.dir.mkdir(parents=True)
        self.files: list[Path] = []
        self.xrsl_files: list[str] = []
        self.descriptions: list[str] = []
        pyarcrest_jobs = []
        for n in range(jobs):
            name = f"in-{n}.txt"
            path = self.dir / name
            path.write_text(f"input of job {n}\n")
            self.files.append(path)
            text = "&" + JOB_TEMPLATE.format(source=name, n=n)
            self.descriptions.append(text)
            (self.dir / f"j-{n}.xrsl").write_text(text + "\n")
            self.xrsl_files.append(f"j-{n}.xrsl")
            pyarcrest_jobs.append("(&" + JOB_TEMPLATE.format(source="", n=n) + ")")
        # pyarcrest submits the raw document: the sources must already be empty.
        self.pyarcrest_description = "+" + "".join(pyarcrest_jobs)
        self.pyarcrest_inputs = [{"in.txt": str(path)} for path in self.files]


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, exports: dict[str, str], work: Path, pyarcrest_python: Path, jobs: int, workers: int) -> None:
        from actframework.arc.rest import ARCRest

        self.ARCRest = ARCRest
        self.url = exports["ARC_CE_URL"]
        self.proxy = exports["X509_USER_PROXY"]
        self.ca_dir = exports["X509_CERT_DIR"]
        self.work = work
        self.jobs = jobs
        self.workers = workers
        self.inputs = Inputs(work, jobs)
        self.pyarcrest_python = pyarcrest_python
        home = work / "home"
        home.mkdir()
        self.arc_env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_CE_", "X509_"))}
        self.arc_env.update(HOME=str(home), X509_USER_PROXY=self.proxy, X509_CERT_DIR=self.ca_dir)
        self.arc_env.pop("REQUESTS_CA_BUNDLE", None)

    def connect(self):  # type: ignore[no-untyped-def]
        return self.ARCRest.connect(self.url, proxy=self.proxy, ca_dir=self.ca_dir)

    # ------------------------------------------------------------ cleaning

    def empty_ce(self, settle: float = SETTLE, timeout: float = 180.0) -> None:
        """Kill (unless finished) and clean every job, delete every
        delegation, wait until the CE lists none, then let it settle."""
        from concurrent.futures import ThreadPoolExecutor

        with self.connect() as rest:
            deadline = time.monotonic() + timeout
            cleaned_at = -1e9
            while ids := [job.id for job in rest.get_jobs_list()]:
                if time.monotonic() > deadline:
                    raise BenchError(f"the CE still lists {len(ids)} jobs {timeout:.0f} s after cleaning")
                if time.monotonic() - cleaned_at > 10:
                    states = rest.get_jobs_status(ids)
                    running = [r.job_id for r in states if not (r.ok and r.value in TERMINAL)]
                    if running:
                        rest.kill_jobs(running)
                    rest.clean_jobs(ids)
                    cleaned_at = time.monotonic()
                time.sleep(0.5)
            while delegations := rest.list_delegations():
                if time.monotonic() > deadline:
                    raise BenchError(f"the CE still holds {len(delegations)} delegations")
                with ThreadPoolExecutor(self.workers) as pool:
                    list(pool.map(lambda d: rest.delete_delegation(d.id), delegations))
        time.sleep(settle)

    def wait_finished(self, ids: list[str], timeout: float = 180.0) -> float:
        """Poll until every job is FINISHED; seconds waited."""
        started = time.monotonic()
        with self.connect() as rest:
            while True:
                states = Counter(r.value if r.ok else "error" for r in rest.get_jobs_status(ids))
                if states["FINISHED"] == len(ids):
                    return time.monotonic() - started
                bad = {s: n for s, n in states.items() if s in ("FAILED", "KILLED", "WIPED", "error")}
                if bad:
                    raise BenchError(f"arcsub's jobs did not all finish: {dict(states)}")
                if time.monotonic() - started > timeout:
                    raise BenchError(f"arcsub's jobs not all FINISHED after {timeout:.0f} s: {dict(states)}")
                time.sleep(1.0)

    # ------------------------------------------------------------ submission

    def submit_ours(self) -> dict[str, float]:
        rest = self.connect()  # GET /rest: the warm-up, outside the timing
        timed: dict[str, float] = {}
        create = rest.create_jobs

        def create_timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return create(*args, **kwargs)
            finally:
                timed["post"] = time.perf_counter() - t0

        rest.create_jobs = create_timed  # type: ignore[method-assign]
        try:
            t0 = time.perf_counter()
            batch = rest.submit_jobs(self.inputs.descriptions, input_dir=self.inputs.dir, workers=self.workers)
            total = time.perf_counter() - t0
        finally:
            rest.close()
        failed = [f"{r.job_id or '?'}: {r.error}" for r in batch.results if not r.ok]
        if failed or len(batch.results) != self.jobs:
            raise BenchError(f"actframework: {len(failed)} of {self.jobs} jobs failed, e.g. {failed[:3]}")
        if batch.delegation_id is not None:
            raise BenchError("actframework made a delegation it was not asked for")
        return {"total": total, "post": timed.get("post", float("nan")),
                "rest": total - timed.get("post", float("nan"))}

    def run_pyarcrest(self, mode: str, spec: dict[str, object]) -> dict[str, object]:
        spec_path = self.work / f"pyarcrest-{mode}.json"
        spec_path.write_text(json.dumps({"url": self.url, "proxy": self.proxy, **spec}))
        cmd = [str(self.pyarcrest_python), str(Path(__file__).resolve()), "--pyarcrest-worker", mode, str(spec_path)]
        done = run_checked(cmd, f"pyarcrest {mode}", cwd=self.inputs.dir, env=self.arc_env, timeout=300)
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"pyarcrest {mode}: no JSON result, output: {done.stdout[-500:]!r}") from None

    def submit_pyarcrest(self) -> dict[str, float]:
        out = self.run_pyarcrest("submit", {
            "description": self.inputs.pyarcrest_description,
            "inputs": self.inputs.pyarcrest_inputs,
            "workers": self.workers,
        })
        errors = out["errors"]
        if errors or len(out["ids"]) != self.jobs:  # type: ignore[arg-type]
            raise BenchError(f"pyarcrest: {len(out['ids'])} jobs created, errors: {errors[:3]}")  # type: ignore[arg-type,index]
        return {"total": out["total"], "post": out["create"], "rest": out["upload"]}  # type: ignore[dict-item]

    def submit_arcsub(self, joblist: Path) -> tuple[dict[str, float], list[str]]:
        cmd = ["arcsub", "-C", self.url, "-T", "arcrest", "-j", str(joblist), *self.inputs.xrsl_files]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, check=False, cwd=self.inputs.dir, env=self.arc_env, capture_output=True,
                                  text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise BenchError("arcsub: still running after 600 s") from None
        total = time.perf_counter() - t0
        ids = re.findall(r"^Job submitted with jobid: \S*/jobs/(\S+)$", done.stdout, re.MULTILINE)
        if done.returncode != 0 or len(ids) != self.jobs:
            raise BenchError(f"arcsub: exit {done.returncode}, {len(ids)} of {self.jobs} jobs submitted:\n"
                             f"{(done.stderr + done.stdout).strip()[-2000:]}")
        return {"total": total}, ids

    # ------------------------------------------------------------ status

    def status_ours(self, ids: list[str]) -> float:
        with self.connect() as rest:  # GET /rest: the warm-up
            t0 = time.perf_counter()
            results = rest.get_jobs_status(ids)
            elapsed = time.perf_counter() - t0
        states = Counter(r.value if r.ok else "error" for r in results)
        if states["FINISHED"] != len(ids):
            raise BenchError(f"actframework status: {dict(states)}")
        return elapsed

    def status_pyarcrest(self, ids: list[str]) -> float:
        out = self.run_pyarcrest("status", {"ids": ids})
        if out["states"] != {"FINISHED": len(ids)}:
            raise BenchError(f"pyarcrest status: {out['states']}")
        return float(out["status"])  # type: ignore[arg-type]

    def status_arcstat(self, joblist: Path) -> float:
        cmd = ["arcstat", "-j", str(joblist), "-a"]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, check=False, cwd=self.work, env=self.arc_env, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise BenchError("arcstat: still running after 120 s") from None
        elapsed = time.perf_counter() - t0
        finished = len(re.findall(r"^ State: Finished", done.stdout, re.MULTILINE))
        if done.returncode != 0 or finished != self.jobs:
            raise BenchError(f"arcstat: exit {done.returncode}, {finished} of {self.jobs} jobs Finished:\n"
                             f"{(done.stderr + done.stdout).strip()[-2000:]}")
        return elapsed

    # ------------------------------------------------------------ rounds

    def run(self, rounds: int) -> list[dict[str, object]]:
        log("emptying the CE ...")
        self.empty_ce()
        records: list[dict[str, object]] = []
        submitters = ["ours", "pyarcrest", "arcsub"]
        checkers = ["ours", "pyarcrest", "arcstat"]
        for r in range(rounds):
            record: dict[str, object] = {}
            order = submitters[r % 3:] + submitters[: r % 3]
            for who in order:
                log(f"round {r + 1}: submit, {who} ...")
                if who == "ours":
                    record["submit_ours"] = self.submit_ours()
                elif who == "pyarcrest":
                    record["submit_pyarcrest"] = self.submit_pyarcrest()
                else:
                    joblist = self.work / f"jobs-{r + 1}.dat"
                    record["submit_arcsub"], ids = self.submit_arcsub(joblist)
                    log(f"round {r + 1}: waiting for arcsub's jobs to finish ...")
                    self.wait_finished(ids)
                    time.sleep(1.0)
                    for check in checkers[r % 3:] + checkers[: r % 3]:
                        log(f"round {r + 1}: status, {check} ...")
                        if check == "ours":
                            record["status_ours"] = self.status_ours(ids)
                        elif check == "pyarcrest":
                            record["status_pyarcrest"] = self.status_pyarcrest(ids)
                        else:
                            record["status_arcstat"] = self.status_arcstat(joblist)
                        time.sleep(1.0)
                self.empty_ce()
            records.append(record)
        return records


# ---------------------------------------------------------------- report


def report(records: list[dict[str, object]]) -> str:
    def submit(record: dict[str, object], key: str, part: str) -> float:
        return float(record[key][part])  # type: ignore[index]

    rows = []
    columns = [
        ("ours submit", lambda rec: submit(rec, "submit_ours", "total"), 3),
        ("(POST", lambda rec: submit(rec, "submit_ours", "post"), 3),
        ("+parse,uploads)", lambda rec: submit(rec, "submit_ours", "rest"), 3),
        ("pyarcrest submit", lambda rec: submit(rec, "submit_pyarcrest", "total"), 3),
        ("(create", lambda rec: submit(rec, "submit_pyarcrest", "post"), 3),
        ("+uploads)", lambda rec: submit(rec, "submit_pyarcrest", "rest"), 3),
        ("arcsub", lambda rec: submit(rec, "submit_arcsub", "total"), 2),
        ("ours status", lambda rec: float(rec["status_ours"]), 4),  # type: ignore[arg-type]
        ("pyarcrest status", lambda rec: float(rec["status_pyarcrest"]), 4),  # type: ignore[arg-type]
        ("arcstat", lambda rec: float(rec["status_arcstat"]), 4),  # type: ignore[arg-type]
    ]
    values = [[get(rec) for _, get, _ in columns] for rec in records]
    medians = [statistics.median(v[i] for v in values) for i in range(len(columns))]
    header = ["round"] + [name for name, _, _ in columns]
    for n, row in enumerate(values, 1):
        rows.append([str(n)] + [f"{x:.{digits}f}" for x, (_, _, digits) in zip(row, columns)])
    rows.append(["median"] + [f"{x:.{digits}f}" for x, (_, _, digits) in zip(medians, columns)])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def ratios(records: list[dict[str, object]]) -> dict[str, float]:
    def med(get) -> float:  # type: ignore[no-untyped-def]
        return statistics.median(get(rec) for rec in records)

    ours_submit = med(lambda rec: rec["submit_ours"]["total"])
    ours_status = med(lambda rec: rec["status_ours"])
    return {
        "submit_vs_pyarcrest": ours_submit / med(lambda rec: rec["submit_pyarcrest"]["total"]),
        "submit_vs_arcsub": ours_submit / med(lambda rec: rec["submit_arcsub"]["total"]),
        "status_vs_pyarcrest": ours_status / med(lambda rec: rec["status_pyarcrest"]),
        "status_vs_arcsub": ours_status / med(lambda rec: rec["status_arcstat"]),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--pyarcrest-worker"]:
        return pyarcrest_worker(*argv[1:3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--ce-dir", type=Path, default=Path(os.environ.get("ACTF_BENCH_ARC_CE_DIR", CACHE / "arc-ce")),
                        help="state dir of the bench's own CE (default %(default)s)")
    parser.add_argument("--ce-port", type=int, default=int(os.environ.get("ACTF_BENCH_ARC_CE_PORT", "18453")),
                        help="its HTTPS port (default %(default)s)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    CACHE.mkdir(parents=True, exist_ok=True)
    started_ce = False
    bench: Bench | None = None
    began = time.monotonic()
    try:
        pyarcrest_python = ensure_pyarcrest_venv(CACHE / "pyarcrest-venv")
        exports = start_ce(args.ce_dir, args.ce_port)
        started_ce = exports["ARC_CE_STARTED"] == "1"
        for tool in ("arcsub", "arcstat"):
            if shutil.which(tool) is None:
                raise BenchError(f"{tool} not found (nordugrid-arc-client, which scripts/arc-ce/start installs)")
        with tempfile.TemporaryDirectory(prefix="arc-client-", dir=CACHE) as tmp:
            bench = Bench(exports, Path(tmp), pyarcrest_python, args.jobs, args.workers)
            try:
                records = bench.run(args.rounds)
            finally:
                try:
                    bench.empty_ce(settle=0)
                except Exception as exc:  # noqa: BLE001  (the original error matters more)
                    log(f"cleaning the CE failed: {exc}")
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        if started_ce:
            stop_ce(args.ce_dir)

    print(f"ARC CE REST client, {args.jobs} jobs, {args.workers} upload workers, seconds "
          f"(submit: ours POST+uploads, pyarcrest createJobs+uploadJobFiles, arcsub process; "
          f"status of {args.jobs} finished jobs: arcstat is the whole process)")
    print(report(records))
    print(f"total run {time.monotonic() - began:.0f} s")
    result = ratios(records)
    print("RESULT " + " ".join(f"{key}={value:.2f}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
