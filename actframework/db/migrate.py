"""Creating and upgrading the job store schema with Alembic, without alembic.ini.

Site admins run ``actd init`` (new database) or ``actd db upgrade`` (after
installing a new actframework); both call :func:`upgrade`. The server and the
engine call :func:`check_schema` at start-up so that running new code against
an old schema fails with an instruction instead of with an SQL error deep
inside some operation.

The migration scripts live inside the package (``migrations/``) and are found
through this module's own location, so they work from an installed wheel and
from any working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from actframework.db.connection import make_engine, safe_url
from actframework.errors import SchemaError, StoreError

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

UPGRADE_HINT: Final = "run `actd db upgrade`"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The schema revision this version of actframework needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no schema yet."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        raise StoreError(f"cannot read the schema revision of database {safe_url(engine.url)}: {exc.orig}") from exc


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (default: the newest).

    Runs in one transaction where the database supports transactional DDL
    (PostgreSQL, SQLite); MySQL/MariaDB commit each DDL statement.
    """
    # alembic.command pulls in autogenerate and much else: only upgrades need it,
    # not every process that merely checks the schema.
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except DBAPIError as exc:
        raise StoreError(f"upgrading the schema of database {safe_url(engine.url)} failed: {exc.orig}") from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaError` unless the database is at :func:`head_revision`."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise SchemaError("database has no actframework schema; run `actd init` or `actd db upgrade`")
    if current == head:
        return
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"database schema is at {current}, which this actframework does not know "
            f"(it needs {head}); the database was upgraded by a newer actframework"
        )
    raise SchemaError(f"database schema is at {current}, this actframework needs {head}; {UPGRADE_HINT}")
