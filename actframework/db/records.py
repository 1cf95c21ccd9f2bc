"""Immutable records that the job store's operations take and return.

Frozen dataclasses rather than dicts or row objects: callers (the REST server,
the engine) get named, typed fields, cannot accidentally mutate a result that
another part of the program still holds, and never see SQLAlchemy types. The
one exception is :meth:`JobStore.select_jobs`, whose columns the user picks,
which returns plain dicts.

All datetimes are naive and in UTC, as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from actframework.db.schema import ARC_JOB_ATTRIBUTE_NAMES

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
    ``submitting`` (act-spec §A.4).
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


@dataclass(frozen=True)
class ProxyRecord:
    """A delegated proxy (``proxies`` row). ``proxy`` is the full PEM:
    certificate, private key, chain."""

    id: int
    proxy: bytes | None
    expirytime: datetime | None
    proxypath: str | None
    dn: str | None
    attribute: str | None
    proxytype: str | None
    myproxyid: str | None


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
    arcstate: str = "tosubmit"


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
    arcstate: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """What a status check learned about one job. Applied only while the job
    is still in ``expected_arcstate``; ``arcstate`` None keeps the state."""

    arc_id: int
    expected_arcstate: str
    arcstate: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


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
