"""What every engine role works with, in one object.

A role (submitter, status checker, ...) is a function of an
:class:`EngineContext` and a cluster; the context carries the configuration,
the job store, the storage backend, the CE clients, the metrics and the
process's lease owner name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from actframework.db import CredentialKind, JobStore
from actframework.db.records import ArcJob
from actframework.engine.ce import CEClients
from actframework.engine.metrics import EngineMetrics
from actframework.engine_settings import EngineSettings
from actframework.errors import ActError, ARCAuthError, CEUnreachableError, CredentialUnavailableError
from actframework.hookspecs import Caller, Credentials, StorageContext, StorageJob
from actframework.plugins import StorageManager
from actframework.server_config import ServerConfig

log = logging.getLogger(__name__)

T = TypeVar("T")


class Schedule:
    """When each periodic task (a key such as ("renew", cluster)) last ran,
    so that work a cycle need not do every time runs at most every interval."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def due(self, key: tuple[str, ...], interval: float) -> bool:
        """True (and the task counts as run now) if ``key`` last ran more
        than ``interval`` seconds ago, or never."""
        now = time.monotonic()
        with self._lock:
            if key in self._last and now - self._last[key] < interval:
                return False
            self._last[key] = now
            return True


@dataclass
class EngineContext:
    """Shared state of one engine process."""

    config: ServerConfig
    store: JobStore
    storage: StorageManager
    ce: CEClients
    metrics: EngineMetrics
    owner: str
    schedule: Schedule = field(default_factory=Schedule)
    #: Set when the process is stopping: loops over many jobs look at it
    #: to start nothing new (the :class:`~actframework.engine.runner.Engine`
    #: puts its own event here).
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def settings(self) -> EngineSettings:
        return self.config.engine

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease)

    def storage_context(self, proxyid: int) -> StorageContext:
        """The storage hook context for work on behalf of ``proxyid``: their
        delegated proxy, or their token for a token owner (as last read by
        the CE clients, which check the credential before such work). The
        engine gives no server files: it handles the server's files itself."""
        seen = self.ce.last_seen(proxyid)
        if seen is not None and seen.kind is CredentialKind.TOKEN:
            credentials = Credentials(token=seen.token, ca_dir=self.config.ca_dir)
        else:
            credentials = Credentials(proxy=self.config.proxies_dir / f"proxiesid{proxyid}", ca_dir=self.config.ca_dir)
        return StorageContext(caller=Caller.ENGINE, credentials=credentials)

    @staticmethod
    def storage_job(job: ArcJob) -> StorageJob:
        """The storage hooks' view of an engine job (keyed by the user's job id)."""
        return StorageJob(
            id=job.client_id if job.client_id is not None else job.id,
            description="",
            name=job.attributes.get("Name"),
            cluster=job.cluster,
            ce_id=job.ce_id,
        )


def split_timed_out(
    context: EngineContext,
    jobs: Sequence[ArcJob],
    timeout: str,
) -> tuple[list[ArcJob], list[ArcJob]]:
    """(jobs whose ``tarcstate`` is older than ``timeouts.<timeout>``, the others)."""
    deadline = context.store.now() - context.settings.timeouts.of(timeout)
    old = [job for job in jobs if job.tarcstate is not None and job.tarcstate < deadline]
    return old, [job for job in jobs if job not in old]


def by_proxy(jobs: Sequence[ArcJob]) -> dict[int, list[ArcJob]]:
    """Jobs grouped by owner: each group is one CE client and one bulk call."""
    groups: dict[int, list[ArcJob]] = defaultdict(list)
    for job in jobs:
        groups[job.proxyid or 0].append(job)
    return dict(groups)


#: How often the engine repeats that one owner's jobs wait for a new proxy.
PROXY_WARNING_INTERVAL_S = 600.0
_warnings = Schedule()


def due_warning(key: tuple[str, int]) -> bool:
    """True at most once per :data:`PROXY_WARNING_INTERVAL_S` for ``key``
    (cluster, proxyid): a warning that would otherwise repeat every cycle."""
    return _warnings.due((key[0], str(key[1])), PROXY_WARNING_INTERVAL_S)


def per_owner(
    context: EngineContext,
    cluster: str,
    jobs: Sequence[ArcJob],
    work: Callable[[int, list[ArcJob]], None],
    *,
    show_waiting: bool = False,
) -> None:
    """Run ``work`` per job owner. A CE that cannot be reached releases the
    owner's jobs for a later cycle and makes the runner back off; an owner
    whose credential is gone, expired or unusable on this cluster, or
    whose credential the CE refused (:class:`~actframework.errors.ARCAuthError`:
    a refusal, not an outage), only has their own jobs wait (warned about
    once per :data:`PROXY_WARNING_INTERVAL_S`), so others go on.
    ``show_waiting``: such jobs also get the reason as their ``Error``
    (for the status checks, whose next answer from the CE replaces it)."""
    unreachable: ActError | None = None
    for proxyid, group in by_proxy(jobs).items():
        try:
            work(proxyid, group)
        except (CredentialUnavailableError, ARCAuthError) as exc:
            reason = context.ce.refusal(cluster, proxyid, exc) if isinstance(exc, ARCAuthError) else str(exc)
            if due_warning((cluster, proxyid)):
                log.warning("%s: jobs of proxy %s wait: %s", cluster, proxyid, reason)
            context.metrics.error(cluster, exc)
            if show_waiting:
                context.store.note_errors({job.id: (job.arcstate, reason) for job in group})
            context.store.release([job.id for job in group], context.owner)
        except ActError as exc:  # logged once, by the runner
            context.metrics.error(cluster, exc)
            context.ce.forget(cluster, proxyid)
            context.store.release([job.id for job in group], context.owner)
            unreachable = exc
    if unreachable is not None:
        raise CEUnreachableError(str(unreachable)) from unreachable
