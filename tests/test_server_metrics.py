"""The REST API's Prometheus metrics (``server.metrics_listen``).

A real ``actd serve`` with two uvicorn workers answers requests; its metrics
endpoint is scraped over HTTP and parsed with Prometheus's own text parser.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from actframework.errors import ConfigError
from actframework.server.metrics import method_label, status_class
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config

from fixtures.server import free_port
from fixtures.stack import StackFactory

LATENCY = "actd_http_request_duration_seconds"


def counts(url: str) -> dict[tuple[str, str, str], float]:
    """(method, route, status) → requests counted, from the endpoint at ``url``."""
    with requests.Session() as session:
        session.trust_env = False
        text = session.get(url, timeout=10).text
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
        if s.name == f"{LATENCY}_count"
    }


def test_status_classes_and_methods_are_bounded_labels() -> None:
    assert [status_class(code) for code in (200, 204, 401, 404, 507)] == ["2xx", "2xx", "4xx", "4xx", "5xx"]
    assert method_label("PATCH") == "PATCH"
    assert method_label("BREW") == "other"


def test_latency_is_counted_per_route_template_over_all_workers(make_stack: StackFactory) -> None:
    port = free_port()
    stack = make_stack("sqlite", engines=0,
                       server_settings={"workers": 2, "metrics_listen": f"127.0.0.1:{port}"})
    url = f"http://127.0.0.1:{port}/metrics"
    before = counts(url)
    [job_id] = stack.submit(['&(executable=/bin/true)(inputfiles=("a" "")("b" ""))'],
                            inputs=lambda _index, _id: {"a": b"1", "b": b"2"})
    for _ in range(20):
        assert stack.session.get(f"{stack.url}/jobs", params={"id": str(job_id)}).status_code == 200
    for name in ("a", "b", "c"):
        assert stack.session.get(f"{stack.url}/jobs/{job_id}/results/{name}").status_code // 100 == 4
    assert stack.session.get(f"{stack.url}/no/such/route/{job_id}").status_code == 404
    assert stack.session.request("BREW", f"{stack.url}/jobs").status_code == 405

    # The workers write their counts as they answer; the scrape reads them.
    deadline = time.monotonic() + 10
    while True:
        after = counts(url)
        if after.get(("GET", "/jobs", "2xx"), 0) >= 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    def new(key: tuple[str, str, str]) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert new(("GET", "/jobs", "2xx")) == 20
    assert new(("POST", "/jobs", "2xx")) == 1
    assert new(("PUT", "/jobs", "2xx")) == 1
    assert new(("PUT", "/jobs/{job_id}/data/{path:path}", "2xx")) == 2
    assert new(("GET", "/jobs/{job_id}/results/{path:path}", "4xx")) == 3
    assert new(("GET", "unmatched", "4xx")) == 1
    assert new(("other", "/jobs", "4xx")) == 1
    # No label carries a job id or a file name.
    assert not any(str(job_id) in route or "/a" in route for _, route, _ in after)


def test_the_metrics_address_must_be_its_own(tmp_path: Path) -> None:
    text = render_server_config(data_dir=tmp_path, database_url="sqlite:///x.sqlite", listen="127.0.0.1:8080",
                                clusters=[], ca_dir=tmp_path, jwt_secret=new_jwt_secret())
    path = tmp_path / "actd.yaml"
    for server, engine, message in (
        ({"metrics_listen": "127.0.0.1:8080"}, {}, "must differ"),
        ({"metrics_listen": "127.0.0.1:9100"}, {"metrics_listen": "127.0.0.1:9100"}, "must differ"),
        ({"metrics_listen": "no-port"}, {}, "not HOST:PORT"),
    ):
        raw = yaml.safe_load(text)
        raw["server"].update(server)
        raw["engine"] = {**(raw.get("engine") or {}), **engine}
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError, match=message):
            ServerConfig.load(path)
    raw = yaml.safe_load(text)
    raw["server"]["metrics_listen"] = "127.0.0.1:9101"
    path.write_text(yaml.safe_dump(raw))
    assert ServerConfig.load(path).metrics_listen == "127.0.0.1:9101"
