"""The submitter: ``tosubmit`` jobs go to one cluster, in bulk.

Per cycle and cluster: work out how many jobs the site takes (``maxjobs``,
``offline``, the queue-fraction throttle), share that limit among the
groups of waiting jobs (:mod:`actframework.engine.fairshare`), claim each
group's share of the ``tosubmit`` jobs whose cluster list holds this
cluster (they become ``submitting`` with a fresh submission token, committed
before anything is sent), then per job owner, the owners in parallel: get
the shared delegation,
prepare the descriptions (each job's name carries its token), one bulk POST per description language (A-REX
reads one language per request, and translating xRSL into ADL or back
would lose what only one of them can say; when the CE refuses or does not
answer one language's POST, the other's jobs wait untried for the next
cycle, while jobs it refuses one by one hold back no one), and then, per
POST, in this order:

1. the CE ids are stored (still ``submitting``, lease kept) in one
   transaction, before any upload: a crash from here on leaves rows that
   name their CE job;
2. the inputs the server holds are uploaded from the data directory into
   the CE sessions (:mod:`actframework.arc.host_files`; inputs on a storage
   backend are URLs that the CE fetches itself);
3. the jobs become ``submitted`` (or stay ``tocancel`` if the user killed
   them meanwhile: the kill is not lost).

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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from actframework import jobdesc
from actframework.arc import ARCRest, display_state, split_cluster_url
from actframework.arc.host_files import upload_inputs
from actframework.arc.states import RestState
from actframework.arc.submit import PreparedJob, post_jobs, prepare_job
from actframework.db import CredentialKind
from actframework.db.records import ArcJob, StatusUpdate, SubmissionRecord
from actframework.engine.ce import check_rest_1_0_job
from actframework.engine.context import EngineContext, by_proxy, due_warning
from actframework.engine.fairshare import share_slots
from actframework.errors import (
    ActError,
    ARCAuthError,
    ARCHTTPError,
    ARCResponseError,
    CEUnreachableError,
    ClusterCredentialError,
    CredentialUnavailableError,
    InputFileError,
    JobDescriptionError,
    StorageError,
    TransportError,
)
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: What goes back to ``tosubmit`` loses what the last attempt left behind.
CLEARED_SUBMISSION_FIELDS = {
    "cluster": "",
    "IDFromEndpoint": None,
    "JobID": None,
    "DelegationID": None,
    "State": None,
    "refusedsince": None,
    "missingsince": None,
}


def token_name(name: str | None, token: str, arc_id: int) -> str:
    """The job name sent to the CE: the user's name plus the submission token."""
    tag = f"actf:{token}:{arc_id}"
    return f"{name} {tag}" if name else tag


def name_has_token(ce_name: str | None, token: str | None, arc_id: int) -> bool:
    """True when a CE job's name carries this submission's token."""
    return bool(ce_name and token) and f"actf:{token}:{arc_id}" in (ce_name or "").split()


@dataclass(frozen=True)
class Prepared:
    job: ArcJob
    prepared: PreparedJob
    name: str | None


def prepare_for_ce(
    context: EngineContext,
    job: ArcJob,
    text: str,
    *,
    queue: str | None,
    delegation_id: str | None,
    legacy: bool,
) -> Prepared:
    """One stored description (as the client's storage backend rewrote it)
    made ready for ``job.cluster``: named with the job's token, prepared as
    ``arcsub`` does. Raises JobDescriptionError, InputFileError or
    StorageError for a job that cannot go."""
    description = jobdesc.parse_one(text)
    name = description.name
    description.set_name(token_name(name, job.submissiontoken or "", job.id))
    prepared = prepare_job(
        description,
        input_dir=input_dir(context, job),
        queue=queue,
        delegation_id=delegation_id,
        into_description=legacy,
    )
    return Prepared(job, prepared, name)


