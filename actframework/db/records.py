"""Immutable records that the job store's operations take and return.

Frozen dataclasses rather than dicts or row objects: callers (the REST server,
the engine) get named, typed fields, cannot accidentally mutate a result that
another part of the program still holds, and never see SQLAlchemy types. The
one exception is :meth:`JobStore.select_jobs`, whose columns the user picks,
which returns plain dicts.

All datetimes are naive and in UTC, as stored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from actframework.db.schema import ARC_JOB_ATTRIBUTE_NAMES
from actframework.jobstates import ArcState

# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class Confirmation:
    """Final description of one client job (PUT /jobs): ``jobdesc`` is the
    xRSL the engine will submit, ``jobname`` its ``jobName`` (may be None)."""

    id: int
    jobname: str | None
    jobdesc: str


@dataclass(frozen=True)
class CancelOutcome:
    """One job selected by :meth:`JobStore.cancel_jobs`.

    ``arc_id``/``arcstate_before`` are None for a job the engine had not taken
    over yet. ``removed`` is True when the job's uploaded input files are no
    longer needed and the server should delete them: the job's rows were
    deleted (not yet handed over, or still ``tosubmit``) or it was caught in
    ``submitting``.
    """

    client_id: int
    arc_id: int | None
    arcstate_before: str | None
    removed: bool


@dataclass(frozen=True)
class CleanOutcome:
    """One job cleaned by :meth:`JobStore.clean_jobs`. ``ce_id`` is the job's
    ARC id (``IDFromEndpoint``), the name of its results directory, or None
    if it never reached a CE."""

    client_id: int
    arc_id: int
    arcstate_before: str
    ce_id: str | None


class CredentialKind(enum.StrEnum):
    """What a ``proxies`` row holds (its ``proxytype``): the owner's
    credential, by which the engine acts for them on CEs. The row id is
    the owner of jobs either way, so isolation is the same for both."""

    PROXY = "local"
    """An X.509 proxy delegated with ``act proxy`` (aCT's value)."""
    TOKEN = "token"
    """A bearer token (JWT) handed over with ``act token``; ``dn`` is the
    token identity ``<issuer>#<subject>``, ``attribute`` is empty."""


@dataclass(frozen=True)
class ProxyRecord:
    """A delegated credential (``proxies`` row). ``proxy`` is the full PEM
    (certificate, private key, chain) of a proxy, or the UTF-8 JWT of a
    token; ``proxytype`` says which (:class:`CredentialKind`)."""

    id: int
    proxy: bytes | None
    expirytime: datetime | None
    proxypath: str | None
    dn: str | None
    attribute: str | None
    proxytype: str | None
    myproxyid: str | None


@dataclass(frozen=True)
class RefreshGrant:
    """A token user's OAuth2 refresh grant (``refreshgrants`` row): what the
    engine needs to get the user a fresh access token at their issuer.
    ``refreshtoken`` and ``clientsecret`` are secrets (never logged)."""

    proxyid: int
    refreshtoken: bytes = field(repr=False)
    clientid: str
    clientsecret: bytes = field(repr=False)
    tokenendpoint: str
    modified: datetime
    failedsince: datetime | None


@dataclass(frozen=True)
class PendingProxyRecord:
    """A started delegation (``pendingproxies`` row): the private key whose
    CSR step 1 sent, for the identity that asked, valid until ``expirytime``.
    ``privatekey`` is a secret and stays out of ``repr``."""

    id: int
    dn: str
    attribute: str
    privatekey: bytes = field(repr=False)
    expirytime: datetime


# --------------------------------------------------------------------------- handover


@dataclass(frozen=True)
class ClientJobRow:
    """A confirmed client job as handover passes it to ``prepare``."""

    id: int
    jobname: str | None
    jobdesc: str
    clusterlist: str
    proxyid: int
    created: datetime | None

    @property
    def clusters(self) -> tuple[str, ...]:
        return split_clusterlist(self.clusterlist)


@dataclass(frozen=True)
class ArcJobDefaults:
    """Engine-derived fields of a new ``arcjobs`` row.

    The store does not parse job descriptions; the engine's ``prepare``
    callback does and returns these. ``arcstate`` may be ``cancelled`` to hand
    over a job whose description the engine cannot use: the user then sees it
    as cancelled instead of it blocking every later handover.
    """

    priority: int = 50
    downloadfiles: str = "/"
    attemptsleft: int = 0
    fairshare: str = ""
    arcstate: ArcState = ArcState.TOSUBMIT


@dataclass(frozen=True)
class HandoverResult:
    """A client job and the ``arcjobs`` row it was handed over as."""

    client_id: int
    arc_id: int


# --------------------------------------------------------------------------- engine side


@dataclass(frozen=True)
class ArcJob:
    """One ``arcjobs`` row as the engine works with it.

    The engine's own columns are fields; the 53 ARC ``Job`` attribute columns
    (``JobID``, ``IDFromEndpoint``, ``State``, ...) are in the read-only
    mapping ``attributes``, keyed by their column names.
    """

    id: int
    modified: datetime | None
    created: datetime | None
    arcstate: str
    tarcstate: datetime | None
    tstate: datetime | None
    cluster: str | None
    clusterlist: str | None
    jobdesc: int | None
    attemptsleft: int | None
    downloadfiles: str | None
    proxyid: int | None
    appjobid: str | None
    priority: int | None
    fairshare: str | None
    claimedby: str | None
    claimeduntil: datetime | None
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    submissiontoken: str | None = None
    """Token of the submission in flight (see :meth:`submission_name`)."""
    refusedsince: datetime | None = None
    """When a cluster first refused this job, if none accepted it since."""
    missingsince: datetime | None = None
    """When its CE's job list first lacked this job, if it still does."""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ArcJob:
        """Build from a full ``arcjobs`` row mapping (column name → value)."""
        return cls(
            id=row["id"],
            modified=row["modified"],
            created=row["created"],
            arcstate=row["arcstate"],
            tarcstate=row["tarcstate"],
            tstate=row["tstate"],
            cluster=row["cluster"],
            clusterlist=row["clusterlist"],
            jobdesc=row["jobdesc"],
            attemptsleft=row["attemptsleft"],
            downloadfiles=row["downloadfiles"],
            proxyid=row["proxyid"],
            appjobid=row["appjobid"],
            priority=row["priority"],
            fairshare=row["fairshare"],
            claimedby=row["claimedby"],
            claimeduntil=row["claimeduntil"],
            submissiontoken=row.get("submissiontoken"),
            refusedsince=row.get("refusedsince"),
            missingsince=row.get("missingsince"),
            attributes=MappingProxyType({name: row[name] for name in ARC_JOB_ATTRIBUTE_NAMES}),
        )

    @property
    def clusters(self) -> tuple[str, ...]:
        return split_clusterlist(self.clusterlist or "")

    @property
    def client_id(self) -> int | None:
        """The user's job id (``appjobid`` of a client job), if it is one."""
        try:
            return int(self.appjobid or "")
        except ValueError:
            return None

    @property
    def ce_id(self) -> str | None:
        """The job's id on its CE (``IDFromEndpoint``), once it has one."""
        return self.attributes.get("IDFromEndpoint") or None


@dataclass(frozen=True)
class WaitingGroup:
    """``tosubmit`` jobs of one owner and fair-share label that may go to a
    cluster: how many, and the id of the oldest (ids only grow)."""

    waiting: int
    oldest: int


@dataclass(frozen=True)
class DelegationRecord:
    """The delegation of one user proxy on one CE (``delegations`` row)."""

    cluster: str
    proxyid: int
    delegationid: str
    expirytime: datetime


@dataclass(frozen=True)
class SubmissionRecord:
    """Outcome of submitting one job: its new ``arcstate`` and the ARC
    columns to store (``IDFromEndpoint``, ``JobID``, ``DelegationID``,
    ``State``, ``cluster``...)."""

    arc_id: int
    arcstate: ArcState
    fields: Mapping[str, Any] = field(default_factory=dict)


class Unchanged(enum.Enum):
    """Marks a column an update leaves as it is, where None would clear it."""

    UNCHANGED = enum.auto()


#: See :class:`Unchanged`.
UNCHANGED: Final = Unchanged.UNCHANGED


@dataclass(frozen=True)
class CEReport:
    """What a CE reported about one job, as the status checker keeps it.

    A typed record instead of a dict of column names: the engine fills in
    what the CE said (already adjusted by aCT's rules: ``state`` is aCT's
    ``State``, used times are per job and plausible), and :meth:`columns`,
    the one place that knows the ``arcjobs`` column of each field, maps it
    for the store. None means the CE did not report it: the column keeps
    its value.
    """

    state: str | None = None
    """aCT's ``State`` (:class:`~actframework.arc.states.DisplayState`)."""
    restart_state: str | None = None
    """aCT's ``State`` name of the CE state the job failed in."""
    exit_code: int | None = None
    execution_node: str | None = None
    """The worker nodes, comma-separated."""
    job_type: str | None = None
    local_id: str | None = None
    """The batch system's id of the job."""
    waiting_position: int | None = None
    owner: str | None = None
    local_owner: str | None = None
    queue: str | None = None
    requested_cpu_time: int | None = None
    requested_wall_time: int | None = None
    requested_slots: int | None = None
    used_cpu_time: int | None = None
    used_wall_time: int | None = None
    used_memory: int | None = None
    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    log_dir: str | None = None
    submission_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    working_area_erase_time: datetime | None = None
    proxy_expiration_time: datetime | None = None

    def columns(self) -> dict[str, Any]:
        """The ``arcjobs`` columns (ARC ``Job`` attribute names) this report
        writes: every field the CE reported."""
        values: dict[str, Any] = {
            "State": self.state,
            "RestartState": self.restart_state,
            "ExitCode": self.exit_code,
            "ExecutionNode": self.execution_node,
            "Type": self.job_type,
            "LocalIDFromManager": self.local_id,
            "WaitingPosition": self.waiting_position,
            "Owner": self.owner,
            "LocalOwner": self.local_owner,
            "Queue": self.queue,
            "RequestedTotalCPUTime": self.requested_cpu_time,
            "RequestedTotalWallTime": self.requested_wall_time,
            "RequestedSlots": self.requested_slots,
            "UsedTotalCPUTime": self.used_cpu_time,
            "UsedTotalWallTime": self.used_wall_time,
            "UsedMainMemory": self.used_memory,
            "StdIn": self.stdin,
            "StdOut": self.stdout,
            "StdErr": self.stderr,
            "LogDir": self.log_dir,
            "SubmissionTime": self.submission_time,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "WorkingAreaEraseTime": self.working_area_erase_time,
            "ProxyExpirationTime": self.proxy_expiration_time,
        }
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class StatusUpdate:
    """What a status check learned about one job. Applied only while the job
    is still in ``expected_arcstate``; ``arcstate`` None keeps the state.

    ``report`` is what the CE said. ``error`` is the ``Error`` to show (None
    clears it; :data:`UNCHANGED` keeps it: the status checker decides, as
    a cancelled job keeps why it was cancelled). ``attemptsleft`` None keeps
    the count; ``missingsince`` starts, keeps or (None) stops the clock of a
    job its CE no longer lists.
    """

    arc_id: int
    expected_arcstate: str
    arcstate: ArcState | None = None
    report: CEReport = CEReport()
    error: str | Unchanged | None = UNCHANGED
    attemptsleft: int | None = None
    missingsince: datetime | Unchanged | None = UNCHANGED

    def columns(self) -> dict[str, Any]:
        """The ``arcjobs`` columns to write (besides ``arcstate`` and what
        every engine write stamps)."""
        values = self.report.columns()
        if not isinstance(self.error, Unchanged):
            values["Error"] = self.error
        if self.attemptsleft is not None:
            values["attemptsleft"] = self.attemptsleft
        if not isinstance(self.missingsince, Unchanged):
            values["missingsince"] = self.missingsince
        return values


def split_clusterlist(clusterlist: str) -> tuple[str, ...]:
    """The cluster URLs of a comma-joined ``clusterlist`` column."""
    return tuple(part for part in clusterlist.split(",") if part)


@dataclass(frozen=True)
class StagingRecord:
    """Where a job's inputs were staged outside the aCT host (``stagings`` row)."""

    id: int
    clientjobid: int
    proxyid: int
    backend: str
    url: str
    created: datetime
    attempts: int
