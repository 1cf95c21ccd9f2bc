"""aCT's download lists (``downloadfiles``) as fetch instructions.

aCT stores, per job, which outputs to download as ``;``-separated entries:
``/`` for the whole session, a session path (a trailing
``/`` meaning the directory and everything below), and ``diagnose=...`` for
A-REX's diagnose files: ``diagnose=<dir>/`` puts all of them into ``<dir>``,
``diagnose=<dir>/<name>`` one of them, ``diagnose=<name>`` one into the
root.

One difference from aCT, for speed: aCT fetches all diagnose files into
``gmlog/`` when the list has no ``diagnose=`` entry. That is 14 more
requests per job, most of them for files A-REX does not have, and for 100
trivial jobs it took longer than the outputs themselves. Here a list without
``diagnose=`` fetches none; the engine adds :data:`FAILED_JOB_DIAGNOSE` to
the list of a failed job, whose diagnose files explain what went wrong.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from actframework.arc.rest import DIAGNOSE_FILES
from actframework.arc.transfer import DEFAULT_DIAGNOSE_DIR, Fetch, fetch_jobs
from actframework.errors import StorageError

#: Parallel downloads within one job's fetch (the engine fetches several jobs at once).
FETCH_WORKERS = 4


#: What the engine adds to a failed job's download list without a ``diagnose=`` entry.
FAILED_JOB_DIAGNOSE = f"diagnose={DEFAULT_DIAGNOSE_DIR}/"


def with_failure_diagnose(downloads: str | None) -> str:
    """``downloads`` plus all diagnose files into ``gmlog/`` unless it names some already."""
    downloads = downloads or "/"
    if any(part.strip().startswith("diagnose=") for part in downloads.split(";")):
        return downloads
    return f"{downloads};{FAILED_JOB_DIAGNOSE}"


def downloads_for(gmlog: str | None) -> str:
    """The download list aCT gives a job: everything, plus its diagnose
    files into its ``gmlog`` directory when the description names one."""
    if gmlog and gmlog.strip("/"):
        return f"/;diagnose={gmlog.strip('/')}/"
    return "/"


def fetch_for(ce_id: str, destination: Path, downloads: str | None) -> Fetch:
    """The :class:`Fetch` that downloads what ``downloads`` lists of job ``ce_id``."""
    patterns: list[str] = []
    everything = False
    diagnose_dir: str | None = None
    diagnose_names: list[str] = []
    for entry in (part.strip() for part in (downloads or "/").split(";")):
        if not entry:
            continue
        if entry.startswith("diagnose="):
            target = entry[len("diagnose=") :].strip("/") if entry.endswith("/") else entry[len("diagnose=") :]
            if entry.endswith("/"):
                diagnose_dir = diagnose_dir if diagnose_dir is not None else target
                diagnose_names.extend(DIAGNOSE_FILES)
            else:
                folder, _, name = target.rpartition("/")
                if name not in DIAGNOSE_FILES:  # not a file A-REX has: skipped, as aCT does
                    continue
                diagnose_dir = diagnose_dir if diagnose_dir is not None else folder
                diagnose_names.append(name)
            continue
        if entry == "/":
            everything = True
            continue
        patterns.extend(_session_patterns(entry.lstrip("/")))
    pattern = None if everything else re.compile("|".join(patterns) if patterns else r"(?!)")
    if diagnose_dir is None:
        return Fetch(ce_id, destination, pattern, (), DEFAULT_DIAGNOSE_DIR)
    return Fetch(ce_id, destination, pattern, tuple(dict.fromkeys(diagnose_names)), diagnose_dir)


def _session_patterns(entry: str) -> list[str]:
    """Regexes for one session path: its parent directories (the fetch only
    descends into directories that match), then the path itself."""
    parts = entry.rstrip("/").split("/")
    found = [re.escape("/".join(parts[:depth]) + "/") for depth in range(1, len(parts))]
    if entry.endswith("/"):
        found.append(re.escape(entry) + ".*")
    else:
        found.append(re.escape(entry))
    return found


def _remove_stale_partials(destination: Path) -> None:
    """Remove what an earlier fetch into ``destination`` left when its
    process was killed before it could clean up (SIGKILL, a power cut):
    the job is fetched again from the start, so its half-written copies are
    of no use, and nothing else would ever remove them."""
    for stale in destination.parent.glob(f".{glob.escape(destination.name)}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def fetch_outputs(
    ce: Any, ce_id: str, destination: Path, downloads: str | None, workers: int = FETCH_WORKERS
) -> list[str]:
    """Fetch one job's outputs from its CE into ``destination`` (replaced
    whole, mode 0700) and return the files' relative paths: what a storage
    backend whose results live on the aCT host does on the engine side.
    The files arrive in a hidden sibling directory that is renamed into
    place only when every file is there, so a reader never sees half, and
    which is removed whatever happens (or, if the process is killed, by the
    next fetch of the same job). A full file system (or quota) raises
    :class:`OSError` (``ENOSPC``) rather than :class:`StorageError`, so
    that the engine keeps the job to fetch when there is room again."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(destination)
    partial = destination.parent / f".{destination.name}.partial-{secrets.token_hex(4)}"
    try:
        outcome = fetch_jobs(ce, [fetch_for(ce_id, partial, downloads)], workers)[0]
        if outcome.disk_full:  # the host's fault, not the job's: the caller waits for room
            raise OSError(errno.ENOSPC, f"No space left for the outputs of {ce_id}", str(destination.parent))
        if not outcome.ok:
            raise StorageError(f"fetching the outputs of {ce_id} failed: {'; '.join(outcome.errors[:3])}")
        partial.mkdir(parents=True, exist_ok=True)
        os.chmod(partial, 0o700)
        if destination.exists():
            shutil.rmtree(destination)
        partial.rename(destination)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return list(outcome.files)