def stage_inputs(context: EngineContext, rest: ARCRest, item: Prepared, ce_id: str) -> None:
    """Upload one created job's server-held inputs into its CE session."""
    if not item.prepared.uploads:
        return
    root = input_dir(context, item.job)
    upload_inputs(rest, ce_id, context.storage_job(item.job).id, root, item.prepared.uploads)


def stage_all(
    context: EngineContext, rest: ARCRest, items: Sequence[tuple[Prepared, str]]
) -> tuple[dict[int, str], list[int]]:
    """Stage inputs of many jobs in parallel: (arc id → error text for
    jobs whose staging failed, ids of jobs whose CE gave no answer).

    A CE that gave no HTTP answer (a dropped connection, a failed TLS
    handshake, a timeout) is trouble of the moment, not of the job: such
    jobs are released as they are, ``submitting`` with their CE id, and the
    reconciliation stages their inputs again once the CE answers."""
    failures: dict[int, str] = {}
    unreached: list[int] = []

    def one(entry: tuple[Prepared, str]) -> None:
        item, ce_id = entry
        try:
            stage_inputs(context, rest, item, ce_id)
        except (ActError, OSError) as exc:
            context.metrics.error(item.job.cluster or "", exc)
            if _no_answer(exc):
                unreached.append(item.job.id)
            else:
                failures[item.job.id] = f"staging inputs failed: {exc}"

    waiting = [entry for entry in items if entry[0].prepared.uploads]
    if waiting:
        with ThreadPoolExecutor(max_workers=min(len(waiting), context.settings.transfer_workers)) as pool:
            list(pool.map(one, waiting))
    if unreached:
        log.warning(
            "%d job(s): the CE gave no answer while their inputs went up; staging them again later", len(unreached)
        )
        context.store.release(unreached, context.owner)
    return failures, unreached


