"""Engine state: CE delegations and submission tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

* ``delegations``: the one delegation each user proxy has on each CE. Engine
  processes share it (and renew it in place) instead of delegating anew for
  every batch, which would pile delegations up on the CE.
* ``arcjobs.submissiontoken``: a random token written when a submitter claims
  a job and sent to the CE in the job's name, so that a submission cut off by
  a crash can be matched with the CE's job list afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def _binary_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), *_MYSQL)


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster", _binary_string(255), nullable=False),
        sa.Column("proxyid", sa.Integer(), nullable=False),
        sa.Column("delegationid", sa.String(255), nullable=False),
        sa.Column("expirytime", _datetime(), nullable=False),
        sa.Column("modified", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delegations"),
        sa.UniqueConstraint("cluster", "proxyid", name="uq_delegations_cluster_proxyid"),
        **_TABLE_OPTIONS,
    )
    op.add_column("arcjobs", sa.Column("submissiontoken", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("arcjobs", "submissiontoken")
    op.drop_table("delegations")
