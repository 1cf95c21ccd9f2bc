"""Ids are never handed out twice on SQLite either.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Without ``AUTOINCREMENT`` SQLite gives a new row the highest id plus one, so
the id of the newest row comes back once that row is deleted. Ids outlive
their rows here: a job's input directory is named after its id (the engine
removes it after the job is gone), a token carries its proxy's id, and a
staging record its job's id. A reused id would let a new job lose its
inputs, or an old token reach a new user's proxy. Each table is rebuilt
with ``AUTOINCREMENT`` (SQLite only; PostgreSQL and MariaDB never reuse).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Parents before children: arcjobs refers to jobdescriptions.
_TABLES = ("jobdescriptions", "arcjobs", "clientjobs", "proxies", "pendingproxies", "delegations", "stagings")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
