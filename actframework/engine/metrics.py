"""Prometheus metrics of the engine (``engine.metrics_listen``).

* ``actd_jobs{cluster, arcstate}``: jobs per state per cluster, counted in
  the job store when Prometheus scrapes (so every engine process of a site
  reports the same, complete numbers; ``cluster`` is empty for jobs not yet
  on a cluster);
* ``actd_engine_cycle_seconds{role, cluster}``: how long each work cycle
  (submit, status, fetch, clean, cancel, ...) took;
* ``actd_engine_ce_errors_total{cluster, kind}``: CE errors by kind
  (``transport``, ``http_<status>``, ``proxy``, ``token``, ``credential``,
  ``storage``, ``arc``);
* ``actd_engine_jobs_processed_total{role, cluster, outcome}``: jobs each
  role moved on, by the state they moved to;
* ``actd_engine_cycle_lag_seconds{role, cluster}``: seconds since each
  worker of this engine (``handover`` for the one of no cluster; ``submit``,
  ``status``, ``fetch``, ``clean`` per cluster) last completed a pass over
  its steps, and ``actd_engine_last_cycle_seconds{role, cluster}``: how long
  that pass took. A worker that hangs (on a CE, a lock) shows a lag that
  keeps growing; an idle one stays below ``poll_interval`` (30 s of back-off
  while its CE is unreachable);
* proxy and delegation expiry, read from the job store when scraped: of the
  proxies of users who still have jobs, ``actd_proxies_with_jobs``,
  ``actd_proxies_expiring{within}`` (expired or expiring within 1h, 6h, 24h,
  72h: cumulative, like histogram buckets) and
  ``actd_proxy_earliest_expiry_seconds`` (negative once expired); of the
  delegations on the CEs, the same per cluster: ``actd_delegations{cluster}``,
  ``actd_delegations_expiring{cluster, within}`` and
  ``actd_delegation_earliest_expiry_seconds{cluster}``. No series names a
  user or a job: a site alerts on counts and the earliest expiry, and
  ``actd check`` names the users.

Each engine has its own registry (not the library's global one), so tests
and embedding programs can run several engines in one interpreter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actframework.errors import (
    ActError,
    ARCHTTPError,
    ClusterCredentialError,
    ProxyUnavailableError,
    StorageError,
    TokenUnavailableError,
    TransportError,
    is_disk_full,
)

if TYPE_CHECKING:
    from actframework.db import JobStore

log = logging.getLogger(__name__)


def error_kind(error: BaseException) -> str:
    """A short, bounded label for an error (metric label values must not be free text)."""
    if is_disk_full(error):
        return "disk_full"
    if isinstance(error, TransportError):
        return "transport"
    if isinstance(error, ARCHTTPError):
        return f"http_{error.status}"
    if isinstance(error, ProxyUnavailableError):
        return "proxy"
    if isinstance(error, TokenUnavailableError):
        return "token"
    if isinstance(error, ClusterCredentialError):
        return "credential"
    if isinstance(error, StorageError):
        return "storage"
    if isinstance(error, ActError):
        return "arc"
    return "internal"


class _JobsCollector(Collector):
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("actd_jobs", "Jobs per arcstate per cluster", labels=["cluster", "arcstate"])
        try:
            counts = self.store.counts_by_cluster_and_state()
        except ActError as exc:
            log.warning("cannot count jobs for metrics: %s", exc)
            counts = {}
        for (cluster, state), count in sorted(counts.items()):
            family.add_metric([cluster, state], count)
        yield family


#: The windows of the expiry counts: (label, seconds).
EXPIRY_WINDOWS: tuple[tuple[str, int], ...] = (("1h", 3600), ("6h", 6 * 3600), ("24h", 24 * 3600), ("72h", 72 * 3600))


class _ExpiryCollector(Collector):
    """Proxy and delegation expiry, counted in the job store when scraped."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            now = self.store.now()
            proxies = [record.expirytime for record in self.store.expiring_proxies() if record.expirytime is not None]
            delegations: dict[str, list[datetime]] = {}
            for delegation in self.store.all_delegations():
                delegations.setdefault(delegation.cluster, []).append(delegation.expirytime)
        except ActError as exc:
            log.warning("cannot read proxy expiries for metrics: %s", exc)
            return
        yield GaugeMetricFamily(
            "actd_proxies_with_jobs", "Delegated proxies of users who have jobs", value=len(proxies)
        )
        expiring = GaugeMetricFamily(
            "actd_proxies_expiring",
            "Proxies of users with jobs that expired or expire within the window",
            labels=["within"],
        )
        for label, count in _window_counts(now, proxies):
            expiring.add_metric([label], count)
        yield expiring
        earliest = GaugeMetricFamily(
            "actd_proxy_earliest_expiry_seconds",
            "Seconds until the first proxy of a user with jobs expires (negative: expired)",
        )
        if proxies:
            earliest.add_metric([], (min(proxies) - now).total_seconds())
        yield earliest

        total = GaugeMetricFamily("actd_delegations", "Proxy delegations on a CE", labels=["cluster"])
        expiring = GaugeMetricFamily(
            "actd_delegations_expiring",
            "Delegations on a CE that expired or expire within the window",
            labels=["cluster", "within"],
        )
        earliest = GaugeMetricFamily(
            "actd_delegation_earliest_expiry_seconds",
            "Seconds until the first delegation on a CE expires (negative: expired)",
            labels=["cluster"],
        )
        for cluster, expiries in sorted(delegations.items()):
            total.add_metric([cluster], len(expiries))
            for label, count in _window_counts(now, expiries):
                expiring.add_metric([cluster, label], count)
            earliest.add_metric([cluster], (min(expiries) - now).total_seconds())
        yield from (total, expiring, earliest)


