"""Pending delegations: the ``pendingproxies`` table.

Revision ID: 0002
Revises: 0001
Create Date: 2024-07-01

Step 1 of delegation (``POST /proxies``) keeps the private key it generated
here until step 2 brings the signed certificate, instead of overwriting the
``proxies`` row as aCT does, so a working proxy is never replaced by a bare
key. As with 0001, every type is spelled out (frozen history).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def upgrade() -> None:
    op.create_table(
        "pendingproxies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dn", sa.String(255), nullable=False),
        sa.Column("attribute", sa.String(255), nullable=False),
        sa.Column("privatekey", sa.LargeBinary(), nullable=False),
        sa.Column("expirytime", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pendingproxies"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_pendingproxies_expirytime", "pendingproxies", ["expirytime"])


def downgrade() -> None:
    op.drop_index("ix_pendingproxies_expirytime", table_name="pendingproxies")
    op.drop_table("pendingproxies")
