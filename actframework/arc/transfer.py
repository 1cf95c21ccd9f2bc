"""Moving files between here and job sessions on a CE, with worker pools.

Uploads (input files into new jobs) and fetches (whole session directories,
recursively, plus A-REX's diagnose files) run on a bounded pool of threads
sharing one :class:`~actframework.arc.rest.ARCRest` and so one connection
pool. Errors are collected per job and never stop the other jobs; a file is
written under a temporary name and renamed when complete, so an interrupted
transfer leaves no partial file.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from actframework.arc.rest import DIAGNOSE_FILES, ARCRest
from actframework.errors import ActError, MissingResultFile, is_disk_full
from actframework.paths import inside

log = logging.getLogger(__name__)

DEFAULT_WORKERS: Final = 10
DEFAULT_DIAGNOSE_DIR: Final = "gmlog"


@dataclass(frozen=True)
class Upload:
    """The input files of one job on the CE: (name in session, local file) pairs."""

    job_id: str
    files: Sequence[tuple[str, Path]]


def upload_inputs(rest: ARCRest, uploads: Sequence[Upload], workers: int = DEFAULT_WORKERS) -> list[list[str]]:
    """Upload every job's files; returns each job's errors (empty = all
    arrived), aligned with ``uploads``. After a job's first failure its other
    files are skipped: the job cannot run anyway and will be killed."""
    errors: list[list[str]] = [[] for _ in uploads]
    tasks: queue.Queue[tuple[int, str, Path] | None] = queue.Queue()
    for index, upload in enumerate(uploads):
        for name, path in upload.files:
            tasks.put((index, name, path))
    lock = threading.Lock()

    def work() -> None:
        while (task := tasks.get()) is not None:
            index, name, path = task
            with lock:
                failed = bool(errors[index])
            if not failed:
                try:
                    rest.upload_file(uploads[index].job_id, name, path)
                except (ActError, OSError) as exc:
                    with lock:
                        errors[index].append(f"{name}: {exc}")
            tasks.task_done()
        tasks.task_done()

    _run_pool(tasks, work, min(workers, tasks.qsize()))
    return errors


@dataclass(frozen=True)
class Fetch:
    """What to download of one job.

    ``pattern`` selects session entries by their path relative to the
    session root, directories with a trailing ``/`` (``d/``, ``d/e/``,
    ``d/e/f.txt``); it must match a directory for anything below it to be
    looked at. ``None`` takes everything. ``diagnose`` names the diagnose
    files wanted (all of them by default), stored in ``diagnose_dir``.
    """

    job_id: str
    destination: Path
    pattern: re.Pattern[str] | None = None
    diagnose: Sequence[str] | None = DIAGNOSE_FILES
    diagnose_dir: str = DEFAULT_DIAGNOSE_DIR


@dataclass
class FetchOutcome:
    """What arrived for one job, and what went wrong (empty = complete)."""

    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    disk_full: bool = False
    """Whether a file could not be written for lack of space (or quota):
    a fault of this host, not of the job, worth retrying later."""

    @property
    def ok(self) -> bool:
        return not self.errors


def fetch_jobs(rest: ARCRest, fetches: Sequence[Fetch], workers: int = DEFAULT_WORKERS) -> list[FetchOutcome]:
    """Download the selected session files (recursively) and diagnose files
    of each job; outcomes aligned with ``fetches``. A missing diagnose file
    is not an error (A-REX writes only some of them for a given job)."""
    outcomes = [FetchOutcome() for _ in fetches]
    # Tasks: ("list", job, relative dir) | ("file", job, relative path) | ("diag", job, name)
    tasks: queue.Queue[tuple[str, int, str] | None] = queue.Queue()
    lock = threading.Lock()
    for index, fetch in enumerate(fetches):
        tasks.put(("list", index, ""))
        for name in fetch.diagnose or ():
            tasks.put(("diag", index, name))

    def wanted(fetch: Fetch, relative: str) -> bool:
        return fetch.pattern is None or fetch.pattern.fullmatch(relative) is not None

    def handle(kind: str, index: int, relative: str) -> None:
        fetch = fetches[index]
        if kind == "list":
            listing = rest.list_session(fetch.job_id, relative)
            prefix = f"{relative}/" if relative else ""
            for name in listing.files:
                if wanted(fetch, prefix + name):
                    tasks.put(("file", index, prefix + name))
            for name in listing.dirs:
                if wanted(fetch, f"{prefix}{name}/"):
                    tasks.put(("list", index, prefix + name))
        elif kind == "file":
            target = _inside(fetch.destination, relative)
            rest.download_file(fetch.job_id, relative, target)
            with lock:
                outcomes[index].files.append(relative)
        else:
            relative = f"{fetch.diagnose_dir}/{relative}" if fetch.diagnose_dir else relative
            try:
                rest.download_diagnose_file(
                    fetch.job_id, relative.rsplit("/", 1)[-1], _inside(fetch.destination, relative)
                )
            except MissingResultFile:
                return
            with lock:
                outcomes[index].files.append(relative)

    def work() -> None:
        while (task := tasks.get()) is not None:
            kind, index, relative = task
            try:
                handle(kind, index, relative)
            except (ActError, OSError, ValueError) as exc:
                with lock:
                    outcomes[index].errors.append(f"{relative or '/'}: {exc}")
                    if is_disk_full(exc):
                        outcomes[index].disk_full = True
            tasks.task_done()
        tasks.task_done()

    _run_pool(tasks, work, workers)
    for outcome in outcomes:
        outcome.files.sort()
    return outcomes


def _inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing names that would escape ``root`` (a CE is
    not trusted to send only tidy names)."""
    target = inside(root, relative)
    if target is None:
        raise ValueError(f"refusing to write outside {root}: {relative!r}")
    return target


def _run_pool(tasks: queue.Queue[Any], work: Callable[[], None], workers: int) -> None:
    """Run ``work`` on ``workers`` threads until every task (including those
    added while working) is done, then stop the threads."""
    workers = max(1, workers)
    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    tasks.join()
    for _ in threads:
        tasks.put(None)
    for thread in threads:
        thread.join()
