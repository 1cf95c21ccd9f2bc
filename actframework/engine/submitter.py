"""The submitter: ``tosubmit`` jobs go to one cluster, in bulk.

Per cycle and cluster: work out how many jobs the site takes (``maxjobs``,
``offline``, the queue-fraction throttle), share that limit among the
groups of waiting jobs (:mod:`actframework.engine.fairshare`), claim each
group's share of the ``tosubmit`` jobs whose cluster list holds this
cluster (they become ``submitting`` with a fresh submission token, committed
before anything is sent), then per job owner: get the shared delegation,
prepare the descriptions (the storage backend rewrites them; each job's
name carries its token), one bulk POST, and then, in this order:

1. the CE ids are stored (still ``submitting``, lease kept) in one
   transaction, before any upload: a crash from here on leaves rows that
   name their CE job;
2. the inputs are staged through the storage backend (``actstore`` uploads
   them from the data directory into the CE session);
3. the jobs become ``submitted`` (or stay ``tocancel`` if the user killed
   them meanwhile: the kill is not lost, act-spec §F.2).

A POST that got no answer, or an answer that cannot be read (a proxy's
error page, JSON cut short), may or may not have created the jobs; those
jobs, and single jobs whose element of the answer cannot be read, are left
to :mod:`actframework.engine.reconcile`, which looks for their tokens on
the CE, rather than submitted a second time.

Waiting is not failing: a job that waits for a slot (site limits, an
offline site, a CE that cannot be reached, an owner whose proxy expired)
waits as long as it takes. Only jobs that clusters refused (or handed back)
time out, ``timeouts.tosubmit`` after the first refusal
(:func:`expire_waiting_cycle`, aCT's ``checkFailedSubmissions``); the
optional ``max_queue_time`` bounds the wait of every job.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from actframework import xrsl
from actframework.arc import ARCRest, display_state, split_cluster_url
from actframework.arc.submit import PreparedJob, prepare_job
from actframework.db.records import ArcJob, StatusUpdate, SubmissionRecord
from actframework.engine.context import EngineContext, by_proxy, due_warning
from actframework.engine.fairshare import share_slots
from actframework.errors import (
    ActError,
    ARCHTTPError,
    ARCResponseError,
    CEUnreachableError,
    InputFileError,
    ProxyUnavailableError,
    StorageError,
    TransportError,
    XRSLError,
)
from actframework.hookspecs import InputFile

log = logging.getLogger(__name__)

#: What goes back to ``tosubmit`` loses what the last attempt left behind.
CLEARED_SUBMISSION_FIELDS = {
    "cluster": "", "IDFromEndpoint": None, "JobID": None, "DelegationID": None, "State": None,
    "refusedsince": None, "missingsince": None,
}


def token_name(name: str | None, token: str, arc_id: int) -> str:
    """The job name sent to the CE: the user's name plus the submission token."""
    tag = f"actf:{token}:{arc_id}"
    return f"{name} {tag}" if name else tag


def name_has_token(ce_name: str | None, token: str | None, arc_id: int) -> bool:
    """True when a CE job's name carries this submission's token."""
    return bool(ce_name and token) and f"actf:{token}:{arc_id}" in (ce_name or "").split()


def job_url(rest: ARCRest, ce_id: str) -> str:
    """aCT's ``JobID``: the job's REST URL on the CE."""
    return f"{rest.http.base_url}{rest.api}/jobs/{ce_id}"


@dataclass(frozen=True)
class Prepared:
    job: ArcJob
    prepared: PreparedJob
    name: str | None


def prepare_for_ce(
    context: EngineContext, job: ArcJob, text: str, *, queue: str | None,
    delegation_id: str | None, legacy: bool,
) -> Prepared:
    """One stored description made ready for ``job.cluster``: rewritten by the
    storage backend, named with the job's token, prepared as ``arcsub`` does.
    Raises XRSLError, InputFileError or StorageError for a job that cannot go."""
    storage_job = context.storage_job(job, text)
    text = context.storage.rewrite_description(context.storage_context(job.proxyid or 0, None), storage_job, ())
    parsed = xrsl.parse(text)
    if len(parsed) != 1:
        raise XRSLError(f"the description holds {len(parsed)} jobs")
    description = parsed[0]
    name = description.get_string("jobname")
    description.set("jobname", token_name(name, job.submissiontoken or "", job.id))
    prepared = prepare_job(description, input_dir=input_dir(context, job), queue=queue,
                           delegation_id=delegation_id, into_description=legacy)
    return Prepared(job, prepared, name)


