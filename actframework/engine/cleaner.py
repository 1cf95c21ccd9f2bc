"""The cleaner: ``toclean`` jobs leave the CE, the storage and the job store.

Per owner, one bulk clean on the CE (a job the CE no longer knows, 404, is
as good as cleaned; any other refusal keeps the job for a retry until
``timeouts.toclean``, after which it is removed here anyway). Then the
storage backend's "clean up" hook removes what was staged for the job on
its storage (as the job's owner), the inputs the server holds and the
fetched outputs are removed, and finally the job's rows.
"""

from __future__ import annotations

import logging

from actframework.arc.host_files import remove_inputs
from actframework.db.records import ArcJob
from actframework.engine.actions import remove_results
from actframework.engine.context import EngineContext, per_owner, split_timed_out
from actframework.errors import ActError, ARCHTTPError
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)


def clean_cycle(context: EngineContext, cluster: str) -> int:
    """Clean this cluster's ``toclean`` jobs; returns how many were removed."""
    store = context.store
    jobs = store.claim_for_clean(cluster, context.settings.clean_batch, context.owner, context.lease)
    if not jobs:
        return 0
    old, jobs = split_timed_out(context, jobs, ArcState.TOCLEAN)
    no_id = [job for job in jobs if not job.ce_id]
    removed = _remove(context, cluster, old + no_id)

    def clean(proxyid: int, group: list[ArcJob]) -> None:
        nonlocal removed
        rest = context.ce.client(cluster, proxyid)
        results = rest.clean_jobs([job.ce_id or "" for job in group])
        cleaned: list[ArcJob] = []
        for job, result in zip(group, results, strict=True):
            if result.ok or (isinstance(result.error, ARCHTTPError) and result.error.status == 404):
                cleaned.append(job)
            else:
                log.info(
                    "job %s (%s): CE clean refused (%s); trying again later", job.appjobid, job.ce_id, result.error
                )
                context.metrics.error(cluster, result.error or ActError("no result"))
        store.release([job.id for job in group if job not in cleaned], context.owner)
        removed += _remove(context, cluster, cleaned)

    per_owner(context, cluster, [job for job in jobs if job.ce_id], clean)
    return removed


def _remove(context: EngineContext, cluster: str, jobs: list[ArcJob]) -> int:
    """Remove the jobs' staged data, fetched outputs and rows; how many went."""
    removable: list[int] = []
    for job in jobs:
        try:
            context.storage.clean_up(context.storage_context(job.proxyid or 0), context.storage_job(job))
        except (ActError, OSError) as exc:
            log.warning("job %s: removing its staged files failed (%s); trying again later", job.appjobid, exc)
            context.metrics.error(cluster, exc)
            continue
        remove_inputs(context.config.inputs_dir, context.storage_job(job).id)
        remove_results(context, job.ce_id)
        removable.append(job.id)
    deleted = context.store.delete_arc_jobs(removable, expected={ArcState.TOCLEAN})
    context.store.release([job.id for job in jobs if job.id not in deleted], context.owner)
    context.metrics.moved("clean", cluster, "removed", len(deleted))
    return len(deleted)
