"""Requests on jobs that are on a CE: kill, resubmit, rerun.

* ``tocancel`` (a user's kill, a failed upload, a vanished job): jobs without
  a CE id are ``cancelled`` at once; the others are killed in bulk, and a
  CE that accepts the kill makes them ``cancelling`` (the status checker
  sees them to ``cancelled``); a CE that answers the kill with an error for
  a job (404 included) has nothing to kill, so the job is ``cancelled``; a
  job whose answer cannot be read is killed again in a later cycle.
* ``toresubmit``: the old CE job is cleaned (errors only logged) and its
  fetched outputs removed; the job is ``tosubmit`` again with its CE fields
  cleared and ``created`` reset, so it gets a full new submission.
* ``torerun``: the job's delegation is renewed with the owner's current
  proxy, then the CE restarts the job from where it failed.

Each gives up after its timeout (``engine.timeouts``). A CE that cannot be
reached leaves the jobs claimed-and-released for the next cycle.
"""

from __future__ import annotations

import logging
import shutil

from actframework.arc.states import DisplayState
from actframework.db.records import ArcJob
from actframework.engine.context import EngineContext, per_owner, split_timed_out
from actframework.engine.submitter import CLEARED_SUBMISSION_FIELDS
from actframework.errors import ARCHTTPError, ARCResponseError
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: What a resubmission clears besides the submission fields.
CLEARED_RESULT_FIELDS = {
    "Error": None,
    "ExitCode": None,
    "ExecutionNode": None,
    "EndTime": None,
    "UsedTotalWallTime": None,
    "UsedTotalCPUTime": None,
}


# --------------------------------------------------------------------------- cancel


def cancel_cycle(context: EngineContext, cluster: str) -> int:
    """Kill ``tocancel`` jobs on ``cluster``; returns how many were handled."""
    store = context.store
    jobs = store.claim_for_cancel(cluster, context.settings.cancel_batch, context.owner, context.lease)
    if not jobs:
        return 0
    old, jobs = split_timed_out(context, jobs, ArcState.TOCANCEL)
    without_id = [job for job in jobs if not job.ce_id]
    done = store.set_arcstate([j.id for j in old + without_id], ArcState.CANCELLED, {ArcState.TOCANCEL})
    context.metrics.moved("cancel", cluster, ArcState.CANCELLED, len(done))

    def kill(proxyid: int, group: list[ArcJob]) -> None:
        rest = context.ce.client(cluster, proxyid)
        results = rest.kill_jobs([job.ce_id or "" for job in group])
        accepted = [job.id for job, r in zip(group, results, strict=True) if r.ok]
        unread = [job.id for job, r in zip(group, results, strict=True) if isinstance(r.error, ARCResponseError)]
        refused = [job for job, r in zip(group, results, strict=True) if not r.ok and job.id not in unread]
        for job, result in zip(group, results, strict=True):
            if job in refused:
                log.info("job %s (%s): kill answered %s: cancelled", job.appjobid, job.ce_id, result.error)
        if unread:
            log.info(
                "%s: the CE's answer to killing %d job(s) cannot be read; killing them again later",
                cluster,
                len(unread),
            )
            store.release(unread, context.owner)
        # tstate restarts: timeouts.cancelling counts from the accepted kill.
        store.set_arcstate(accepted, ArcState.CANCELLING, {ArcState.TOCANCEL}, restart_state_clock=True)
        store.set_arcstate([job.id for job in refused], ArcState.CANCELLED, {ArcState.TOCANCEL})
        context.metrics.moved("cancel", cluster, ArcState.CANCELLING, len(accepted))
        context.metrics.moved("cancel", cluster, ArcState.CANCELLED, len(refused))

    per_owner(context, cluster, [job for job in jobs if job.ce_id], kill)
    return len(old) + len(jobs)


# --------------------------------------------------------------------------- resubmit


