"""The upgrade path of docs/admin-guide.md ("Upgrading actframework"): a
site whose database is one schema revision behind the installed actframework.

The services refuse the outdated schema with the command that fixes it,
``actd db upgrade`` brings it to the current revision and says so, the
site's data survives, and the services' schema check then passes. Run on
SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from actframework.actd import cli
from actframework.config import write_private_file
from actframework.db import JobStore, make_engine, upgrade
from actframework.db.migrate import check_schema, current_revision, head_revision
from actframework.server_config import new_jwt_secret, render_server_config

pytestmark = pytest.mark.integration


def previous_revision() -> str:
    """The revision before the current one (revisions are numbered 0001, 0002, ...)."""
    return f"{int(head_revision()) - 1:04d}"


def test_services_refuse_an_outdated_schema_until_actd_db_upgrade_brings_it_up_with_the_data(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTD_CONFIG", raising=False)
    old, head = previous_revision(), head_revision()
    upgrade(empty_db_url, old)
    engine = make_engine(empty_db_url)
    store = JobStore(engine)
    try:
        expiry = datetime(2030, 1, 1) + timedelta(hours=1)
        proxyid = store.store_proxy("/DC=org/CN=site user", "", b"pem", expiry)
        config = tmp_path / "actd.yaml"
        write_private_file(config, render_server_config(
            data_dir=tmp_path / "data", database_url=empty_db_url, listen="127.0.0.1:8080",
            clusters=[], ca_dir=tmp_path, jwt_secret=new_jwt_secret()))
        runner = CliRunner()

        for command in ("serve", "engine", "run"):
            refused = runner.invoke(cli, [command, "--config", str(config)])
            assert refused.exit_code == 1, (command, refused.output)
            assert refused.stderr == (f"actd: database schema is at {old}, this actframework needs {head}; "
                                      "run `actd db upgrade`\n"), command

        upgraded = runner.invoke(cli, ["db", "upgrade", "--config", str(config)])
        assert upgraded.exit_code == 0, upgraded.output
        assert upgraded.output == f"actd: database schema upgraded from {old} to {head}\n"
        assert current_revision(engine) == head
        check_schema(engine)
        record = store.get_proxy(proxyid)
        assert record is not None and record.dn == "/DC=org/CN=site user" and record.expirytime == expiry

        again = runner.invoke(cli, ["db", "upgrade", "--config", str(config)])
        assert again.exit_code == 0 and again.output == f"actd: database schema already at {head}\n"
    finally:
        store.close()
        engine.dispose()
