"""Removing job inputs that wait on other storage once their job is gone.

A job whose inputs a backend such as ``webdav`` put on the user's storage has
a ``stagings`` row (recorded by the server at confirmation). When the client
job disappears, however that happened (``act clean``, ``act get``, a kill,
act-client without the right ``--webdav``), this cycle loads that backend
with the recorded URL, removes the job's files as its owner (the delegated
proxy) and forgets the row. A failure (storage down, proxy expired) is
tried again after :data:`RETRY_AFTER`; after :data:`GIVE_UP_AFTER` the row is
dropped with a warning, since nobody could remove the files any more.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Final

from actframework.engine.context import EngineContext
from actframework.errors import ActError
from actframework.hookspecs import StorageJob
from actframework.plugins import StorageManager, load_backend

log = logging.getLogger(__name__)

#: Pause before a failed removal is tried again.
RETRY_AFTER: Final = timedelta(minutes=10)
#: Age after which a removal that keeps failing is given up.
GIVE_UP_AFTER: Final = timedelta(days=7)
#: Rows looked at per cycle.
BATCH: Final = 100


@functools.lru_cache(maxsize=64)
def _backend(name: str, url: str) -> StorageManager:
    return load_backend(name, {"url": url})


def stagings_cycle(context: EngineContext, limit: int = BATCH) -> int:
    """Remove the files of gone jobs; returns how many were dealt with."""
    store = context.store
    now = datetime.now(UTC)
    records = store.orphaned_stagings(limit, now - RETRY_AFTER)
    done: list[int] = []
    failed: list[int] = []
    proxies: dict[int, ActError | None] = {}  # each owner's proxy file written once per cycle

    def write_proxy(proxyid: int) -> None:
        if proxyid not in proxies:
            try:
                context.ce.proxy_file(proxyid)
                proxies[proxyid] = None
            except ActError as exc:
                proxies[proxyid] = exc
        problem = proxies[proxyid]
        if problem is not None:
            raise problem

    for record in records:
        job = StorageJob(id=record.clientjobid, description="")
        try:
            write_proxy(record.proxyid)
            _backend(record.backend, record.url).clean_up(context.storage_context(record.proxyid), job)
        except (ActError, OSError) as exc:
            if now - record.created.replace(tzinfo=UTC) > GIVE_UP_AFTER:
                log.warning(
                    "job %s: giving up removing its files at %s (%s): %s",
                    record.clientjobid,
                    record.url,
                    record.backend,
                    exc,
                )
                done.append(record.id)
            else:
                log.info(
                    "job %s: removing its files at %s failed (%s); trying again later",
                    record.clientjobid,
                    record.url,
                    exc,
                )
                failed.append(record.id)
            continue
        log.debug("job %s: removed its files at %s", record.clientjobid, record.url)
        done.append(record.id)
    if done:
        store.forget_stagings(done)
    if failed:
        store.staging_tried(failed)
    return len(done)
