"""A site distribution presets ``act``: users need no configuration file.

A fresh virtual environment holds the actframework core (``pip install
<repo>``, no extra) and ``examples/site-example`` as a site would ship it,
except that the copy installed here names the test's server and CA: a site
distribution hard-codes its server URL and CA bundle, so the test writes the
copy a site admin would have written for a server at this address. With
``HOME`` an empty directory (no ``~/.config/act-client/config.yaml``) and no
``X509_CERT_DIR``, ``act info`` must reach that real ``actd serve`` over
HTTPS, trusting only the site's CA bundle, and ``act config`` must name the
installed file each preset value came from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from actframework.config import write_private_file
from actframework.db import open_store
from actframework.server.auth import issue_token
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config
from actframework.x509 import load_proxy

from fixtures.server import ACTD, free_port

# The tests share one new venv (a module fixture): under pytest-xdist they
# run on one worker, so it is made once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("site-venv")]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "site-example"
EXAMPLE_SERVER = "https://act.example-grid.org:8443"
TIMEOUT = 120


def _run(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, env=env,
                            timeout=600)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Site:
    """The test's ``actd serve`` (HTTPS) and a user's token for it."""

    url: str
    ca_file: Path
    token: str


@pytest.fixture(scope="module")
def site(arc_ce, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``actd serve`` over HTTPS with the test CE's host certificate (for
    localhost), on SQLite; the test user's proxy stored as a delegation."""
    work = tmp_path_factory.mktemp("site-actd")
    port = free_port()
    text = render_server_config(
        data_dir=work / "data", database_url=f"sqlite:///{work / 'actd.sqlite'}", listen=f"127.0.0.1:{port}",
        clusters=["https://ce1.example-grid.org/batch"], ca_dir=arc_ce.ca_dir, jwt_secret=new_jwt_secret())
    host = arc_ce.state_dir / "host"
    text = text.replace("  tls_cert:\n", f"  tls_cert: {host / 'hostcert.pem'}\n")
    text = text.replace("  tls_key:\n", f"  tls_key: {host / 'hostkey.pem'}\n")
    config_path = work / "actd.yaml"
    write_private_file(config_path, text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTD_", "ACT_"))}
    _run(ACTD, "db", "upgrade", "--config", config_path, env=env)
    config = ServerConfig.load(config_path)
    log = work / "actd.log"
    server = subprocess.Popen([str(ACTD), "serve", "--config", str(config_path)], stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, env=env)
    url = f"https://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/info", verify=str(arc_ce.ca_file), timeout=2)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"actd serve did not start:\n{log.read_text()}")
                time.sleep(0.1)
        proxy = load_proxy(arc_ce.proxy)
        expiry = proxy.not_after.replace(tzinfo=None)
        store = open_store(config.database_url)
        try:
            proxyid = store.store_proxy(proxy.dn, "", proxy.to_pem(), expiry)
        finally:
            store.close()
        yield Site(url, arc_ce.ca_file, issue_token(config.jwt_secret, proxyid, expiry))
    finally:
        server.terminate()  # a server that does not stop within 15 s fails the teardown
        server.wait(15)


