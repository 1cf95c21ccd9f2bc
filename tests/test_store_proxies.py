"""Delegated proxy storage, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from actframework.db import JobFilter, JobStore, ProxyRecord

from fixtures.databases import Seeder

DN = "/DC=org/DC=example/CN=Jane O'Doe"  # quotes must not break anything
ATTR = "/atlas/Role=NULL/Capability=NULL"
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\x00\xff\n-----END CERTIFICATE-----\n"


def test_store_and_get_proxy(store: JobStore) -> None:
    expiry = datetime(2024, 6, 2, 12, 0, 0)
    proxyid = store.store_proxy(DN, ATTR, PEM, expiry)
    assert store.get_proxy(proxyid) == ProxyRecord(
        id=proxyid, proxy=PEM, expirytime=expiry, proxypath=None, dn=DN, attribute=ATTR,
        proxytype="local", myproxyid=None,
    )
    assert store.get_proxy(proxyid + 1000) is None


def test_redelegation_keeps_the_id(store: JobStore) -> None:
    first = store.store_proxy(DN, ATTR, b"key only", datetime(2024, 6, 2))
    other_attr = store.store_proxy(DN, "/cms", PEM, datetime(2024, 6, 2))
    later = datetime(2024, 6, 3, tzinfo=timezone(timedelta(hours=1)))
    second = store.store_proxy(DN, ATTR, PEM, later)
    assert second == first != other_attr
    record = store.get_proxy(first)
    assert record is not None
    assert record.proxy == PEM and record.expirytime == datetime(2024, 6, 2, 23, 0)


def test_large_proxy_pem(store: JobStore) -> None:
    pem = PEM * 2000  # ~100 kB chain
    proxyid = store.store_proxy(DN, ATTR, pem, datetime(2024, 6, 2))
    record = store.get_proxy(proxyid)
    assert record is not None and record.proxy == pem


def test_set_proxy_path(store: JobStore) -> None:
    proxyid = store.store_proxy(DN, ATTR, PEM, datetime(2024, 6, 2))
    assert store.set_proxy_path(proxyid, f"/var/lib/actd/proxies/proxiesid{proxyid}")
    record = store.get_proxy(proxyid)
    assert record is not None and record.proxypath == f"/var/lib/actd/proxies/proxiesid{proxyid}"
    assert store.set_proxy_path(proxyid, record.proxypath)  # same value: still found
    assert not store.set_proxy_path(proxyid + 1000, "/x")


def test_delete_proxy_leaves_jobs(store: JobStore, seed: Seeder) -> None:
    proxyid = store.store_proxy(DN, ATTR, PEM, datetime(2024, 6, 2))
    seed.user_jobs(["running"], proxyid=proxyid)
    assert store.delete_proxy(proxyid)
    assert not store.delete_proxy(proxyid)
    assert store.get_proxy(proxyid) is None
    assert len(store.select_jobs(proxyid, JobFilter(), ["id"], [])) == 1
