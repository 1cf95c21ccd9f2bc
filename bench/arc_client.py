"""ARC CE REST client: actframework against pyarcrest 0.5 and arcsub/arcstat.

Against a real A-REX on loopback, in one run, interleaved, 3 rounds:

* submission of 100 single-job xRSL descriptions, each with one small local
  input file that the client uploads into the job's session, and one proxy
  delegation that the jobs name, as a user's jobs on a CE do:
  - ours, the engine's steps: ``create_delegation``, ``prepare_job`` for
    each description, one ``post_jobs`` for all, ``upload_inputs(workers=10)``,
    timed together;
  - pyarcrest 0.5 (own venv, run as a subprocess): ``createDelegation``,
    ``createJobs`` of one ``+`` xRSL holding the 100 jobs (each naming the
    delegation), then ``uploadJobFiles(workers=10)``, timed together;
  - ``arcsub -T arcrest`` of 100 ``.xrsl`` files, the whole process timed.
    It makes a delegation and a POST per job and queries the CE's info
    first; no client of ours does that work, so its time is shown, not
    divided by.
* one status query of 100 finished jobs: ``get_jobs_status`` against
  pyarcrest's ``getJobsStatus``, both in process, and our ``actd arc jobs
  status`` process against an ``arcstat -a`` process, both timed whole. All
  ask about the same jobs: those arcsub submitted in that round, once they
  have all finished (arcstat can only query jobs in its job list).

Every submission is checked, outside the timing: all jobs must finish, and
each job's ``out.txt`` (a copy of its uploaded input) must hold exactly the
input of that job (matched through the job name the CE reports).

The in-process clients connect right before the timed call (that first
request is their warm-up); the processes are timed whole. Every measurement
starts with an empty CE: between measurements the jobs are killed (unless
finished), cleaned and waited for until ``GET /jobs`` is empty, and the
delegations are deleted, all outside the timing.

The CE is a private one (own state dir and port, see ``--ce-dir`` and
``--ce-port``), so that cleaning it never touches jobs of a test session on
the shared CE; it is started by ``scripts/arc-ce/start`` and stopped again
if this run started it.

Last line: ``RESULT submit_vs_pyarcrest=.. status_vs_pyarcrest=.. status_vs_arcstat=..``,
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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pyarcrest worker side of this file imports nothing of actframework
    from actframework.arc.rest import ARCRest

from benchkit import CACHE, REPO, BenchError, empty_ce, log, run_checked, start_ce, stop_ce

PYARCREST_REQUIREMENTS = ("pyarcrest==0.5", "cryptography<38")
ROUNDS = 3
JOBS = 100
WORKERS = 10
SETTLE = 5.0
"""Seconds of quiet on the emptied CE before each submission."""

JOB_TEMPLATE = (
    '(executable="/bin/sh")(arguments="-c" "cat in.txt > out.txt")'
    '(inputfiles=("in.txt" "{source}"))(outputfiles=("out.txt" ""))(jobname="b{n}")'
)
DELEGATION_MARK = "@DELEGATION@"
"""Stands for the delegation id in pyarcrest's xRSL until its worker has one."""


