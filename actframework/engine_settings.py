"""The engine's settings: the ``engine:`` section of the actd configuration.

A configuration module beside :mod:`actframework.server_config`, which
holds it, rather than a part of the engine: reading the host's
configuration (as ``actd serve`` does) loads nothing of the engine.

aCT hard-codes most of its timeouts; here each one is a key
with aCT's value as the default, so a site can change them without patching.
The other defaults are chosen for a responsive single host; the comments of
:data:`ENGINE_CONFIG_TEMPLATE` say what each key trades off.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from actframework.arc.states import REST_TO_STATE
from actframework.clusters import normalise_cluster_url
from actframework.config import ConfigSection, normalise_listen
from actframework.errors import ConfigError

#: The ``State`` names a ``max_state_time`` may name (aCT's ``maxtime<state>``
#: keys are these, lower-cased).
STATE_NAMES: frozenset[str] = frozenset(state.lower() for state in REST_TO_STATE.values())


@dataclass(frozen=True)
class Timeouts:
    """How long a job may wait in a state before the engine gives up on it
    (seconds; aCT's hard-coded values by default)."""

    tosubmit: int = 3600
    """A job that clusters refused (or handed back), and that none accepted
    for this long since the first refusal, is cancelled. Jobs that only
    wait for a free slot never time out here (see ``max_queue_time``)."""
    tocancel: int = 3600
    """A kill that cannot reach the CE: the job is marked cancelled anyway."""
    cancelling: int = 3600
    """A kill the CE accepted but never finished: marked cancelled."""
    toresubmit: int = 3600
    """A resubmission that cannot clean the old CE job: the job fails."""
    torerun: int = 3600
    """A rerun the CE does not accept: the job fails."""
    tofetch: int = 3600
    """Outputs of a failed job that cannot be fetched: donefailed."""
    finished: int = 86400
    """Outputs of a finished job that cannot be fetched: donefailed."""
    toclean: int = 3600
    """A clean the CE does not accept: the rows are deleted anyway."""
    lost: int = 172800
    """No successful status check for this long: the job is lost."""
    missing: int = 604800
    """Missing from its CE's job list for this long (while its own status
    checks still answer): the job is cancelled (aCT: 7 days)."""

    def of(self, name: str) -> timedelta:
        return timedelta(seconds=getattr(self, name))


class ClusterAuth(enum.StrEnum):
    """How the engine authenticates to a CE (``sites.<name>.auth``)."""

    AUTO = "auto"
    """With whatever the job's owner has: their proxy or their token."""
    X509 = "x509"
    """Only with X.509 proxies: jobs of token owners are refused."""
    TOKEN = "token"
    """Only with bearer tokens: jobs of proxy owners are refused."""


@dataclass(frozen=True)
class Site:
    """Limits for one CE (aCT's ``sites.<name>``)."""

    endpoint: str
    """The cluster URL, normalised as job cluster lists are."""
    maxjobs: int = 999999
    """Most jobs this engine keeps on the CE unfinished (submitting, queued, running, finishing, being killed)."""
    offline: bool = False
    """Submit nothing to the CE (jobs already there are still followed)."""
    queue_fraction: float | None = None
    """Throttle: submit only while queued jobs are fewer than
    ``queue_fraction`` × running jobs + ``queue_offset``."""
    queue_offset: int = 100
    auth: ClusterAuth = ClusterAuth.AUTO
    """Which owners' credentials the engine may use on the CE."""
    token_audience: str = ""
    """What a token owner's token must name in its ``aud`` for this CE;
    empty: the CE's service URL, ``https://<host>:<port>/arex``."""


@dataclass(frozen=True)
class EngineSettings:
    """Everything ``actd engine`` reads from the ``engine:`` section."""

    poll_interval: float = 1.0
    """Seconds an idle worker waits before looking for new work again."""
    check_interval: int = 5
    """Seconds between two status checks of one job (aCT's jobs.checkinterval)."""
    submit_batch: int = 100
    """Jobs per bulk submission (aCT: 100)."""
    submit_batches_at_once: int = 2
    """Bulk submissions one cycle sends to one CE at the same time: while the
    CE works on one POST, the next is already on its way."""
    status_batch: int = 10000
    """Most jobs one status cycle checks (sent to the CE in chunks under its body limit)."""
    status_chunk: int = 1000
    """Jobs per bulk info call of a status cycle. Two calls are in flight at
    once while the engine records the chunk before, so its own work overlaps
    the CE's instead of following one call for every job."""
    fetch_batch: int = 100
    """Most jobs one cycle fetches outputs of (aCT: 100)."""
    clean_batch: int = 100
    """Most jobs one cycle cleans (aCT: 100)."""
    cancel_batch: int = 1000
    """Most jobs one cycle kills, resubmits or reruns."""
    transfer_workers: int = 10
    """Parallel uploads into, and downloads from, CE sessions."""
    ce_timeout: float = 60.0
    """Seconds a CE may take to answer one request (aCT's rest.timeout)."""
    lease: int = 600
    """Seconds a claimed job stays reserved for the process working on it;
    after a crash, other processes take it over after this long."""
    delegation_renew_before: int = 3 * 3600
    """Renew a CE delegation when it has less than this left."""
    credential_check_interval: int = 60
    """Seconds between two looks at whether running jobs' delegations need
    renewing (a user delegated a fresh proxy) and whether idle users'
    credentials can go."""
    resubmit_errors: tuple[str, ...] = ()
    """Substrings of CE errors after which a failed job is resubmitted from
    scratch (aCT's errors.toresubmit.arcerrors)."""
    resubmit_attempts: int = 3
    """How often one job is resubmitted on such errors."""
    max_state_times: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Seconds a job may keep one CE ``State`` (lower-case name) before it is
    cancelled (aCT's jobs.maxtime<state>)."""
    sites: tuple[Site, ...] = ()
    timeouts: Timeouts = Timeouts()
    max_queue_time: int = 0
    """Seconds a job may wait in ``tosubmit`` since it was created before it
    is cancelled, refused or not; 0 (the default): jobs wait for a slot as
    long as it takes."""
    expired_proxy_grace: int = 7 * 86400
    """Seconds after its expiry that the proxy of a user with no jobs left is
    kept (so that ``act proxy`` keeps the user's identity); then the proxy
    and its records are removed."""
    token_refresh_interval: int = 60
    """Seconds between two looks for token users' access tokens to refresh
    (with the refresh grant ``act token --refresh-token-file`` handed over);
    a refresh that failed is tried again at the next look."""
    token_refresh_before: int = 600
    """Refresh an access token when it has less than this many seconds left."""
    metrics_listen: str = ""
    """HOST:PORT of the Prometheus endpoint; empty: none."""

    def site(self, cluster: str) -> Site:
        """The limits of ``cluster`` (defaults for a CE without a ``sites`` entry)."""
        for site in self.sites:
            if site.endpoint == cluster:
                return site
        return Site(endpoint=cluster)

    @classmethod
    def from_section(cls, section: ConfigSection) -> EngineSettings:
        """Read the ``engine:`` mapping (every key optional)."""
        timeouts_section = section.section("timeouts")
        timeouts = Timeouts(
            **{
                name: timeouts_section.integer(name, default=getattr(Timeouts, name), minimum=1)
                for name in Timeouts.__dataclass_fields__
            }
        )
        max_times_section = section.section("max_state_times")
        max_times: dict[str, int] = {}
        for key in max_times_section.keys():
            name = key.lower()
            if name not in STATE_NAMES:
                raise ConfigError(
                    f"{max_times_section.where}: {key!r} is not a job State (one of {', '.join(sorted(STATE_NAMES))})"
                )
            max_times[name] = max_times_section.integer(key, default=0, minimum=1)
        sites_section = section.section("sites")
        sites: list[Site] = []
        for key in sites_section.keys():
            site = sites_section.section(key)
            endpoint = site.string("endpoint", required=True)
            normalised = normalise_cluster_url(endpoint)
            if normalised is None:
                raise ConfigError(f"{site.where}: endpoint {endpoint!r} is not an https://host[:port]/queue URL")
            status = site.choice("status", ("online", "offline"), default="online")
            fraction = site.number("queue_fraction", default=-1.0, minimum=-1.0)
            sites.append(
                Site(
                    endpoint=normalised,
                    maxjobs=site.integer("maxjobs", default=Site.maxjobs, minimum=0),
                    offline=status == "offline",
                    queue_fraction=fraction if fraction >= 0 else None,
                    queue_offset=site.integer("queue_offset", default=Site.queue_offset, minimum=0),
                    auth=ClusterAuth(site.choice("auth", tuple(ClusterAuth), default=ClusterAuth.AUTO)),
                    token_audience=site.string("token_audience"),
                )
            )
            site.reject_unknown()
        settings = cls(
            poll_interval=section.number("poll_interval", default=cls.poll_interval, minimum=0.05),
            check_interval=section.integer("check_interval", default=cls.check_interval, minimum=0),
            submit_batch=section.integer("submit_batch", default=cls.submit_batch, minimum=1),
            submit_batches_at_once=section.integer(
                "submit_batches_at_once", default=cls.submit_batches_at_once, minimum=1
            ),
            status_batch=section.integer("status_batch", default=cls.status_batch, minimum=1),
            status_chunk=section.integer("status_chunk", default=cls.status_chunk, minimum=1),
            fetch_batch=section.integer("fetch_batch", default=cls.fetch_batch, minimum=1),
            clean_batch=section.integer("clean_batch", default=cls.clean_batch, minimum=1),
            cancel_batch=section.integer("cancel_batch", default=cls.cancel_batch, minimum=1),
            transfer_workers=section.integer("transfer_workers", default=cls.transfer_workers, minimum=1),
            ce_timeout=section.number("ce_timeout", default=cls.ce_timeout, minimum=1.0),
            lease=section.integer("lease", default=cls.lease, minimum=10),
            delegation_renew_before=section.integer(
                "delegation_renew_before", default=cls.delegation_renew_before, minimum=60
            ),
            credential_check_interval=section.integer(
                "credential_check_interval", default=cls.credential_check_interval, minimum=0
            ),
            resubmit_errors=tuple(section.string_list("resubmit_errors")),
            resubmit_attempts=section.integer("resubmit_attempts", default=cls.resubmit_attempts, minimum=0),
            max_state_times=MappingProxyType(max_times),
            sites=tuple(sites),
            timeouts=timeouts,
            max_queue_time=section.integer("max_queue_time", default=cls.max_queue_time, minimum=0),
            expired_proxy_grace=section.integer("expired_proxy_grace", default=cls.expired_proxy_grace, minimum=0),
            token_refresh_interval=section.integer(
                "token_refresh_interval", default=cls.token_refresh_interval, minimum=1
            ),
            token_refresh_before=section.integer("token_refresh_before", default=cls.token_refresh_before, minimum=0),
            metrics_listen=section.string("metrics_listen"),
        )
        for sub in (section, timeouts_section, max_times_section, sites_section):
            sub.reject_unknown()
        if settings.metrics_listen:
            normalise_listen(settings.metrics_listen)
        return settings


ENGINE_CONFIG_TEMPLATE = """\
# The engine (actd engine): hands jobs over, submits them to the clusters,
# follows them, fetches their outputs and cleans up. Every key is optional.
engine:
  # Seconds an idle engine waits before looking for new work again: the
  # delay a new job, kill or clean may see before the engine acts on it.
  poll_interval: 1.0
  # Seconds between two status checks of one job on its CE. Lower finds
  # finished jobs sooner; higher spares big CEs (aCT: jobs.checkinterval).
  check_interval: 5
  # Jobs per bulk submission (aCT: 100).
  submit_batch: 100
  # Bulk submissions a cycle sends to one CE at once (each of submit_batch
  # jobs): the CE works on one while the next is on its way.
  submit_batches_at_once: 2
  # Most jobs one status cycle checks (sent to the CE in chunks it accepts).
  status_batch: 10000
  # Jobs per bulk info call of a status cycle (two calls in flight at once).
  status_chunk: 1000
  # Most jobs one cycle fetches outputs of (aCT: 100).
  fetch_batch: 100
  # Most jobs one cycle cleans (aCT: 100).
  clean_batch: 100
  # Most jobs one cycle kills, resubmits or reruns.
  cancel_batch: 1000
  # Parallel file transfers into and out of CE sessions.
  transfer_workers: 10
  # Seconds a CE may take to answer one request.
  ce_timeout: 60
  # Seconds a job claimed by an engine process stays reserved for it; jobs of
  # a process that died are taken over after this (at once on the same host).
  lease: 600
  # Renew a user's delegation on a CE when less than this many seconds are left.
  delegation_renew_before: 10800
  # Seconds between two looks at users' credentials: the delegations of
  # running jobs are renewed once their owner delegated a fresh proxy, and
  # those of users with no jobs left are removed.
  credential_check_interval: 60
  # Failed jobs whose CE error contains one of these are resubmitted from
  # scratch (aCT: errors.toresubmit.arcerrors) ...
  resubmit_errors: []
  # ... at most this many times per job.
  resubmit_attempts: 3
  # Cancel jobs that keep one CE State longer than this many seconds
  # (aCT: jobs.maxtime<state>), e.g.  running: 604800
  max_state_times: {{}}
  # Per-CE limits (aCT: sites), e.g.
  #   mysite:
  #     endpoint: https://ce.example.org/batch
  #     maxjobs: 5000          # jobs on the CE not finished yet
  #     status: online         # offline: submit nothing there
  #     queue_fraction: 0.5    # submit while queued < 0.5 x running + queue_offset
  #     queue_offset: 100
  #     auth: auto             # x509 or token: only owners with a proxy, or a token
  #     token_audience: ""     # what tokens' aud must hold (default: https://<host>:<port>/arex)
  sites: {{}}
  # Cancel jobs still waiting to be submitted this many seconds after they
  # were created, refused or not; 0: jobs wait for a free slot for as long
  # as it takes (site limits, maxjobs, an offline site).
  max_queue_time: 0
  # Keep the expired proxy of a user who has no jobs left this many seconds
  # (a new act proxy keeps the same identity), then remove it and its
  # delegations.
  expired_proxy_grace: 604800
  # Token users who handed over a refresh grant (act token
  # --refresh-token-file): every this many seconds the engine looks for
  # access tokens of users with jobs that expire soon and gets fresh ones at
  # their issuer's token endpoint. A refresh that fails is logged once and
  # tried again at each look; meanwhile the user's jobs wait as for an
  # expired proxy.
  token_refresh_interval: 60
  # "Soon": an access token is refreshed when it has less than this many
  # seconds left.
  token_refresh_before: 600
  # Seconds before the engine gives up on a job in a state (aCT's values).
  timeouts:
    # Refused (or handed back) by clusters and accepted by none for this
    # long since the first refusal: cancelled. Waiting for a slot is not
    # refusal and never times out here.
    tosubmit: 3600
    # The kill could not reach the CE: cancelled anyway.
    tocancel: 3600
    # The CE accepted the kill but the job did not end: cancelled.
    cancelling: 3600
    # The resubmission could not clean the old CE job: failed.
    toresubmit: 3600
    # The CE did not accept the rerun: failed.
    torerun: 3600
    # Outputs of a failed job could not be fetched: donefailed.
    tofetch: 3600
    # Outputs of a finished job could not be fetched: donefailed.
    finished: 86400
    # The CE did not accept the clean: the job is removed anyway.
    toclean: 3600
    # No successful status check for this long: lost.
    lost: 172800
    # Missing from the CE's job list for this long: cancelled.
    missing: 604800
  # HOST:PORT for Prometheus metrics (jobs per state and cluster, cycle
  # durations, CE errors); empty for none.
  metrics_listen: ""
"""
