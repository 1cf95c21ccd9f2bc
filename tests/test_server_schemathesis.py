"""Property-based requests against the live server's own OpenAPI document.

Schemathesis reads ``/openapi.json`` from a running ``actd serve`` on each
database, generates valid and invalid requests for every operation and checks
only that no answer is a server error (5xx): whatever a client sends, the
server refuses it with a 4xx or serves it. Requests carry real credentials, so they get past
authentication into the route code:

* every operation but ``DELETE /proxies`` with the token of a stored proxy
  (``PUT /proxies`` answers that token 401, as it should);
* ``PUT /proxies`` with the delegation token of a real ``POST /proxies``;
* ``DELETE /proxies`` last, since its first success forgets the proxy.

Each run has a fixed seed, a fixed number of examples per operation and a
per-request timeout; the subprocess has a hard timeout, so the test always
ends by itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.server import LiveServer

from actframework.x509 import load_proxy

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
RUN_TIMEOUT = 180
SEED = "20240601"
MAX_EXAMPLES = "30"

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.DOTALL)

DELETE_PROXY = "delete_proxy_proxies_delete"
FINISH_DELEGATION = "finish_delegation_proxies_put"


def schemathesis(api: LiveServer, token: str, workdir: Path, *selection: str) -> None:
    """Run schemathesis on ``api`` with ``token``, only the server-error check."""
    workdir.mkdir()
    log_start = len(api.log())
    command = [
        str(SCHEMATHESIS), "run", f"{api.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {token}",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", MAX_EXAMPLES,
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "10",
        "--suppress-health-check", "all",
        "--warnings", "off",
        *selection,
    ]
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
                                cwd=workdir, env=env)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"schemathesis did not finish within {RUN_TIMEOUT} s:\n{error.stdout}")
    # The server's own account, without its one line per request.
    new_log = "".join(line for line in api.log()[log_start:].splitlines(keepends=True)
                      if "actframework.server request " not in line)
    assert result.returncode == 0, (
        f"schemathesis found failures (exit {result.returncode}):\n{result.stdout}\n{result.stderr}\n"
        f"--- server log ---\n{new_log[-20000:]}"
    )
    assert "Traceback" not in new_log, f"the server logged an error:\n{new_log[-20000:]}"


def test_no_generated_request_gets_a_server_error(api: LiveServer, arc_ce, tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: install the 'test' extra into the test interpreter")
    _, token = api.token_for(arc_ce.proxy)
    schemathesis(api, token, tmp_path / "jobs", "--exclude-operation-id", DELETE_PROXY)

    certificates = PEM_CERT.findall(load_proxy(arc_ce.proxy).to_pem().decode())
    started = api.session().post(f"{api.url}/proxies",
                                 json={"cert": certificates[0], "chain": "\n".join(certificates[1:])})
    assert started.status_code == 200, started.text
    schemathesis(api, started.json()["token"], tmp_path / "delegation", "--include-operation-id", FINISH_DELEGATION)

    schemathesis(api, token, tmp_path / "delete", "--include-operation-id", DELETE_PROXY)
