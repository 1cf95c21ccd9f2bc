"""``actd check``: is this aCT host healthy? For Nagios, cron and humans.

Each check gives a :class:`Status` with one line of text; the worst status
is the exit code, with the plugin convention that monitoring systems
(Nagios, Icinga, and aCT's own ``actcriticalmonitor`` before them) read:
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The first output line sums up, the
others give each check. Checks that need something an earlier one found
broken (the database for the engine heartbeat) are left out rather than
reported twice.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from actframework.errors import ActError
from actframework.server_config import ServerConfig

if TYPE_CHECKING:  # the job store (SQLAlchemy) is imported only when a check needs it
    from actframework.db import JobStore


class Status(enum.IntEnum):
    """A check's outcome; the value is the monitoring plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class Limits:
    """When an engine counts as gone and a proxy as nearing its end."""

    engine_age: timedelta = timedelta(seconds=60)
    proxy_warning: timedelta = timedelta(hours=24)
    ce_timeout: float = 10.0


def check_database(config: ServerConfig) -> CheckResult:
    from actframework.db.connection import make_engine
    from actframework.db.migrate import check_schema, head_revision

    engine = make_engine(config.database_url)
    try:
        check_schema(engine)
    except ActError as exc:
        return CheckResult("database", Status.CRITICAL, str(exc))
    finally:
        engine.dispose()
    return CheckResult("database", Status.OK, f"reachable, schema at {head_revision()}")


def check_ca_dir(ca_dir: Path) -> CheckResult:
    """The CA directory verifies users' proxies and the CEs: it must hold
    hashed CA certificates (``<hash>.0``, as ``c_rehash`` and the IGTF
    packages lay them out)."""
    directory = Path(ca_dir)
    if not directory.is_dir():
        return CheckResult("ca_dir", Status.CRITICAL, f"{directory} is not a directory")
    hashed = [path for path in directory.iterdir() if path.suffix.lstrip(".").isdigit()]
    if not hashed:
        return CheckResult("ca_dir", Status.CRITICAL, f"{directory} holds no hashed CA certificates (<hash>.0)")
    return CheckResult("ca_dir", Status.OK, f"{directory}: {len(hashed)} hashed CA certificate(s)")


def check_engines(store: JobStore, limits: Limits) -> CheckResult:
    beats = store.engine_beats()
    now = store.now()
    if not beats:
        return CheckResult("engine", Status.CRITICAL, "no engine is running (none has a heartbeat)")
    alive = [beat for beat in beats if now - beat.seen <= limits.engine_age]
    if not alive:
        age = int((now - beats[0].seen).total_seconds())
        return CheckResult("engine", Status.CRITICAL, f"no engine seen for {age} s (last: {beats[0].owner})")
    return CheckResult("engine", Status.OK, f"{len(alive)} engine(s) alive: {', '.join(b.owner for b in alive)}")


def check_proxies(store: JobStore, limits: Limits) -> CheckResult:
    now = store.now()
    expiring = store.expiring_proxies(now + limits.proxy_warning)
    if not expiring:
        return CheckResult("proxies", Status.OK, "no proxy of a user with jobs expires soon")
    # The store lists only proxies with an expiry time before the limit.
    expired = [record.dn or "" for record in expiring if record.expirytime is None or record.expirytime <= now]
    soon = [record.dn or "" for record in expiring if record.expirytime is not None and record.expirytime > now]
    parts = []
    if expired:
        parts.append(f"{len(expired)} expired (their jobs wait): {', '.join(expired)}")
    if soon:
        parts.append(f"{len(soon)} expire within {_duration(limits.proxy_warning)}: {', '.join(soon)}")
    return CheckResult("proxies", Status.WARNING, "; ".join(parts))


def check_clusters(config: ServerConfig, limits: Limits) -> list[CheckResult]:
    """Each configured CE answers over verified TLS (any HTTP answer will do:
    the check has no user's credentials)."""
    from actframework.arc import ARCRest
    from actframework.errors import ARCHTTPError
    from actframework.http import RetryPolicy

    results = []
    for cluster in config.clusters:
        try:
            with ARCRest.connect(
                cluster,
                ca_dir=config.ca_dir,
                timeout=(limits.ce_timeout, limits.ce_timeout),
                retry=RetryPolicy(attempts=1),
            ) as rest:
                results.append(CheckResult(f"ce {cluster}", Status.OK, f"REST {rest.version}"))
        except ARCHTTPError as exc:
            results.append(CheckResult(f"ce {cluster}", Status.OK, f"answers (HTTP {exc.status})"))
        except ActError as exc:
            results.append(CheckResult(f"ce {cluster}", Status.WARNING, f"unreachable: {exc}"))
    if results and all(result.status is not Status.OK for result in results):
        results = [CheckResult(r.name, Status.CRITICAL, r.message) for r in results]
    return results


def run_checks(
    config: ServerConfig, limits: Limits, open_store: Callable[[ServerConfig], JobStore]
) -> list[CheckResult]:
    """Every check, in order; the store's checks only once the database is fine."""
    results = [check_database(config), check_ca_dir(config.ca_dir)]
    if results[0].status is Status.OK:
        store = open_store(config)
        try:
            results += [check_engines(store, limits), check_proxies(store, limits)]
        finally:
            store.close()
    results += check_clusters(config, limits)
    return results


def summary(results: Sequence[CheckResult]) -> tuple[Status, str]:
    """The worst status and the report: a summary line, then one per check."""
    worst = max((result.status for result in results), default=Status.UNKNOWN)
    bad = [f"{result.name}: {result.message}" for result in results if result.status is worst]
    head = f"ACTD {worst.name} - " + ("; ".join(bad) if worst is not Status.OK else f"{len(results)} checks passed")
    lines = [head, *(f"[{result.status.name}] {result.name}: {result.message}" for result in results)]
    return worst, "\n".join(lines) + "\n"


def _duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h"