def resubmit_cycle(context: EngineContext, cluster: str) -> int:
    """Send ``toresubmit`` jobs back to ``tosubmit`` after cleaning their old CE job."""
    store = context.store
    jobs = store.claim_for_resubmit(cluster, context.settings.cancel_batch, context.owner, context.lease)
    if not jobs:
        return 0
    old, jobs = split_timed_out(context, jobs, ArcState.TORESUBMIT)
    store.set_arcstate([j.id for j in old], ArcState.FAILED, {ArcState.TORESUBMIT}, fields={"attemptsleft": 0})

    def resubmit(proxyid: int, group: list[ArcJob]) -> None:
        with_ids = [job for job in group if job.ce_id]
        if with_ids:
            rest = context.ce.client(cluster, proxyid)
            for job, result in zip(with_ids, rest.clean_jobs([j.ce_id or "" for j in with_ids]), strict=True):
                if not result.ok:
                    log.info("job %s: cleaning old CE job %s: %s", job.appjobid, job.ce_id, result.error)
        for job in with_ids:
            remove_results(context, job.ce_id)
        moved = store.set_arcstate(
            [job.id for job in group],
            ArcState.TOSUBMIT,
            {ArcState.TORESUBMIT},
            fields={**CLEARED_SUBMISSION_FIELDS, **CLEARED_RESULT_FIELDS},
            reset_created=True,
        )
        context.metrics.moved("resubmit", cluster, ArcState.TOSUBMIT, len(moved))

    per_owner(context, cluster, jobs, resubmit)
    return len(old) + len(jobs)


def remove_results(context: EngineContext, ce_id: str | None) -> None:
    """Remove the outputs fetched for CE job ``ce_id`` (the engine's own
    destination directory for them)."""
    if not ce_id or "/" in ce_id or ce_id in (".", ".."):
        return
    shutil.rmtree(context.config.results_dir / ce_id, ignore_errors=True)


# --------------------------------------------------------------------------- rerun


def rerun_cycle(context: EngineContext, cluster: str) -> int:
    """Restart ``torerun`` jobs on the CE with a renewed delegation."""
    store = context.store
    jobs = store.claim_for_rerun(cluster, context.settings.cancel_batch, context.owner, context.lease)
    if not jobs:
        return 0
    old, jobs = split_timed_out(context, jobs, ArcState.TORERUN)
    store.set_arcstate([j.id for j in old], ArcState.FAILED, {ArcState.TORERUN}, fields={"State": DisplayState.FAILED})
    no_id = [job for job in jobs if not job.ce_id]
    store.set_arcstate(
        [j.id for j in no_id], ArcState.FAILED, {ArcState.TORERUN}, fields={"State": DisplayState.FAILED}
    )

    progress = len(old) + len(no_id)

    def rerun(proxyid: int, group: list[ArcJob]) -> None:
        nonlocal progress
        rest = context.ce.client(cluster, proxyid)
        shared = context.ce.delegation(cluster, proxyid)
        named = {job.attributes.get("DelegationID") or shared for job in group}
        for delegation_id in sorted(str(d) for d in named if d):  # none: a token owner on REST 1.0
            context.ce.renew(cluster, proxyid, delegation_id)
        results = rest.restart_jobs([job.ce_id or "" for job in group])
        for job, result in zip(group, results, strict=True):
            error = result.error
            if result.ok or (isinstance(error, ARCHTTPError) and "has not failed" in error.reason):
                store.set_arcstate([job.id], ArcState.SUBMITTED, {ArcState.TORERUN})
                context.metrics.moved("rerun", cluster, ArcState.SUBMITTED)
            elif isinstance(error, ARCHTTPError) and error.status == 404:
                store.set_arcstate([job.id], ArcState.TOCANCEL, {ArcState.TORERUN})
            elif isinstance(error, ARCHTTPError) and error.status == 505:
                store.set_arcstate([job.id], ArcState.FAILED, {ArcState.TORERUN}, fields={"State": DisplayState.FAILED})
                context.metrics.moved("rerun", cluster, ArcState.FAILED)
            else:
                log.info("job %s: restart refused (%s); trying again later", job.appjobid, error)
                store.release([job.id], context.owner)
                continue
            progress += 1

    per_owner(context, cluster, [job for job in jobs if job.ce_id], rerun)
    return progress
