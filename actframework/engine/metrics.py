"""Prometheus metrics of the engine (``engine.metrics_listen``).

* ``actd_jobs{cluster, arcstate}``: jobs per state per cluster, counted in
  the job store when Prometheus scrapes (so every engine process of a site
  reports the same, complete numbers; ``cluster`` is empty for jobs not yet
  on a cluster);
* ``actd_engine_cycle_seconds{role, cluster}``: how long each work cycle
  (submit, status, fetch, clean, cancel, ...) took;
* ``actd_engine_ce_errors_total{cluster, kind}``: CE errors by kind
  (``transport``, ``http_<status>``, ``proxy``, ``storage``, ``arc``);
* ``actd_engine_jobs_processed_total{role, cluster, outcome}``: jobs each
  role moved on, by the state they moved to.

Each engine has its own registry (not the library's global one), so tests
and embedding programs can run several engines in one interpreter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actframework.errors import (
    ActError,
    ARCHTTPError,
    ProxyUnavailableError,
    StorageError,
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


class EngineMetrics:
    """The engine's metrics and, when asked, the HTTP endpoint serving them."""

    def __init__(self, store: JobStore) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_JobsCollector(store))
        self.cycle_seconds = Histogram(
            "actd_engine_cycle_seconds", "Duration of engine work cycles", ["role", "cluster"],
            registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.ce_errors = Counter(
            "actd_engine_ce_errors", "Errors from CEs and storage, by kind", ["cluster", "kind"],
            registry=self.registry,
        )
        self.processed = Counter(
            "actd_engine_jobs_processed", "Jobs moved on by an engine role", ["role", "cluster", "outcome"],
            registry=self.registry,
        )

    def error(self, cluster: str, error: BaseException) -> None:
        self.ce_errors.labels(cluster, error_kind(error)).inc()

    def moved(self, role: str, cluster: str, outcome: str, count: int = 1) -> None:
        if count:
            self.processed.labels(role, cluster, outcome).inc(count)

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` on HOST:PORT from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%s/metrics", host, port)
