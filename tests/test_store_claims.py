"""Engine claims and leases, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from actframework.db import ArcJob, JobStore
from actframework.db.schema import arcjobs

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
LEASE = timedelta(minutes=10)


# --------------------------------------------------------------------------- submit


def test_claim_for_submit_marks_rows_submitting(store: JobStore, seed: Seeder, clock: Clock) -> None:
    created = seed.arc_jobs(3, clusterlist=CE)
    clock.advance(seconds=5)
    claimed = store.claim_for_submit(CE, 10, "sub-1", LEASE)
    assert [job.id for job in claimed] == created
    for job in claimed:
        assert isinstance(job, ArcJob)
        assert job.arcstate == "submitting" and job.cluster == CE
        assert job.claimedby == "sub-1" and job.claimeduntil == clock() + LEASE
        assert job.tarcstate == clock()
        row = seed.get(arcjobs, job.id)
        assert row["arcstate"] == "submitting" and row["cluster"] == CE
        assert row["claimedby"] == "sub-1" and row["claimeduntil"] == clock() + LEASE
    assert store.claim_for_submit(CE, 10, "sub-2", LEASE) == []


def test_claim_returns_full_rows(store: JobStore, seed: Seeder) -> None:
    (arc_id,) = seed.arc_jobs(1, clusterlist=CE, appjobid="77", priority=3, JobID=None)
    (job,) = store.claim_for_submit(CE, 1, "sub", LEASE)
    assert job.id == arc_id and job.appjobid == "77" and job.priority == 3
    assert job.jobdesc is not None and job.clusters == (CE,)
    assert job.attributes["JobID"] is None and "WorkingAreaEraseTime" in job.attributes


def test_claim_for_submit_orders_by_priority_then_age(store: JobStore, seed: Seeder) -> None:
    low = seed.arc_jobs(2, clusterlist=CE, priority=10)
    high = seed.arc_jobs(2, clusterlist=CE, priority=90)
    mid = seed.arc_jobs(2, clusterlist=CE, priority=50)
    first = store.claim_for_submit(CE, 3, "sub", LEASE)
    assert [job.id for job in first] == [*high, mid[0]]
    rest = store.claim_for_submit(CE, 10, "sub", LEASE)
    assert [job.id for job in rest] == [mid[1], *low]


def test_claim_respects_limit(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(25, clusterlist=CE)
    assert len(store.claim_for_submit(CE, 10, "sub", LEASE)) == 10
    assert len(store.claim_for_submit(CE, 10, "sub", LEASE)) == 10
    assert len(store.claim_for_submit(CE, 10, "sub", LEASE)) == 5
    assert store.claim_for_submit(CE, 0, "sub", LEASE) == []


@pytest.mark.parametrize(("clusterlist", "matches"), [
    (CE, True),
    (f"https://other:443/q,{CE}", True),
    (f"{CE},https://other:443/q", True),
    (f"https://a:443/q,{CE},https://b:443/q", True),
    (f"{CE}2", False),                      # CE is a prefix of this cluster
    (f"{CE}/sub", False),
    ("https://x" + CE.removeprefix("https://"), False),  # CE is a suffix
    (f"x{CE},https://b:443/q", False),
    ("", False),
])
def test_claim_for_submit_matches_whole_cluster_elements(
    store: JobStore, seed: Seeder, clusterlist: str, matches: bool
) -> None:
    seed.arc_jobs(1, clusterlist=clusterlist)
    assert len(store.claim_for_submit(CE, 5, "sub", LEASE)) == int(matches)


def test_claim_for_submit_takes_like_metacharacters_literally(store: JobStore, seed: Seeder) -> None:
    underscore = "https://ce_1.example.org:443/q_a"
    percent = "https://ce.example.org:443/q%25"
    seed.arc_jobs(1, clusterlist="https://ceX1.example.org:443/qXa")
    seed.arc_jobs(1, clusterlist="https://ce.example.org:443/qanything25")
    (wanted_underscore,) = seed.arc_jobs(1, clusterlist=underscore)
    (wanted_percent,) = seed.arc_jobs(1, clusterlist=percent)
    assert [job.id for job in store.claim_for_submit(underscore, 5, "s", LEASE)] == [wanted_underscore]
    assert [job.id for job in store.claim_for_submit(percent, 5, "s", LEASE)] == [wanted_percent]
    assert store.claim_for_submit("https://ce%", 5, "s", LEASE) == []


def test_claim_for_submit_is_case_sensitive(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, clusterlist="https://ce.example.org:443/Batch")
    assert store.claim_for_submit(CE, 5, "s", LEASE) == []


def test_claim_for_submit_by_proxy_and_fairshare(store: JobStore, seed: Seeder) -> None:
    (a,) = seed.arc_jobs(1, clusterlist=CE, proxyid=1, fairshare="atlas")
    (b,) = seed.arc_jobs(1, clusterlist=CE, proxyid=2, fairshare="atlas")
    (c,) = seed.arc_jobs(1, clusterlist=CE, proxyid=2, fairshare="cms")
    assert [j.id for j in store.claim_for_submit(CE, 5, "s", LEASE, proxyid=2, fairshare="cms")] == [c]
    assert [j.id for j in store.claim_for_submit(CE, 5, "s", LEASE, fairshare="atlas")] == [a, b]


def test_claim_for_submit_only_takes_tosubmit(store: JobStore, seed: Seeder) -> None:
    for state in ("submitting", "submitted", "tocancel", "toresubmit"):
        seed.arc_jobs(1, state, clusterlist=CE)
    assert store.claim_for_submit(CE, 5, "s", LEASE) == []


# --------------------------------------------------------------------------- leases


def test_leased_row_is_not_claimable_until_the_lease_expires(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    (arc_id,) = seed.arc_jobs(1, "tocancel", cluster=CE)
    assert [job.id for job in store.claim_for_cancel(CE, 5, "proc-a", LEASE)] == [arc_id]
    clock.advance(minutes=9, seconds=59)
    assert store.claim_for_cancel(CE, 5, "proc-b", LEASE) == []
    clock.advance(seconds=1)  # the lease runs out: the row is free again
    (job,) = store.claim_for_cancel(CE, 5, "proc-b", LEASE)
    assert job.claimedby == "proc-b" and job.claimeduntil == clock() + LEASE


def test_release_frees_only_the_owners_rows(store: JobStore, seed: Seeder) -> None:
    rows = seed.arc_jobs(4, "toclean", cluster=CE)
    mine = store.claim_for_clean(CE, 2, "me", LEASE)
    theirs = store.claim_for_clean(CE, 2, "them", LEASE)
    all_ids = [job.id for job in [*mine, *theirs]]
    assert sorted(all_ids) == rows
    assert store.release(all_ids, "me") == 2
    assert [job.id for job in store.claim_for_clean(CE, 5, "other", LEASE)] == [j.id for j in mine]
    assert seed.get(arcjobs, theirs[0].id)["claimedby"] == "them"
    assert store.release([], "me") == 0


def test_claim_arguments_are_checked(store: JobStore) -> None:
    with pytest.raises(ValueError):
        store.claim_for_clean(CE, 5, "", LEASE)
    with pytest.raises(ValueError):
        store.claim_for_clean(CE, 5, "x" * 65, LEASE)
    with pytest.raises(ValueError):
        store.claim_for_clean(CE, 5, "me", timedelta(0))


# --------------------------------------------------------------------------- other claims


def test_claim_for_status_selects_due_jobs_on_the_cluster(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    job_id = "https://ce.example.org/arex/rest/1.0/jobs/x"
    due = [seed.arc_jobs(1, state, cluster=CE, JobID=job_id)[0]
           for state in ("submitted", "running", "finishing", "holding", "cancelling")]
    seed.arc_jobs(1, "finished", cluster=CE, JobID=job_id)       # not polled
    seed.arc_jobs(1, "running", cluster=CE, JobID=None)          # no JobID
    seed.arc_jobs(1, "running", cluster=CE, JobID="")            # empty JobID
    seed.arc_jobs(1, "running", cluster="https://other:443/q", JobID=job_id)
    clock.advance(minutes=2)
    seed.arc_jobs(1, "running", cluster=CE, JobID=job_id)        # checked just now
    claimed = store.claim_for_status(CE, 100, "status", LEASE, checked_before=clock() - timedelta(minutes=1))
    assert sorted(job.id for job in claimed) == due
    assert all(job.arcstate in {"submitted", "running", "finishing", "holding", "cancelling"}
               for job in claimed)
    assert seed.get(arcjobs, due[0])["arcstate"] == "submitted"  # lease only, state unchanged


def test_claim_for_status_oldest_check_first(store: JobStore, seed: Seeder, clock: Clock) -> None:
    newer = seed.arc_jobs(1, "running", cluster=CE, JobID="j", tarcstate=clock() - timedelta(hours=1))
    older = seed.arc_jobs(1, "running", cluster=CE, JobID="j", tarcstate=clock() - timedelta(hours=2))
    claimed = store.claim_for_status(CE, 1, "status", LEASE, checked_before=clock())
    assert [job.id for job in claimed] == older
    assert newer


@pytest.mark.parametrize(("method", "states"), [
    ("claim_for_fetch", ("finished", "tofetch")),
    ("claim_for_clean", ("toclean",)),
    ("claim_for_cancel", ("tocancel",)),
    ("claim_for_resubmit", ("toresubmit",)),
    ("claim_for_rerun", ("torerun",)),
])
def test_state_claims_take_their_states_on_their_cluster(
    store: JobStore, seed: Seeder, method: str, states: tuple[str, ...]
) -> None:
    wanted = [seed.arc_jobs(1, state, cluster=CE)[0] for state in states]
    for state in ("running", "done", "tosubmit", "failed"):
        seed.arc_jobs(1, state, cluster=CE)
    seed.arc_jobs(1, states[0], cluster="https://other:443/q")
    claim = getattr(store, method)
    claimed = claim(CE, 100, "worker", LEASE)
    assert [job.id for job in claimed] == wanted
    assert [seed.get(arcjobs, i)["arcstate"] for i in wanted] == list(states)  # unchanged
    assert claim(CE, 100, "worker-2", LEASE) == []  # all leased now


# --------------------------------------------------------------------------- row locks


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_claim_skips_rows_another_transaction_holds(store: JobStore, seed: Seeder) -> None:
    """A claim neither waits for nor takes rows someone else has locked; on
    MariaDB this also checks that the claim does not lock every candidate."""
    created = seed.arc_jobs(120, clusterlist=CE)
    with store.engine.connect() as other:
        other.begin()
        # Lock exactly those rows (by primary key; see StoreCore._locked_by_id).
        other.execute(
            sa.select(arcjobs.c.id).where(arcjobs.c.id.in_(created[:50])).with_for_update()
            .with_hint(arcjobs, "FORCE INDEX (PRIMARY)", dialect_name="mysql")
        ).all()
        started = time.monotonic()
        first = store.claim_for_submit(CE, 50, "sub-a", LEASE)
        second = store.claim_for_submit(CE, 50, "sub-b", LEASE)
        assert time.monotonic() - started < 5  # did not wait for the lock holder
        assert [job.id for job in first] == created[50:100]
        assert [job.id for job in second] == created[100:]
        other.rollback()
    assert [job.id for job in store.claim_for_submit(CE, 100, "sub-c", LEASE)] == created[:50]