def _no_answer(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a request that got no HTTP answer."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TransportError):
            return True
        seen = seen.__cause__
    return False


def site_limit(context: EngineContext, cluster: str) -> int:
    """How many jobs the site takes now (0: none)."""
    site = context.settings.site(cluster)
    if site.offline:
        return 0
    batches = context.settings.submit_batch * context.settings.submit_batches_at_once
    limit = min(site.maxjobs - context.store.count_occupying(cluster), batches)
    if site.queue_fraction is not None:
        counts = context.store.counts_by_state(cluster)
        queued = counts.get(ArcState.SUBMITTED, 0) + counts.get(ArcState.SUBMITTING, 0)
        allowed = int(site.queue_fraction * counts.get(ArcState.RUNNING, 0)) + site.queue_offset - queued
        limit = min(limit, allowed)
    return max(0, limit)


def submit_cycle(context: EngineContext, cluster: str) -> int:
    """One submission cycle on ``cluster``; returns how many jobs moved on
    (jobs that went back to ``tosubmit`` do not count: the worker then
    waits before it offers them again).

    The cycle's limit is shared among the groups of waiting jobs by
    :func:`~actframework.engine.fairshare.share_slots`; each group's share
    is claimed separately (its jobs by priority, then age), and then each
    owner's claimed jobs go to the CE in one bulk request
    (:func:`submit_owners`)."""
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
        jobs += store.claim_for_submit(
            cluster, count, context.owner, context.lease, proxyid=proxyid, fairshare=label, token=token
        )
    return submit_owners(context, cluster, by_proxy(jobs))


#: Most batches of one cycle that go to a CE at the same time (owners and
#: each owner's batches, see ``submit_batches_at_once``).
OWNERS_AT_ONCE = 8


def submit_owners(context: EngineContext, cluster: str, groups: dict[int, list[ArcJob]]) -> int:
    """Submit each owner's claimed jobs in batches of ``submit_batch``, the
    batches in parallel, and return how many jobs moved on.

    In parallel because each batch is a POST and the uploads: one after
    another, the first owners' jobs would be on the CE seconds before the
    last owners', and the shares that fair share dealt evenly would not be
    even on the CE; and an owner's second batch is on its way while the CE
    works on the first. Every batch runs to its end even when another fails
    (no claimed job is left waiting for its lease); the first CE error is
    raised afterwards so that the runner backs off."""
    size = context.settings.submit_batch
    batches = [
        (proxyid, group[start : start + size])
        for proxyid, group in groups.items()
        for start in range(0, len(group), size)
    ]
    if len(batches) <= 1:
        return sum(_submit_group(context, cluster, proxyid, group) for proxyid, group in batches)
    moved = 0
    first_error: CEUnreachableError | None = None
    with ThreadPoolExecutor(max_workers=min(len(batches), OWNERS_AT_ONCE)) as pool:
        futures = [pool.submit(_submit_group, context, cluster, proxyid, group) for proxyid, group in batches]
        for future in futures:
            try:
                moved += future.result()
            except CEUnreachableError as exc:
                first_error = first_error or exc
    if first_error is not None:
        raise first_error
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
    timeout = settings.timeouts.of(ArcState.TOSUBMIT)
    max_queue = timedelta(seconds=settings.max_queue_time) if settings.max_queue_time else None
    jobs = store.waiting_too_long(
        refused_before=now - timeout, created_before=now - max_queue if max_queue else None, limit=settings.cancel_batch
    )
    updates = []
    for job in jobs:
        if job.refusedsince is not None and job.refusedsince < now - timeout:
            reason = (
                f"no cluster accepted the job within {int(timeout.total_seconds())} s"
                f" (last refusal: {job.attributes.get('Error') or 'unknown'})"
            )
        else:
            reason = f"not submitted within max_queue_time ({settings.max_queue_time} s)"
        log.info("job %s (%s): %s; cancelled", job.appjobid, job.id, reason)
        updates.append(StatusUpdate(job.id, ArcState.TOSUBMIT, ArcState.CANCELLED, error=reason))
    applied = store.apply_status_updates(updates)
    context.metrics.moved("submit", "", ArcState.CANCELLED, len(applied))
    return len(applied)


#: Statuses a gateway in front of a CE answers with when it lost the CE's
#: answer: the CE may have acted on the request.
GATEWAY_STATUSES = frozenset({502, 504})


def may_have_created(error: ActError) -> bool:
    """True when a bulk POST that failed with ``error`` may still have
    created jobs on the CE: no answer came, the answer could not be read,
    or a gateway in front of the CE lost it."""
    return isinstance(error, (TransportError, ARCResponseError)) or (
        isinstance(error, ARCHTTPError) and error.status in GATEWAY_STATUSES
    )


def back_to_tosubmit(
    context: EngineContext, jobs: Sequence[ArcJob], reason: str | None = None, *, refused: bool = False
) -> None:
    """``submitting`` jobs that no CE holds are ``tosubmit`` again, for any
    cluster of their list, with what the attempt left behind cleared and
    ``reason`` as their ``Error``. ``refused``: a cluster said no (or lost
    the job), which starts the job's ``timeouts.tosubmit`` clock unless it
    already runs; jobs that only could not be tried keep their clock."""
    fields = {**CLEARED_SUBMISSION_FIELDS, "Error": reason[:1024] if reason else None}
    first = [job.id for job in jobs if refused and job.refusedsince is None]
    context.store.set_arcstate(
        first, ArcState.TOSUBMIT, {ArcState.SUBMITTING}, fields={**fields, "refusedsince": context.store.now()}
    )
    context.store.set_arcstate(
        [job.id for job in jobs if job.id not in first],
        ArcState.TOSUBMIT,
        {ArcState.SUBMITTING},
        fields={key: value for key, value in fields.items() if key != "refusedsince"},
    )


def _submit_group(context: EngineContext, cluster: str, proxyid: int, jobs: list[ArcJob]) -> int:
    """Submit one owner's jobs; returns how many moved on (not back to tosubmit)."""
    store = context.store
    try:
        credential = context.ce.credential_for(cluster, proxyid)
        rest = context.ce.client(cluster, proxyid)
        delegation_id = context.ce.delegation(cluster, proxyid)
    except (CredentialUnavailableError, ARCAuthError) as exc:
        # The owner's credential cannot serve this cluster: their jobs wait
        # (expired, wrong audience) or go back for another cluster of their
        # list (this cluster refused it, or takes the other kind).
        reason = context.ce.refusal(cluster, proxyid, exc) if isinstance(exc, ARCAuthError) else str(exc)
        if due_warning((cluster, proxyid)):
            log.warning("%s: cannot submit jobs of proxy %s: %s", cluster, proxyid, reason)
        context.metrics.error(cluster, exc)
        back_to_tosubmit(context, jobs, reason, refused=isinstance(exc, (ClusterCredentialError, ARCAuthError)))
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
                raise JobDescriptionError("the job has no description")
            item = prepare_for_ce(context, job, text, queue=queue, delegation_id=delegation_id, legacy=legacy)
            if legacy and credential.kind is CredentialKind.TOKEN:
                check_rest_1_0_job(cluster, item.prepared)
            ready.append(item)
        except (JobDescriptionError, InputFileError, StorageError) as exc:
            log.warning("job %s (%s): not submittable: %s", job.appjobid, job.id, exc)
            refused.append(SubmissionRecord(job.id, ArcState.CANCELLED, {"Error": str(exc)}))
        except ClusterCredentialError as exc:  # another cluster of its list may take it
            log.info("job %s (%s): not for %s: %s", job.appjobid, job.id, cluster, exc)
            context.metrics.error(cluster, exc)
            back_to_tosubmit(context, [job], str(exc), refused=True)
    if refused:
        store.record_submissions(refused)
        context.metrics.moved("submit", cluster, ArcState.CANCELLED, len(refused))
    if not ready:
        return len(refused)

    moved = len(refused)
    refusals: list[CEUnreachableError] = []
    batches = list(jobdesc.by_language(ready, lambda item: item.prepared.description.language).values())
    for number, batch in enumerate(batches):
        try:
            accepted, refusal = _post_batch(
                context, rest, cluster, proxyid, batch, queue=queue, delegation_id=delegation_id
            )
        except CEUnreachableError as exc:
            # The CE did not take this POST: the other language's would fare
            # no better (and could wait as long for an answer). Not tried.
            back_to_tosubmit(context, [item.job for later in batches[number + 1 :] for item in later], str(exc))
            raise
        moved += accepted
        refusals += [refusal] if refusal is not None else []
    if refusals:  # the jobs are tosubmit again: do not offer them to this CE at once
        raise refusals[0]
    return moved


def _post_batch(
    context: EngineContext,
    rest: ARCRest,
    cluster: str,
    proxyid: int,
    ready: list[Prepared],
    *,
    queue: str | None,
    delegation_id: str | None,
) -> tuple[int, CEUnreachableError | None]:
    """One bulk POST of prepared jobs of one language, then the steps of
    the module doc. Returns how many moved on, and the error to raise once
    every batch is done when the CE refused some of the jobs. Raises
    CEUnreachableError when the CE refused or did not answer the POST."""
    store = context.store
    try:
        created = post_jobs(rest, [item.prepared for item in ready], queue=queue, delegation_id=delegation_id)
    except ARCAuthError as exc:  # the owner's credential, not the CE, is the problem: no back-off
        context.metrics.error(cluster, exc)
        reason = context.ce.refusal(cluster, proxyid, exc)
        log.warning("%s: the CE refused the credential of proxy %s: %s", cluster, proxyid, exc)
        back_to_tosubmit(context, [item.job for item in ready], reason, refused=True)
        return 0, None
    except ActError as exc:
        context.metrics.error(cluster, exc)
        if may_have_created(exc):
            # The CE may have created the jobs before the connection broke or
            # its answer was garbled: let reconciliation look for their tokens
            # instead of submitting twice.
            log.warning(
                "%s: bulk submission got no usable answer (%s); reconciling %d job(s)", cluster, exc, len(ready)
            )
            context.ce.forget(cluster, proxyid)
            store.release([item.job.id for item in ready], context.owner)
            raise CEUnreachableError(str(exc)) from exc
        log.warning("%s: the CE refused the bulk submission: %s", cluster, exc)
        back_to_tosubmit(context, [item.job for item in ready], str(exc), refused=True)
        raise CEUnreachableError(f"the CE refused the submission: {exc}") from exc
    if len(created) != len(ready):
        log.error("%s: %d results for %d jobs; reconciling them", cluster, len(created), len(ready))
        store.release([item.job.id for item in ready], context.owner)
        return 0, None

    accepted: list[tuple[Prepared, str]] = []
    records: list[SubmissionRecord] = []
    rejected: list[tuple[ArcJob, str]] = []
    unreadable: list[ArcJob] = []
    for item, result in zip(ready, created, strict=True):
        if result.ok and result.value is not None:
            accepted.append((item, result.value.id))
            records.append(
                SubmissionRecord(
                    item.job.id,
                    ArcState.SUBMITTING,
                    {
                        "IDFromEndpoint": result.value.id,
                        "JobID": rest.job_url(result.value.id),
                        "DelegationID": delegation_id,
                        "State": display_state(result.value.state or RestState.ACCEPTING),
                        "Name": item.name,
                        "Error": None,
                        "refusedsince": None,
                    },
                )
            )
        elif isinstance(result.error, ARCResponseError):  # it may exist on the CE
            context.metrics.error(cluster, result.error)
            unreadable.append(item.job)
        else:
            error = result.error or ARCHTTPError(0, "no result")
            context.metrics.error(cluster, error)
            rejected.append((item.job, str(error)))
    store.record_submissions(records, keep_lease=True)
    if unreadable:
        log.warning(
            "%s: the results of %d job(s) cannot be read (%s); reconciling them",
            cluster,
            len(unreadable),
            next(r.error for r in created if isinstance(r.error, ARCResponseError)),
        )
        store.release([job.id for job in unreadable], context.owner)
    for job, reason in rejected:
        log.warning("job %s (%s): %s refused it: %s", job.appjobid, job.id, cluster, reason)
        back_to_tosubmit(context, [job], reason, refused=True)

    failures, unreached = stage_all(context, rest, accepted)
    finish_submissions(context, cluster, [item.job for item, _ in accepted if item.job.id not in unreached], failures)
    if rejected:
        return len(accepted), CEUnreachableError(f"the CE refused {len(rejected)} job(s): {rejected[0][1]}")
    return len(accepted), None


def finish_submissions(context: EngineContext, cluster: str, jobs: Sequence[ArcJob], failures: dict[int, str]) -> None:
    """Jobs whose inputs are staged become ``submitted``; those whose
    staging failed are killed (``tocancel``: the CE job exists)."""
    done = [SubmissionRecord(job.id, ArcState.SUBMITTED) for job in jobs if job.id not in failures]
    context.store.record_submissions(done)
    for arc_id, reason in failures.items():
        log.warning("job %s: %s; killing it", arc_id, reason)
        context.store.set_arcstate(
            [arc_id], ArcState.TOCANCEL, {ArcState.SUBMITTING, ArcState.TOCANCEL}, fields={"Error": reason[:1024]}
        )
    context.metrics.moved("submit", cluster, ArcState.SUBMITTED, len(done))
    context.metrics.moved("submit", cluster, ArcState.TOCANCEL, len(failures))
    if done:
        log.info("%s: submitted %d job(s)", cluster, len(done))


def input_dir(context: EngineContext, job: ArcJob) -> Path:
    """Where the server keeps the job's uploaded inputs (relative sources resolve there)."""
    return context.config.inputs_dir / str(job.client_id if job.client_id is not None else job.id)
