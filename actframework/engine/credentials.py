"""The life of users' credentials on the CEs, while jobs run and after.

Renewal (:func:`renew_delegations_cycle`, per cluster): jobs on a CE use
their owner's delegation there for as long as the CE acts for them (input
and output staging, reruns). When the owner delegates a fresh proxy to the
server (``act proxy``), or the delegation nears its end
(``delegation_renew_before``), every delegation that the owner's live jobs
on that CE name is renewed with the current proxy: the shared one the
engine records and any other an older submission left on a job. So
outputs that the CE uploads hours later still go out with a valid proxy.
An owner whose proxy has expired cannot renew anything; the status checks
show such jobs an ``Error`` that says to run ``act proxy``.

A token owner's delegation (REST 1.1) cannot be renewed in place (see
:mod:`actframework.engine.ce`): once the owner has a fresher token, the
shared delegation is replaced by a new one, which jobs submitted from then
on name. Older token delegations that jobs name stay as they are.

Clean-up (:func:`forget_credentials_cycle`, once for all clusters): once an
owner has no jobs left (no client job, no engine job, no staged inputs to
remove), their delegation records are deleted (in one transaction with
that check, so a job created a moment later gets a new delegation rather
than one being removed) and then the delegations on the CEs (with the
proxy, while it is valid; an expired proxy cannot authenticate to a CE,
and the CE's copy expired with it). ``expired_proxy_grace`` after its
expiry, such an owner's proxy row and file are removed too: until then an
``act proxy`` keeps the user's identity (the same proxy id in their token).

Both run at most every ``credential_check_interval`` seconds per cluster.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from actframework.db import CredentialKind
from actframework.engine.context import EngineContext
from actframework.errors import ActError, ARCHTTPError

log = logging.getLogger(__name__)


def renew_delegations_cycle(context: EngineContext, cluster: str) -> int:
    """Renew the delegations of live jobs on ``cluster`` whose owners have a
    fresher proxy, or whose delegation nears its end; returns how many
    delegations were renewed."""
    if not context.schedule.due(("renew", cluster), context.settings.credential_check_interval):
        return 0
    store = context.store
    in_use = store.delegation_ids_in_use(cluster)
    context.ce.sweep_replaced(cluster, in_use)
    if not in_use:
        return 0
    shared = {record.proxyid: record for record in store.delegations_on(cluster)}
    renewed = 0
    for proxyid, job_delegations in in_use.items():
        record = shared.get(proxyid)
        if record is None:
            continue  # the next submission or rerun of this owner creates one
        proxy = store.get_proxy(proxyid)
        if proxy is None or proxy.expirytime is None:
            continue
        proxy_expiry = proxy.expirytime.replace(tzinfo=UTC)
        if proxy_expiry <= datetime.now(UTC):
            continue  # nothing to renew with; the status checks tell the owner
        if not context.ce.renewal_due(record.expirytime.replace(tzinfo=UTC), proxy_expiry):
            continue
        # A token delegation can only be replaced, and only the shared one.
        token = proxy.proxytype == CredentialKind.TOKEN
        for delegation_id in [record.delegationid] if token else sorted(job_delegations | {record.delegationid}):
            try:
                context.ce.renew(cluster, proxyid, delegation_id)
                renewed += 1
            except ActError as exc:  # tried again at the next look; the status checks go on
                context.metrics.error(cluster, exc)
                log.warning("%s: delegation %s of proxy %s not renewed yet: %s", cluster, delegation_id, proxyid, exc)
    return renewed


def forget_credentials_cycle(context: EngineContext, _cluster: str = "") -> int:
    """Remove the delegations of owners with no jobs left, and their proxies
    ``expired_proxy_grace`` after expiry; returns how many records went."""
    if not context.schedule.due(("forget", ""), context.settings.credential_check_interval):
        return 0
    store = context.store
    now = datetime.now(UTC)
    grace = timedelta(seconds=context.settings.expired_proxy_grace)
    removed = 0
    for proxy in store.idle_proxies():
        expiry = (proxy.expirytime or datetime.min).replace(tzinfo=UTC)
        for listed in store.delegations_of(proxy.id):
            record = store.forget_idle_delegation(listed.cluster, proxy.id)
            if record is None:
                continue  # the owner has jobs again
            if expiry > now:
                _delete_on_ce(context, record.cluster, proxy.id, record.delegationid)
            context.ce.forget(record.cluster, proxy.id)
            removed += 1
        if expiry < now - grace and store.delete_expired_proxy(proxy.id, (now - grace).replace(tzinfo=None)):
            (context.config.proxies_dir / f"proxiesid{proxy.id}").unlink(missing_ok=True)
            log.info(
                "removed proxy %s (%s): expired %s UTC, no jobs left", proxy.id, proxy.dn, f"{expiry:%Y-%m-%d %H:%M}"
            )
            removed += 1
    return removed


def _delete_on_ce(context: EngineContext, cluster: str, proxyid: int, delegation_id: str) -> None:
    """Delete one delegation on its CE. The record is gone already; if the
    CE cannot be asked now, its copy simply expires with the proxy."""
    try:
        context.ce.client(cluster, proxyid).delete_delegation(delegation_id)
    except ActError as exc:
        if not (isinstance(exc, ARCHTTPError) and exc.status == 404):  # 404: gone already
            log.info("%s: delegation %s of proxy %s left to expire on the CE: %s", cluster, delegation_id, proxyid, exc)
        return
    log.info("%s: deleted delegation %s of proxy %s (no jobs left)", cluster, delegation_id, proxyid)
