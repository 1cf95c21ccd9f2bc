"""The store's side of credential life: which delegations running jobs
use, owners with no jobs left, and removing their records race-free; on
SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta

from actframework.db import JobStore
from actframework.db.schema import arcjobs

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
CE2 = "https://ce2.example.org:443/q"
EXPIRY = datetime(2024, 6, 2, 12, 0, 0)


def proxy(store: JobStore, name: str, expiry: datetime = EXPIRY) -> int:
    return store.store_proxy(f"/CN={name}", "", b"-----BEGIN CERTIFICATE-----\n", expiry)


def test_delegations_in_use_are_those_of_jobs_the_ce_still_acts_for(store: JobStore, seed: Seeder) -> None:
    seed.arc_jobs(1, "running", cluster=CE, proxyid=1, DelegationID="shared")
    seed.arc_jobs(1, "submitted", cluster=CE, proxyid=1, DelegationID="older")
    seed.arc_jobs(1, "torerun", cluster=CE, proxyid=2, DelegationID="d2")
    seed.arc_jobs(1, "done", cluster=CE, proxyid=3, DelegationID="d3")
    seed.arc_jobs(1, "running", cluster=CE2, proxyid=4, DelegationID="d4")
    seed.arc_jobs(1, "submitting", cluster=CE, proxyid=5)
    assert store.delegation_ids_in_use(CE) == {1: {"shared", "older"}, 2: {"d2"}, 5: set()}


def test_owners_with_any_job_left_are_not_idle(store: JobStore, seed: Seeder) -> None:
    idle = proxy(store, "idle")
    with_client_job = proxy(store, "client")
    with_engine_job = proxy(store, "engine")
    seed.user_jobs([None], proxyid=with_client_job)
    seed.arc_jobs(1, "toclean", cluster=CE, proxyid=with_engine_job)
    idle_ids = [record.id for record in store.idle_proxies()]
    assert idle_ids == [idle]
    assert all(record.proxy is None for record in store.idle_proxies())  # keys are not read


def test_an_idle_owners_delegation_record_is_forgotten_once(store: JobStore, seed: Seeder) -> None:
    owner = proxy(store, "idle")
    store.add_delegation(CE, owner, "deleg", EXPIRY)
    record = store.forget_idle_delegation(CE, owner)
    assert record is not None and record.delegationid == "deleg"
    assert store.get_delegation(CE, owner) is None
    assert store.forget_idle_delegation(CE, owner) is None


def test_a_delegation_is_kept_while_its_owner_has_a_job(store: JobStore, seed: Seeder) -> None:
    owner = proxy(store, "busy")
    store.add_delegation(CE, owner, "deleg", EXPIRY)
    seed.user_jobs([None], proxyid=owner)
    assert store.forget_idle_delegation(CE, owner) is None
    assert store.get_delegation(CE, owner) is not None


def test_only_a_proxy_expired_before_the_cut_off_is_deleted(store: JobStore) -> None:
    owner = proxy(store, "old", EXPIRY)
    assert store.delete_expired_proxy(owner, EXPIRY) is False  # renewed meanwhile: not before the cut-off
    assert store.get_proxy(owner) is not None
    assert store.delete_expired_proxy(owner, EXPIRY + timedelta(seconds=1)) is True
    assert store.get_proxy(owner) is None


def test_noted_errors_change_nothing_else_and_respect_the_state(store: JobStore, seed: Seeder, clock: Clock) -> None:
    (running,) = seed.arc_jobs(1, "running", cluster=CE, claimedby="me:1", claimeduntil=clock() + timedelta(hours=1))
    (moved_on,) = seed.arc_jobs(1, "finished", cluster=CE)
    before = seed.get(arcjobs, running)
    clock.advance(minutes=3)
    written = store.note_errors({running: ("running", "proxy expired: run act proxy"),
                                 moved_on: ("running", "proxy expired: run act proxy")})
    assert written == [running]
    after = seed.get(arcjobs, running)
    assert after["Error"] == "proxy expired: run act proxy"
    assert {key: after[key] for key in ("arcstate", "tarcstate", "claimedby", "modified")} == \
        {key: before[key] for key in ("arcstate", "tarcstate", "claimedby", "modified")}
    assert seed.get(arcjobs, moved_on)["Error"] is None
