"""The fetcher: outputs of ``finished`` (→ ``done``) and ``tofetch`` (→ ``donefailed``) jobs.

Each job's outputs, as its download list (``downloadfiles``) selects them,
come from the CE to ``<data_dir>/results/<CE id>/``
(:func:`actframework.arc.host_files.fetch_results`), where ``act get``
finds them; A-REX's diagnose files come too where the job names a ``gmlog`` directory, and for
failed jobs (into ``gmlog/`` if it names none). Jobs are fetched in parallel; a job whose fetch fails stays in
its state and is tried again next cycle, until its timeout
(``timeouts.finished`` / ``timeouts.tofetch``) makes it ``donefailed``.

A full results file system (or quota) is this host's fault, not the job's:
the job is released in its state like any failed fetch and fetched once
there is room, and the warning about it is logged once per job, not once
per cycle (several a second while the disk stays full). The fetch leaves
no partial result directory behind.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from actframework.arc.downloads import with_failure_diagnose
from actframework.arc.host_files import fetch_results
from actframework.db.records import ArcJob
from actframework.engine.context import EngineContext, per_owner
from actframework.errors import ActError, is_disk_full
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: The state a successful fetch leads to, per state fetched from.
FETCHED_STATE: dict[ArcState, ArcState] = {ArcState.FINISHED: ArcState.DONE, ArcState.TOFETCH: ArcState.DONEFAILED}


class _WarnedJobs:
    """The jobs already warned about (thread-safe: fetches run in parallel)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def first(self, job_id: int) -> bool:
        """True the first time ``job_id`` is seen (until forgotten)."""
        with self._lock:
            if job_id in self._ids:
                return False
            self._ids.add(job_id)
            return True

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._ids.discard(job_id)


#: Jobs whose fetch met a full disk and were warned about.
_DISK_FULL = _WarnedJobs()


def fetch_cycle(context: EngineContext, cluster: str) -> int:
    """Fetch outputs of this cluster's finished jobs; returns how many moved on
    (jobs whose fetch failed wait for the next cycle and do not count)."""
    store = context.store
    jobs = store.claim_for_fetch(cluster, context.settings.fetch_batch, context.owner, context.lease)
    if not jobs:
        return 0
    now = store.now()
    timed_out = [
        job
        for job in jobs
        if job.tarcstate is not None and now - job.tarcstate > context.settings.timeouts.of(job.arcstate)
    ]
    if timed_out:
        log.warning("%s: giving up fetching %d job(s)", cluster, len(timed_out))
        for arcstate in FETCHED_STATE:
            store.set_arcstate([j.id for j in timed_out if j.arcstate == arcstate], ArcState.DONEFAILED, {arcstate})
        context.metrics.moved("fetch", cluster, ArcState.DONEFAILED, len(timed_out))
    no_id = [job for job in jobs if job not in timed_out and not job.ce_id]
    for arcstate in FETCHED_STATE:
        store.set_arcstate([j.id for j in no_id if j.arcstate == arcstate], ArcState.DONEFAILED, {arcstate})

    progress = len(timed_out) + len(no_id)

    def fetch(proxyid: int, group: list[ArcJob]) -> None:
        nonlocal progress
        rest = context.ce.client(cluster, proxyid)

        def one(job: ArcJob) -> bool:
            if context.stopping.is_set():  # released below, fetched by the next engine
                return False
            destination = context.config.results_dir / (job.ce_id or "")
            downloads = job.downloadfiles or "/"
            if job.arcstate == ArcState.TOFETCH:  # a failed job: its diagnose files say why
                downloads = with_failure_diagnose(downloads)
            try:
                fetch_results(rest, job.ce_id or "", context.storage_job(job).id, destination, downloads)
            except (ActError, OSError) as exc:
                if not is_disk_full(exc) or _DISK_FULL.first(job.id):
                    log.warning("job %s (%s): fetching outputs failed: %s", job.appjobid, job.ce_id, exc)
                context.metrics.error(cluster, exc)
                return False
            _DISK_FULL.forget(job.id)
            return True

        with ThreadPoolExecutor(max_workers=min(len(group), context.settings.transfer_workers)) as pool:
            outcomes = list(pool.map(one, group))
        for arcstate, target in FETCHED_STATE.items():
            fetched = [job.id for job, ok in zip(group, outcomes, strict=True) if ok and job.arcstate == arcstate]
            moved = store.set_arcstate(fetched, target, {arcstate})
            context.metrics.moved("fetch", cluster, target, len(moved))
            progress += len(moved)
        store.release([job.id for job, ok in zip(group, outcomes, strict=True) if not ok], context.owner)

    per_owner(context, cluster, [job for job in jobs if job not in timed_out and job.ce_id], fetch)
    return progress
