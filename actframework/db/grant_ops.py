"""Refresh grants of token users (``refreshgrants``): one per ``proxies`` row.

A token user may hand actd an OAuth2 refresh token with the client
credentials it was issued to (``act token --refresh-token-file``); the
engine's refresh cycle uses them to replace the stored access token before
it expires. The row goes with its ``proxies`` row (:mod:`.proxy_ops`
deletes both in one transaction).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, insert, or_, select, update
from sqlalchemy.engine import Connection

from actframework.db._core import StoreCore, naive_utc
from actframework.db.records import CredentialKind, RefreshGrant
from actframework.db.schema import arcjobs, clientjobs, proxies, refreshgrants, stagings


class GrantOps(StoreCore):
    """Storage of token users' refresh grants."""

    def set_refresh_grant(
        self, proxyid: int, refresh_token: str, client_id: str, client_secret: str, token_endpoint: str
    ) -> None:
        """Keep (or replace) the refresh grant of token user ``proxyid``."""
        now = self.now()
        values = {
            "refreshtoken": refresh_token.encode("utf-8"),
            "clientid": client_id,
            "clientsecret": client_secret.encode("utf-8"),
            "tokenendpoint": token_endpoint,
            "modified": now,
            "failedsince": None,
        }

        def work(connection: Connection) -> None:
            found = connection.execute(
                self._locked(select(refreshgrants.c.proxyid).where(refreshgrants.c.proxyid == proxyid))
            ).first()
            if found is None:
                connection.execute(insert(refreshgrants).values(proxyid=proxyid, **values))
            else:
                connection.execute(update(refreshgrants).where(refreshgrants.c.proxyid == proxyid).values(**values))

        self._write(work)

    def get_refresh_grant(self, proxyid: int) -> RefreshGrant | None:
        """The refresh grant of ``proxyid``, or None."""

        def work(connection: Connection) -> RefreshGrant | None:
            row = connection.execute(select(refreshgrants).where(refreshgrants.c.proxyid == proxyid)).mappings().first()
            return RefreshGrant(**row) if row is not None else None

        return self._read(work)

    def refresh_grants_due(self, expiring_before: datetime) -> list[RefreshGrant]:
        """The grants of token users with work left (client or engine jobs,
        staged inputs to remove) whose access token expires before
        ``expiring_before`` (or has expired), earliest expiry first. A user
        without work is not refreshed: their token expires, and the engine's
        clean-up removes it (and the grant) as it does an idle proxy."""

        def work(connection: Connection) -> list[RefreshGrant]:
            owned = [exists().where(table.c.proxyid == proxies.c.id) for table in (clientjobs, arcjobs, stagings)]
            query = (
                select(refreshgrants)
                .join(proxies, proxies.c.id == refreshgrants.c.proxyid)
                .where(
                    proxies.c.proxytype == CredentialKind.TOKEN,
                    proxies.c.expirytime < naive_utc(expiring_before),
                    or_(*owned),
                )
                .order_by(proxies.c.expirytime)
            )
            return [RefreshGrant(**row) for row in connection.execute(query).mappings()]

        return self._read(work)

    def refresh_succeeded(self, proxyid: int, rotated_refresh_token: str | None = None) -> None:
        """Record a successful refresh (with the issuer's new refresh token, if it rotated it)."""
        values: dict[str, object] = {"modified": self.now(), "failedsince": None}
        if rotated_refresh_token:
            values["refreshtoken"] = rotated_refresh_token.encode("utf-8")

        def work(connection: Connection) -> None:
            connection.execute(update(refreshgrants).where(refreshgrants.c.proxyid == proxyid).values(**values))

        self._write(work)

    def refresh_failed(self, proxyid: int) -> bool:
        """Record a failed refresh; True if it is the first failure since the
        last success (the one worth a log line)."""
        now = self.now()

        def work(connection: Connection) -> bool:
            result = connection.execute(
                update(refreshgrants)
                .where(refreshgrants.c.proxyid == proxyid, refreshgrants.c.failedsince.is_(None))
                .values(failedsince=now)
            )
            return result.rowcount > 0

        return self._write(work)