def _window_counts(now: datetime, expiries: Iterable[datetime]) -> Iterator[tuple[str, int]]:
    """(window label, how many of ``expiries`` fall before ``now`` + window)."""
    left = [(expiry - now).total_seconds() for expiry in expiries]
    for label, seconds in EXPIRY_WINDOWS:
        yield label, sum(1 for value in left if value < seconds)


class _CycleCollector(Collector):
    """Lag and duration of each worker's last completed pass, as of the scrape."""

    def __init__(self) -> None:
        #: (role, cluster) → (monotonic time the last pass ended, its duration).
        self.passes: dict[tuple[str, str], tuple[float, float]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.monotonic()
        lag = GaugeMetricFamily(
            "actd_engine_cycle_lag_seconds",
            "Seconds since an engine worker last completed a cycle",
            labels=["role", "cluster"],
        )
        duration = GaugeMetricFamily(
            "actd_engine_last_cycle_seconds",
            "Duration of an engine worker's last completed cycle",
            labels=["role", "cluster"],
        )
        for (role, cluster), (ended, took) in sorted(self.passes.items()):
            lag.add_metric([role, cluster], now - ended)
            duration.add_metric([role, cluster], took)
        yield from (lag, duration)


class EngineMetrics:
    """The engine's metrics and, when asked, the HTTP endpoint serving them."""

    def __init__(self, store: JobStore) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_JobsCollector(store))
        self.registry.register(_ExpiryCollector(store))
        self._cycles = _CycleCollector()
        self.registry.register(self._cycles)
        self.cycle_seconds = Histogram(
            "actd_engine_cycle_seconds",
            "Duration of engine work cycles",
            ["role", "cluster"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.ce_errors = Counter(
            "actd_engine_ce_errors",
            "Errors from CEs and storage, by kind",
            ["cluster", "kind"],
            registry=self.registry,
        )
        self.processed = Counter(
            "actd_engine_jobs_processed",
            "Jobs moved on by an engine role",
            ["role", "cluster", "outcome"],
            registry=self.registry,
        )

    def error(self, cluster: str, error: BaseException) -> None:
        self.ce_errors.labels(cluster, error_kind(error)).inc()

    def moved(self, role: str, cluster: str, outcome: str, count: int = 1) -> None:
        if count:
            self.processed.labels(role, cluster, outcome).inc(count)

    def worker_started(self, role: str, cluster: str) -> None:
        """Count a new worker's lag from its start, so one whose first cycle hangs shows."""
        self._cycles.passes[(role, cluster)] = (time.monotonic(), 0.0)

    def cycle_done(self, role: str, cluster: str, seconds: float) -> None:
        """A worker completed a pass over its steps that took ``seconds``."""
        self._cycles.passes[(role, cluster)] = (time.monotonic(), seconds)

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` on HOST:PORT from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%s/metrics", host, port)