def stage_inputs(context: EngineContext, rest: ARCRest, item: Prepared, ce_id: str) -> None:
    """Stage one created job's inputs through the storage backend."""
    if not item.prepared.uploads:
        return
    storage_job = replace(context.storage_job(item.job, "", [InputFile(n, str(p)) for n, p in item.prepared.uploads]),
                          ce_id=ce_id)
    context.storage.stage_inputs(context.storage_context(item.job.proxyid or 0, rest), storage_job)


def stage_all(context: EngineContext, rest: ARCRest, items: Sequence[tuple[Prepared, str]]) -> dict[int, str]:
    """Stage inputs of many jobs in parallel; arc id → error text for failures."""
    failures: dict[int, str] = {}

    def one(entry: tuple[Prepared, str]) -> None:
        item, ce_id = entry
        try:
            stage_inputs(context, rest, item, ce_id)
        except (ActError, OSError) as exc:
            failures[item.job.id] = f"staging inputs failed: {exc}"
            context.metrics.error(item.job.cluster or "", exc)

    waiting = [entry for entry in items if entry[0].prepared.uploads]
    if waiting:
        with ThreadPoolExecutor(max_workers=min(len(waiting), context.settings.transfer_workers)) as pool:
            list(pool.map(one, waiting))
    return failures


def site_limit(context: EngineContext, cluster: str) -> int:
    """How many jobs the site takes now (0: none)."""
    site = context.settings.site(cluster)
    if site.offline:
        return 0
    limit = min(site.maxjobs - context.store.count_jobs_on_cluster(cluster), context.settings.submit_batch)
    if site.queue_fraction is not None:
        counts = context.store.counts_by_state(cluster)
        queued = counts.get("submitted", 0) + counts.get("submitting", 0)
        allowed = int(site.queue_fraction * counts.get("running", 0)) + site.queue_offset - queued
        limit = min(limit, allowed)
    return max(0, limit)


def submit_cycle(context: EngineContext, cluster: str) -> int:
    """One submission cycle on ``cluster``; returns how many jobs moved on
    (jobs that went back to ``tosubmit`` do not count: the worker then
    waits before it offers them again).

    The cycle's limit is shared among the groups of waiting jobs by
    :func:`~actframework.engine.fairshare.share_slots`; each group's share
    is claimed separately (its jobs by priority, then age), and then each
    owner's claimed jobs go to the CE in one bulk request."""
    limit = site_limit(context, cluster)
    if limit <= 0:
        return 0
    store = context.store
    waiting = store.waiting_groups(cluster)
    if not waiting:
        return 0
    shares = share_slots(limit, waiting, store.active_by_group(cluster))
    token = secrets.token_hex(8)
    jobs: list[ArcJob] = []
    for (proxyid, label), count in shares.items():
        jobs += store.claim_for_submit(cluster, count, context.owner, context.lease,
                                       proxyid=proxyid, fairshare=label, token=token)
    moved = 0
    for proxyid, group in by_proxy(jobs).items():
        moved += _submit_group(context, cluster, proxyid, group)
    return moved


