"""The engine's Prometheus metrics: error kinds, and what /metrics serves.

The endpoint is a real HTTP server on a free port, scraped over HTTP and
parsed with Prometheus's own text parser; job counts come from the real job
store, on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from actframework.db import JobStore, make_engine
from actframework.engine.metrics import EngineMetrics, error_kind
from actframework.errors import (
    ActError,
    ARCError,
    ARCHTTPError,
    CEUnreachableError,
    InputUploadError,
    MissingResultFile,
    ProxyUnavailableError,
    StorageError,
    TransportError,
    X509Error,
)

from fixtures.databases import Seeder
from fixtures.server import free_port

CE = "https://ce.example.org:443/batch"
CE2 = "https://ce2.example.org:443/q"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def serve(metrics: EngineMetrics) -> str:
    port = free_port()
    metrics.serve("127.0.0.1", port)
    return f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> Samples:
    """Every sample at ``url``: (name, sorted labels) → value."""
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def jobs_gauge(samples: Samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["cluster"], dict(labels)["arcstate"]): value
            for (name, labels), value in samples.items() if name == "actd_jobs"}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --------------------------------------------------------------------------- error kinds


@pytest.mark.parametrize(("error", "kind"), [
    (TransportError("connection refused"), "transport"),
    (ARCHTTPError(404, "Not Found"), "http_404"),
    (ARCHTTPError(503, "Service Unavailable", "POST /jobs"), "http_503"),
    (ProxyUnavailableError("proxy 3 expired"), "proxy"),
    (StorageError("webdav refused"), "storage"),
    (ARCError("no REST version"), "arc"),
    (CEUnreachableError("down"), "arc"),
    (InputUploadError("ce1", ["in.txt: 500"]), "arc"),
    (MissingResultFile("ce1", "out.txt"), "arc"),
    (X509Error("bad chain"), "arc"),
    (ActError("anything else of ours"), "arc"),
    (ValueError("a bug"), "internal"),
    (RuntimeError("a bug"), "internal"),
])
def test_each_error_class_has_its_kind(error: BaseException, kind: str) -> None:
    assert error_kind(error) == kind


def test_an_http_error_kind_is_bounded_by_the_status_not_the_text() -> None:
    assert error_kind(ARCHTTPError(500, "a")) == error_kind(ARCHTTPError(500, "b", "something else"))


# --------------------------------------------------------------------------- the endpoint


def test_metrics_count_the_jobs_in_the_store_per_cluster_and_state(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(3, "running", cluster=CE)
    seed.arc_jobs(2, "finished", cluster=CE)
    seed.arc_jobs(1, "running", cluster=CE2)
    seed.arc_jobs(4, "tosubmit", cluster="")
    url = serve(EngineMetrics(store))

    assert jobs_gauge(scrape(url)) == {
        (CE, "running"): 3, (CE, "finished"): 2, (CE2, "running"): 1, ("", "tosubmit"): 4,
    }

    # Counted when scraped: a later scrape sees what changed in between.
    seed.arc_jobs(2, "done", cluster=CE2)
    assert jobs_gauge(scrape(url))[(CE2, "done")] == 2


def test_an_empty_store_gives_no_job_series(store: JobStore) -> None:
    assert jobs_gauge(scrape(serve(EngineMetrics(store)))) == {}


def test_cycle_error_and_progress_series_are_served(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, "running", cluster=CE)
    metrics = EngineMetrics(store)
    url = serve(metrics)
    metrics.error(CE, ARCHTTPError(503, "busy"))
    metrics.error(CE, ARCHTTPError(503, "still busy"))
    metrics.error(CE2, TransportError("timed out"))
    metrics.cycle_seconds.labels("status", CE).observe(0.3)
    metrics.cycle_seconds.labels("status", CE).observe(2.0)
    metrics.moved("fetch", CE, "done", 4)
    metrics.moved("fetch", CE, "donefailed", 0)  # nothing moved: no series

    samples = scrape(url)

    assert sample(samples, "actd_engine_ce_errors_total", cluster=CE, kind="http_503") == 2
    assert sample(samples, "actd_engine_ce_errors_total", cluster=CE2, kind="transport") == 1
    assert sample(samples, "actd_engine_cycle_seconds_count", role="status", cluster=CE) == 2
    assert sample(samples, "actd_engine_cycle_seconds_sum", role="status", cluster=CE) == pytest.approx(2.3)
    assert sample(samples, "actd_engine_cycle_seconds_bucket", role="status", cluster=CE, le="0.25") == 0
    assert sample(samples, "actd_engine_cycle_seconds_bucket", role="status", cluster=CE, le="0.5") == 1
    assert sample(samples, "actd_engine_cycle_seconds_bucket", role="status", cluster=CE, le="+Inf") == 2
    assert sample(samples, "actd_engine_jobs_processed_total", role="fetch", cluster=CE, outcome="done") == 4
    assert sample(samples, "actd_engine_jobs_processed_total", role="fetch", cluster=CE, outcome="donefailed") \
        is None
    assert jobs_gauge(samples) == {(CE, "running"): 1}


def test_two_engines_in_one_process_keep_separate_metrics(store: JobStore) -> None:
    first, second = EngineMetrics(store), EngineMetrics(store)
    first.error(CE, TransportError("x"))
    first_url, second_url = serve(first), serve(second)
    assert sample(scrape(first_url), "actd_engine_ce_errors_total", cluster=CE, kind="transport") == 1
    assert sample(scrape(second_url), "actd_engine_ce_errors_total", cluster=CE, kind="transport") is None


def test_a_store_that_cannot_count_still_serves_the_other_metrics(tmp_path: Path) -> None:
    broken = JobStore(make_engine(f"sqlite:///{tmp_path / 'no-schema.sqlite'}"), owns_engine=True)
    try:
        with pytest.raises(ActError):
            broken.counts_by_cluster_and_state()
        metrics = EngineMetrics(broken)
        metrics.error(CE, StorageError("x"))
        samples = scrape(serve(metrics))
    finally:
        broken.close()
    assert jobs_gauge(samples) == {}
    assert sample(samples, "actd_engine_ce_errors_total", cluster=CE, kind="storage") == 1
