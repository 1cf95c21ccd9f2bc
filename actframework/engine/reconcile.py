"""Reconciliation: ``submitting`` jobs whose submission was cut off.

A job stays ``submitting`` with no live lease when its submitter died (or
its bulk POST got no answer) at some point between claiming it and
recording the outcome. Which point decides what is true on the CE:

* the job has a CE id (``IDFromEndpoint``): the CE created it and the id was
  stored, but staging its inputs may not have finished. If the CE still
  waits for inputs (ACCEPTING/ACCEPTED/PREPARING) they are staged again
  (uploads overwrite), then the job is ``submitted``; a job the CE no longer
  knows goes back to ``tosubmit``; anything else is ``submitted`` and the
  status checker takes over;
* no CE id: the POST may or may not have reached the CE. The CE's job list
  (as this user) is searched for the job's submission token, which the
  submitter put in the job's name: found, the job continues as above; not
  found, the CE never created it and it goes back to ``tosubmit``.

So no job is lost and none runs twice. When the CE's answers cannot be
read (a proxy's error page, a garbled job list or job information), nothing
is decided: the jobs are released and looked at again in a later cycle. The lookup asks the CE about its jobs
that no row of this cluster names, which are few unless crashes were many.

A job is only looked at once its submission has surely ended on the CE's
side too: a CE goes on creating the jobs of a bulk request after the
client is gone, and lists a new job a moment after creating it. So a
job waits :func:`settle_time` (the longest a submission request may take)
after it was claimed or last recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from actframework.arc import ARCJob, ARCRest, JobResult, display_state, split_cluster_url
from actframework.arc.states import RestState
from actframework.db.records import ArcJob, SubmissionRecord
from actframework.engine.context import EngineContext, by_proxy
from actframework.engine.submitter import (
    Prepared,
    back_to_tosubmit,
    finish_submissions,
    name_has_token,
    prepare_for_ce,
    stage_all,
)
from actframework.errors import (
    ActError,
    ARCAuthError,
    ARCError,
    ARCHTTPError,
    CEUnreachableError,
    CredentialUnavailableError,
)
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: CE states in which a job still waits for its input files.
WAITING_FOR_INPUTS = frozenset({RestState.ACCEPTING, RestState.ACCEPTED, RestState.PREPARING})


def settle_time(context: EngineContext) -> timedelta:
    """How long a submission request can last: connecting plus answering."""
    timeout = context.settings.ce_timeout
    return timedelta(seconds=min(15.0, timeout) + timeout + 5)


def reconcile_cycle(context: EngineContext, cluster: str) -> int:
    """Reconcile this cluster's orphaned ``submitting`` jobs; returns how many."""
    settled = context.store.now() - settle_time(context)
    jobs = context.store.claim_for_reconcile(
        cluster, context.settings.submit_batch * 10, context.owner, context.lease, settled
    )
    if not jobs:
        return 0
    log.info("%s: reconciling %d job(s) left in submitting", cluster, len(jobs))
    for proxyid, group in by_proxy(jobs).items():
        try:
            _reconcile_group(context, cluster, proxyid, group)
        except (CredentialUnavailableError, ARCAuthError) as exc:  # this owner's problem, not the CE's
            log.warning("%s: cannot reconcile jobs of proxy %s yet: %s", cluster, proxyid, exc)
            context.store.release([job.id for job in group], context.owner)
        except ActError as exc:
            context.metrics.error(cluster, exc)
            context.ce.forget(cluster, proxyid)
            context.store.release([job.id for job in group], context.owner)
            raise CEUnreachableError(f"reconciliation failed: {exc}") from exc
    return len(jobs)


