"""Queue semantics: waiting for a slot never times out; refusals do
(``timeouts.tosubmit`` from the first refusal), and ``max_queue_time`` is
an optional bound on every wait. Against a real job store (all three
databases) with a settable clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from actframework.db import JobStore
from actframework.db.schema import arcjobs
from actframework.engine.submitter import back_to_tosubmit, expire_waiting_cycle, submit_cycle

from fixtures.databases import Clock, Seeder
from test_engine_handover import CE
from test_engine_site_limits import context_with, site


def test_jobs_waiting_for_a_full_site_never_time_out(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder, clock: Clock
) -> None:
    context = context_with(store, db_url, tmp_path, timeouts={"tosubmit": 20}, **site(maxjobs=1))
    seed.arc_jobs(1, "running", cluster=CE)
    waiting = seed.arc_jobs(3, "tosubmit", clusterlist=CE)
    for _ in range(5):
        clock.advance(hours=1)
        assert submit_cycle(context, CE) == 0
        assert expire_waiting_cycle(context) == 0
    assert {seed.get(arcjobs, i)["arcstate"] for i in waiting} == {"tosubmit"}


def test_a_job_refused_longer_than_the_timeout_is_cancelled_with_the_last_refusal(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder, clock: Clock
) -> None:
    context = context_with(store, db_url, tmp_path, timeouts={"tosubmit": 20})
    (refused,) = seed.arc_jobs(1, "tosubmit", clusterlist=CE, refusedsince=clock(),
                               Error="create job: 400 unknown queue")
    (fresh,) = seed.arc_jobs(1, "tosubmit", clusterlist=CE, refusedsince=clock() + timedelta(seconds=15))
    clock.advance(seconds=21)
    assert expire_waiting_cycle(context) == 1
    row = seed.get(arcjobs, refused)
    assert row["arcstate"] == "cancelled"
    assert row["Error"] == "no cluster accepted the job within 20 s (last refusal: create job: 400 unknown queue)"
    assert seed.get(arcjobs, fresh)["arcstate"] == "tosubmit"


def test_a_job_held_by_a_submitter_is_not_cancelled_under_it(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder, clock: Clock
) -> None:
    context = context_with(store, db_url, tmp_path, timeouts={"tosubmit": 20})
    (arc_id,) = seed.arc_jobs(1, "tosubmit", clusterlist=CE, refusedsince=clock(),
                              claimedby="other:1", claimeduntil=clock() + timedelta(hours=1))
    clock.advance(seconds=60)
    assert expire_waiting_cycle(context) == 0
    assert seed.get(arcjobs, arc_id)["arcstate"] == "tosubmit"


def test_the_refusal_clock_starts_at_the_first_refusal_and_only_at_refusals(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder, clock: Clock
) -> None:
    context = context_with(store, db_url, tmp_path)
    ids = seed.arc_jobs(2, "tosubmit", clusterlist=CE)
    first = clock()
    jobs = store.claim_for_submit(CE, 2, context.owner, context.lease)
    back_to_tosubmit(context, jobs[:1], "create job: 500 no", refused=True)
    back_to_tosubmit(context, jobs[1:], "proxy expired: run act proxy")
    assert seed.get(arcjobs, ids[0])["refusedsince"] == first
    assert seed.get(arcjobs, ids[1])["refusedsince"] is None
    assert seed.get(arcjobs, ids[1])["Error"] == "proxy expired: run act proxy"
    clock.advance(minutes=5)
    again = store.claim_for_submit(CE, 2, context.owner, context.lease)
    back_to_tosubmit(context, again, "create job: 500 still no", refused=True)
    assert seed.get(arcjobs, ids[0])["refusedsince"] == first  # kept from the first refusal
    assert seed.get(arcjobs, ids[1])["refusedsince"] == clock()
    assert {seed.get(arcjobs, i)["cluster"] for i in ids} == {""}


def test_max_queue_time_is_off_by_default_and_bounds_every_wait_when_set(
    store: JobStore, db_url: str, tmp_path: Path, seed: Seeder, clock: Clock
) -> None:
    (arc_id,) = seed.arc_jobs(1, "tosubmit", clusterlist=CE)
    clock.advance(days=30)
    assert expire_waiting_cycle(context_with(store, db_url, tmp_path)) == 0
    assert seed.get(arcjobs, arc_id)["arcstate"] == "tosubmit"
    (tmp_path / "bounded").mkdir()
    assert expire_waiting_cycle(context_with(store, db_url, tmp_path / "bounded", max_queue_time=86400)) == 1
    row = seed.get(arcjobs, arc_id)
    assert row["arcstate"] == "cancelled" and row["Error"] == "not submitted within max_queue_time (86400 s)"
