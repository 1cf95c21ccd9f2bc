"""Refresh grants of token users: the ``refreshgrants`` table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A user who hands actd a bearer token (``act token``) may add an OAuth2
refresh token and the client credentials it was issued to. The engine then
gets fresh access tokens at the issuer's token endpoint (recorded here from
the issuer's discovery document) before the stored one expires. One row
per token user, keyed by its ``proxies`` id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "sqlite_autoincrement": True}


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def upgrade() -> None:
    op.create_table(
        "refreshgrants",
        sa.Column("proxyid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("refreshtoken", sa.LargeBinary(), nullable=False),
        sa.Column("clientid", sa.String(255), nullable=False),
        sa.Column("clientsecret", sa.LargeBinary(), nullable=False),
        sa.Column("tokenendpoint", sa.String(1024), nullable=False),
        sa.Column("modified", _datetime(), nullable=False),
        sa.Column("failedsince", _datetime(), nullable=True),
        sa.PrimaryKeyConstraint("proxyid", name="pk_refreshgrants"),
        **_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("refreshgrants")
