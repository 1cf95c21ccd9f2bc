"""Prometheus metrics of the REST API (``server.metrics_listen``).

``actd_http_request_duration_seconds{method, route, status}`` is a histogram
of request latency by route *template* (``/jobs/{job_id}/data/{name}``, never
a job id), HTTP method and status class (``2xx``, ``4xx``, ...), so its
series stay few however many jobs and users a site has. Requests that match
no route are counted under ``route="unmatched"``, and methods outside the
standard ones under ``method="other"``.

``actd serve`` runs ``server.workers`` uvicorn processes. Each one records
into files in one directory (prometheus-client's multiprocess mode), and
the ``actd serve`` process itself serves their sum, so a scrape sees every
request once whichever worker answered it. prometheus-client decides
whether to write such files when it is first imported, from
``PROMETHEUS_MULTIPROC_DIR``: :func:`start_multiprocess_endpoint` sets it
before anything of the server imports the library, which this module
therefore only does inside its functions.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

#: Latency buckets in seconds: listing calls take milliseconds, uploads of
#: large inputs minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

#: Methods counted by name; any other is ``other`` (a client chooses the
#: method, and each value would be a new series).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

UNMATCHED_ROUTE = "unmatched"


def status_class(status: int) -> str:
    """``404`` → ``4xx``: the status label of the latency histogram."""
    return f"{status // 100}xx"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


class ServerMetrics:
    """The REST API's request-latency histogram, in its own registry (so that
    several apps in one interpreter, as in tests, do not collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        self.request_seconds = Histogram(
            "actd_http_request_duration_seconds",
            "REST API request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        self.request_seconds.labels(method_label(method), route or UNMATCHED_ROUTE, status_class(status)).observe(
            seconds
        )


def start_multiprocess_endpoint(host: str, port: int) -> Path:
    """Make every server process of this ``actd serve`` record its metrics
    into a fresh directory, and serve their sum on ``http://HOST:PORT/metrics``
    from a thread of this process. Call it before the app is built; returns
    the directory, which the caller removes when the server stops."""
    directory = Path(tempfile.mkdtemp(prefix="actd-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    from prometheus_client import CollectorRegistry, start_http_server, values
    from prometheus_client.multiprocess import MultiProcessCollector

    if values.ValueClass is values.MutexValue:
        # Imported before the variable was set: this process's requests
        # would be counted in memory, where the endpoint cannot see them.
        log.warning(
            "prometheus-client was imported before its multiprocess directory was set; "
            "requests served by this process are not counted"
        )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    start_http_server(port, addr=host, registry=registry)
    log.info("REST API metrics on http://%s:%s/metrics", host, port)
    return directory
