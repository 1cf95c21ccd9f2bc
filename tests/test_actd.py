"""``actd``: init, db upgrade, plugins, and how engine and run refuse a bad setup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from actframework.actd import cli
from actframework.db.connection import make_engine
from actframework.db.migrate import current_revision, head_revision
from actframework.server_config import ServerConfig

from fixtures.required import unavailable

ACTD = Path(sys.executable).with_name("actd")


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path below ``root`` with its mode, mtime and (for files) content."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        found[str(path.relative_to(root))] = (
            stat.st_mode,
            stat.st_mtime_ns,
            path.read_bytes() if path.is_file() else None,
        )
    return found


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("ACTD_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return CliRunner()


def test_init_writes_a_private_config_data_dirs_and_the_schema(runner: CliRunner, tmp_path: Path) -> None:
    config_path = tmp_path / "etc" / "actd.yaml"
    result = runner.invoke(cli, [
        "init", "--config", str(config_path), "--data-dir", str(tmp_path / "data"),
        "--listen", "127.0.0.1:9999", "--cluster", "https://ce1.example.org/q1",
        "--cluster", "https://ce2.example.org/q2", "--ca-dir", str(tmp_path / "ca"),
    ])
    assert result.exit_code == 0, result.output
    assert config_path.stat().st_mode & 0o777 == 0o600
    config = ServerConfig.load(config_path)
    assert config.data_dir == tmp_path / "data"
    assert config.clusters == ("https://ce1.example.org/q1", "https://ce2.example.org/q2")
    assert config.listen == "127.0.0.1:9999" and config.ca_dir == tmp_path / "ca"
    assert config.database_url == f"sqlite:///{tmp_path / 'data' / 'actd.sqlite'}"
    for sub in ("", "inputs", "results", "proxies"):
        assert (tmp_path / "data" / sub).stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "data" / "actd.sqlite").stat().st_mode & 0o777 == 0o600
    assert _revision(config.database_url) == head_revision()
    assert config.jwt_secret not in result.output


def test_init_uses_the_per_user_locations_by_default(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    config = ServerConfig.load(tmp_path / "xdg-config" / "actd" / "config.yaml")
    assert config.data_dir == tmp_path / "xdg-data" / "actd"


def test_second_init_refuses_without_force_and_changes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    args = ["init", "--config", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli, args).exit_code == 0
    before = _snapshot(tmp_path)
    again = runner.invoke(cli, [*args, "--cluster", "https://other/q"])
    assert again.exit_code == 1
    assert again.stderr == f"actd: {tmp_path / 'c.yaml'} already exists; use --force to overwrite it\n"
    assert _snapshot(tmp_path) == before


def test_init_with_force_rewrites_the_config_with_a_new_secret(runner: CliRunner, tmp_path: Path) -> None:
    args = ["init", "--config", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli, args).exit_code == 0
    old = ServerConfig.load(tmp_path / "c.yaml")
    assert runner.invoke(cli, [*args, "--force", "--cluster", "https://ce/q"]).exit_code == 0
    new = ServerConfig.load(tmp_path / "c.yaml")
    assert new.clusters == ("https://ce/q",) and new.jwt_secret != old.jwt_secret


def test_init_rejects_a_bad_listen_address_before_writing_anything(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["init", "--config", str(tmp_path / "c.yaml"),
                                 "--data-dir", str(tmp_path / "d"), "--listen", "localhost"])
    assert result.exit_code == 1 and "is not HOST:PORT" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_config_is_found_through_actd_config(runner: CliRunner, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTD_CONFIG", str(tmp_path / "env.yaml"))
    assert runner.invoke(cli, ["init", "--data-dir", str(tmp_path / "d")]).exit_code == 0
    assert (tmp_path / "env.yaml").exists()
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0 and f"already at {head_revision()}" in result.output


@pytest.mark.integration
def test_init_and_upgrade_on_each_database(runner: CliRunner, tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "c.yaml"
    result = runner.invoke(cli, ["init", "--config", str(config), "--db", db_url,
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert ServerConfig.load(config).database_url == db_url
    assert _revision(db_url) == head_revision()
    assert runner.invoke(cli, ["db", "upgrade", "--config", str(config)]).exit_code == 0


@pytest.mark.parametrize("command", ["engine", "run"])
def test_engine_and_run_refuse_a_database_without_the_schema(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    config = tmp_path / "c.yaml"
    assert runner.invoke(cli, ["init", "--config", str(config), "--data-dir", str(tmp_path / "d")]).exit_code == 0
    text = config.read_text().replace(str(tmp_path / "d" / "actd.sqlite"), str(tmp_path / "empty.sqlite"))
    config.write_text(text)
    result = runner.invoke(cli, [command, "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr == "actd: database has no actframework schema; run `actd init` or `actd db upgrade`\n"


def test_engine_refuses_an_unknown_storage_backend(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    assert runner.invoke(cli, ["init", "--config", str(config), "--data-dir", str(tmp_path / "d")]).exit_code == 0
    config.write_text(config.read_text().replace("backend: actstore", "backend: nosuchstore"))
    result = runner.invoke(cli, ["engine", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.startswith("actd: ") and "nosuchstore" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_commands_without_a_config_say_how_to_make_one(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert result.stderr == f"actd: config file {tmp_path / 'none.yaml'} does not exist; create it with `actd init`\n"


def test_unknown_option_is_a_usage_error(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["init", "--colour"]).exit_code == 2


def test_plugins_lists_installed_backends_with_distribution_and_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    if not {"actstore", "webdav", "dcache"} <= rows.keys():
        unavailable("the plugins/ distributions", "not installed", "scripts/test installs them")
    assert rows["webdav"] == ["actframework-webdav", "0.1.0"]


def test_actd_console_script_refuses_a_second_init(tmp_path: Path) -> None:
    if not ACTD.exists():
        unavailable(str(ACTD), "not installed", "install actframework into this interpreter")
    command = [str(ACTD), "init", "--config", str(tmp_path / "x.yaml"), "--data-dir", str(tmp_path / "d")]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    content = (tmp_path / "x.yaml").read_bytes()
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    assert second.returncode == 1
    assert "already exists; use --force" in second.stderr and "Traceback" not in second.stderr
    assert (tmp_path / "x.yaml").read_bytes() == content
