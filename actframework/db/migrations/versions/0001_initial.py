"""The initial job store: clientjobs, arcjobs, jobdescriptions, proxies.

Revision ID: 0001
Revises:
Create Date: 2024-06-01

Migrations are frozen history: every table, column and type is spelled out
here instead of being imported from ``actframework.db.schema``, which
describes only the newest schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def _long_text() -> sa.types.TypeEngine[Any]:
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), *_MYSQL)


def _long_binary() -> sa.types.TypeEngine[Any]:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *_MYSQL)


def _binary_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), *_MYSQL)


def upgrade() -> None:
    op.create_table(
        "clientjobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("modified", _datetime()),
        sa.Column("created", _datetime()),
        sa.Column("jobname", _binary_string(255)),
        sa.Column("jobdesc", _long_text()),
        sa.Column("clusterlist", _binary_string(1024)),
        sa.Column("arcjobid", sa.Integer()),
        sa.Column("proxyid", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_clientjobs"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_clientjobs_arcjobid", "clientjobs", ["arcjobid"])
    op.create_index("ix_clientjobs_proxyid", "clientjobs", ["proxyid"])

    op.create_table(
        "jobdescriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jobdescription", _long_text()),
        sa.PrimaryKeyConstraint("id", name="pk_jobdescriptions"),
        **_TABLE_OPTIONS,
    )

    op.create_table(
        "arcjobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("modified", _datetime()),
        sa.Column("created", _datetime()),
        sa.Column("arcstate", sa.String(12)),
        sa.Column("tarcstate", _datetime()),
        sa.Column("tstate", _datetime()),
        sa.Column("cluster", _binary_string(255)),
        sa.Column("clusterlist", _binary_string(1024)),
        sa.Column("jobdesc", sa.Integer()),
        sa.Column("attemptsleft", sa.Integer()),
        sa.Column("downloadfiles", sa.String(255)),
        sa.Column("proxyid", sa.Integer()),
        sa.Column("appjobid", sa.String(16)),
        sa.Column("priority", sa.SmallInteger()),
        sa.Column("fairshare", sa.String(50)),
        sa.Column("claimedby", sa.String(64)),
        sa.Column("claimeduntil", _datetime()),
        sa.Column("ActivityOldID", sa.String(1024)),
        sa.Column("ComputingManagerEndTime", _datetime()),
        sa.Column("ComputingManagerExitCode", sa.Integer()),
        sa.Column("ComputingManagerSubmissionTime", _datetime()),
        sa.Column("CreationTime", _datetime()),
        sa.Column("DelegationID", sa.String(1024)),
        sa.Column("EndTime", _datetime()),
        sa.Column("Error", sa.String(1024)),
        sa.Column("ExecutionNode", sa.String(1024)),
        sa.Column("ExitCode", sa.Integer()),
        sa.Column("IDFromEndpoint", sa.String(255)),
        sa.Column("JobDescription", sa.String(255)),
        sa.Column("JobID", sa.String(255)),
        sa.Column("JobManagementInterfaceName", sa.String(255)),
        sa.Column("JobManagementURL", sa.String(255)),
        sa.Column("JobStatusInterfaceName", sa.String(255)),
        sa.Column("JobStatusURL", sa.String(255)),
        sa.Column("LocalIDFromManager", sa.String(255)),
        sa.Column("LocalInputFiles", sa.String(1024)),
        sa.Column("LocalOwner", sa.String(255)),
        sa.Column("LocalSubmissionTime", _datetime()),
        sa.Column("LogDir", sa.String(255)),
        sa.Column("Name", sa.String(255)),
        sa.Column("OtherMessages", sa.String(1024)),
        sa.Column("Owner", sa.String(255)),
        sa.Column("ProxyExpirationTime", _datetime()),
        sa.Column("Queue", sa.String(255)),
        sa.Column("RequestedApplicationEnvironment", sa.String(1024)),
        sa.Column("RequestedSlots", sa.Integer()),
        sa.Column("RequestedTotalCPUTime", sa.Integer()),
        sa.Column("RequestedTotalWallTime", sa.Integer()),
        sa.Column("RestartState", sa.String(255)),
        sa.Column("ServiceInformationInterfaceName", sa.String(255)),
        sa.Column("ServiceInformationURL", sa.String(255)),
        sa.Column("SessionDir", sa.String(255)),
        sa.Column("StageInDir", sa.String(255)),
        sa.Column("StageOutDir", sa.String(255)),
        sa.Column("StartTime", _datetime()),
        sa.Column("State", sa.String(255)),
        sa.Column("StdErr", sa.String(255)),
        sa.Column("StdIn", sa.String(255)),
        sa.Column("StdOut", sa.String(255)),
        sa.Column("SubmissionClientName", sa.String(255)),
        sa.Column("SubmissionHost", sa.String(255)),
        sa.Column("SubmissionTime", _datetime()),
        sa.Column("Type", sa.String(255)),
        sa.Column("UsedMainMemory", sa.Integer()),
        sa.Column("UsedTotalCPUTime", sa.Integer()),
        sa.Column("UsedTotalWallTime", sa.Integer()),
        sa.Column("UserDomain", sa.String(255)),
        sa.Column("Validity", _datetime()),
        sa.Column("WaitingPosition", sa.Integer()),
        sa.Column("WorkingAreaEraseTime", _datetime()),
        sa.PrimaryKeyConstraint("id", name="pk_arcjobs"),
        sa.ForeignKeyConstraint(["jobdesc"], ["jobdescriptions.id"], name="fk_arcjobs_jobdesc_jobdescriptions"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_arcjobs_arcstate", "arcjobs", ["arcstate"])
    op.create_index("ix_arcjobs_jobdesc", "arcjobs", ["jobdesc"])
    op.create_index("ix_arcjobs_cluster_arcstate", "arcjobs", ["cluster", "arcstate"])

    op.create_table(
        "proxies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proxy", _long_binary()),
        sa.Column("expirytime", _datetime()),
        sa.Column("proxypath", sa.String(255)),
        sa.Column("dn", sa.String(255)),
        sa.Column("attribute", sa.String(255)),
        sa.Column("proxytype", sa.String(255)),
        sa.Column("myproxyid", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_proxies"),
        sa.UniqueConstraint("dn", "attribute", name="uq_proxies_dn_attribute"),
        **_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("proxies")
    op.drop_index("ix_arcjobs_cluster_arcstate", table_name="arcjobs")
    op.drop_index("ix_arcjobs_jobdesc", table_name="arcjobs")
    op.drop_index("ix_arcjobs_arcstate", table_name="arcjobs")
    op.drop_table("arcjobs")
    op.drop_table("jobdescriptions")
    op.drop_index("ix_clientjobs_proxyid", table_name="clientjobs")
    op.drop_index("ix_clientjobs_arcjobid", table_name="clientjobs")
    op.drop_table("clientjobs")
