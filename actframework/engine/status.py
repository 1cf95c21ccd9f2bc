"""The status checker: what the CE says about jobs becomes ``arcstate`` and ``State``.

Per cycle and cluster: claim the jobs due for a check (polled states, last
checked more than ``check_interval`` ago), then per job owner one bulk info
call per ``status_chunk`` jobs (two in flight, so that the engine records
one chunk while the CE works on the next), and write back, in one
transaction per chunk, each job's new ``arcstate``, its ``State`` and the
ARC columns users read (``ExitCode``, ``Error``, ``ExecutionNode``,
``UsedTotalWallTime``, ...). A write only lands while the
job is still in the state it was checked in, so a user's kill that arrived
meanwhile is never overwritten.

Failed jobs are sent to a rerun (failed while staging) or a resubmission
(a configured error, attempts left) before they are declared ``failed``.
Jobs the CE no longer knows (404) are killed; jobs that cannot be checked
for ``timeouts.lost`` become ``lost``; jobs the CE answers for but has left
out of its job list for ``timeouts.missing`` are cancelled (the list is
read at most every :func:`listing_interval`); jobs stuck in one ``State``
longer than ``max_state_times`` allows are cancelled. An owner whose proxy
has expired has their jobs wait, each showing why in ``Error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from actframework.arc import ARCJob, ARCRest, display_state
from actframework.arc.results import JobResult
from actframework.arc.states import DisplayState, RestState
from actframework.db.records import UNCHANGED, ArcJob, CEReport, StatusUpdate
from actframework.engine.context import EngineContext, per_owner, split_timed_out
from actframework.engine_settings import EngineSettings
from actframework.errors import ARCHTTPError
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: REST state → the ``arcstate`` it puts a job in (None: no change).
ARCSTATE_OF: dict[str, ArcState | None] = {
    RestState.ACCEPTING: ArcState.SUBMITTED,
    RestState.ACCEPTED: ArcState.SUBMITTED,
    RestState.PREPARING: ArcState.SUBMITTED,
    RestState.PREPARED: ArcState.SUBMITTED,
    RestState.SUBMITTING: ArcState.SUBMITTED,
    RestState.QUEUING: ArcState.SUBMITTED,
    RestState.RUNNING: ArcState.RUNNING,
    RestState.EXITINGLRMS: ArcState.RUNNING,
    RestState.EXECUTED: ArcState.RUNNING,
    RestState.HELD: ArcState.HOLDING,
    RestState.FINISHING: ArcState.FINISHING,
    RestState.FINISHED: ArcState.FINISHED,
    RestState.KILLED: ArcState.CANCELLED,
    RestState.WIPED: ArcState.CANCELLED,
    RestState.OTHER: None,
    RestState.KILLING: None,
}

#: A failure in these restart states is worth a rerun (staging failed) ...
RERUN_RESTART_STATES = frozenset({RestState.PREPARING, RestState.FINISHING})
#: ... unless the job's own output list was unreadable: rerunning cannot help.
NO_RERUN_ERROR = "Error reading user generated output file list"

#: Longest pause between two reads of an owner's job list on a CE.
MAX_LISTING_INTERVAL_S: Final = 600.0

#: How many bulk info calls of a status cycle may be in flight at once (see
#: :func:`_infos`): one the engine's records wait for, one the CE works on.
INFO_CALLS_AT_ONCE: Final = 2

#: Used CPU time above this is nonsense from the batch system (aCT's rule).
MAX_SANE_CPU_TIME = 10**7


def ce_report(job: ArcJob, info: ARCJob, now: datetime) -> CEReport:
    """What the CE reported, as aCT keeps it: node names in ASCII, an
    implausible CPU time as -1, wall time per job, exit code 0 for a job
    that finished without one."""
    wall = None
    if info.used_wall_time is not None:
        # The CE reports wall time summed over slots; per job it cannot
        # exceed the time since the job was created.
        wall = info.used_wall_time // max(1, info.requested_slots or 1)
        if job.created is not None:
            wall = min(wall, max(0, int((now - job.created).total_seconds())))
    cpu = info.used_cpu_time
    if cpu is not None and cpu > MAX_SANE_CPU_TIME:
        cpu = -1
    exit_code = info.exit_code
    if exit_code is None and (info.state or "") == RestState.FINISHED:
        exit_code = 0
    job_type = info.raw.get("Type")
    return CEReport(
        state=info.display_state,
        restart_state=display_state(info.restart_state) if info.restart_state else None,
        exit_code=exit_code,
        execution_node=",".join(node.encode("ascii", "ignore").decode() for node in info.execution_nodes) or None,
        job_type=job_type if isinstance(job_type, str) else None,
        local_id=info.local_id,
        waiting_position=info.waiting_position,
        owner=info.owner,
        local_owner=info.local_owner,
        queue=info.queue,
        requested_cpu_time=info.requested_cpu_time,
        requested_wall_time=info.requested_wall_time,
        requested_slots=info.requested_slots,
        used_cpu_time=cpu,
        used_wall_time=wall,
        used_memory=info.used_memory,
        stdin=info.stdin,
        stdout=info.stdout,
        stderr=info.stderr,
        log_dir=info.log_dir,
        submission_time=info.submission_time,
        start_time=info.start_time,
        end_time=info.end_time,
        working_area_erase_time=info.working_area_erase_time,
        proxy_expiration_time=info.proxy_expiration_time,
    )


def decide(job: ArcJob, info: ARCJob, settings: EngineSettings, now: datetime) -> StatusUpdate:
    """The update one status report makes to one job (a pure function)."""
    report = ce_report(job, info, now)
    error = ";".join(info.errors) or None
    rest_state = (info.state or "").upper()
    new_state = report.state
    state_since = job.tstate if new_state == job.attributes.get("State") else now

    if job.arcstate == ArcState.CANCELLING:
        timed_out = job.tstate is not None and now - job.tstate > settings.timeouts.of(ArcState.CANCELLING)
        arcstate = ArcState.CANCELLED if info.is_terminal or timed_out else None
        keep_error = error is None or job.attributes.get("Error")  # keep why the job was cancelled
        return StatusUpdate(job.id, job.arcstate, arcstate, report, error=UNCHANGED if keep_error else error)

    update = StatusUpdate(job.id, job.arcstate, ARCSTATE_OF.get(rest_state), report, error=error)
    if rest_state == RestState.FAILED:
        update = _failed(job, info, settings, update)
    elif rest_state not in ARCSTATE_OF:
        log.warning("job %s: unknown CE state %r", job.ce_id, info.state)
        update = replace(update, arcstate=None)

    limit = settings.max_state_times.get(str(new_state).lower())
    if update.arcstate is None or update.arcstate == job.arcstate:
        if limit and state_since is not None and now - state_since > timedelta(seconds=limit):
            log.info("job %s: %s for more than %d s; cancelling", job.ce_id, new_state, limit)
            return replace(update, arcstate=ArcState.TOCANCEL)
        return replace(update, arcstate=None)
    return update


def _failed(job: ArcJob, info: ARCJob, settings: EngineSettings, update: StatusUpdate) -> StatusUpdate:
    """A failed job goes to a rerun, a resubmission or ``failed``."""
    errors = ";".join(info.errors)
    undefined = replace(update.report, state=DisplayState.UNDEFINED)
    if (info.restart_state or "").upper() in RERUN_RESTART_STATES and NO_RERUN_ERROR not in errors:
        return replace(update, arcstate=ArcState.TORERUN, report=undefined)
    if (job.attemptsleft or 0) > 0 and any(pattern in errors for pattern in settings.resubmit_errors):
        left = (job.attemptsleft or 0) - 1
        return replace(update, arcstate=ArcState.TORESUBMIT, report=undefined, attemptsleft=left)
    return replace(update, arcstate=ArcState.FAILED)


def status_cycle(context: EngineContext, cluster: str) -> int:
    """One status cycle on ``cluster``; returns how many jobs were checked
    (jobs the CE could not report on are not counted: they wait)."""
    store = context.store
    now = store.now()
    due = now - timedelta(seconds=context.settings.check_interval)
    jobs = store.claim_for_status(cluster, context.settings.status_batch, context.owner, context.lease, due)
    if not jobs:
        return 0

    checked = 0

    def check(proxyid: int, group: list[ArcJob]) -> None:
        rest = context.ce.client(cluster, proxyid)
        try:
            listed = _listed(context, rest, cluster, proxyid)
        except Exception:
            _mark_lost(context, cluster, group, now)
            raise
        chunk_size = context.settings.status_chunk
        for chunk, results in _infos(
            rest, group, chunk_size, lambda unrecorded: _mark_lost(context, cluster, unrecorded, now)
        ):
            record(chunk, results, listed)

    def record(chunk: list[ArcJob], results: list[JobResult[ARCJob]], listed: frozenset[str] | None) -> None:
        nonlocal checked
        updates: list[StatusUpdate] = []
        unchecked: list[ArcJob] = []
        for job, result in zip(chunk, results, strict=True):
            if result.ok and result.value is not None:
                update = decide(job, result.value, context.settings, now)
                updates.append(update if listed is None else missing_rule(job, update, listed, context.settings, now))
            elif isinstance(result.error, ARCHTTPError) and result.error.status == 404:
                gone = ArcState.CANCELLED if job.arcstate == ArcState.CANCELLING else ArcState.TOCANCEL
                log.info("job %s (%s): the CE does not know it; %s", job.appjobid, job.ce_id, gone)
                updates.append(StatusUpdate(job.id, job.arcstate, gone))
            else:
                context.metrics.error(cluster, result.error or ARCHTTPError(0, "no result"))
                unchecked.append(job)
        applied = store.apply_status_updates(updates)
        checked += len(updates)
        for update in updates:
            if update.arcstate and update.arc_id in applied:
                context.metrics.moved("status", cluster, update.arcstate)
        _mark_lost(context, cluster, unchecked, now)

    per_owner(context, cluster, jobs, check, show_waiting=True)
    return checked


def _infos(
    rest: ARCRest, group: list[ArcJob], chunk_size: int, on_failure: Callable[[list[ArcJob]], None]
) -> Iterator[tuple[list[ArcJob], list[JobResult[ARCJob]]]]:
    """The CE's information on ``group``, chunk by chunk, in order.

    Up to :data:`INFO_CALLS_AT_ONCE` bulk calls of ``chunk_size`` jobs
    are in flight while the caller records the chunk before: the engine's
    own work on one chunk (reading the info documents, deciding, writing)
    overlaps the CE's work on the next, instead of following one call for
    every job. When a call fails, ``on_failure`` gets the jobs of that
    chunk and of every later one (earlier chunks are recorded) and the
    error propagates."""
    chunks = [group[start : start + chunk_size] for start in range(0, len(group), chunk_size)]

    def info(chunk: list[ArcJob]) -> list[JobResult[ARCJob]]:
        return rest.get_jobs_info([job.ce_id or "" for job in chunk])

    with ThreadPoolExecutor(max_workers=min(INFO_CALLS_AT_ONCE, len(chunks))) as pool:
        pending = [pool.submit(info, chunk) for chunk in chunks]
        for index, (chunk, future) in enumerate(zip(chunks, pending, strict=True)):
            try:
                results = future.result()
            except Exception:
                for later in pending[index + 1 :]:
                    later.cancel()
                on_failure([job for rest_of in chunks[index:] for job in rest_of])
                raise
            yield chunk, results


def listing_interval(settings: EngineSettings) -> float:
    """Seconds between two reads of one owner's job list on one CE: often
    enough to time ``timeouts.missing`` to a quarter of it, at most every
    :data:`MAX_LISTING_INTERVAL_S`, never more often than jobs are checked."""
    return max(float(settings.check_interval), min(MAX_LISTING_INTERVAL_S, settings.timeouts.missing / 4))


def _listed(context: EngineContext, rest: ARCRest, cluster: str, proxyid: int) -> frozenset[str] | None:
    """The ids of the owner's jobs the CE lists, when a look is due (else
    None: the missing-job rule waits for the next listing)."""
    if not context.schedule.due(("list", cluster, str(proxyid)), listing_interval(context.settings)):
        return None
    return frozenset(entry.id for entry in rest.get_jobs_list())


def missing_rule(
    job: ArcJob, update: StatusUpdate, listed: frozenset[str], settings: EngineSettings, now: datetime
) -> StatusUpdate:
    """aCT's rule for jobs the CE answers for but no longer lists: a job
    missing from the list for ``timeouts.missing`` is cancelled (a
    ``cancelling`` one at once: its kill is done); the clock restarts when
    the job is listed again. A job the update already moves on is left to it."""
    if job.ce_id in listed:
        return update if job.missingsince is None else replace(update, missingsince=None)
    if update.arcstate is not None and update.arcstate != job.arcstate:
        return update
    if job.arcstate == ArcState.CANCELLING:
        return replace(update, arcstate=ArcState.CANCELLED)
    since = job.missingsince or now
    limit = settings.timeouts.of("missing")
    if now - since >= limit:
        log.info("job %s (%s): not in the CE's job list for %s; cancelling", job.appjobid, job.ce_id, now - since)
        return replace(
            update,
            arcstate=ArcState.TOCANCEL,
            error=f"missing from the CE's job list for {int(limit.total_seconds())} s; cancelled",
        )
    return replace(update, missingsince=since)


def _mark_lost(context: EngineContext, cluster: str, jobs: Sequence[ArcJob], now: datetime) -> None:
    """Jobs that could not be checked: lost after ``timeouts.lost`` without a
    successful check (a cancelling job is then cancelled); the others are
    released for the next cycle."""
    lost, _ = split_timed_out(context, jobs, ArcState.LOST)
    if lost:
        log.warning(
            "%s: %d job(s) not heard of for %s: lost", cluster, len(lost), context.settings.timeouts.of(ArcState.LOST)
        )
    context.store.apply_status_updates(
        [
            StatusUpdate(
                job.id, job.arcstate, ArcState.CANCELLED if job.arcstate == ArcState.CANCELLING else ArcState.LOST
            )
            for job in lost
        ]
    )
    context.store.release([job.id for job in jobs if job not in lost], context.owner)