def expire_waiting_cycle(context: EngineContext, _cluster: str = "") -> int:
    """Cancel ``tosubmit`` jobs that clusters refused (or handed back) and
    none accepted for ``timeouts.tosubmit`` since the first refusal, and,
    if ``max_queue_time`` is set, jobs waiting longer than that since they
    were created. Jobs that only wait for a slot are left alone. Returns
    how many were cancelled."""
    store = context.store
    now = store.now()
    settings = context.settings
    timeout = settings.timeouts.of("tosubmit")
    max_queue = timedelta(seconds=settings.max_queue_time) if settings.max_queue_time else None
    jobs = store.waiting_too_long(refused_before=now - timeout,
                                  created_before=now - max_queue if max_queue else None,
                                  limit=settings.cancel_batch)
    updates = []
    for job in jobs:
        if job.refusedsince is not None and job.refusedsince < now - timeout:
            reason = (f"no cluster accepted the job within {int(timeout.total_seconds())} s"
                      f" (last refusal: {job.attributes.get('Error') or 'unknown'})")
        else:
            reason = f"not submitted within max_queue_time ({settings.max_queue_time} s)"
        log.info("job %s (%s): %s; cancelled", job.appjobid, job.id, reason)
        updates.append(StatusUpdate(job.id, "tosubmit", "cancelled", {"Error": reason}))
    applied = store.apply_status_updates(updates)
    context.metrics.moved("submit", "", "cancelled", len(applied))
    return len(applied)


#: Statuses a gateway in front of a CE answers with when it lost the CE's
#: answer: the CE may have acted on the request.
GATEWAY_STATUSES = frozenset({502, 504})


def may_have_created(error: ActError) -> bool:
    """True when a bulk POST that failed with ``error`` may still have
    created jobs on the CE: no answer came, the answer could not be read,
    or a gateway in front of the CE lost it."""
    return isinstance(error, (TransportError, ARCResponseError)) or (
        isinstance(error, ARCHTTPError) and error.status in GATEWAY_STATUSES)


def back_to_tosubmit(context: EngineContext, jobs: Sequence[ArcJob], reason: str | None = None,
                     *, refused: bool = False) -> None:
    """``submitting`` jobs that no CE holds are ``tosubmit`` again, for any
    cluster of their list, with what the attempt left behind cleared and
    ``reason`` as their ``Error``. ``refused``: a cluster said no (or lost
    the job), which starts the job's ``timeouts.tosubmit`` clock unless it
    already runs; jobs that only could not be tried keep their clock."""
    fields = {**CLEARED_SUBMISSION_FIELDS, "Error": reason[:1024] if reason else None}
    first = [job.id for job in jobs if refused and job.refusedsince is None]
    context.store.set_arcstate(first, "tosubmit", {"submitting"},
                               fields={**fields, "refusedsince": context.store.now()})
    context.store.set_arcstate([job.id for job in jobs if job.id not in first], "tosubmit", {"submitting"},
                               fields={key: value for key, value in fields.items() if key != "refusedsince"})