def expected_output(n: int) -> bytes:
    """What job ``b<n>`` writes to out.txt: its input file, copied."""
    return f"input of job {n}\n".encode()


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
            delegation_id = client.createDelegation()
            description = spec["description"].replace(DELEGATION_MARK, delegation_id)
            created = client.createJobs(description, isADL=False)
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
            path.write_bytes(expected_output(n))
            self.files.append(path)
            text = "&" + JOB_TEMPLATE.format(source=name, n=n)
            self.descriptions.append(text)
            (self.dir / f"j-{n}.xrsl").write_text(text + "\n")
            self.xrsl_files.append(f"j-{n}.xrsl")
            pyarcrest_jobs.append(
                "(&" + JOB_TEMPLATE.format(source="", n=n) + f'(delegationid="{DELEGATION_MARK}"))'
            )
        # pyarcrest submits the raw document: the sources must already be
        # empty and the delegation named (as its submitJobs does on REST 1.0).
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
        """Empty the CE (``benchkit.empty_ce``), then let it settle."""
        empty_ce(self.connect, timeout, self.workers)
        time.sleep(settle)

    def wait_finished(self, ids: list[str], who: str = "arcsub", timeout: float = 180.0) -> float:
        """Poll until every job is FINISHED; seconds waited."""
        started = time.monotonic()
        with self.connect() as rest:
            while True:
                states = Counter(r.value if r.ok else "error" for r in rest.get_jobs_status(ids))
                if states["FINISHED"] == len(ids):
                    return time.monotonic() - started
                bad = {s: n for s, n in states.items() if s in ("FAILED", "KILLED", "WIPED", "error")}
                if bad:
                    raise BenchError(f"{who}'s jobs did not all finish: {dict(states)}")
                if time.monotonic() - started > timeout:
                    raise BenchError(f"{who}'s jobs not all FINISHED after {timeout:.0f} s: {dict(states)}")
                time.sleep(1.0)

    # ------------------------------------------------------------ submission

    def verify(self, ids: list[str], who: str) -> None:
        """Every job of ``ids`` finished and its out.txt holds its own input;
        BenchError otherwise (a submission that did not do the work does not count)."""
        self.wait_finished(ids, who)
        with self.connect() as rest:
            names = {r.job_id: r.unwrap().name for r in rest.get_jobs_info(ids)}
            wrong = []
            for job_id in ids:
                name = names.get(job_id) or ""
                content = b"".join(rest.read_file(job_id, "out.txt"))
                if not name.startswith("b") or content != expected_output(int(name[1:])):
                    wrong.append(f"{job_id} ({name or 'no name'}): {content[:40]!r}")
        if wrong:
            raise BenchError(f"{who}: {len(wrong)} of {len(ids)} jobs did not get their input, e.g. {wrong[:3]}")

    def submit_ours(self) -> tuple[dict[str, float], list[str]]:
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
            ids, failed = self.submit_steps(rest)
            total = time.perf_counter() - t0
        finally:
            rest.close()
        if failed:
            raise BenchError(f"actframework: {len(failed)} of {self.jobs} jobs failed, e.g. {failed[:3]}")
        return {"total": total, "post": timed.get("post", float("nan")),
                "rest": total - timed.get("post", float("nan"))}, ids

    def submit_steps(self, rest: ARCRest) -> tuple[list[str], list[str]]:
        """The engine's steps for the descriptions: the CE ids, and what
        failed, one line each."""
        from actframework import jobdesc
        from actframework.arc.submit import post_jobs, prepare_job
        from actframework.arc.transfer import Upload, upload_inputs

        delegation_id = rest.create_delegation(self.proxy)
        prepared = [prepare_job(jobdesc.parse_one(text), input_dir=self.inputs.dir, delegation_id=delegation_id,
                                into_description=rest.version == "1.0")
                    for text in self.inputs.descriptions]
        created = post_jobs(rest, prepared, delegation_id=delegation_id)
        ids = [r.job_id for r in created if r.ok and r.job_id]
        failed = [f"{r.job_id or '?'}: {r.error}" for r in created if not r.ok]
        if failed or len(created) != len(prepared):
            return ids, failed or [f"the CE answered {len(created)} results for {len(prepared)} jobs"]
        errors = upload_inputs(rest, [Upload(r.job_id, job.uploads) for r, job in zip(created, prepared, strict=True)],
                               self.workers)
        return ids, [f"{r.job_id}: {e[0]}" for r, e in zip(created, errors, strict=True) if e]

    def run_pyarcrest(self, mode: str, spec: dict[str, object]) -> dict[str, object]:
        spec_path = self.work / f"pyarcrest-{mode}.json"
        spec_path.write_text(json.dumps({"url": self.url, "proxy": self.proxy, **spec}))
        cmd = [str(self.pyarcrest_python), str(Path(__file__).resolve()), "--pyarcrest-worker", mode, str(spec_path)]
        done = run_checked(cmd, f"pyarcrest {mode}", cwd=self.inputs.dir, env=self.arc_env, timeout=300)
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"pyarcrest {mode}: no JSON result, output: {done.stdout[-500:]!r}") from None

    def submit_pyarcrest(self) -> tuple[dict[str, float], list[str]]:
        out = self.run_pyarcrest("submit", {
            "description": self.inputs.pyarcrest_description,
            "inputs": self.inputs.pyarcrest_inputs,
            "workers": self.workers,
        })
        errors = out["errors"]
        if errors or len(out["ids"]) != self.jobs:  # type: ignore[arg-type]
            raise BenchError(f"pyarcrest: {len(out['ids'])} jobs created, errors: {errors[:3]}")  # type: ignore[arg-type,index]
        timings = {"total": out["total"], "post": out["create"], "rest": out["upload"]}
        return timings, list(out["ids"])  # type: ignore[return-value,call-overload]

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

    def status_cli(self, ids: list[str]) -> float:
        """``actd arc jobs status URL IDS...`` as a whole process, as arcstat is timed."""
        actd = Path(sys.executable).with_name("actd")
        cmd = [str(actd), "arc", "--proxy", self.proxy, "--ca-dir", self.ca_dir, "jobs", "status", self.url, *ids]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, check=False, cwd=self.work, env=self.arc_env, capture_output=True, text=True,
                                  timeout=120)
        except subprocess.TimeoutExpired:
            raise BenchError("actd arc jobs status: still running after 120 s") from None
        elapsed = time.perf_counter() - t0
        finished = len(re.findall(r"^\S+\s+FINISHED$", done.stdout, re.MULTILINE))
        if done.returncode != 0 or finished != len(ids):
            raise BenchError(f"actd arc jobs status: exit {done.returncode}, {finished} of {len(ids)} jobs FINISHED:\n"
                             f"{(done.stderr + done.stdout).strip()[-2000:]}")
        return elapsed

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
        checkers = ["ours", "pyarcrest", "cli", "arcstat"]
        for r in range(rounds):
            record: dict[str, object] = {}
            order = submitters[r % 3:] + submitters[: r % 3]
            for who in order:
                log(f"round {r + 1}: submit, {who} ...")
                if who == "ours":
                    record["submit_ours"], ids = self.submit_ours()
                elif who == "pyarcrest":
                    record["submit_pyarcrest"], ids = self.submit_pyarcrest()
                else:
                    joblist = self.work / f"jobs-{r + 1}.dat"
                    record["submit_arcsub"], ids = self.submit_arcsub(joblist)
                log(f"round {r + 1}: checking {who}'s jobs: finished, each with its own input ...")
                self.verify(ids, who)
                if who == "arcsub":
                    time.sleep(1.0)
                    for check in checkers[r % 4:] + checkers[: r % 4]:
                        log(f"round {r + 1}: status, {check} ...")
                        if check == "ours":
                            record["status_ours"] = self.status_ours(ids)
                        elif check == "pyarcrest":
                            record["status_pyarcrest"] = self.status_pyarcrest(ids)
                        elif check == "cli":
                            record["status_cli"] = self.status_cli(ids)
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
        ("actd arc status", lambda rec: float(rec["status_cli"]), 4),  # type: ignore[arg-type]
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
        "status_vs_pyarcrest": ours_status / med(lambda rec: rec["status_pyarcrest"]),
        "status_vs_arcstat": med(lambda rec: rec["status_cli"]) / med(lambda rec: rec["status_arcstat"]),
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
          f"(submit: ours delegation+POST+uploads, pyarcrest createDelegation+createJobs+uploadJobFiles, "
          f"arcsub process; status of {args.jobs} finished jobs: actd arc and arcstat are whole processes)")
    print(report(records))
    print(f"total run {time.monotonic() - began:.0f} s")
    result = ratios(records)
    print("RESULT " + " ".join(f"{key}={value:.2f}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
