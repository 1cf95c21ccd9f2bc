"""The engine's Prometheus metrics: error kinds, and what /metrics serves.

The endpoint is a real HTTP server on a free port, scraped over HTTP and
parsed with Prometheus's own text parser; job counts come from the real job
store, on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import time
from datetime import timedelta
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

from fixtures.databases import Clock, Seeder
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


# --------------------------------------------------------------------------- expiry


def test_proxy_expiry_counts_only_users_with_jobs_in_cumulative_windows(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    now = clock()
    lifetimes = {"/CN=expired": -timedelta(hours=1), "/CN=half-hour": timedelta(minutes=30),
                 "/CN=five-hours": timedelta(hours=5), "/CN=two-days": timedelta(days=2),
                 "/CN=a-week": timedelta(days=7)}
    for dn, left in lifetimes.items():
        seed.user_jobs(["running"], proxyid=store.store_proxy(dn, "", b"pem", now + left))
    store.store_proxy("/CN=no-jobs", "", b"pem", now - timedelta(days=1))

    samples = scrape(serve(EngineMetrics(store)))

    assert sample(samples, "actd_proxies_with_jobs") == 5
    assert {within: sample(samples, "actd_proxies_expiring", within=within)
            for within in ("1h", "6h", "24h", "72h")} == {"1h": 2, "6h": 3, "24h": 3, "72h": 4}
    assert sample(samples, "actd_proxy_earliest_expiry_seconds") == -3600


def test_delegation_expiry_is_per_cluster(store: JobStore, seed: Seeder, clock: Clock) -> None:
    now = clock()
    first = store.store_proxy("/CN=first", "", b"pem", now + timedelta(days=3))
    second = store.store_proxy("/CN=second", "", b"pem", now + timedelta(days=3))
    store.add_delegation(CE, first, "d1", now + timedelta(hours=2))
    store.add_delegation(CE, second, "d2", now + timedelta(hours=30))
    store.add_delegation(CE2, first, "d3", now - timedelta(minutes=10))

    samples = scrape(serve(EngineMetrics(store)))

    assert sample(samples, "actd_delegations", cluster=CE) == 2
    assert sample(samples, "actd_delegations_expiring", cluster=CE, within="1h") == 0
    assert sample(samples, "actd_delegations_expiring", cluster=CE, within="6h") == 1
    assert sample(samples, "actd_delegations_expiring", cluster=CE, within="72h") == 2
    assert sample(samples, "actd_delegation_earliest_expiry_seconds", cluster=CE) == 2 * 3600
    assert sample(samples, "actd_delegations_expiring", cluster=CE2, within="1h") == 1
    assert sample(samples, "actd_delegation_earliest_expiry_seconds", cluster=CE2) == -600


def test_no_users_with_jobs_leave_the_earliest_expiry_out(store: JobStore, clock: Clock) -> None:
    store.store_proxy("/CN=idle", "", b"pem", clock() + timedelta(hours=1))
    samples = scrape(serve(EngineMetrics(store)))
    assert sample(samples, "actd_proxies_with_jobs") == 0
    assert sample(samples, "actd_proxies_expiring", within="1h") == 0
    assert sample(samples, "actd_proxy_earliest_expiry_seconds") is None


# --------------------------------------------------------------------------- cycle lag


def test_cycle_lag_grows_from_the_last_completed_cycle(store: JobStore) -> None:
    metrics = EngineMetrics(store)
    url = serve(metrics)
    metrics.worker_started("handover", "")
    metrics.worker_started("status", CE)
    metrics.cycle_done("status", CE, 0.25)
    time.sleep(0.3)

    samples = scrape(url)

    handover_lag = sample(samples, "actd_engine_cycle_lag_seconds", role="handover", cluster="")
    status_lag = sample(samples, "actd_engine_cycle_lag_seconds", role="status", cluster=CE)
    assert handover_lag is not None and status_lag is not None
    assert 0.3 <= status_lag <= handover_lag < 5
    assert sample(samples, "actd_engine_last_cycle_seconds", role="status", cluster=CE) == 0.25
    assert sample(samples, "actd_engine_last_cycle_seconds", role="handover", cluster="") == 0

    metrics.cycle_done("handover", "", 0.5)
    assert sample(scrape(url), "actd_engine_cycle_lag_seconds", role="handover", cluster="") < 0.3
