"""CE clients and delegations, per user proxy and cluster.

The engine acts on a CE as the job's owner: each user proxy (``proxies``
row) gets its own :class:`~actframework.arc.ARCRest` client per cluster,
authenticated with the proxy file the server wrote. Clients are kept and
reused (their connection pools and negotiated REST version with them); a
re-delegated proxy gives a fresh client so that new TLS connections present
the new certificate.

Each user proxy has one delegation per CE, shared by every engine process
through the ``delegations`` table, renewed in place before it expires or as
soon as the user delegated a longer-lived proxy to the server. Jobs always
reference that one delegation, so renewing it renews theirs.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from actframework import x509
from actframework.arc import ARCRest
from actframework.config import ServerConfig
from actframework.db import JobStore
from actframework.errors import ARCError, ARCHTTPError, ProxyUnavailableError, X509Error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Client:
    rest: ARCRest
    fingerprint: str


class CEClients:
    """Thread-safe cache of CE clients keyed by (cluster, proxyid)."""

    def __init__(self, config: ServerConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self._clients: dict[tuple[str, int], _Client] = {}
        self._lock = threading.Lock()
        self._connect_locks: dict[tuple[str, int], threading.Lock] = {}

    # ------------------------------------------------------------------ proxies

    def proxy_file(self, proxyid: int) -> tuple[Path, str, datetime]:
        """The owner's proxy as a file (written from the store when missing
        or different, mode 0600), its content fingerprint and its expiry."""
        record = self.store.get_proxy(proxyid)
        if record is None or not record.proxy:
            raise ProxyUnavailableError(f"proxy {proxyid} no longer exists: run act proxy")
        expiry = (record.expirytime or datetime.min).replace(tzinfo=UTC)
        if expiry <= datetime.now(UTC):
            raise ProxyUnavailableError(f"proxy expired: run act proxy (proxy {proxyid} "
                                        f"expired at {expiry:%Y-%m-%d %H:%M} UTC)")
        path = self.config.proxies_dir / f"proxiesid{proxyid}"
        content = bytes(record.proxy)
        try:
            current = path.read_bytes()
        except OSError:
            current = b""
        if current != content:
            try:
                x509.write_proxy(x509.load_proxy_pem(content), path)
            except X509Error as exc:
                raise ProxyUnavailableError(f"proxy {proxyid} cannot be used: {exc}") from exc
        return path, hashlib.sha256(content).hexdigest(), expiry

    # ------------------------------------------------------------------ clients

    def client(self, cluster: str, proxyid: int) -> ARCRest:
        """A connected client for ``cluster`` acting with ``proxyid``'s proxy."""
        path, fingerprint, _ = self.proxy_file(proxyid)
        key = (cluster, proxyid)
        with self._lock:
            cached = self._clients.get(key)
            connect_lock = self._connect_locks.setdefault(key, threading.Lock())
        if cached is not None and cached.fingerprint == fingerprint:
            return cached.rest
        with connect_lock:
            with self._lock:
                cached = self._clients.get(key)
            if cached is not None and cached.fingerprint == fingerprint:
                return cached.rest
            timeout = self.config.engine.ce_timeout
            rest = ARCRest.connect(cluster, proxy=path, ca_dir=self.config.ca_dir,
                                   timeout=(min(15.0, timeout), timeout),
                                   pool_size=max(16, 4 * self.config.engine.transfer_workers + 4))
            with self._lock:
                old = self._clients.get(key)
                self._clients[key] = _Client(rest, fingerprint)
            if old is not None:
                old.rest.close()
            return rest

    def forget(self, cluster: str, proxyid: int) -> None:
        """Drop a client (after transport trouble, reconnect next time)."""
        with self._lock:
            old = self._clients.pop((cluster, proxyid), None)
        if old is not None:
            old.rest.close()

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.rest.close()

    # ------------------------------------------------------------------ delegations

    def delegation(self, cluster: str, proxyid: int) -> str:
        """The delegation id jobs of ``proxyid`` on ``cluster`` use: the
        shared one, renewed first if due; created if there is none yet."""
        rest = self.client(cluster, proxyid)
        path, _, proxy_expiry = self.proxy_file(proxyid)
        record = self.store.get_delegation(cluster, proxyid)
        if record is None:
            delegation_id = rest.create_delegation(path)
            record = self.store.add_delegation(cluster, proxyid, delegation_id, proxy_expiry)
            if record.delegationid != delegation_id:  # another process won the race
                _delete_quietly(rest, delegation_id)
            else:
                log.info("delegated proxy %s to %s as %s", proxyid, cluster, delegation_id)
            return record.delegationid
        if self.renewal_due(record.expirytime.replace(tzinfo=UTC), proxy_expiry):
            return self.renew(cluster, proxyid, record.delegationid)
        return record.delegationid

    def renew(self, cluster: str, proxyid: int, delegation_id: str) -> str:
        """Renew ``delegation_id`` with the owner's current proxy. If the CE
        no longer has it and it is the shared one, a new shared delegation
        replaces it. Returns the delegation id to use from now on."""
        rest = self.client(cluster, proxyid)
        path, _, proxy_expiry = self.proxy_file(proxyid)
        record = self.store.get_delegation(cluster, proxyid)
        shared = record is not None and record.delegationid == delegation_id
        try:
            rest.renew_delegation(delegation_id, path)
        except ARCHTTPError as exc:
            if exc.status not in (404, 400) or not shared:
                raise
            log.info("delegation %s on %s is gone (%s); delegating anew", delegation_id, cluster, exc)
            new_id = rest.create_delegation(path)
            self.store.update_delegation(cluster, proxyid, new_id, proxy_expiry)
            return new_id
        if shared:
            self.store.update_delegation(cluster, proxyid, delegation_id, proxy_expiry)
        log.info("renewed delegation %s of proxy %s on %s", delegation_id, proxyid, cluster)
        return delegation_id

    def renewal_due(self, delegated_until: datetime, proxy_expiry: datetime) -> bool:
        """True when a delegation made until ``delegated_until`` should be
        renewed with a proxy valid until ``proxy_expiry``: the user delegated
        a longer-lived proxy, or the delegation nears its end and the proxy
        outlives it."""
        renew_before = timedelta(seconds=self.config.engine.delegation_renew_before)
        if proxy_expiry > delegated_until + timedelta(minutes=1):
            return True  # the user delegated a longer-lived proxy to the server
        return delegated_until - datetime.now(UTC) < renew_before and proxy_expiry > delegated_until


def _delete_quietly(rest: ARCRest, delegation_id: str) -> None:
    try:
        rest.delete_delegation(delegation_id)
    except ARCError as exc:
        log.warning("could not delete surplus delegation %s: %s", delegation_id, exc)
