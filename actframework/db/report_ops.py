"""What ``actd report`` shows a site: jobs per state, cluster and user.

aCT's ``actreport`` counts the ``arcjobs`` table; a site also wants the
jobs users created that the engine has not taken over yet, and which user
each count belongs to (the DN of the owner's proxy), so both tables are
counted here in one read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from actframework.db._core import StoreCore
from actframework.db.schema import arcjobs, clientjobs, proxies

#: The state shown for jobs the engine has not taken over yet.
NOT_HANDED_OVER = "created"


@dataclass(frozen=True, order=True)
class JobCount:
    """How many of one user's jobs are in one state on one cluster
    (``""``: none yet)."""

    dn: str
    cluster: str
    state: str
    jobs: int


class ReportOps(StoreCore):
    """Counts for the site's report."""

    def job_counts(self) -> list[JobCount]:
        """Jobs per (owner DN, cluster, state), sorted; jobs not yet handed
        over count as :data:`NOT_HANDED_OVER` with no cluster. An owner
        whose proxy row is gone shows as ``proxy <id>``."""

        def work(connection: Connection) -> list[JobCount]:
            owner = func.coalesce(arcjobs.c.proxyid, 0)
            handed = select(owner, arcjobs.c.cluster, arcjobs.c.arcstate, func.count()).group_by(
                owner, arcjobs.c.cluster, arcjobs.c.arcstate
            )
            user = func.coalesce(clientjobs.c.proxyid, 0)
            waiting = select(user, func.count()).where(clientjobs.c.arcjobid.is_(None)).group_by(user)
            dns = {int(row.id): row.dn for row in connection.execute(select(proxies.c.id, proxies.c.dn))}

            def dn(proxyid: int) -> str:
                return str(dns.get(proxyid) or f"proxy {proxyid}")

            counts: Counter[tuple[str, str, str]] = Counter()
            for p, cluster, state, n in connection.execute(handed):  # NULL and '' are both "no cluster"
                counts[(dn(int(p)), cluster or "", str(state))] += int(n)
            for p, n in connection.execute(waiting):
                counts[(dn(int(p)), "", NOT_HANDED_OVER)] += int(n)
            return sorted(JobCount(*key, jobs) for key, jobs in counts.items())

        return self._read(work)
