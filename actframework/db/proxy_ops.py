"""Delegated proxies (``/proxies``): one row per (DN, VOMS attribute).

The row id is the identity users carry in their JWT and the owner of their
jobs, so re-delegating the same DN and attribute must update the existing
row and keep its id rather than create a new one.

Delegations in progress (between ``POST`` and ``PUT /proxies``) are kept in
``pendingproxies``, one row per request, and only the completed delegation
touches ``proxies``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from actframework.db._core import StoreCore, naive_utc
from actframework.db.records import CredentialKind, PendingProxyRecord, ProxyRecord
from actframework.db.schema import arcjobs, clientjobs, pendingproxies, proxies, refreshgrants, stagings
from actframework.errors import StoreError


class ProxyOps(StoreCore):
    """Storage of delegated proxies."""

    def store_proxy(
        self,
        dn: str,
        attribute: str,
        pem: bytes,
        expirytime: datetime,
        proxytype: CredentialKind = CredentialKind.PROXY,
    ) -> int:
        """Insert or update the proxy of (``dn``, ``attribute``); returns its id.

        Two first delegations of the same identity at the same moment can both
        find no row; the loser's insert violates the unique key and it then
        updates the winner's row, so both get the same id.
        """
        expiry = naive_utc(expirytime)

        def work(connection: Connection) -> int:
            found = connection.execute(
                self._locked(select(proxies.c.id).where(proxies.c.dn == dn, proxies.c.attribute == attribute))
            ).scalar_one_or_none()
            if found is not None:
                connection.execute(
                    update(proxies)
                    .where(proxies.c.id == found)
                    .values(proxy=pem, expirytime=expiry, proxytype=proxytype)
                )
                return int(found)
            key = connection.execute(
                insert(proxies).values(dn=dn, attribute=attribute, proxy=pem, expirytime=expiry, proxytype=proxytype)
            ).inserted_primary_key
            assert key is not None
            return int(key[0])

        try:
            return self._write(work)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return self._write(work)
            raise

    def get_proxy(self, proxyid: int) -> ProxyRecord | None:
        """The proxy row with this id, or None."""

        def work(connection: Connection) -> ProxyRecord | None:
            row = connection.execute(select(proxies).where(proxies.c.id == proxyid)).mappings().first()
            return ProxyRecord(**row) if row is not None else None

        return self._read(work)

    def set_proxy_path(self, proxyid: int, path: str) -> bool:
        """Record where the proxy file was written; False if no such proxy."""

        def work(connection: Connection) -> bool:
            result = connection.execute(update(proxies).where(proxies.c.id == proxyid).values(proxypath=path))
            return result.rowcount > 0

        return self._write(work)

    def delete_proxy(self, proxyid: int) -> bool:
        """Delete the proxy row (DELETE /proxies) and a token user's refresh
        grant; its jobs are not touched. False if there was no such proxy."""

        def work(connection: Connection) -> bool:
            connection.execute(delete(refreshgrants).where(refreshgrants.c.proxyid == proxyid))
            return connection.execute(delete(proxies).where(proxies.c.id == proxyid)).rowcount > 0

        return self._write(work)

    def idle_proxies(self) -> list[ProxyRecord]:
        """Proxies whose owners have no jobs left: no client job, no engine
        job and no staged inputs waiting for removal. Their private keys
        are not read (``proxy`` is None in the records)."""

        def work(connection: Connection) -> list[ProxyRecord]:
            owned = [exists().where(table.c.proxyid == proxies.c.id) for table in (clientjobs, arcjobs, stagings)]
            columns = [column for column in proxies.columns if column.name != "proxy"]
            query = select(*columns).where(*[~condition for condition in owned]).order_by(proxies.c.id)
            return [ProxyRecord(proxy=None, **row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def expiring_proxies(self, before: datetime | None = None) -> list[ProxyRecord]:
        """Proxies of users who still have jobs that expire before
        ``before`` (or have expired): those users must run ``act proxy``
        soon, or their jobs wait. Without ``before``, every proxy of a user
        with jobs (what the metrics bin by time left). Earliest expiry
        first; private keys are not read."""

        def work(connection: Connection) -> list[ProxyRecord]:
            owned = [exists().where(table.c.proxyid == proxies.c.id) for table in (clientjobs, arcjobs)]
            columns = [column for column in proxies.columns if column.name != "proxy"]
            conditions = [or_(*owned)]
            if before is not None:
                conditions.append(proxies.c.expirytime < naive_utc(before))
            query = select(*columns).where(*conditions).order_by(proxies.c.expirytime)
            return [ProxyRecord(proxy=None, **row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def delete_expired_proxy(self, proxyid: int, expired_before: datetime) -> bool:
        """Delete the proxy row if it expired before ``expired_before`` (a
        proxy its owner renewed meanwhile stays). False if nothing was deleted."""

        def work(connection: Connection) -> bool:
            result = connection.execute(
                delete(proxies).where(proxies.c.id == proxyid, proxies.c.expirytime < naive_utc(expired_before))
            )
            if result.rowcount > 0:
                connection.execute(delete(refreshgrants).where(refreshgrants.c.proxyid == proxyid))
            return result.rowcount > 0

        return self._write(work)

    # ------------------------------------------------------------------ pending delegations

    def add_pending_proxy(self, dn: str, attribute: str, privatekey: bytes, expirytime: datetime) -> int:
        """Keep the key of a started delegation until ``expirytime``; its id.

        Requests that expired are deleted in the same transaction: step 1
        needs no token, so nothing else bounds how many abandoned keys pile up.
        """
        expiry = naive_utc(expirytime)
        now = self.now()

        def work(connection: Connection) -> int:
            connection.execute(delete(pendingproxies).where(pendingproxies.c.expirytime <= now))
            key = connection.execute(
                insert(pendingproxies).values(dn=dn, attribute=attribute, privatekey=privatekey, expirytime=expiry)
            ).inserted_primary_key
            assert key is not None
            return int(key[0])

        return self._write(work)

    def get_pending_proxy(self, pendingid: int) -> PendingProxyRecord | None:
        """The started delegation with this id, or None if there is none or it
        has expired."""
        now = self.now()

        def work(connection: Connection) -> PendingProxyRecord | None:
            row = (
                connection.execute(
                    select(pendingproxies).where(pendingproxies.c.id == pendingid, pendingproxies.c.expirytime > now)
                )
                .mappings()
                .first()
            )
            return PendingProxyRecord(**row) if row is not None else None

        return self._read(work)

    def delete_pending_proxy(self, pendingid: int) -> bool:
        """Forget a started delegation (completed or abandoned); False if it
        was already gone."""

        def work(connection: Connection) -> bool:
            return connection.execute(delete(pendingproxies).where(pendingproxies.c.id == pendingid)).rowcount > 0

        return self._write(work)
