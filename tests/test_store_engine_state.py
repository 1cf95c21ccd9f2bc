"""Engine state in the job store: delegations, submission tokens, reconcile
claims, lease owners and the engine's reads, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from actframework.db import JobStore, SubmissionRecord
from actframework.db.records import DelegationRecord
from actframework.db.schema import arcjobs, delegations

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
CE2 = "https://ce2.example.org:443/q"
LEASE = timedelta(minutes=10)
EXPIRY = datetime(2024, 6, 2, 12, 0, 0)


def delegation_rows(seed: Seeder) -> list[dict[str, object]]:
    with seed.engine.connect() as connection:
        rows = connection.execute(sa.select(delegations).order_by(delegations.c.id)).mappings().all()
    return [dict(row) for row in rows]


# --------------------------------------------------------------------------- delegations


def test_a_delegation_is_recorded_and_read_back(store: JobStore, seed: Seeder, clock: Clock) -> None:
    assert store.get_delegation(CE, 1) is None
    record = store.add_delegation(CE, 1, "deleg-a", EXPIRY)
    assert record == DelegationRecord(cluster=CE, proxyid=1, delegationid="deleg-a", expirytime=EXPIRY)
    assert store.get_delegation(CE, 1) == record
    (row,) = delegation_rows(seed)
    assert row["modified"] == clock()


def test_an_aware_expiry_is_stored_as_naive_utc(store: JobStore) -> None:
    aware = datetime(2024, 6, 2, 14, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    record = store.add_delegation(CE, 1, "deleg-a", aware)
    assert record.expirytime == datetime(2024, 6, 2, 12, 0, 0, 250000)
    assert record.expirytime.tzinfo is None


def test_a_second_add_for_the_same_proxy_and_ce_gets_the_first_one(store: JobStore, seed: Seeder) -> None:
    first = store.add_delegation(CE, 1, "deleg-first", EXPIRY)
    second = store.add_delegation(CE, 1, "deleg-second", EXPIRY + timedelta(hours=5))
    assert second == first
    assert store.get_delegation(CE, 1) == first
    assert [row["delegationid"] for row in delegation_rows(seed)] == ["deleg-first"]


def test_delegations_are_per_proxy_and_per_ce(store: JobStore, seed: Seeder) -> None:
    other_queue = CE.replace("batch", "Batch")  # queue names are case-sensitive
    wanted = {(CE, 1): "a", (CE, 2): "b", (CE2, 1): "c", (other_queue, 1): "d"}
    for (cluster, proxyid), delegationid in wanted.items():
        store.add_delegation(cluster, proxyid, delegationid, EXPIRY)
    for (cluster, proxyid), delegationid in wanted.items():
        assert store.get_delegation(cluster, proxyid) == DelegationRecord(cluster, proxyid, delegationid, EXPIRY)
    assert store.get_delegation(CE2, 2) is None
    assert len(delegation_rows(seed)) == 4


def test_update_replaces_id_and_expiry_in_place(store: JobStore, seed: Seeder, clock: Clock) -> None:
    store.add_delegation(CE, 1, "old", EXPIRY)
    store.add_delegation(CE, 2, "other", EXPIRY)
    clock.advance(minutes=5)
    store.update_delegation(CE, 1, "new", EXPIRY + timedelta(days=1))
    assert store.get_delegation(CE, 1) == DelegationRecord(CE, 1, "new", EXPIRY + timedelta(days=1))
    assert store.get_delegation(CE, 2) == DelegationRecord(CE, 2, "other", EXPIRY)
    rows = delegation_rows(seed)
    assert len(rows) == 2
    assert [row["modified"] for row in rows] == [clock(), clock() - timedelta(minutes=5)]


def test_update_of_a_missing_delegation_creates_nothing(store: JobStore, seed: Seeder) -> None:
    store.update_delegation(CE, 1, "x", EXPIRY)
    assert store.get_delegation(CE, 1) is None
    assert delegation_rows(seed) == []


def test_delete_forgets_one_delegation(store: JobStore) -> None:
    store.add_delegation(CE, 1, "a", EXPIRY)
    store.add_delegation(CE, 2, "b", EXPIRY)
    assert store.delete_delegation_record(CE, 1) is True
    assert store.delete_delegation_record(CE, 1) is False
    assert store.get_delegation(CE, 1) is None
    assert store.get_delegation(CE, 2) is not None
    # After a delete, a new delegation can be recorded again.
    assert store.add_delegation(CE, 1, "c", EXPIRY).delegationid == "c"


# --------------------------------------------------------------------------- submission tokens


def test_claim_for_submit_writes_the_submission_token(store: JobStore, seed: Seeder) -> None:
    ids = seed.arc_jobs(3, clusterlist=CE)
    claimed = store.claim_for_submit(CE, 2, "sub", LEASE, token="0123456789abcdef0123456789abcdef")
    assert [job.id for job in claimed] == ids[:2]
    assert all(job.submissiontoken == "0123456789abcdef0123456789abcdef" for job in claimed)
    assert [seed.get(arcjobs, i)["submissiontoken"] for i in ids] == \
        ["0123456789abcdef0123456789abcdef"] * 2 + [None]
    (last,) = store.claim_for_submit(CE, 5, "sub", LEASE, token="t2")
    assert last.submissiontoken == "t2" and seed.get(arcjobs, ids[2])["submissiontoken"] == "t2"


def test_a_new_claim_replaces_an_old_token(store: JobStore, seed: Seeder) -> None:
    (arc_id,) = seed.arc_jobs(1, clusterlist=CE, submissiontoken="stale")
    (job,) = store.claim_for_submit(CE, 1, "sub", LEASE, token="fresh")
    assert job.submissiontoken == "fresh" and seed.get(arcjobs, arc_id)["submissiontoken"] == "fresh"
    store.set_arcstate([arc_id], "tosubmit", {"submitting"})
    (job,) = store.claim_for_submit(CE, 1, "sub", LEASE)
    assert job.submissiontoken is None and seed.get(arcjobs, arc_id)["submissiontoken"] is None


# --------------------------------------------------------------------------- reconcile claims


def test_claim_for_reconcile_takes_only_lease_free_settled_submitting_jobs_of_the_cluster(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    old = clock() - timedelta(minutes=5)
    never_leased = seed.arc_jobs(1, "submitting", cluster=CE, tarcstate=old)
    expired = seed.arc_jobs(1, "submitting", cluster=CE, tarcstate=old, claimedby="dead:1",
                            claimeduntil=clock() - timedelta(seconds=1))
    seed.arc_jobs(1, "submitting", cluster=CE, tarcstate=old, claimedby="alive:2",
                  claimeduntil=clock() + timedelta(minutes=1))                       # held by a live submitter
    seed.arc_jobs(1, "submitting", cluster=CE, tarcstate=clock())                   # not settled yet
    seed.arc_jobs(1, "submitting", cluster=CE2, tarcstate=old)                      # another cluster
    for state in ("tosubmit", "submitted", "tocancel", "running"):
        seed.arc_jobs(1, state, cluster=CE, tarcstate=old)

    claimed = store.claim_for_reconcile(CE, 100, "reconciler", LEASE, settled_before=clock() - timedelta(minutes=1))

    assert [job.id for job in claimed] == never_leased + expired
    for job in claimed:
        assert job.arcstate == "submitting" and job.claimedby == "reconciler"
        assert job.claimeduntil == clock() + LEASE
        row = seed.get(arcjobs, job.id)
        assert (row["arcstate"], row["claimedby"], row["claimeduntil"]) == (
            "submitting", "reconciler", clock() + LEASE)
    assert store.claim_for_reconcile(CE, 100, "other", LEASE, settled_before=clock()) == []


def test_claim_for_reconcile_respects_limit_and_id_order(store: JobStore, seed: Seeder, clock: Clock) -> None:
    ids = seed.arc_jobs(5, "submitting", cluster=CE, tarcstate=clock() - timedelta(hours=1))
    first = store.claim_for_reconcile(CE, 2, "r", LEASE, settled_before=clock())
    second = store.claim_for_reconcile(CE, 10, "r", LEASE, settled_before=clock())
    assert [job.id for job in first] == ids[:2]
    assert [job.id for job in second] == ids[2:]


def test_a_reconcile_claim_keeps_the_submission_token_and_ce_fields(
    store: JobStore, seed: Seeder, clock: Clock
) -> None:
    (arc_id,) = seed.arc_jobs(1, "submitting", cluster=CE, tarcstate=clock() - timedelta(hours=1),
                              submissiontoken="tok", IDFromEndpoint="ce-1")
    (job,) = store.claim_for_reconcile(CE, 1, "r", LEASE, settled_before=clock())
    assert job.id == arc_id and job.submissiontoken == "tok" and job.ce_id == "ce-1"


# --------------------------------------------------------------------------- lease owners


def test_lease_owners_lists_every_holder_current_or_expired(store: JobStore, seed: Seeder, clock: Clock) -> None:
    assert store.lease_owners() == set()
    seed.arc_jobs(2, "toclean", cluster=CE)
    seed.arc_jobs(1, "toclean", cluster=CE2)
    store.claim_for_clean(CE, 1, "host-a:1", LEASE)
    store.claim_for_clean(CE, 1, "host-b:2", LEASE)
    store.claim_for_clean(CE2, 1, "host-a:1", LEASE)
    clock.advance(hours=1)  # every lease has expired; the names are still recorded
    assert store.lease_owners() == {"host-a:1", "host-b:2"}


def test_release_owner_frees_all_of_one_owners_rows(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(3, "tocancel", cluster=CE)
    seed.arc_jobs(1, "tocancel", cluster=CE2)
    dead = store.claim_for_cancel(CE, 2, "dead:7", LEASE) + store.claim_for_cancel(CE2, 1, "dead:7", LEASE)
    (alive,) = store.claim_for_cancel(CE, 5, "alive:8", LEASE)

    assert store.release_owner("dead:7") == 3
    for job in dead:
        row = seed.get(arcjobs, job.id)
        assert row["claimedby"] is None and row["claimeduntil"] is None
        assert row["arcstate"] == "tocancel"
    assert seed.get(arcjobs, alive.id)["claimedby"] == "alive:8"
    assert store.lease_owners() == {"alive:8"}
    assert store.release_owner("dead:7") == 0
    assert store.release_owner("nobody") == 0
    # Freed at once, without waiting for the lease to run out.
    assert sorted(job.id for job in store.claim_for_cancel(CE, 5, "new:9", LEASE)) == sorted(
        job.id for job in dead if job.cluster == CE)


# --------------------------------------------------------------------------- submissions, lease kept


def test_record_submissions_can_keep_the_lease(store: JobStore, seed: Seeder, clock: Clock) -> None:
    seed.arc_jobs(2, clusterlist=CE)
    kept, _ = store.claim_for_submit(CE, 2, "sub:1", LEASE, token="tok")
    clock.advance(seconds=30)
    fields = {"IDFromEndpoint": "ce-a", "JobID": "https://ce.example.org:443/arex/rest/1.0/jobs/ce-a",
              "State": "Accepted"}
    assert store.record_submissions([SubmissionRecord(kept.id, "submitting", fields)], keep_lease=True) == [kept.id]
    row = seed.get(arcjobs, kept.id)
    assert (row["claimedby"], row["claimeduntil"]) == ("sub:1", kept.claimeduntil)
    assert row["arcstate"] == "submitting" and row["IDFromEndpoint"] == "ce-a" and row["State"] == "Accepted"
    assert row["tarcstate"] == clock() and row["tstate"] == clock()
    assert row["submissiontoken"] == "tok"
    # Still held: nobody else can take it, not even the reconciler.
    assert store.claim_for_reconcile(CE, 10, "r", LEASE, settled_before=clock() + timedelta(hours=1)) == []

    store.record_submissions([SubmissionRecord(kept.id, "submitted", {})])
    row = seed.get(arcjobs, kept.id)
    assert row["arcstate"] == "submitted"
    assert row["claimedby"] is None and row["claimeduntil"] is None


def test_record_submissions_clears_the_lease_by_default(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, clusterlist=CE)
    (job,) = store.claim_for_submit(CE, 1, "sub:1", LEASE)
    store.record_submissions([SubmissionRecord(job.id, "submitted", {"IDFromEndpoint": "x"})], keep_lease=False)
    row = seed.get(arcjobs, job.id)
    assert (row["arcstate"], row["claimedby"], row["claimeduntil"]) == ("submitted", None, None)


def test_keeping_the_lease_does_not_overrule_a_users_cancel(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, clusterlist=CE)
    (job,) = store.claim_for_submit(CE, 1, "sub:1", LEASE)
    store.set_arcstate([job.id], "tocancel", {"submitting"})  # clears the lease, as a user's kill does
    store.record_submissions([SubmissionRecord(job.id, "submitting", {"IDFromEndpoint": "ce-z"})], keep_lease=True)
    row = seed.get(arcjobs, job.id)
    assert row["arcstate"] == "tocancel" and row["IDFromEndpoint"] == "ce-z"
    assert row["claimedby"] is None


# --------------------------------------------------------------------------- reads


def test_known_ce_ids_are_those_some_job_of_the_cluster_records(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, "running", cluster=CE, IDFromEndpoint="aaa")
    seed.arc_jobs(1, "submitting", cluster=CE, IDFromEndpoint="bbb")
    seed.arc_jobs(1, "running", cluster=CE2, IDFromEndpoint="ccc")
    seed.arc_jobs(1, "submitting", cluster=CE, IDFromEndpoint=None)
    assert store.known_ce_ids(CE, ["aaa", "bbb", "ccc", "zzz", "aaa"]) == {"aaa", "bbb"}
    assert store.known_ce_ids(CE2, ["aaa", "ccc"]) == {"ccc"}
    assert store.known_ce_ids(CE, []) == set()
    assert store.known_ce_ids(CE, ["zzz"]) == set()


def test_known_ce_ids_handles_more_ids_than_one_query_takes(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, "running", cluster=CE, IDFromEndpoint="id-00007")
    seed.arc_jobs(1, "running", cluster=CE, IDFromEndpoint="id-05999")
    asked = [f"id-{n:05d}" for n in range(6000)]
    assert store.known_ce_ids(CE, asked) == {"id-00007", "id-05999"}


def test_clusters_in_use_are_those_jobs_are_assigned_to(store: JobStore, seed: Seeder) -> None:
    assert store.clusters_in_use() == set()
    seed.arc_jobs(2, "running", cluster=CE)
    seed.arc_jobs(1, "done", cluster=CE2)
    seed.arc_jobs(2, "tosubmit", cluster="")
    seed.arc_jobs(1, "tosubmit", cluster=None)
    assert store.clusters_in_use() == {CE, CE2}


def test_counts_by_cluster_and_state(store: JobStore, seed: Seeder) -> None:
    assert store.counts_by_cluster_and_state() == {}
    seed.arc_jobs(3, "running", cluster=CE)
    seed.arc_jobs(1, "finished", cluster=CE)
    seed.arc_jobs(2, "running", cluster=CE2)
    seed.arc_jobs(4, "tosubmit", cluster="")
    assert store.counts_by_cluster_and_state() == {
        (CE, "running"): 3, (CE, "finished"): 1, (CE2, "running"): 2, ("", "tosubmit"): 4,
    }


def test_counts_add_jobs_without_a_cluster_whether_null_or_empty(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(4, "tosubmit", cluster="")
    seed.arc_jobs(1, "tosubmit", cluster=None)
    assert store.counts_by_cluster_and_state() == {("", "tosubmit"): 5}


def test_an_accepted_kill_restarts_the_state_clock_only_when_asked(store: JobStore, seed: Seeder, clock: Clock) -> None:
    restarted, kept = seed.arc_jobs(2, "tocancel")
    before = seed.get(arcjobs, kept)["tstate"]
    clock.advance(minutes=5)
    store.set_arcstate([restarted], "cancelling", {"tocancel"}, restart_state_clock=True)
    store.set_arcstate([kept], "cancelling", {"tocancel"})
    assert seed.get(arcjobs, restarted)["tstate"] == clock()
    assert seed.get(arcjobs, kept)["tstate"] == before
