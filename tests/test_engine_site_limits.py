"""How many jobs the submitter offers a site: ``maxjobs``, ``offline`` and the
queue-fraction throttle, counted in a real job store (all three databases)."""

from __future__ import annotations

from pathlib import Path

from actframework.db import JobStore
from actframework.engine.ce import CEClients
from actframework.engine.context import EngineContext
from actframework.engine.metrics import EngineMetrics
from actframework.engine.submitter import site_limit, submit_cycle
from actframework.plugins import load_backend

from fixtures.databases import Seeder
from test_engine_handover import CE, engine_config


def context_with(store: JobStore, db_url: str, tmp_path: Path, **engine: object) -> EngineContext:
    config = engine_config(tmp_path, db_url, **engine)
    return EngineContext(config=config, store=store, storage=load_backend("actstore"),
                         ce=CEClients(config, store), metrics=EngineMetrics(store), owner="test-host:1")


def site(**limits: object) -> dict[str, object]:
    return {"sites": {"here": {"endpoint": "https://ce.example.org/batch", **limits}}}


def test_without_a_site_entry_the_batches_sent_at_once_are_offered(
    store: JobStore, db_url: str, tmp_path: Path
) -> None:
    assert site_limit(context_with(store, db_url, tmp_path), CE) == 200  # 2 batches of 100
    assert site_limit(context_with(store, db_url, tmp_path, submit_batch=7), CE) == 14
    assert site_limit(context_with(store, db_url, tmp_path, submit_batch=7, submit_batches_at_once=1), CE) == 7


def test_maxjobs_counts_the_jobs_the_site_still_works_on(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder
) -> None:
    context = context_with(store, db_url, tmp_path, **site(maxjobs=10))
    seed.arc_jobs(3, "running", cluster=CE)
    seed.arc_jobs(2, "tocancel", cluster=CE)
    seed.arc_jobs(4, "done", cluster=CE)  # waiting for their users: no slot held
    seed.arc_jobs(4, "running", cluster="https://other.example.org:443/batch")
    assert site_limit(context, CE) == 5
    seed.arc_jobs(6, "submitted", cluster=CE)
    assert site_limit(context, CE) == 0


def test_an_offline_site_gets_nothing_and_its_jobs_stay_tosubmit(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder
) -> None:
    context = context_with(store, db_url, tmp_path, **site(status="offline"))
    waiting = seed.arc_jobs(3, "tosubmit", clusterlist=CE)
    assert site_limit(context, CE) == 0
    assert submit_cycle(context, CE) == 0
    assert store.counts_by_state() == {"tosubmit": 3} and len(waiting) == 3


def test_the_queue_fraction_throttle_follows_the_running_jobs(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder
) -> None:
    context = context_with(store, db_url, tmp_path, **site(queue_fraction=0.5, queue_offset=10))
    assert site_limit(context, CE) == 10  # nothing runs yet: the offset alone
    seed.arc_jobs(40, "running", cluster=CE)
    seed.arc_jobs(5, "submitted", cluster=CE)
    assert site_limit(context, CE) == 25  # 0.5 x 40 + 10 - 5
    seed.arc_jobs(30, "submitted", cluster=CE)
    assert site_limit(context, CE) == 0