def _reconcile_group(context: EngineContext, cluster: str, proxyid: int, jobs: list[ArcJob]) -> None:
    rest = context.ce.client(cluster, proxyid)
    found = _find_by_token(context, rest, cluster, [job for job in jobs if not job.ce_id])
    never_created = [job for job in jobs if not job.ce_id and job.id not in found]
    if never_created:
        log.info("%s: %d job(s) never reached the CE; back to tosubmit", cluster, len(never_created))
        back_to_tosubmit(context, never_created)
        context.metrics.moved("reconcile", cluster, ArcState.TOSUBMIT, len(never_created))

    known = {job.id: job.ce_id for job in jobs if job.ce_id}
    for arc_id, (ce_id, _) in found.items():
        known[arc_id] = ce_id
    if found:
        context.store.record_submissions(
            [
                SubmissionRecord(
                    arc_id,
                    ArcState.SUBMITTING,
                    {
                        "IDFromEndpoint": ce_id,
                        "JobID": rest.job_url(ce_id),
                        "State": display_state(state),
                    },
                )
                for arc_id, (ce_id, state) in found.items()
            ],
            keep_lease=True,
        )
    if not known:
        return
    with_ids = [job for job in jobs if job.id in known]
    infos = {r.job_id: r for r in rest.get_jobs_info([known[job.id] for job in with_ids])}
    gone: list[ArcJob] = []
    waiting: list[ArcJob] = []
    moving_on: list[ArcJob] = []
    for job in with_ids:
        result = infos.get(known[job.id])
        if (
            result is not None
            and not result.ok
            and isinstance(result.error, ARCHTTPError)
            and result.error.status == 404
        ):
            gone.append(job)
        elif result is None or not result.ok or result.value is None:
            raise CEUnreachableError(f"no information on job {known[job.id]}")
        elif (result.value.state or "") in WAITING_FOR_INPUTS:
            waiting.append(job)
        else:
            moving_on.append(job)
    if gone:  # handed back: the CE created the job and lost it
        back_to_tosubmit(context, gone, "the CE lost the job before its submission completed", refused=True)
    _restage(context, rest, cluster, waiting, known)
    finish_submissions(context, cluster, moving_on, {})


def _find_by_token(
    context: EngineContext, rest: ARCRest, cluster: str, jobs: Sequence[ArcJob]
) -> dict[int, tuple[str, str]]:
    """arc id → (CE id, REST state) for jobs whose token a CE job's name carries.

    A CE job whose information cannot be read (other than one the CE no
    longer knows) might be one of ours: while any of the jobs is not found,
    that raises :class:`ARCError`, so the jobs wait for a later look instead
    of going back to ``tosubmit`` and running twice."""
    if not jobs:
        return {}
    listed = [entry.id for entry in rest.get_jobs_list()]
    unknown = sorted(set(listed) - context.store.known_ce_ids(cluster, listed))
    found: dict[int, tuple[str, str]] = {}
    unread: list[JobResult[ARCJob]] = []
    for result in rest.get_jobs_info(unknown):
        if not result.ok or result.value is None:
            if not (isinstance(result.error, ARCHTTPError) and result.error.status == 404):
                unread.append(result)
            continue
        for job in jobs:
            if job.id not in found and name_has_token(result.value.name, job.submissiontoken, job.id):
                found[job.id] = (result.job_id, result.value.state or "")
    if unread and len(found) < len(jobs):
        raise ARCError(
            f"cannot tell whether {len(jobs) - len(found)} job(s) reached the CE: "
            f"{len(unread)} CE job(s) could not be read, e.g. {unread[0].error}"
        )
    return found


def _restage(context: EngineContext, rest: ARCRest, cluster: str, jobs: list[ArcJob], known: dict[int, str]) -> None:
    """Stage the inputs of CE jobs that still wait for them, then finish them."""
    if not jobs:
        return
    _, queue = split_cluster_url(cluster)
    texts = context.store.get_job_descriptions([job.id for job in jobs])
    items: list[tuple[Prepared, str]] = []
    failures: dict[int, str] = {}
    for job in jobs:
        try:
            prepared = prepare_for_ce(
                context, job, texts.get(job.id, ""), queue=queue, delegation_id=None, legacy=rest.version == "1.0"
            )
            items.append((prepared, known[job.id]))
        except ActError as exc:
            failures[job.id] = f"cannot stage inputs again: {exc}"
    staging_failures, unreached = stage_all(context, rest, items)
    failures.update(staging_failures)
    finish_submissions(context, cluster, [job for job in jobs if job.id not in unreached], failures)