def _submit_group(context: EngineContext, cluster: str, proxyid: int, jobs: list[ArcJob]) -> int:
    """Submit one owner's jobs; returns how many moved on (not back to tosubmit)."""
    store = context.store
    try:
        rest = context.ce.client(cluster, proxyid)
        delegation_id = context.ce.delegation(cluster, proxyid)
    except ProxyUnavailableError as exc:
        if due_warning((cluster, proxyid)):
            log.warning("%s: cannot submit jobs of proxy %s: %s", cluster, proxyid, exc)
        context.metrics.error(cluster, exc)
        back_to_tosubmit(context, jobs, str(exc))
        return 0
    except ActError as exc:  # logged by the runner
        context.metrics.error(cluster, exc)
        context.ce.forget(cluster, proxyid)
        back_to_tosubmit(context, jobs, str(exc))
        raise CEUnreachableError(str(exc)) from exc

    _, queue = split_cluster_url(cluster)
    legacy = rest.version == "1.0"
    texts = store.get_job_descriptions([j.id for j in jobs])
    ready: list[Prepared] = []
    refused: list[SubmissionRecord] = []
    for job in jobs:
        try:
            text = texts.get(job.id)
            if text is None:
                raise XRSLError("the job has no description")
            ready.append(prepare_for_ce(context, job, text, queue=queue, delegation_id=delegation_id, legacy=legacy))
        except (XRSLError, InputFileError, StorageError) as exc:
            log.warning("job %s (%s): not submittable: %s", job.appjobid, job.id, exc)
            refused.append(SubmissionRecord(job.id, "cancelled", {"Error": str(exc)}))
    if refused:
        store.record_submissions(refused)
        context.metrics.moved("submit", cluster, "cancelled", len(refused))
    if not ready:
        return len(refused)

    document = xrsl.unparse([item.prepared.description for item in ready])
    try:
        created = rest.create_jobs(document, queue=None if legacy else queue,
                                   delegation_id=None if legacy else delegation_id)
    except ActError as exc:
        context.metrics.error(cluster, exc)
        if may_have_created(exc):
            # The CE may have created the jobs before the connection broke or
            # its answer was garbled: let reconciliation look for their tokens
            # instead of submitting twice.
            log.warning("%s: bulk submission got no usable answer (%s); reconciling %d job(s)",
                        cluster, exc, len(ready))
            context.ce.forget(cluster, proxyid)
            store.release([item.job.id for item in ready], context.owner)
            raise CEUnreachableError(str(exc)) from exc
        log.warning("%s: the CE refused the bulk submission: %s", cluster, exc)
        back_to_tosubmit(context, [item.job for item in ready], str(exc), refused=True)
        raise CEUnreachableError(f"the CE refused the submission: {exc}") from exc
    if len(created) != len(ready):
        log.error("%s: %d results for %d jobs; reconciling them", cluster, len(created), len(ready))
        store.release([item.job.id for item in ready], context.owner)
        return len(refused)

    accepted: list[tuple[Prepared, str]] = []
    records: list[SubmissionRecord] = []
    rejected: list[tuple[ArcJob, str]] = []
    unreadable: list[ArcJob] = []
    for item, result in zip(ready, created, strict=True):
        if result.ok and result.value is not None:
            accepted.append((item, result.value.id))
            records.append(SubmissionRecord(item.job.id, "submitting", {
                "IDFromEndpoint": result.value.id,
                "JobID": job_url(rest, result.value.id),
                "DelegationID": delegation_id,
                "State": display_state(result.value.state or "ACCEPTING"),
                "Name": item.name,
                "Error": None,
                "refusedsince": None,
            }))
        elif isinstance(result.error, ARCResponseError):  # it may exist on the CE
            context.metrics.error(cluster, result.error)
            unreadable.append(item.job)
        else:
            error = result.error or ARCHTTPError(0, "no result")
            context.metrics.error(cluster, error)
            rejected.append((item.job, str(error)))
    store.record_submissions(records, keep_lease=True)
    if unreadable:
        log.warning("%s: the results of %d job(s) cannot be read (%s); reconciling them", cluster,
                    len(unreadable), next(r.error for r in created if isinstance(r.error, ARCResponseError)))
        store.release([job.id for job in unreadable], context.owner)
    for job, reason in rejected:
        log.warning("job %s (%s): %s refused it: %s", job.appjobid, job.id, cluster, reason)
        back_to_tosubmit(context, [job], reason, refused=True)

    failures = stage_all(context, rest, accepted)
    finish_submissions(context, cluster, [item.job for item, _ in accepted], failures)
    if rejected:  # the jobs are tosubmit again: do not offer them to this CE at once
        raise CEUnreachableError(f"the CE refused {len(rejected)} job(s): {rejected[0][1]}")
    return len(refused) + len(accepted)


def finish_submissions(context: EngineContext, cluster: str, jobs: Sequence[ArcJob], failures: dict[int, str]) -> None:
    """Jobs whose inputs are staged become ``submitted``; those whose
    staging failed are killed (``tocancel``: the CE job exists)."""
    done = [SubmissionRecord(job.id, "submitted") for job in jobs if job.id not in failures]
    context.store.record_submissions(done)
    for arc_id, reason in failures.items():
        log.warning("job %s: %s; killing it", arc_id, reason)
        context.store.set_arcstate([arc_id], "tocancel", {"submitting", "tocancel"}, fields={"Error": reason[:1024]})
    context.metrics.moved("submit", cluster, "submitted", len(done))
    context.metrics.moved("submit", cluster, "tocancel", len(failures))
    if done:
        log.info("%s: submitted %d job(s)", cluster, len(done))


def input_dir(context: EngineContext, job: ArcJob) -> Path:
    """Where the server keeps the job's uploaded inputs (relative sources resolve there)."""
    return context.config.inputs_dir / str(job.client_id if job.client_id is not None else job.id)
