"""Engine heartbeats: the ``engines`` table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Each running engine process keeps a row (its lease owner name
``<host>:<pid>``, when it started, when it was last seen) so that
``actd check`` can tell a site whether an engine is alive, on whichever
host it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "sqlite_autoincrement": True}


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def upgrade() -> None:
    op.create_table(
        "engines",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("started", _datetime(), nullable=False),
        sa.Column("seen", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_engines"),
        **_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("engines")
