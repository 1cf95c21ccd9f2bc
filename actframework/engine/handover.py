"""Handover: confirmed client jobs become ``tosubmit`` engine jobs (aCT's Client2Arc).

The store does the moving in bulk, in one transaction per batch
(:meth:`JobStore.handover`); this module derives each job's engine fields
from its description, as aCT does: the priority from its priority, the
download list from its log directory (xRSL ``gmlog``). A description that
does not parse is handed over as ``cancelled`` rather than blocking every
later job.
"""

from __future__ import annotations

import logging
from collections import Counter

from actframework import jobdesc
from actframework.arc.downloads import downloads_for
from actframework.db.records import ArcJobDefaults, ClientJobRow
from actframework.engine.context import EngineContext
from actframework.errors import JobDescriptionError
from actframework.jobstates import ArcState

log = logging.getLogger(__name__)

#: aCT's default priority (``Application.Priority``).
DEFAULT_PRIORITY = 50
#: Length of the ``arcjobs.downloadfiles`` column.
DOWNLOADFILES_MAX_LENGTH = 255


def prepare(job: ClientJobRow, attempts: int) -> ArcJobDefaults:
    """Engine fields of one confirmed client job."""
    try:
        description = jobdesc.parse_one(job.jobdesc)
        priority = description.priority
        priority = DEFAULT_PRIORITY if priority is None else max(0, min(100, priority))
        log_dir = description.log_dir
        if log_dir and ";" in log_dir:
            raise JobDescriptionError(
                f"the log directory {log_dir!r} contains ';', which separates download list entries"
            )
        downloads = downloads_for(log_dir)
        if len(downloads) > DOWNLOADFILES_MAX_LENGTH:
            raise JobDescriptionError(
                f"the log directory is longer than the {DOWNLOADFILES_MAX_LENGTH - 16} characters it may have"
            )
        return ArcJobDefaults(priority=priority, downloadfiles=downloads, attemptsleft=attempts)
    except JobDescriptionError as exc:
        log.warning("job %s: its description cannot be used (%s); cancelled", job.id, exc)
        return ArcJobDefaults(arcstate=ArcState.CANCELLED, attemptsleft=0)


def handover_cycle(context: EngineContext, limit: int = 1000) -> int:
    """Hand over up to ``limit`` confirmed jobs; returns how many."""
    attempts = context.settings.resubmit_attempts
    states: dict[int, str] = {}

    def prepared(job: ClientJobRow) -> ArcJobDefaults:
        fields = prepare(job, attempts)
        states[job.id] = fields.arcstate
        return fields

    moved = context.store.handover(limit, prepared)
    if moved:
        log.info("handed over %d job(s)", len(moved))
        outcomes = Counter(states[result.client_id] for result in moved)
        for arcstate, count in outcomes.items():
            context.metrics.moved("handover", "", arcstate, count)
    return len(moved)
