"""Token users' refresh grants in the store, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta

from actframework.db import CredentialKind, JobStore

OWNER = "https://iam.example.org#alice"
ENDPOINT = "https://iam.example.org/token"


def token_user(store: JobStore, expiry: datetime, owner: str = OWNER) -> int:
    proxyid = store.store_proxy(owner, "", b"header.claims.signature", expiry, CredentialKind.TOKEN)
    store.set_refresh_grant(proxyid, "refresh-1", "client", "secret-1", ENDPOINT)
    return proxyid


def test_a_grant_is_kept_replaced_and_not_shown_in_its_repr(store: JobStore) -> None:
    proxyid = token_user(store, datetime(2026, 1, 1))
    store.set_refresh_grant(proxyid, "refresh-2", "client-2", "secret-2", ENDPOINT)
    grant = store.get_refresh_grant(proxyid)
    assert grant is not None
    assert (grant.refreshtoken, grant.clientid, grant.clientsecret, grant.tokenendpoint) == (
        b"refresh-2", "client-2", b"secret-2", ENDPOINT)
    assert "refresh-2" not in repr(grant) and "secret-2" not in repr(grant)
    assert store.get_refresh_grant(proxyid + 1000) is None


def test_grants_are_due_for_users_with_jobs_whose_token_ends_soon(store: JobStore) -> None:
    now = store.now()
    soon = token_user(store, now + timedelta(minutes=5))
    later = token_user(store, now + timedelta(hours=2), owner=OWNER + "2")
    idle = token_user(store, now + timedelta(minutes=1), owner=OWNER + "3")
    for proxyid in (soon, later):
        store.create_client_jobs(proxyid, [["https://ce.example.org/batch"]])
    assert [grant.proxyid for grant in store.refresh_grants_due(now + timedelta(minutes=10))] == [soon]
    assert idle not in [grant.proxyid for grant in store.refresh_grants_due(now + timedelta(days=1))]


def test_a_failure_is_news_once_until_a_success(store: JobStore) -> None:
    proxyid = token_user(store, datetime(2026, 1, 1))
    assert store.refresh_failed(proxyid) is True
    assert store.refresh_failed(proxyid) is False
    store.refresh_succeeded(proxyid, "refresh-rotated")
    grant = store.get_refresh_grant(proxyid)
    assert grant is not None and grant.failedsince is None and grant.refreshtoken == b"refresh-rotated"
    assert store.refresh_failed(proxyid) is True


def test_the_grant_goes_with_its_user(store: JobStore) -> None:
    deleted = token_user(store, datetime(2026, 1, 1))
    expired = token_user(store, store.now() - timedelta(days=10), owner=OWNER + "2")
    assert store.delete_proxy(deleted)
    assert store.delete_expired_proxy(expired, store.now() - timedelta(days=1))
    assert store.get_refresh_grant(deleted) is None and store.get_refresh_grant(expired) is None
