"""Monitoring as a site runs it: Debian's Prometheus scrapes a running
``actd run`` while jobs go through the real A-REX, and every query of the
shipped Grafana dashboard returns series; the shipped alerting rules load.

Grafana itself is not run (Debian does not package it): the dashboard's
queries are sent to Prometheus's HTTP API as Grafana would send them, with
``$__rate_interval`` replaced by a window that fits the test's 1 s scrapes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from actframework.jobdesc.adl import ADL_NS

from fixtures.required import unavailable
from fixtures.server import free_port
from fixtures.stack import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "packaging" / "grafana" / "dashboards" / "actd.json"
PROVISIONING = REPO / "packaging" / "grafana" / "provisioning"
ALERTS = REPO / "packaging" / "prometheus" / "actd-alerts.yml"
SCRAPE_EXAMPLE = REPO / "packaging" / "prometheus" / "actd-scrape.yml"

#: What Grafana's interval variables stand for in the test.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "1s"}

#: A job the A-REX's ADL parser refuses (it does not know NetworkInfo):
#: the engine counts a CE error for it at each attempt.
REFUSED_ADL = (
    f'<ActivityDescription xmlns="{ADL_NS}">'
    "<ActivityIdentification><Name>refused</Name></ActivityIdentification>"
    "<Application><Executable><Path>/bin/true</Path></Executable></Application>"
    "<Resources><NetworkInfo>gigabitethernet</NetworkInfo></Resources>"
    "</ActivityDescription>"
)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            queries.append((panel["title"], expr))
    return queries


class Prometheus:
    """A Prometheus server of the test's own, on a free port."""

    def __init__(self, binary: str, home: Path, targets: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                               for job, target in targets.items()],
        }
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (home / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.session = requests.Session()
        self.session.trust_env = False

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited:\n{self.logs()}"
            try:
                if self.session.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        pytest.fail(f"prometheus not ready after {timeout} s:\n{self.logs()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def api(self, path: str) -> Any:
        body = self.session.get(f"{self.url}/api/v1/{path}", timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def logs(self) -> str:
        return (self.home / "prometheus.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        self.session.close()


def debian_prometheus(program: str) -> str:
    """The path of ``program`` of Debian's prometheus package."""
    found = shutil.which(program)
    if found is None:
        unavailable(program, "it is not on PATH", "apt-get install prometheus (scripts/test does)")
    return found


@pytest.fixture
def prometheus_binary() -> str:
    return debian_prometheus("prometheus")


@pytest.fixture
def promtool() -> str:
    return debian_prometheus("promtool")


@pytest.fixture
def start_prometheus(prometheus_binary: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(targets: dict[str, str]) -> Prometheus:
        home = tmp_path / f"prometheus-{len(started)}"
        home.mkdir()
        server = Prometheus(prometheus_binary, home, targets)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def test_the_shipped_alerting_rules_and_scrape_example_are_valid(promtool: str, tmp_path: Path) -> None:
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": yaml.safe_load(SCRAPE_EXAMPLE.read_text()),
                                      "rule_files": [str(ALERTS)]}))
    checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_provisioning_files_load_the_shipped_dashboard_from_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "actd-prometheus.yaml").read_text())
    [datasource] = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "actd.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    dashboard = json.loads(DASHBOARD.read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    assert variable["current"]["value"] == datasource["uid"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert panels and all(panel["datasource"]["uid"] == f"${{{variable['name']}}}" for panel in panels)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_prometheus_scrapes_actd_run_and_every_dashboard_query_returns_series(
    make_stack: StackFactory, start_prometheus: Any
) -> None:
    engine_port, server_port = free_port(), free_port()
    stack = make_stack("sqlite", run=True, engine_settings={"metrics_listen": f"127.0.0.1:{engine_port}"},
                       server_settings={"metrics_listen": f"127.0.0.1:{server_port}"})
    prometheus = start_prometheus({"actd-engine": f"127.0.0.1:{engine_port}",
                                   "actd-serve": f"127.0.0.1:{server_port}"})

    quick = stack.submit(['&(executable="/bin/true")(jobname="quick")'])
    sleeping = stack.submit([f'&(executable="/bin/sh")(arguments="-c" "sleep 90")(jobname="sleep{i}")'
                             for i in range(2)])
    refused = stack.submit([REFUSED_ADL])
    stack.wait_for(quick, {"done"})
    stack.wait_for(sleeping, {"running"})

    queries = dashboard_queries()
    empty: list[tuple[str, str]] = queries
    deadline = time.monotonic() + 60
    while empty and time.monotonic() < deadline:
        time.sleep(1)
        empty = [(title, expr) for title, expr in queries if not prometheus.query(expr)]
    assert not empty, f"queries without series: {empty}\n{prometheus.logs()}"

    # What the series say agrees with what happened.
    states = {r["metric"]["arcstate"]: float(r["value"][1])
              for r in prometheus.query("sum by (arcstate) (actd_jobs)")}
    assert states.get("done") == 1 and states.get("running") == 2, states
    errors = prometheus.query('sum(actd_engine_ce_errors_total{job="actd-engine"})')
    assert float(errors[0]["value"][1]) >= 1
    [proxies] = prometheus.query("actd_proxies_with_jobs")
    assert proxies["value"][1] == "1"
    [earliest] = prometheus.query("actd_proxy_earliest_expiry_seconds")
    assert float(earliest["value"][1]) > 0
    routes = {(r["metric"]["method"], r["metric"]["route"])
              for r in prometheus.query("actd_http_request_duration_seconds_count")}
    assert {("POST", "/jobs"), ("PUT", "/jobs"), ("GET", "/jobs")} <= routes, routes
    lag = {r["metric"]["role"]: float(r["value"][1])
           for r in prometheus.query("max by (role) (actd_engine_cycle_lag_seconds)")}
    assert set(lag) >= {"handover", "submit", "status", "fetch", "clean"} and max(lag.values()) < 60, lag

    groups = prometheus.api("rules")["groups"]
    rules = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert rules and set(rules.values()) == {"ok"}, rules

    stack.action("cancel", sleeping + refused)
