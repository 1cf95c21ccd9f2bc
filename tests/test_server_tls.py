"""``actd serve`` over HTTPS with the certificate and key from the configuration."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from actframework.config import write_private_file
from actframework.server_config import new_jwt_secret, render_server_config

from fixtures.server import ACTD, free_port

pytestmark = pytest.mark.integration


def test_serves_https_with_the_configured_certificate(arc_ce, tmp_path: Path) -> None:
    port = free_port()
    text = render_server_config(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'actd.sqlite'}",
        listen=f"127.0.0.1:{port}", clusters=[], ca_dir=arc_ce.ca_dir, jwt_secret=new_jwt_secret(),
    )
    host = arc_ce.state_dir / "host"
    text = text.replace("  tls_cert:\n", f"  tls_cert: {host / 'hostcert.pem'}\n")
    text = text.replace("  tls_key:\n", f"  tls_key: {host / 'hostkey.pem'}\n")
    config = tmp_path / "actd.yaml"
    write_private_file(config, text)
    assert subprocess.run([str(ACTD), "db", "upgrade", "--config", str(config)], capture_output=True).returncode == 0
    log = tmp_path / "actd.log"
    server = subprocess.Popen([str(ACTD), "serve", "--config", str(config)],
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    session = requests.Session()
    session.trust_env = False
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = session.get(f"https://localhost:{port}/info", verify=str(arc_ce.ca_file), timeout=2)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"actd serve did not start:\n{log.read_text()}")
                time.sleep(0.1)
        assert response.status_code == 401 and response.json() == {"msg": "Auth token is missing"}
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://localhost:{port}/info", timeout=2)  # the system CAs do not know this one
    finally:
        session.close()  # uvicorn waits for open keep-alive connections when stopping
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
