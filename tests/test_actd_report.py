"""``actd report``: the site's jobs per state, cluster and user, on every
database, as a table and as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from actframework.actd import cli
from actframework.db import JobStore
from actframework.db.report_ops import NOT_HANDED_OVER, JobCount
from actframework.db.states import ARCSTATES
from actframework.report import STATE_ORDER, render

from fixtures.databases import Seeder

CE = "https://ce.example.org:443/batch"
OTHER = "https://other.example.org:443/q"
ALICE, BOB = "/DC=org/CN=alice", "/DC=org/CN=bob"


def two_users(store: JobStore, seed: Seeder) -> None:
    alice = store.store_proxy(ALICE, "", b"pem-a", datetime(2030, 1, 1))
    bob = store.store_proxy(BOB, "", b"pem-b", datetime(2030, 1, 1))
    seed.user_jobs([None, None, "tosubmit"], proxyid=alice)
    seed.user_jobs(["running", "running", "done"], proxyid=alice, cluster=CE)
    seed.user_jobs(["running"], proxyid=bob, cluster=OTHER)
    seed.arc_jobs(1, "failed", cluster=CE, proxyid=999)  # its owner's proxy is gone


def test_jobs_are_counted_per_user_cluster_and_state(store: JobStore, seed: Seeder) -> None:
    two_users(store, seed)
    assert store.job_counts() == sorted([
        JobCount(ALICE, "", NOT_HANDED_OVER, 2),
        JobCount(ALICE, "", "tosubmit", 1),
        JobCount(ALICE, CE, "done", 1),
        JobCount(ALICE, CE, "running", 2),
        JobCount(BOB, OTHER, "running", 1),
        JobCount("proxy 999", CE, "failed", 1),
    ])


def test_the_report_shows_clusters_and_users_against_states_with_totals() -> None:
    counts = [JobCount(ALICE, CE, "running", 2), JobCount(ALICE, CE, "done", 1),
              JobCount(BOB, OTHER, "running", 1), JobCount(BOB, "", NOT_HANDED_OVER, 4)]
    lines = render(counts).splitlines()
    assert lines[0].split() == ["CLUSTER", NOT_HANDED_OVER, "running", "done", "total"]
    assert lines[1].split() == ["(no", "cluster", "yet)", "4", "0", "0", "4"]
    assert lines[2].split() == [CE, "0", "2", "1", "3"]
    assert lines[4].split() == ["total", "4", "3", "1", "8"]
    assert lines[6].split() == ["USER", NOT_HANDED_OVER, "running", "done", "total"]
    assert lines[7].split() == [ALICE, "0", "2", "1", "3"]
    assert render([]) == "no jobs\n"


def test_every_state_has_its_column() -> None:
    assert set(STATE_ORDER) == ARCSTATES | {NOT_HANDED_OVER} and len(STATE_ORDER) == len(set(STATE_ORDER))


@pytest.fixture
def configured(tmp_path: Path, db_url: str) -> Path:
    config = tmp_path / "c.yaml"
    done = CliRunner().invoke(cli, ["init", "--config", str(config), "--db", db_url,
                                    "--data-dir", str(tmp_path / "d")])
    assert done.exit_code == 0, done.output
    return config


def test_actd_report_prints_the_tables_and_json(configured: Path, store: JobStore, seed: Seeder) -> None:
    two_users(store, seed)
    table = CliRunner().invoke(cli, ["report", "--config", str(configured)])
    assert table.exit_code == 0, table.output
    assert table.output == render(store.job_counts())
    as_json = CliRunner().invoke(cli, ["report", "--json", "--config", str(configured)])
    assert as_json.exit_code == 0, as_json.output
    assert [JobCount(**item) for item in json.loads(as_json.output)] == store.job_counts()


def test_jobs_without_a_cluster_count_together_whether_it_is_null_or_empty(store: JobStore, seed: Seeder) -> None:
    alice = store.store_proxy(ALICE, "", b"pem-a", datetime(2030, 1, 1))
    seed.arc_jobs(2, "tosubmit", cluster="", proxyid=alice)
    seed.arc_jobs(1, "tosubmit", cluster=None, proxyid=alice)
    assert store.job_counts() == [JobCount(ALICE, "", "tosubmit", 3)]
