"""Client → engine handover, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actframework.db import ArcJobDefaults, ClientJobRow, Confirmation, JobFilter, JobStore
from actframework.db.schema import arcjobs, clientjobs, jobdescriptions

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
CE2 = "https://ce2.example.org:443/q"


def confirmed_jobs(store: JobStore, count: int, proxyid: int = 1) -> list[int]:
    jobs = store.create_client_jobs(proxyid, [[CE, CE2]] * count)
    store.confirm_client_jobs(
        proxyid,
        [Confirmation(job, f"name{job}", f"&(executable=/bin/echo)(arguments={job})") for job in jobs],
    )
    return jobs


def test_handover_creates_arc_rows_for_confirmed_jobs(store: JobStore, seed: Seeder, clock: Clock) -> None:
    jobs = confirmed_jobs(store, 3)
    (unconfirmed,) = store.create_client_jobs(1, [[CE]])
    clock.advance(seconds=10)

    results = store.handover()

    assert [result.client_id for result in results] == jobs
    for result in results:
        client = seed.get(clientjobs, result.client_id)
        arc = seed.get(arcjobs, result.arc_id)
        assert client["arcjobid"] == result.arc_id and client["modified"] == clock()
        assert arc["arcstate"] == "tosubmit" and arc["cluster"] == ""
        assert arc["clusterlist"] == f"{CE},{CE2}"
        assert arc["appjobid"] == str(result.client_id) and arc["proxyid"] == 1
        assert arc["created"] == arc["modified"] == arc["tarcstate"] == arc["tstate"] == clock()
        engine_fields = (arc["priority"], arc["downloadfiles"], arc["attemptsleft"], arc["fairshare"])
        assert engine_fields == (50, "/", 0, "")
        description = seed.get(jobdescriptions, arc["jobdesc"])["jobdescription"]
        assert description == f"&(executable=/bin/echo)(arguments={result.client_id})"
    assert seed.get(clientjobs, unconfirmed)["arcjobid"] is None


def test_handover_is_idempotent(store: JobStore, seed: Seeder) -> None:
    confirmed_jobs(store, 5)
    assert len(store.handover()) == 5
    assert store.handover() == []
    assert seed.count(arcjobs) == 5 and seed.count(jobdescriptions) == 5


def test_handover_oldest_first_with_limit(store: JobStore) -> None:
    jobs = confirmed_jobs(store, 7)
    assert [r.client_id for r in store.handover(limit=3)] == jobs[:3]
    assert [r.client_id for r in store.handover(limit=3)] == jobs[3:6]
    assert [r.client_id for r in store.handover(limit=3)] == jobs[6:]
    assert store.handover(limit=0) == []


def test_handover_uses_prepare(store: JobStore, seed: Seeder) -> None:
    jobs = confirmed_jobs(store, 2)
    seen: list[ClientJobRow] = []

    def prepare(job: ClientJobRow) -> ArcJobDefaults:
        seen.append(job)
        return ArcJobDefaults(priority=job.id % 7, downloadfiles="/;diagnose=log/", attemptsleft=2,
                              fairshare="vo")

    results = store.handover(prepare=prepare)
    assert [job.id for job in seen] == jobs
    assert seen[0].clusters == (CE, CE2) and seen[0].jobdesc.startswith("&(executable")
    assert seen[0].jobname == f"name{jobs[0]}" and seen[0].proxyid == 1
    arc = seed.get(arcjobs, results[0].arc_id)
    assert (arc["priority"], arc["downloadfiles"], arc["attemptsleft"], arc["fairshare"]) == (
        jobs[0] % 7, "/;diagnose=log/", 2, "vo")


def test_prepare_can_hand_over_an_unusable_job_as_cancelled(store: JobStore, seed: Seeder) -> None:
    confirmed_jobs(store, 1)
    (result,) = store.handover(prepare=lambda job: ArcJobDefaults(arcstate="cancelled"))
    assert seed.get(arcjobs, result.arc_id)["arcstate"] == "cancelled"


def test_failing_prepare_hands_over_nothing(store: JobStore, seed: Seeder) -> None:
    confirmed_jobs(store, 2)

    def prepare(job: ClientJobRow) -> ArcJobDefaults:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.handover(prepare=prepare)
    with pytest.raises(ValueError):
        store.handover(prepare=lambda job: ArcJobDefaults(arcstate="running"))
    assert seed.count(arcjobs) == 0 and seed.count(jobdescriptions) == 0
    assert len(store.handover()) == 2


def test_handed_over_job_is_visible_and_cancellable(store: JobStore) -> None:
    (job,) = confirmed_jobs(store, 1)
    (result,) = store.handover()
    rows = store.select_jobs(1, JobFilter(), ["id"], ["id", "arcstate"])
    assert rows == [{"c_id": job, "a_id": result.arc_id, "a_arcstate": "tosubmit"}]
    (outcome,) = store.cancel_jobs(1, JobFilter())
    assert outcome.arcstate_before == "tosubmit" and outcome.removed


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_handover_skips_client_rows_another_transaction_holds(store: JobStore) -> None:
    jobs = confirmed_jobs(store, 6)
    with store.engine.connect() as other:  # e.g. a cancel of the first three in progress
        other.begin()
        other.execute(
            sa.select(clientjobs.c.id).where(clientjobs.c.id.in_(jobs[:3])).with_for_update()
            .with_hint(clientjobs, "FORCE INDEX (PRIMARY)", dialect_name="mysql")
        ).all()
        assert [result.client_id for result in store.handover()] == jobs[3:]
        other.rollback()
    assert [result.client_id for result in store.handover()] == jobs[:3]
