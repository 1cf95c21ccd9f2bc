"""The job store: the only code in actframework that talks SQL.

The REST server and the engine never build queries; they call the named
operations of :class:`JobStore` (``create_client_jobs``, ``cancel_jobs``,
``handover``, ``claim_for_submit``, ``apply_status_updates``, ...). Keeping
all SQL here means the concurrency rules (who may change which row when, how
rows are locked and leased on each database) are written and tested once, on
SQLite, PostgreSQL and MariaDB alike.

Modules:

* :mod:`.connection`: database URL → configured engine;
* :mod:`.schema`: the tables; :mod:`.migrations` / :mod:`.migrate`: Alembic;
* :mod:`.filters`: user job filters; :mod:`.states`: arcstate sets;
* :mod:`.records`: the immutable records operations take and return;
* :mod:`.store`: :class:`JobStore`, assembled from the operation modules.
"""

from actframework.db.connection import make_engine
from actframework.db.filters import IdSelection, JobFilter, parse_id_list
from actframework.db.migrate import check_schema, current_revision, head_revision, upgrade
from actframework.db.records import (
    ArcJob,
    ArcJobDefaults,
    CancelOutcome,
    CEReport,
    CleanOutcome,
    ClientJobRow,
    Confirmation,
    CredentialKind,
    HandoverResult,
    ProxyRecord,
    RefreshGrant,
    StatusUpdate,
    SubmissionRecord,
)
from actframework.db.store import JobStore, open_store

__all__ = [
    "ArcJob",
    "ArcJobDefaults",
    "CEReport",
    "CancelOutcome",
    "CleanOutcome",
    "ClientJobRow",
    "Confirmation",
    "CredentialKind",
    "HandoverResult",
    "IdSelection",
    "JobFilter",
    "JobStore",
    "ProxyRecord",
    "RefreshGrant",
    "StatusUpdate",
    "SubmissionRecord",
    "check_schema",
    "current_revision",
    "head_revision",
    "make_engine",
    "open_store",
    "parse_id_list",
    "upgrade",
]
