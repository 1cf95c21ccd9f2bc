"""The tables of the job store, as SQLAlchemy Core metadata.

This module is the *current* shape of the schema. The Alembic migrations in
``migrations/versions`` are the frozen history that builds it; a test compares
the two after an upgrade so they cannot drift apart.

Table and column names follow aCT because they are part of the
user-facing API: ``GET /info`` lists them and ``act stat --arc/--client``
selects them by name. ``arcjobs`` carries the fixed list of ARC ``Job``
attribute columns (:data:`ARC_JOB_ATTRIBUTES`) in aCT's order and spelling.

Portability decisions, one per database quirk:

* every time is a naive UTC ``DateTime``; MySQL/MariaDB get ``DATETIME(6)`` so
  sub-second ordering (claims, leases) survives a round trip;
* long texts (job descriptions) and proxies are ``MEDIUMTEXT``/``MEDIUMBLOB``
  on MySQL/MariaDB, where plain ``TEXT``/``BLOB`` stop at 64 KiB;
* text that is matched with ``LIKE`` or compared for identity (job names,
  cluster URLs) uses the binary ``utf8mb4_bin`` collation on MySQL/MariaDB so
  matching is case-sensitive there as it is on PostgreSQL and on SQLite (where
  :mod:`actframework.db.connection` turns on ``case_sensitive_like``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

#: Deterministic constraint and index names, identical on every database, so a
#: later migration can drop or alter them by name.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_MYSQL = ("mysql", "mariadb")
# sqlite_autoincrement: SQLite otherwise hands out the highest id again once
# its row is deleted; ids name files (inputs/<id>/), tokens (proxyid) and
# records (stagings) that outlive their rows, so no id may ever come back.
_TABLE_OPTIONS: Final[dict[str, Any]] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "sqlite_autoincrement": True,
}

#: Longest job name the ``clientjobs.jobname`` column holds.
JOBNAME_MAX_LENGTH: Final = 255
#: Longest comma-joined cluster list ``clusterlist`` holds.
CLUSTERLIST_MAX_LENGTH: Final = 1024


def utc_datetime() -> TypeEngine[Any]:
    """Naive UTC timestamp with microseconds on every database."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def long_text() -> TypeEngine[Any]:
    """Text that can hold a large job description (MEDIUMTEXT on MySQL)."""
    return Text().with_variant(mysql.MEDIUMTEXT(), *_MYSQL)


def long_binary() -> TypeEngine[Any]:
    """Bytes of a full proxy chain (MEDIUMBLOB on MySQL, where BLOB stops at
    64 KiB)."""
    return LargeBinary().with_variant(mysql.MEDIUMBLOB(), *_MYSQL)


def binary_string(length: int) -> TypeEngine[Any]:
    """VARCHAR that compares case-sensitively on MySQL/MariaDB too."""
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), *_MYSQL)


# --------------------------------------------------------------------------- ARC columns

ArcAttributeKind = Literal["int", "period", "time", "list", "str"]

#: The public attributes of the ARC ``Job`` class as aCT stores them, for
#: ARC >= 4.1: name and kind, in aCT's (alphabetical) column
#: order. Kinds map ARC types: ``int`` → integer; ``period`` → integer seconds;
#: ``time`` → UTC datetime; ``list`` (StringList, StringStringMap) → text up
#: to 1024 characters; ``str`` (string, URL, JobState) → text up to 255.
ARC_JOB_ATTRIBUTES: Final[tuple[tuple[str, ArcAttributeKind], ...]] = (
    ("ActivityOldID", "list"),
    ("ComputingManagerEndTime", "time"),
    ("ComputingManagerExitCode", "int"),
    ("ComputingManagerSubmissionTime", "time"),
    ("CreationTime", "time"),
    ("DelegationID", "list"),
    ("EndTime", "time"),
    ("Error", "list"),
    ("ExecutionNode", "list"),
    ("ExitCode", "int"),
    ("IDFromEndpoint", "str"),
    ("JobDescription", "str"),
    ("JobID", "str"),
    ("JobManagementInterfaceName", "str"),
    ("JobManagementURL", "str"),
    ("JobStatusInterfaceName", "str"),
    ("JobStatusURL", "str"),
    ("LocalIDFromManager", "str"),
    ("LocalInputFiles", "list"),
    ("LocalOwner", "str"),
    ("LocalSubmissionTime", "time"),
    ("LogDir", "str"),
    ("Name", "str"),
    ("OtherMessages", "list"),
    ("Owner", "str"),
    ("ProxyExpirationTime", "time"),
    ("Queue", "str"),
    ("RequestedApplicationEnvironment", "list"),
    ("RequestedSlots", "int"),
    ("RequestedTotalCPUTime", "period"),
    ("RequestedTotalWallTime", "period"),
    ("RestartState", "str"),
    ("ServiceInformationInterfaceName", "str"),
    ("ServiceInformationURL", "str"),
    ("SessionDir", "str"),
    ("StageInDir", "str"),
    ("StageOutDir", "str"),
    ("StartTime", "time"),
    ("State", "str"),
    ("StdErr", "str"),
    ("StdIn", "str"),
    ("StdOut", "str"),
    ("SubmissionClientName", "str"),
    ("SubmissionHost", "str"),
    ("SubmissionTime", "time"),
    ("Type", "str"),
    ("UsedMainMemory", "int"),
    ("UsedTotalCPUTime", "period"),
    ("UsedTotalWallTime", "period"),
    ("UserDomain", "str"),
    ("Validity", "time"),
    ("WaitingPosition", "int"),
    ("WorkingAreaEraseTime", "time"),
)