@pytest.fixture(scope="module")
def site_venv(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the core (not editable) and the site distribution,
    written for the test's server as a site admin would write it."""
    root = tmp_path_factory.mktemp("site-venv")
    dist = root / "dist"
    shutil.copytree(EXAMPLE, dist, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    snippet = dist / "etc" / "act.d" / "site-example.yaml"
    text = snippet.read_text()
    assert f"server: {EXAMPLE_SERVER}\n" in text
    snippet.write_text(text.replace(f"server: {EXAMPLE_SERVER}\n", f"server: {site.url}\n"))
    shutil.copyfile(site.ca_file, dist / "etc" / "act.d" / "site-example-ca.pem")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REPO)
    # --no-deps: the example's actframework-webdav is not needed by act info,
    # and the core alone is what this test is about.
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", dist)
    return env_dir


def _settings(out: str) -> dict[str, str]:
    """``act config``'s settings: the value and origin of each key."""
    return {line.split()[0]: line.split(None, 1)[1] for line in out.split("settings:\n")[1].splitlines()}


@pytest.fixture
def user_env(site: Site, tmp_path: Path) -> dict[str, str]:
    """A user with an empty home (only the token that ``act proxy`` would have
    stored) and no X.509 or ACT_ variables."""
    home = tmp_path / "home"
    home.mkdir()
    write_private_file(home / ".local" / "share" / "act-client" / "token", site.token)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def test_act_info_reaches_the_site_server_with_no_user_configuration(
        site: Site, site_venv: Path, user_env: dict[str, str]) -> None:
    assert not (Path(user_env["HOME"]) / ".config").exists()
    out = _run(site_venv / "bin" / "act", "info", env=user_env).stdout
    assert out == f"aCT server URL: {site.url}\nClusters:\nhttps://ce1.example-grid.org/batch\n"


def test_act_trusts_the_sites_ca_bundle_and_only_what_is_configured(
        site: Site, site_venv: Path, user_env: dict[str, str]) -> None:
    """The bundle the site package names is what lets act verify the server:
    pointed at the example's own (fictional) CA instead, it refuses."""
    other_ca = EXAMPLE / "etc" / "act.d" / "site-example-ca.pem"
    refused = _run(site_venv / "bin" / "act", "info", env={**user_env, "ACT_CA_CERTIFICATES": str(other_ca)},
                   check=False)
    assert refused.returncode == 1
    assert "did not verify" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_act_config_shows_where_each_preset_comes_from(site: Site, site_venv: Path,
                                                       user_env: dict[str, str]) -> None:
    installed = site_venv / "etc" / "actframework" / "act.d" / "site-example.yaml"
    out = _run(site_venv / "bin" / "act", "config", env=user_env).stdout
    settings = _settings(out)
    origin = f"[site package: {installed}]"
    assert settings["server"] == f"{site.url}  {origin}"
    assert settings["storage"] == f"webdav  {origin}"
    assert settings["webdav"] == f"https://dav.example-grid.org/act/inputs  {origin}"
    assert settings["clusters.default"] == ("[https://ce1.example-grid.org/batch, https://ce2.example-grid.org/batch]"
                                            f"  {origin}")
    assert settings["clusters.gpu"] == f"[https://gpu.example-grid.org/gpu]  {origin}"
    assert settings["ca_certificates"] == f"{installed.parent / 'site-example-ca.pem'}  {origin}"
    assert settings["proxy"].endswith("[default]")
    assert f"  site package: {installed}\n" in out
    assert f"  user: {user_env['HOME']}/.config/act-client/config.yaml (absent)\n" in out
    assert site.token not in out


def test_the_users_file_and_flags_override_the_site(site: Site, site_venv: Path, user_env: dict[str, str]) -> None:
    user_file = Path(user_env["HOME"]) / ".config" / "act-client" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("storage: actstore\n")
    out = _run(site_venv / "bin" / "act", "--server", "https://elsewhere.example", "config", env=user_env).stdout
    settings = _settings(out)
    assert settings["storage"] == f"actstore  [user: {user_file}]"
    assert settings["server"] == "https://elsewhere.example  [command line: --server]"
    assert settings["webdav"].startswith("https://dav.example-grid.org/act/inputs  [site package: ")


def test_actd_reads_the_sites_clusters_and_limits(site_venv: Path, user_env: dict[str, str]) -> None:
    """On the aCT host the same distribution gives actd its clusters and
    per-CE limits; the host's file adds what only it may hold."""
    installed = site_venv / "etc" / "actframework" / "actd.d" / "site-example.yaml"
    config = Path(user_env["HOME"]) / "actd.yaml"
    secret = new_jwt_secret()
    write_private_file(config, f"data_dir: {config.parent / 'data'}\ndatabase:\n  url: sqlite:////nonexistent.db\n"
                               f"auth:\n  jwt_secret: {secret}\n")
    out = _run(site_venv / "bin" / "actd", "config", "--config", config, env=user_env).stdout
    settings = _settings(out)
    origin = f"[site package: {installed}]"
    assert settings["clusters"].endswith(f"https://gpu.example-grid.org/gpu]  {origin}")
    assert settings["engine.sites.ce2.queue_fraction"] == f"0.2  {origin}"
    assert settings["engine.sites.gpu.maxjobs"] == f"64  {origin}"
    assert settings["auth.jwt_secret"] == f"********  [user: {config}]"
    assert secret not in out
