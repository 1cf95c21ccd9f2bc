"""The ``stagings`` records on each database: recorded at confirmation,
orphaned once the client job is gone, retried after a pause, forgotten."""

from __future__ import annotations

from datetime import timedelta

from actframework.db import JobStore
from actframework.db.filters import JobFilter, parse_id_list

from fixtures.databases import Clock

CLUSTER = "https://ce.example.org/arex"
DAV = "https://dav.example.org/home/alice"


def jobs(store: JobStore, proxyid: int, count: int) -> list[int]:
    return store.create_client_jobs(proxyid, [[CLUSTER]] * count)


def only(*ids: int) -> JobFilter:
    return JobFilter(ids=parse_id_list(",".join(str(i) for i in ids)))


def test_a_staging_is_orphaned_only_once_its_client_job_is_gone(store: JobStore, clock: Clock) -> None:
    kept, gone = jobs(store, 7, 2)
    store.record_stagings(7, [(kept, "webdav", DAV), (gone, "webdav", DAV)])
    assert store.orphaned_stagings(10, clock()) == []
    store.cancel_jobs(7, only(gone))
    [orphan] = store.orphaned_stagings(10, clock())
    assert (orphan.clientjobid, orphan.proxyid, orphan.backend, orphan.url, orphan.attempts) == \
        (gone, 7, "webdav", DAV, 0)
    store.forget_stagings([orphan.id])
    assert store.orphaned_stagings(10, clock()) == []


def test_a_failed_removal_waits_before_it_is_offered_again(store: JobStore, clock: Clock) -> None:
    [job] = jobs(store, 3, 1)
    store.record_stagings(3, [(job, "dcache", DAV)])
    store.cancel_jobs(3, only(job))
    [orphan] = store.orphaned_stagings(10, clock())
    store.staging_tried([orphan.id])
    assert store.orphaned_stagings(10, clock() - timedelta(minutes=10)) == []
    clock.advance(minutes=11)
    [again] = store.orphaned_stagings(10, clock() - timedelta(minutes=10))
    assert again.id == orphan.id and again.attempts == 1


def test_recording_again_replaces_the_record(store: JobStore, clock: Clock) -> None:
    [job] = jobs(store, 5, 1)
    store.record_stagings(5, [(job, "webdav", DAV)])
    store.record_stagings(5, [(job, "dcache", DAV + "/other"), (job, "dcache", DAV + "/last")])
    store.cancel_jobs(5, only(job))
    [orphan] = store.orphaned_stagings(10, clock())
    assert (orphan.backend, orphan.url) == ("dcache", DAV + "/last")


def test_orphans_come_oldest_first_and_limited(store: JobStore, clock: Clock) -> None:
    ids = jobs(store, 1, 5)
    store.record_stagings(1, [(job, "webdav", f"{DAV}/{job}") for job in ids])
    store.cancel_jobs(1, only(*ids))
    assert [o.clientjobid for o in store.orphaned_stagings(3, clock())] == sorted(ids)[:3]


def test_ids_of_deleted_rows_are_never_handed_out_again(store: JobStore, clock: Clock) -> None:
    """Input directories, tokens and staging records name ids that outlive
    their rows (SQLite reuses the highest id unless told not to)."""
    first, newest = jobs(store, 9, 2)
    store.cancel_jobs(9, only(newest))
    [again] = jobs(store, 9, 1)
    assert again > newest
    proxy = store.store_proxy("/CN=a", "", b"pem", clock() + timedelta(hours=1))
    assert store.delete_proxy(proxy)
    assert store.store_proxy("/CN=b", "", b"pem", clock() + timedelta(hours=1)) > proxy
