"""Where jobs' input files were staged outside the aCT host.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

* ``stagings``: one row per job whose inputs a storage backend put on
  other storage (a WebDAV or dCache directory): the backend's name and the
  base URL it used. When the job is gone from ``clientjobs`` (cleaned,
  downloaded, killed), the engine removes those files as the job's owner and
  then the row, whichever client the user cleaned with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
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
        "stagings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clientjobid", sa.Integer(), nullable=False),
        sa.Column("proxyid", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("url", _binary_string(1024), nullable=False),
        sa.Column("created", _datetime(), nullable=False),
        sa.Column("tried", _datetime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_stagings"),
        sa.UniqueConstraint("clientjobid", name="uq_stagings_clientjobid"),
        **_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("stagings")
