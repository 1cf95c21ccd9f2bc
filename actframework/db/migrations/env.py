"""Alembic environment of the job store.

Used programmatically by :mod:`actframework.db.migrate` (``actd init``,
``actd db upgrade``): that module passes an open SQLAlchemy connection in
``config.attributes["connection"]``, so no ``alembic.ini`` is needed. A
developer running the ``alembic`` command directly (e.g. to autogenerate a
new revision) can instead set ``sqlalchemy.url`` in the config; the engine is
then built with :func:`actframework.db.connection.make_engine` so it gets the
same per-database settings as the server.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from actframework.db.connection import make_engine
from actframework.db.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode lets future
        # migrations copy-and-move tables there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("actframework migrations run online only")
run_migrations_online()
