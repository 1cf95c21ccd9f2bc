"""Settings of ``act`` and ``actd`` from six layers (defaults, site packages,
/etc/actframework, the user's file, environment variables, flags), and
``act config`` / ``actd config``, which say where each value came from and
never print a secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from actframework.actd import cli as actd_cli
from actframework.actd import config_arguments
from actframework.client.cli import cli as act_cli
from actframework.client.config import ClientConfig
from actframework.config import write_private_file
from actframework.errors import ConfigError
from actframework.layers import MASK, Layer
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty site-package, system and user locations of this test alone, and no
    ACT_*/ACTD_* variables."""
    import os

    prefix, system, home = tmp_path / "prefix", tmp_path / "etc", tmp_path / "home"
    for directory in (prefix / "etc" / "actframework", system, home):
        directory.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setenv("ACTFRAMEWORK_SYSTEM_CONFIG_DIR", str(system))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for variable in list(os.environ):
        if variable.startswith(("ACT_", "ACTD_")):
            monkeypatch.delenv(variable)
    return {"site": prefix / "etc" / "actframework", "system": system,
            "user": home / ".config" / "act-client" / "config.yaml"}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_client_layer_overrides_the_one_below_and_is_named(layers: dict[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    site = _write(layers["site"] / "act.d" / "site.yaml",
                  "server: https://act.site.example\nstorage: webdav\nwebdav: https://dav.site.example/u\n"
                  "clusters:\n  default: [https://ce1.site.example/batch]\n")
    system = _write(layers["system"] / "act.yaml", "webdav: https://dav.host.example/u\n"
                    "clusters:\n  big: [https://ce2.site.example/batch]\n")
    user = _write(layers["user"], "storage: actstore\n")
    monkeypatch.setenv("ACT_STORAGE_OPTIONS__TIMEOUT", "30")
    config = ClientConfig.load(flags={"--server": {"server": "https://other.example/"}})
    assert config.server == "https://other.example"
    assert config.webdav == "https://dav.host.example/u"
    assert config.storage == "actstore"
    assert dict(config.storage_options) == {"timeout": 30}
    assert dict(config.clusters) == {"default": ("https://ce1.site.example/batch",),
                                     "big": ("https://ce2.site.example/batch",)}
    origin = config.layered.origin
    assert (origin(("server",)).layer, origin(("server",)).where) == (Layer.COMMAND_LINE, "--server")
    assert origin(("webdav",)).where == str(system)
    assert origin(("storage",)).where == str(user)
    assert origin(("clusters", "default")).where == str(site)
    assert origin(("storage_options", "timeout")).where == "ACT_STORAGE_OPTIONS__TIMEOUT"
    assert origin(("proxy",)).layer is Layer.DEFAULT


def test_a_site_packages_ca_bundle_is_found_next_to_its_file(layers: dict[str, Path]) -> None:
    _write(layers["site"] / "act.d" / "site.yaml", "server: https://act.site.example\n"
           "ca_certificates: site-ca.pem\n")
    _write(layers["site"] / "act.d" / "site-ca.pem", "-----BEGIN CERTIFICATE-----\n")
    config = ClientConfig.load()
    assert config.ca_certificates == layers["site"] / "act.d" / "site-ca.pem"
    assert config.trust() == {"ca_file": config.ca_certificates, "ca_dir": None}


def test_a_named_client_file_must_exist_but_the_default_one_need_not(layers: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        ClientConfig.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="no site configuration is installed"):
        ClientConfig.load().require("server")
    _write(layers["system"] / "act.yaml", "server: https://act.host.example\n")
    assert ClientConfig.load().require("server") == "https://act.host.example"


def test_a_bad_value_names_the_file_or_variable_that_set_it(layers: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    site = _write(layers["site"] / "act.yaml", "storage_options: [1]\n")
    with pytest.raises(ConfigError, match=f"^{site}: storage_options must be a mapping$"):
        ClientConfig.load()
    site.write_text("clusters:\n  default: 3\n")
    with pytest.raises(ConfigError, match=f"^{site}: clusters: default must be a list of URLs$"):
        ClientConfig.load()
    site.unlink()
    monkeypatch.setenv("ACT_STORAGE", "[a")
    with pytest.raises(ConfigError, match="ACT_STORAGE is not a valid YAML value"):
        ClientConfig.load()


def test_act_config_shows_each_origin_and_masks_secrets(layers: dict[str, Path]) -> None:
    site = _write(layers["site"] / "act.d" / "site.yaml",
                  "server: https://act.site.example\nstorage: webdav\n"
                  "storage_options:\n  url: https://alice:hunter2@dav.site.example/u\n  password: hunter2\n")
    result = CliRunner().invoke(act_cli, ["--storage", "dcache", "config"],
                                env={"ACT_STORAGE_OPTIONS__TOKEN": "s3cr3t-token"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "hunter2" not in out and "s3cr3t-token" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and ":" not in line[:4]}
    assert lines["server"].endswith(f"[site package: {site}]")
    assert lines["storage"].split()[1:] == ["dcache", "[command", "line:", "--storage]"]
    assert f"alice:{MASK}@dav.site.example" in lines["storage_options.url"]
    assert lines["storage_options.password"].split()[1] == MASK
    assert lines["storage_options.token"].split()[1] == MASK
    assert lines["token"].split()[1].endswith("act-client/token")  # a path, not a secret
    assert f"  site package: {site}\n" in out
    assert f"  user: {layers['user']} (absent)\n" in out


def _server_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "actd.yaml"
    write_private_file(path, render_server_config(
        data_dir=tmp_path / "data", database_url=database_url, listen="127.0.0.1:8080", clusters=[],
        ca_dir=tmp_path / "ca", jwt_secret=new_jwt_secret()))
    return path


def test_actd_site_snippets_fill_what_the_file_leaves_and_variables_and_flags_win(
        layers: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _server_file(tmp_path, "sqlite:////tmp/x.sqlite")
    path.write_text(path.read_text().replace("  sites: {}\n", ""))
    _write(layers["site"] / "actd.d" / "site.yaml",
           "clusters: [https://ce1.site.example/batch]\n"
           "engine:\n  sites:\n    ce1:\n      endpoint: https://ce1.site.example/batch\n      maxjobs: 50\n")
    _write(layers["system"] / "actd.yaml", "engine:\n  sites:\n    ce1:\n      maxjobs: 70\n")
    path.write_text(path.read_text().replace("clusters: []\n", ""))
    monkeypatch.setenv("ACTD_SERVER__WORKERS", "4")
    config = ServerConfig.load(path, assignments=["server.workers=2", "engine.lease=900"])
    assert config.clusters == ("https://ce1.site.example/batch",)
    assert [(s.endpoint, s.maxjobs) for s in config.engine.sites] == [("https://ce1.site.example:443/batch", 70)]
    assert (config.workers, config.engine.lease) == (2, 900)
    assert config_arguments(config) == ["--config", str(path), "--set", "server.workers=2",
                                        "--set", "engine.lease=900"]
    with pytest.raises(ConfigError, match="^ACTD_SERVER__WORKERS: server: workers must be a whole number"):
        monkeypatch.setenv("ACTD_SERVER__WORKERS", "many")
        ServerConfig.load(path)


def test_actd_needs_some_file_and_reads_a_host_file_alone(layers: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it with `actd init`"):
        ServerConfig.load()
    host = _server_file(layers["system"], "sqlite:////tmp/x.sqlite").rename(layers["system"] / "actd.yaml")
    config = ServerConfig.load()
    assert config.path is None and config_arguments(config) == []
    assert config.layered.origin(("auth", "jwt_secret")).where == str(host)


def test_actd_config_masks_the_jwt_secret_and_database_passwords(layers: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    path = _server_file(tmp_path, "postgresql+psycopg://actd:hunter2@db.example/actd")
    secret = ServerConfig.load(path).jwt_secret
    result = CliRunner().invoke(actd_cli, ["config", "--config", str(path), "--set", "logging.level=debug"],
                                env={"ACTD_STORAGE__OPTIONS__PASSWORD": "dav-pass"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert secret not in out and "hunter2" not in out and "dav-pass" not in out
    assert f"postgresql+psycopg://actd:{MASK}@db.example/actd  [user: {path}]" in out
    assert f"auth.jwt_secret" in out and f"{MASK}  [user: {path}]" in out
    assert "[command line: --set logging.level]" in out
    assert "[environment: ACTD_STORAGE__OPTIONS__PASSWORD]" in out


def test_actd_set_must_be_key_equals_value(layers: dict[str, Path], tmp_path: Path) -> None:
    path = _server_file(tmp_path, "sqlite:////tmp/x.sqlite")
    result = CliRunner().invoke(actd_cli, ["config", "--config", str(path), "--set", "server.workers"])
    assert result.exit_code == 1
    assert result.stderr == "actd: --set 'server.workers' is not KEY=VALUE\n"
