"""The engine process: worker threads and their schedule.

One thread does the work of no particular cluster (:data:`GLOBAL_STEPS`:
handover, cancelling jobs refused for too long, refreshing token users'
access tokens, credential clean-up); per
cluster, four threads work in parallel so that slow work of one kind (a
large fetch) never delays another (a kill):

* ``submit``: reconcile cut-off submissions, then kill, resubmit, rerun,
  then submit new jobs (fair share among owners);
* ``status``: renew the delegations of running jobs whose owners delegated
  a fresh proxy, then check jobs on the CE;
* ``fetch``: retrieve outputs;
* ``clean``: remove cleaned jobs.

A worker that found work goes straight on to its next cycle; an idle one
waits ``poll_interval`` (1 s by default), which is how the engine notices
new work within a second without any notification channel: each look is
one indexed claim query. A worker whose CE cannot be reached backs off
(1 s doubling to 30 s) instead of hammering it; so does one whose database
operation gave up waiting for the database (which the store reports once
per outage, not once per worker and cycle). The clusters served are the
configured ones plus any a job is on (a cluster removed from the
configuration still gets its jobs followed to the end), re-read every 10 s.

On start, leases held by dead engine processes of this host (a crash, a
SIGKILL) are released at once; other hosts' leases expire on their own.
SIGTERM and SIGINT stop the workers after their current step (a fetch
starts no further job's transfer once stopping); :meth:`Engine.stop` waits
for them at most :func:`stop_bound` seconds (``ce_timeout`` + 5 s: the one
CE request in flight), then gives up every lease this process still holds,
so no job waits for a lease of an engine that is gone.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from actframework.clusters import normalise_cluster_url
from actframework.config import normalise_listen
from actframework.db import JobStore
from actframework.engine.actions import cancel_cycle, rerun_cycle, resubmit_cycle
from actframework.engine.ce import CEClients
from actframework.engine.cleaner import clean_cycle
from actframework.engine.context import EngineContext
from actframework.engine.credentials import forget_credentials_cycle, renew_delegations_cycle
from actframework.engine.fetcher import fetch_cycle
from actframework.engine.handover import handover_cycle
from actframework.engine.metrics import EngineMetrics
from actframework.engine.reconcile import reconcile_cycle
from actframework.engine.stagings import stagings_cycle
from actframework.engine.status import status_cycle
from actframework.engine.submitter import expire_waiting_cycle, submit_cycle
from actframework.engine.token_refresh import refresh_tokens_cycle
from actframework.errors import ActError, CEUnreachableError, DatabaseUnavailableError
from actframework.plugins import StorageManager
from actframework.processes import owner_is_dead, process_owner
from actframework.server_config import ServerConfig

log = logging.getLogger(__name__)

Cycle = Callable[[EngineContext, str], int]

#: The steps of each per-cluster worker, in the order they run in a cycle.
ROLES: dict[str, Sequence[tuple[str, Cycle]]] = {
    "submit": (
        ("reconcile", reconcile_cycle),
        ("cancel", cancel_cycle),
        ("resubmit", resubmit_cycle),
        ("rerun", rerun_cycle),
        ("submit", submit_cycle),
    ),
    "status": (("credentials", renew_delegations_cycle), ("status", status_cycle)),
    "fetch": (("fetch", fetch_cycle),),
    "clean": (("clean", clean_cycle),),
}

#: The steps of the one worker for all clusters: handover, cleaning jobs
#: that never reached a cluster (a description the engine could not use is
#: handed over cancelled), cancelling jobs that waited too long after a
#: refusal, refreshing token users' access tokens before they expire, and
#: removing the credentials of users with no jobs left.
GLOBAL_STEPS: Sequence[tuple[str, Cycle]] = (
    ("handover", lambda context, _cluster: handover_cycle(context) + stagings_cycle(context)),
    ("clean", clean_cycle),
    ("expire", expire_waiting_cycle),
    ("tokens", refresh_tokens_cycle),
    ("credentials", forget_credentials_cycle),
)

MAX_BACKOFF_S = 30.0
CLUSTER_REFRESH_S = 10.0
#: Seconds beyond ``ce_timeout`` that stopping workers are given to finish
#: the step they are in.
STOP_GRACE_S = 5.0


def stop_bound(ce_timeout: float) -> float:
    """How long :meth:`Engine.stop` waits for its workers: one CE request
    in flight (bounded by ``ce_timeout``) plus the database work around it."""
    return ce_timeout + STOP_GRACE_S


@dataclass
class _Worker:
    name: str
    thread: threading.Thread
    backoff: float = 0.0


@dataclass
class Engine:
    """One engine process. :meth:`start` launches the workers, :meth:`stop`
    asks them to finish; :meth:`run_until_stopped` does both around a wait.

    Idle workers wait on ``news``: a step that made work for other workers
    (the handover making ``tosubmit`` jobs) wakes them at once instead of
    leaving them to their next poll."""

    context: EngineContext
    stopping: threading.Event = field(default_factory=threading.Event)
    workers: dict[str, _Worker] = field(default_factory=dict)
    news: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def create(cls, config: ServerConfig, store: JobStore, storage: StorageManager, owner: str | None = None) -> Engine:
        context = EngineContext(
            config=config,
            store=store,
            storage=storage,
            ce=CEClients(config, store),
            metrics=EngineMetrics(store),
            owner=owner or process_owner(),
        )
        return cls(context)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        settings = self.context.settings
        if settings.metrics_listen:
            host, port = normalise_listen(settings.metrics_listen)
            self.context.metrics.serve(host, port)
        self.release_dead_owners()
        self._spawn("handover", lambda: self._loop("handover", "", GLOBAL_STEPS))
        self._spawn("clusters", self._watch_clusters)
        log.info("engine %s started", self.context.owner)

    def __post_init__(self) -> None:
        # One event for the runner's loops and for the steps' own loops.
        self.context.stopping = self.stopping

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers, waiting for them at most ``timeout`` seconds
        (default :func:`stop_bound`), then release every lease this process
        holds: a worker still busy after that is abandoned with the process,
        and its jobs are free for the next engine at once."""
        self.stopping.set()
        self._announce()
        if timeout is None:
            timeout = stop_bound(self.context.settings.ce_timeout)
        deadline = time.monotonic() + timeout
        for worker in list(self.workers.values()):
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        busy = [worker.name for worker in self.workers.values() if worker.thread.is_alive()]
        if busy:
            log.warning(
                "engine %s: still busy after %.0f s, abandoned: %s",
                self.context.owner,
                timeout,
                ", ".join(sorted(busy)),
            )
        try:
            self.context.store.forget_engine(self.context.owner)
            released = self.context.store.release_owner(self.context.owner)
        except ActError as exc:
            log.warning(
                "engine %s: could not release its leases (they expire on their own): %s", self.context.owner, exc
            )
        else:
            if released:
                log.info("engine %s: released %d job(s) it had claimed", self.context.owner, released)
        self.context.ce.close()
        log.info("engine %s stopped", self.context.owner)

    def run_until_stopped(self) -> None:
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop()

    def release_dead_owners(self) -> int:
        """Free the leases of this host's engine processes that have died
        (and drop their heartbeats, so that ``actd check`` forgets them)."""
        freed = 0
        for owner in self.context.store.lease_owners():
            if owner != self.context.owner and owner_is_dead(owner):
                count = self.context.store.release_owner(owner)
                log.info("released %d job(s) held by dead engine process %s", count, owner)
                freed += count
        for beat in self.context.store.engine_beats():
            if beat.owner != self.context.owner and owner_is_dead(beat.owner):
                self.context.store.forget_engine(beat.owner)
        return freed

    # ------------------------------------------------------------------ workers

    def clusters(self) -> set[str]:
        """The clusters to serve: configured ones and those jobs are on."""
        configured = set()
        for url in self.context.config.clusters:
            normalised = normalise_cluster_url(url)
            if normalised is None:
                log.warning("ignoring configured cluster %r: not an https://host[:port]/queue URL", url)
            else:
                configured.add(normalised)
        return configured | self.context.store.clusters_in_use()

    def _watch_clusters(self) -> None:
        """Start the workers of new clusters, and beat the engine's
        heartbeat (``actd check``), every :data:`CLUSTER_REFRESH_S`."""
        while not self.stopping.is_set():
            try:
                self.context.store.engine_seen(self.context.owner)
                for cluster in sorted(self.clusters()):
                    for role, steps in ROLES.items():
                        name = f"{role} {cluster}"
                        if name not in self.workers:
                            self._spawn(name, functools.partial(self._loop, role, cluster, steps))
            except DatabaseUnavailableError as exc:
                log.debug("cannot list clusters: %s", exc)
            except ActError as exc:
                log.warning("cannot list clusters: %s", exc)
            self.stopping.wait(CLUSTER_REFRESH_S)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self.workers[name] = _Worker(name, thread)
        thread.start()

    def _loop(self, role: str, cluster: str, steps: Sequence[tuple[str, Cycle]]) -> None:
        backoff = 0.0
        poll = self.context.settings.poll_interval
        metrics = self.context.metrics
        metrics.worker_started(role, cluster)
        while not self.stopping.is_set():
            worked = 0
            unreachable = False
            cycle_started = time.monotonic()
            for step, cycle in steps:
                if self.stopping.is_set():
                    return
                started = time.monotonic()
                try:
                    worked += cycle(self.context, cluster)
                except CEUnreachableError as exc:
                    log.warning("%s %s: %s", step, cluster, exc)
                    unreachable = True
                except DatabaseUnavailableError as exc:
                    # The store warned once for the whole outage; every
                    # worker meeting it would repeat that each cycle.
                    log.debug("%s %s: %s", step, cluster, exc)
                    unreachable = True
                except ActError as exc:
                    log.warning("%s %s failed: %s", step, cluster, exc)
                    unreachable = True
                except Exception:
                    log.exception("%s %s failed unexpectedly", step, cluster)
                    unreachable = True
                finally:
                    metrics.cycle_seconds.labels(step, cluster).observe(time.monotonic() - started)
            metrics.cycle_done(role, cluster, time.monotonic() - cycle_started)
            if unreachable:
                backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2))
                self.stopping.wait(backoff)
                continue
            backoff = 0.0
            if worked and role == "handover":
                self._announce()
            if not worked:
                with self.news:
                    if not self.stopping.is_set():
                        self.news.wait(poll)

    def _announce(self) -> None:
        """Wake every idle worker: there may be work for them."""
        with self.news:
            self.news.notify_all()