#: Just the names of :data:`ARC_JOB_ATTRIBUTES`, in column order.
ARC_JOB_ATTRIBUTE_NAMES: Final = tuple(name for name, _ in ARC_JOB_ATTRIBUTES)


def arc_attribute_type(kind: ArcAttributeKind) -> TypeEngine[Any]:
    """Column type of one ARC attribute kind."""
    if kind in ("int", "period"):
        return Integer()
    if kind == "time":
        return utc_datetime()
    if kind == "list":
        return String(1024)
    return String(255)


# --------------------------------------------------------------------------- tables

clientjobs = Table(
    "clientjobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("modified", utc_datetime()),
    Column("created", utc_datetime()),
    Column("jobname", binary_string(JOBNAME_MAX_LENGTH)),
    # NULL until the user confirms the job (PUT /jobs).
    Column("jobdesc", long_text()),
    Column("clusterlist", binary_string(CLUSTERLIST_MAX_LENGTH)),
    # NULL until the engine hands the job over. Deliberately no foreign key:
    # the engine deletes arc rows (cleaning) whose client row may linger, and
    # ON DELETE SET NULL would make such a job eligible for handover again.
    Column("arcjobid", Integer, index=True),
    Column("proxyid", Integer, index=True),
    **_TABLE_OPTIONS,
)

jobdescriptions = Table(
    "jobdescriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("jobdescription", long_text()),
    **_TABLE_OPTIONS,
)

arcjobs = Table(
    "arcjobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("modified", utc_datetime()),
    Column("created", utc_datetime()),
    Column("arcstate", String(12), index=True),
    Column("tarcstate", utc_datetime()),
    Column("tstate", utc_datetime()),
    Column("cluster", binary_string(255)),
    Column("clusterlist", binary_string(CLUSTERLIST_MAX_LENGTH)),
    # Indexed so deleting a jobdescriptions row does not scan arcjobs for
    # the foreign key check (SQLite and PostgreSQL do not index it for us).
    Column("jobdesc", Integer, ForeignKey("jobdescriptions.id"), index=True),
    Column("attemptsleft", Integer),
    Column("downloadfiles", String(255)),
    Column("proxyid", Integer),
    Column("appjobid", String(16)),
    Column("priority", SmallInteger),
    Column("fairshare", String(50)),
    # Lease: which engine process works on the row and until when. A row
    # whose lease has expired is free again, which is how the rows of a
    # crashed process come back.
    Column("claimedby", String(64)),
    Column("claimeduntil", utc_datetime()),
    *[Column(name, arc_attribute_type(kind)) for name, kind in ARC_JOB_ATTRIBUTES],
    # Random token of the submission in flight, also put in the job's name on
    # the CE: after a crash, it tells which CE job belongs to which row.
    Column("submissiontoken", String(32)),
    # When a cluster first refused (or handed back) a tosubmit job that no
    # cluster has accepted since; ``timeouts.tosubmit`` counts from here.
    Column("refusedsince", utc_datetime()),
    # When the CE's job list first lacked a job its status checks still
    # find; ``timeouts.missing`` counts from here.
    Column("missingsince", utc_datetime()),
    Index("ix_arcjobs_cluster_arcstate", "cluster", "arcstate"),
    **_TABLE_OPTIONS,
)

