"""Server configuration (strict, documented) and act-client compatible client configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from actframework.client.config import ClientConfig, default_client_config_path, default_token_path
from actframework.config import default_proxy_path, write_private_file
from actframework.errors import ConfigError
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config, resolve_server_config_path


def _write_rendered(path: Path, **overrides: object) -> Path:
    values: dict[str, object] = {
        "data_dir": path.parent / "data dir",
        "database_url": "sqlite:////tmp/x/actd.sqlite",
        "listen": "0.0.0.0:8443",
        "clusters": ["https://ce1.example.org/batch", "https://ce2.example.org:9443/long"],
        "ca_dir": Path("/etc/grid-security/certificates"),
        "jwt_secret": new_jwt_secret(),
    }
    values.update(overrides)
    path.write_text(render_server_config(**values))  # type: ignore[arg-type]
    return path


def test_rendered_server_config_loads_back_with_the_values_it_was_given(tmp_path: Path) -> None:
    path = _write_rendered(tmp_path / "config.yaml")
    config = ServerConfig.load(path)
    assert config.data_dir == tmp_path / "data dir"
    assert config.database_url == "sqlite:////tmp/x/actd.sqlite"
    assert config.listen_address == ("0.0.0.0", 8443)
    assert config.clusters == ("https://ce1.example.org/batch", "https://ce2.example.org:9443/long")
    assert config.storage_backend == "actstore" and config.storage_options == {}
    assert config.inputs_dir == tmp_path / "data dir" / "inputs"
    assert config.proxies_dir == tmp_path / "data dir" / "proxies"
    assert len(config.jwt_secret) >= 32


def test_rendered_server_config_documents_every_key_it_sets(tmp_path: Path) -> None:
    text = render_server_config(
        data_dir=tmp_path, database_url="sqlite:///x", listen="127.0.0.1:8080",
        clusters=[], ca_dir=tmp_path, jwt_secret="s" * 40,
    )
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "-")) and ":" in stripped:
            assert lines[index - 1].strip().startswith("#"), f"undocumented key: {line}"


def test_server_config_secret_is_not_in_its_repr(tmp_path: Path) -> None:
    config = ServerConfig.load(_write_rendered(tmp_path / "c.yaml", jwt_secret="x" * 40))
    assert "x" * 40 not in repr(config)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(databse={"url": "x"}), "unknown key 'databse'"),
        (lambda d: d["server"].update(wokers=2), "server: unknown key 'wokers'"),
        (lambda d: d["server"].update(workers=0), "workers must be a whole number >= 1"),
        (lambda d: d["server"].update(listen="8080"), "is not HOST:PORT"),
        (lambda d: d["auth"].update(jwt_secret="short"), "at least 32 characters"),
        (lambda d: d["database"].pop("url"), "url is not set"),
        (lambda d: d.update(clusters="https://ce/q"), "clusters must be a list of strings"),
        (lambda d: d["server"].update(tls_cert="/c.pem"), "tls_cert and server.tls_key go together"),
        (lambda d: d["logging"].update(level="loud"), "level must be one of debug"),
        (lambda d: d["auth"].update(token_issuers="https://iam.example.org"), "token_issuers must be a list of map"),
        (lambda d: d["auth"].update(token_issuers=[{"issuer": "http://iam.example.org", "audience": "a"}]),
         r"auth: token_issuers\[0\]: issuer must be the issuer's https URL"),
    ],
)
def test_server_config_mistakes_are_named(tmp_path: Path, edit, message: str) -> None:
    path = _write_rendered(tmp_path / "c.yaml")
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        ServerConfig.load(path)


def test_server_config_reads_the_trusted_token_issuers(tmp_path: Path) -> None:
    path = _write_rendered(tmp_path / "c.yaml")
    data = yaml.safe_load(path.read_text())
    assert ServerConfig.load(path).token_issuers == ()  # proxies only, unless configured
    data["auth"]["token_issuers"] = [
        {"issuer": "https://iam.example.org/", "audience": "https://actd.example.org", "scopes": ["compute.create"]},
        {"issuer": "https://other.example.org", "audience": "actd", "identity_claim": "email"},
    ]
    path.write_text(yaml.safe_dump(data))
    first, second = ServerConfig.load(path).token_issuers
    assert (first.issuer, first.audience, first.scopes) == (
        "https://iam.example.org/", "https://actd.example.org", ("compute.create",))
    assert (second.identity_claim, second.scopes) == ("email", ())


def test_server_config_that_is_not_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data_dir: /x\ndatabase: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        ServerConfig.load(path)


def test_server_config_location_is_flag_then_environment_then_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ACTD_CONFIG", raising=False)
    assert resolve_server_config_path(None) == tmp_path / "xdg" / "actd" / "config.yaml"
    monkeypatch.setenv("ACTD_CONFIG", str(tmp_path / "env.yaml"))
    assert resolve_server_config_path(None) == tmp_path / "env.yaml"
    assert resolve_server_config_path(tmp_path / "flag.yaml") == tmp_path / "flag.yaml"


def test_private_file_is_mode_0600_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "secret.yaml"
    write_private_file(target, "a: 1\n")
    write_private_file(target, "a: 2\n")
    assert target.read_text() == "a: 2\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secret.yaml"]


# ----------------------------------------------------------------- client


def test_client_config_reads_an_act_client_file_with_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GRIDDIR", str(tmp_path / "grid"))
    path = tmp_path / "config.yaml"
    path.write_text(
        "server: https://act.example.org/\n"
        "token: ~/tok\n"
        "proxy: $GRIDDIR/proxy.pem\n"
        "webdav: https://dcache.example.org:2880/user\n"
        "clusters:\n"
        "  default: [https://ce1.example.org/batch]\n"
        "  gpu:\n    - https://ce2.example.org/gpu\n    - https://ce3.example.org/gpu\n"
        "port: 1234\n"  # act-client's unused key: ignored, as act-client does
    )
    config = ClientConfig.load(path)
    assert config.server == "https://act.example.org"
    assert config.token == tmp_path / "tok"
    assert config.proxy == tmp_path / "grid" / "proxy.pem"
    assert config.webdav == "https://dcache.example.org:2880/user"
    assert config.storage == "actstore"
    assert config.resolve_clusterlist() == ["https://ce1.example.org/batch"]
    assert config.resolve_clusterlist("gpu") == ["https://ce2.example.org/gpu", "https://ce3.example.org/gpu"]
    assert config.resolve_clusterlist("https://a/q, https://b/q") == ["https://a/q", "https://b/q"]


def test_client_config_defaults_are_act_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    assert default_client_config_path() == tmp_path / ".config" / "act-client" / "config.yaml"
    assert default_token_path() == tmp_path / ".local" / "share" / "act-client" / "token"
    assert default_proxy_path() == Path("/tmp") / f"x509up_u{os.getuid()}"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "myproxy"))
    assert default_client_config_path() == tmp_path / "cfg" / "act-client" / "config.yaml"
    assert default_token_path() == tmp_path / "data" / "act-client" / "token"
    assert default_proxy_path() == tmp_path / "myproxy"


def test_client_config_storage_key_picks_the_backend(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server: https://act\nstorage: dcache\n")
    assert ClientConfig.load(path).storage == "dcache"


def test_client_config_missing_key_gives_act_clients_message(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("token: /tmp/t\n")
    with pytest.raises(ConfigError, match="^Config key server not configured$"):
        ClientConfig.load(path).require("server")


def test_client_config_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"config file {tmp_path / 'none.yaml'} does not exist"):
        ClientConfig.load(tmp_path / "none.yaml")


def test_client_config_cluster_group_must_be_a_list_of_urls(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("clusters:\n  default: {a: b}\n")
    with pytest.raises(ConfigError, match="clusters: default must be a list of URLs"):
        ClientConfig.load(path)
