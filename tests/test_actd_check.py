"""``actd check``: a site's health check with Nagios exit codes, from its
parts (the engine heartbeat, proxies nearing expiry, the CA directory) to
the command against a running stack on the real A-REX."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from actframework.check import CheckResult, Limits, Status, check_ca_dir, check_engines, check_proxies, summary
from actframework.db import JobStore

from fixtures.databases import Clock, Seeder
from fixtures.stack import StackFactory

ACTD = Path(sys.executable).with_name("actd")
LIMITS = Limits(engine_age=timedelta(seconds=60), proxy_warning=timedelta(hours=24))


def test_an_engine_counts_as_alive_until_its_heartbeat_is_older_than_the_limit(
    store: JobStore, clock: Clock
) -> None:
    assert check_engines(store, LIMITS).status is Status.CRITICAL
    store.engine_seen("host:1")
    clock.advance(seconds=30)
    store.engine_seen("host:2")
    clock.advance(seconds=45)
    alive = check_engines(store, LIMITS)
    assert alive.status is Status.OK and alive.message == "1 engine(s) alive: host:2"
    clock.advance(seconds=30)
    gone = check_engines(store, LIMITS)
    assert gone.status is Status.CRITICAL and "no engine seen for 75 s (last: host:2)" in gone.message
    store.forget_engine("host:2")
    store.forget_engine("host:1")
    assert store.engine_beats() == []


def test_proxies_of_users_with_jobs_are_warned_about_before_and_after_they_expire(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    now = clock()
    soon = store.store_proxy("/CN=soon", "", b"a", now + timedelta(hours=2))
    gone = store.store_proxy("/CN=gone", "", b"b", now - timedelta(hours=1))
    idle = store.store_proxy("/CN=idle", "", b"c", now + timedelta(hours=1))  # no jobs: nobody waits
    fine = store.store_proxy("/CN=fine", "", b"d", now + timedelta(days=5))
    for proxyid in (soon, gone, fine):
        seed.user_jobs(["running"], proxyid=proxyid)
    result = check_proxies(store, LIMITS)
    assert result.status is Status.WARNING
    assert result.message == "1 expired (their jobs wait): /CN=gone; 1 expire within 24 h: /CN=soon"
    assert idle and check_proxies(store, Limits(proxy_warning=timedelta(0))).message.startswith("1 expired")


def test_the_ca_dir_must_hold_hashed_certificates(tmp_path: Path) -> None:
    ca_dir = tmp_path / "none"
    assert check_ca_dir(ca_dir).status is Status.CRITICAL
    ca_dir.mkdir()
    assert "no hashed CA certificates" in check_ca_dir(ca_dir).message
    (ca_dir / "5f1a2b3c.0").write_text("pem")
    assert check_ca_dir(ca_dir).status is Status.OK


def test_the_worst_check_decides_the_exit_code_and_heads_the_report() -> None:
    results = [CheckResult("database", Status.OK, "fine"), CheckResult("engine", Status.CRITICAL, "none"),
               CheckResult("proxies", Status.WARNING, "soon")]
    status, text = summary(results)
    assert status is Status.CRITICAL and status == 2
    assert text.splitlines() == ["ACTD CRITICAL - engine: none", "[OK] database: fine",
                                 "[CRITICAL] engine: none", "[WARNING] proxies: soon"]
    assert summary(results[:1]) == (Status.OK, "ACTD OK - 1 checks passed\n[OK] database: fine\n")


def actd_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ACTD), "check", "--config", str(config)], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.integration
@pytest.mark.arex
def test_actd_check_is_ok_with_an_engine_running_and_critical_once_it_stopped(
    make_stack: StackFactory, arc_ce
) -> None:
    stack = make_stack("sqlite")
    deadline = time.monotonic() + 60
    done = actd_check(stack.config.path)
    while done.returncode != 0 and time.monotonic() < deadline:  # the engine's first heartbeat
        time.sleep(1)
        done = actd_check(stack.config.path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ACTD OK - ")
    assert any(line.startswith("[OK] ce https://localhost:") for line in lines), lines  # any answer: it has no user credentials
    stack.kill("engine", signal.SIGTERM)
    stopped = actd_check(stack.config.path)
    assert stopped.returncode == 2, stopped.stdout
    assert stopped.stdout.startswith("ACTD CRITICAL - engine: no engine is running"), stopped.stdout


def test_actd_check_of_a_missing_configuration_is_critical(tmp_path: Path) -> None:
    done = actd_check(tmp_path / "nothing.yaml")
    assert done.returncode == 2 and done.stdout.startswith("ACTD CRITICAL - configuration: "), done.stdout