proxies = Table(
    "proxies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The full proxy PEM (certificate, key, chain). Unlike aCT, never a bare
    # key: keys of unfinished delegations wait in ``pendingproxies``.
    Column("proxy", long_binary()),
    Column("expirytime", utc_datetime()),
    Column("proxypath", String(255)),
    Column("dn", String(255)),
    Column("attribute", String(255)),
    Column("proxytype", String(255)),
    Column("myproxyid", String(255)),
    # Re-delegating the same identity must keep its id (the JWT carries it).
    UniqueConstraint("dn", "attribute"),
    **_TABLE_OPTIONS,
)

pendingproxies = Table(
    "pendingproxies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Step 1 of delegation (POST /proxies) generates a key pair and sends the
    # CSR; the private key waits here, apart from ``proxies``, so that a
    # started but unfinished delegation never replaces a working proxy.
    # One row per request: two concurrent delegations by the same user each
    # complete with their own key.
    Column("dn", String(255), nullable=False),
    Column("attribute", String(255), nullable=False),
    Column("privatekey", LargeBinary(), nullable=False),
    # After this the request is void (its token has expired too); rows past
    # it are purged when new requests arrive.
    Column("expirytime", utc_datetime(), nullable=False),
    Index("ix_pendingproxies_expirytime", "expirytime"),
    **_TABLE_OPTIONS,
)

delegations = Table(
    "delegations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One delegation per user proxy per CE, shared by every engine process and
    # renewed in place (jobs using it get the renewed proxy too).
    Column("cluster", binary_string(255), nullable=False),
    Column("proxyid", Integer, nullable=False),
    Column("delegationid", String(255), nullable=False),
    # When the delegated proxy expires: renewal is due before then, or as soon
    # as the user delegates a longer-lived proxy to the server.
    Column("expirytime", utc_datetime(), nullable=False),
    Column("modified", utc_datetime(), nullable=False),
    UniqueConstraint("cluster", "proxyid"),
    **_TABLE_OPTIONS,
)
stagings = Table(
    "stagings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # A job whose inputs a storage backend put elsewhere than the aCT host:
    # once the client job is gone, the engine removes them as its owner.
    # No foreign key: the row must outlive the client job it refers to.
    Column("clientjobid", Integer, nullable=False),
    Column("proxyid", Integer, nullable=False),
    Column("backend", String(64), nullable=False),
    Column("url", binary_string(1024), nullable=False),
    Column("created", utc_datetime(), nullable=False),
    Column("tried", utc_datetime()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    UniqueConstraint("clientjobid"),
    **_TABLE_OPTIONS,
)

engines = Table(
    "engines",
    metadata,
    # One row per running engine process (``<host>:<pid>``, the lease owner
    # name), written every few seconds while it runs and removed when it
    # stops: ``actd check`` tells a site whether any engine is alive.
    Column("owner", String(64), primary_key=True),
    Column("started", utc_datetime(), nullable=False),
    Column("seen", utc_datetime(), nullable=False),
    **_TABLE_OPTIONS,
)

refreshgrants = Table(
    "refreshgrants",
    metadata,
    # A token user's OAuth2 refresh grant (``act token --refresh-token-file``):
    # with it the engine gets fresh access tokens at the issuer's token
    # endpoint before the stored one expires. One row per token user (the
    # ``proxies`` row it refreshes). Secrets: never logged, never answered.
    # No foreign key, as for ``delegations``: the row goes with its
    # ``proxies`` row in the same transaction.
    Column("proxyid", Integer, primary_key=True, autoincrement=False),
    Column("refreshtoken", LargeBinary(), nullable=False),
    Column("clientid", String(255), nullable=False),
    Column("clientsecret", LargeBinary(), nullable=False),
    # From the issuer's discovery document when the grant was handed over.
    Column("tokenendpoint", String(1024), nullable=False),
    Column("modified", utc_datetime(), nullable=False),
    # Since when refreshing fails (None: the last refresh worked): the
    # failure is logged once, when it starts, and retried every interval.
    Column("failedsince", utc_datetime()),
    **_TABLE_OPTIONS,
)

#: Tables in an order in which rows can be deleted without breaking the
#: foreign key from ``arcjobs`` to ``jobdescriptions``.
DELETION_ORDER: Final = (
    clientjobs,
    arcjobs,
    jobdescriptions,
    proxies,
    pendingproxies,
    delegations,
    stagings,
    engines,
    refreshgrants,
)
