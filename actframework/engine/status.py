"""The status checker: what the CE says about jobs becomes ``arcstate`` and ``State``.

Per cycle and cluster: claim the jobs due for a check (polled states, last
checked more than ``check_interval`` ago), then per job owner one bulk info
call (chunked under A-REX's body limit by the CE client), and write back, in
one transaction, each job's new ``arcstate`` (act-spec §A.7), its ``State``
and the ARC columns users read (``ExitCode``, ``Error``,
``ExecutionNode``, ``UsedTotalWallTime``, ...). A write only lands while the
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
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from actframework.arc import ARCJob, ARCRest, display_state
from actframework.db.records import ArcJob, StatusUpdate
from actframework.engine.context import EngineContext, per_owner, split_timed_out
from actframework.engine.settings import EngineSettings
from actframework.errors import ARCHTTPError

log = logging.getLogger(__name__)

#: REST state → the ``arcstate`` it puts a job in (None: no change).
ARCSTATE_OF: dict[str, str | None] = {
    "ACCEPTING": "submitted", "ACCEPTED": "submitted", "PREPARING": "submitted",
    "PREPARED": "submitted", "SUBMITTING": "submitted", "QUEUING": "submitted",
    "RUNNING": "running", "EXITINGLRMS": "running", "EXECUTED": "running",
    "HELD": "holding", "FINISHING": "finishing", "FINISHED": "finished",
    "KILLED": "cancelled", "WIPED": "cancelled",
    "OTHER": None, "KILLING": None,
}

#: A failure in these restart states is worth a rerun (staging failed) ...
RERUN_RESTART_STATES = frozenset({"PREPARING", "FINISHING"})
#: ... unless the job's own output list was unreadable: rerunning cannot help.
NO_RERUN_ERROR = "Error reading user generated output file list"

#: Longest pause between two reads of an owner's job list on a CE.
MAX_LISTING_INTERVAL_S: Final = 600.0

#: Used CPU time above this is nonsense from the batch system (aCT's rule).
MAX_SANE_CPU_TIME = 10**7


def ce_fields(job: ArcJob, info: ARCJob, now: datetime) -> dict[str, Any]:
    """The ARC columns to write for what the CE reported."""
    fields: dict[str, Any] = {
        "State": info.display_state,
        "Error": ";".join(info.errors) or None,
        "ExecutionNode": ",".join(node.encode("ascii", "ignore").decode() for node in info.execution_nodes) or None,
        "RestartState": display_state(info.restart_state) if info.restart_state else None,
        "Type": info.raw.get("Type") if isinstance(info.raw.get("Type"), str) else None,
        "LocalIDFromManager": info.local_id,
        "WaitingPosition": info.waiting_position,
        "Owner": info.owner,
        "LocalOwner": info.local_owner,
        "RequestedTotalCPUTime": info.requested_cpu_time,
        "RequestedTotalWallTime": info.requested_wall_time,
        "RequestedSlots": info.requested_slots,
        "StdIn": info.stdin,
        "StdOut": info.stdout,
        "StdErr": info.stderr,
        "LogDir": info.log_dir,
        "Queue": info.queue,
        "UsedMainMemory": info.used_memory,
        "SubmissionTime": info.submission_time,
        "StartTime": info.start_time,
        "EndTime": info.end_time,
        "WorkingAreaEraseTime": info.working_area_erase_time,
        "ProxyExpirationTime": info.proxy_expiration_time,
    }
    if info.used_cpu_time is not None:
        fields["UsedTotalCPUTime"] = -1 if info.used_cpu_time > MAX_SANE_CPU_TIME else info.used_cpu_time
    if info.used_wall_time is not None:
        # The CE reports wall time summed over slots; per job it cannot
        # exceed the time since the job was created.
        wall = info.used_wall_time // max(1, info.requested_slots or 1)
        if job.created is not None:
            wall = min(wall, max(0, int((now - job.created).total_seconds())))
        fields["UsedTotalWallTime"] = wall
    if info.exit_code is not None:
        fields["ExitCode"] = info.exit_code
    elif (info.state or "") == "FINISHED":
        fields["ExitCode"] = 0
    return {name: value for name, value in fields.items() if value is not None or name == "Error"}


def decide(job: ArcJob, info: ARCJob, settings: EngineSettings, now: datetime) -> StatusUpdate:
    """The update one status report makes to one job (a pure function)."""
    fields = ce_fields(job, info, now)
    rest_state = (info.state or "").upper()
    new_state = fields["State"]
    state_since = job.tstate if new_state == job.attributes.get("State") else now

    if job.arcstate == "cancelling":
        timed_out = job.tstate is not None and now - job.tstate > settings.timeouts.of("cancelling")
        arcstate = "cancelled" if info.is_terminal or timed_out else None
        if fields["Error"] is None:  # keep why the engine cancelled the job
            del fields["Error"]
        return StatusUpdate(job.id, job.arcstate, arcstate, fields)

    arcstate = ARCSTATE_OF.get(rest_state)
    if rest_state == "FAILED":
        arcstate, fields = _failed(job, info, settings, fields)
    elif rest_state not in ARCSTATE_OF:
        log.warning("job %s: unknown CE state %r", job.ce_id, info.state)
        arcstate = None

    limit = settings.max_state_times.get(str(new_state).lower())
    if arcstate is None or arcstate == job.arcstate:
        if limit and state_since is not None and now - state_since > timedelta(seconds=limit):
            log.info("job %s: %s for more than %d s; cancelling", job.ce_id, new_state, limit)
            return StatusUpdate(job.id, job.arcstate, "tocancel", fields)
        return StatusUpdate(job.id, job.arcstate, None, fields)
    return StatusUpdate(job.id, job.arcstate, arcstate, fields)


def _failed(job: ArcJob, info: ARCJob, settings: EngineSettings,
            fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    errors = ";".join(info.errors)
    if (info.restart_state or "").upper() in RERUN_RESTART_STATES and NO_RERUN_ERROR not in errors:
        return "torerun", {**fields, "State": "Undefined"}
    if (job.attemptsleft or 0) > 0 and any(pattern in errors for pattern in settings.resubmit_errors):
        return "toresubmit", {**fields, "State": "Undefined", "attemptsleft": (job.attemptsleft or 0) - 1}
    return "failed", fields


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
        nonlocal checked
        rest = context.ce.client(cluster, proxyid)
        try:
            listed = _listed(context, rest, cluster, proxyid)
            results = rest.get_jobs_info([job.ce_id or "" for job in group])
        except Exception:
            _mark_lost(context, cluster, group, now)
            raise
        updates: list[StatusUpdate] = []
        unchecked: list[ArcJob] = []
        for job, result in zip(group, results, strict=True):
            if result.ok and result.value is not None:
                update = decide(job, result.value, context.settings, now)
                updates.append(update if listed is None else missing_rule(job, update, listed, context.settings, now))
            elif isinstance(result.error, ARCHTTPError) and result.error.status == 404:
                gone = "cancelled" if job.arcstate == "cancelling" else "tocancel"
                log.info("job %s (%s): the CE does not know it; %s", job.appjobid, job.ce_id, gone)
                updates.append(StatusUpdate(job.id, job.arcstate, gone, {}))
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


def missing_rule(job: ArcJob, update: StatusUpdate, listed: frozenset[str], settings: EngineSettings,
                 now: datetime) -> StatusUpdate:
    """aCT's rule for jobs the CE answers for but no longer lists: a job
    missing from the list for ``timeouts.missing`` is cancelled (a
    ``cancelling`` one at once: its kill is done); the clock restarts when
    the job is listed again. A job the update already moves on is left to it."""
    if job.ce_id in listed:
        return update if job.missingsince is None else replace(update, fields={**update.fields, "missingsince": None})
    if update.arcstate is not None and update.arcstate != job.arcstate:
        return update
    if job.arcstate == "cancelling":
        return replace(update, arcstate="cancelled")
    since = job.missingsince or now
    limit = settings.timeouts.of("missing")
    if now - since >= limit:
        log.info("job %s (%s): not in the CE's job list for %s; cancelling", job.appjobid, job.ce_id, now - since)
        return replace(update, arcstate="tocancel", fields={
            **update.fields, "Error": f"missing from the CE's job list for {int(limit.total_seconds())} s; cancelled"})
    return replace(update, fields={**update.fields, "missingsince": since})


def _mark_lost(context: EngineContext, cluster: str, jobs: Sequence[ArcJob], now: datetime) -> None:
    """Jobs that could not be checked: lost after ``timeouts.lost`` without a
    successful check (a cancelling job is then cancelled); the others are
    released for the next cycle."""
    lost, _ = split_timed_out(context, jobs, "lost")
    if lost:
        log.warning("%s: %d job(s) not heard of for %s: lost", cluster, len(lost),
                    context.settings.timeouts.of("lost"))
    context.store.apply_status_updates([
        StatusUpdate(job.id, job.arcstate, "cancelled" if job.arcstate == "cancelling" else "lost", {})
        for job in lost
    ])
    context.store.release([job.id for job in jobs if job not in lost], context.owner)
