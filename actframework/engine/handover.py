"""Handover: confirmed client jobs become ``tosubmit`` engine jobs (aCT's Client2Arc).

The store does the moving in bulk, in one transaction per batch
(:meth:`JobStore.handover`); this module derives each job's engine fields
from its description, as aCT does: the priority from ``priority``, the
download list from ``gmlog``. A description that does not parse is handed
over as ``cancelled`` rather than blocking every later job.
"""

from __future__ import annotations

import logging
from collections import Counter

from actframework import xrsl
from actframework.arc.downloads import downloads_for
from actframework.db.records import ArcJobDefaults, ClientJobRow
from actframework.engine.context import EngineContext
from actframework.errors import XRSLError

log = logging.getLogger(__name__)

#: aCT's default priority (``Application.Priority``).
DEFAULT_PRIORITY = 50
#: Length of the ``arcjobs.downloadfiles`` column.
DOWNLOADFILES_MAX_LENGTH = 255


def prepare(job: ClientJobRow, attempts: int) -> ArcJobDefaults:
    """Engine fields of one confirmed client job."""
    try:
        parsed = xrsl.parse(job.jobdesc)
        if len(parsed) != 1:
            raise XRSLError(f"the description holds {len(parsed)} jobs")
        description = parsed[0]
        priority_text = description.get_string("priority")
        priority = DEFAULT_PRIORITY
        if priority_text:
            priority = max(0, min(100, int(priority_text)))
        gmlog = description.get_string("gmlog")
        if gmlog and ";" in gmlog:
            raise XRSLError(f"gmlog {gmlog!r} contains ';', which separates download list entries")
        downloads = downloads_for(gmlog)
        if len(downloads) > DOWNLOADFILES_MAX_LENGTH:
            raise XRSLError(f"gmlog is longer than the {DOWNLOADFILES_MAX_LENGTH - 16} characters it may have")
        return ArcJobDefaults(priority=priority, downloadfiles=downloads, attemptsleft=attempts)
    except (XRSLError, ValueError) as exc:
        log.warning("job %s: its description cannot be used (%s); cancelled", job.id, exc)
        return ArcJobDefaults(arcstate="cancelled", attemptsleft=0)


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
