"""Clocks of waiting jobs: refused submissions and jobs missing from a CE.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

* ``arcjobs.refusedsince``: when a cluster first refused (or handed back) a
  ``tosubmit`` job that no cluster has accepted since. ``timeouts.tosubmit``
  counts from here, so a job that only waits for a free slot (``maxjobs``,
  the queue-fraction throttle, an offline site) never times out.
* ``arcjobs.missingsince``: when the CE's job list first lacked a job that
  its status checks still find; ``timeouts.missing`` counts from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)


def upgrade() -> None:
    op.add_column("arcjobs", sa.Column("refusedsince", _datetime(), nullable=True))
    op.add_column("arcjobs", sa.Column("missingsince", _datetime(), nullable=True))


def downgrade() -> None:
    op.drop_column("arcjobs", "missingsince")
    op.drop_column("arcjobs", "refusedsince")
