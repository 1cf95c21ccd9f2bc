"""The Alembic migrations build exactly the schema ``schema.py`` describes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from actframework.db import check_schema, current_revision, head_revision, make_engine, upgrade
from actframework.db.migrate import MIGRATIONS_DIR
from actframework.db.schema import ARC_JOB_ATTRIBUTE_NAMES, metadata
from actframework.errors import SchemaError


@pytest.fixture
def empty_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_db_url)
    yield engine
    engine.dispose()


def test_upgrade_from_empty_creates_the_schema(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    check_schema(empty_engine)  # does not raise
    tables = set(sa.inspect(empty_engine).get_table_names())
    assert {"clientjobs", "arcjobs", "jobdescriptions", "proxies", "pendingproxies"} <= tables


def test_upgrade_twice_is_a_no_op(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_upgrade_accepts_a_url(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_schema_module(empty_engine: Engine) -> None:
    """Guards schema.py and the migrations against drifting apart."""
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_migrated_column_types_render_as_in_schema_module(empty_engine: Engine) -> None:
    """Alembic's type comparison ignores details that matter to us, such as
    MariaDB's DATETIME precision and the binary collation that makes LIKE
    case-sensitive, so also compare each column's DDL type text."""
    upgrade(empty_engine)
    dialect = empty_engine.dialect
    inspector = sa.inspect(empty_engine)
    for table in metadata.sorted_tables:
        reflected = {column["name"]: column for column in inspector.get_columns(table.name)}
        assert list(reflected) == [column.name for column in table.columns]
        for column in table.columns:
            expected = _ddl_type(column.type.compile(dialect=dialect))
            actual = _ddl_type(reflected[column.name]["type"].compile(dialect=dialect))
            assert actual == expected, f"{table.name}.{column.name}"


def _ddl_type(text: str) -> str:
    # Rendering noise only, both on MySQL/MariaDB: reflection reports integer
    # display widths (SMALLINT(6)) that have no effect on storage, and spells
    # out the column character set even where it is the table's utf8mb4.
    text = re.sub(r"^(INTEGER|SMALLINT|INT)\(\d+\)", r"\1", text.upper())
    return text.replace(" CHARACTER SET UTF8MB4", "")


def test_arc_columns_follow_the_fixed_aCT_list(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    names = [column["name"] for column in sa.inspect(empty_engine).get_columns("arcjobs")]
    assert names[17:70] == list(ARC_JOB_ATTRIBUTE_NAMES)
    # Added by later migrations (0003, 0006), so they come last.
    assert names[70:] == ["submissiontoken", "refusedsince", "missingsince"]
    assert names[:17] == [
        "id", "modified", "created", "arcstate", "tarcstate", "tstate", "cluster",
        "clusterlist", "jobdesc", "attemptsleft", "downloadfiles", "proxyid", "appjobid",
        "priority", "fairshare", "claimedby", "claimeduntil",
    ]


def test_check_schema_on_empty_database(empty_engine: Engine) -> None:
    with pytest.raises(SchemaError, match=r"no actframework schema; run `actd init` or `actd db upgrade`"):
        check_schema(empty_engine)


def test_check_schema_on_outdated_database(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(SchemaError, match="database schema is at ffff"):
        check_schema(empty_engine)


def test_migrations_are_found_through_the_package_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert MIGRATIONS_DIR.is_absolute()
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert head_revision() == "0008"


def test_migrations_do_not_import_the_live_schema() -> None:
    """Migrations are frozen history; importing schema.py would make an old
    migration silently change when the schema module does."""
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        assert "actframework.db.schema" not in script.read_text().split('"""', 2)[-1]
