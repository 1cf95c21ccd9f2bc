"""``act`` stands alone: the client installs without the server's
dependencies (``pip install actframework``), so nothing it imports may
need them, and it starts for every command, so ``act --help`` loads only
what the command line itself needs, and ``act stat`` (like the other
commands that only ask the server) no HTTP library beyond the standard one.

Each check runs in a fresh interpreter: this test process has long since
imported the server and the job store.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import actframework.client

#: Only ``actd`` needs these (the ``server`` extra), and the client must not
#: load the server side of actframework either.
SERVER_SIDE = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "prometheus_client",
               "actframework.engine", "actframework.server", "actframework.db", "actframework.server_config")
#: What only commands that move files or make proxies need.
TRANSFER_ONLY = ("requests", "urllib3", "cryptography", "lark", "rich", "stevedore", "importlib.metadata",
                 "actframework.x509", "actframework.http", "actframework.plugins")
#: ... and what only commands that read the configuration or ask the server need.
COMMAND_ONLY = TRANSFER_ONLY + ("yaml", "pluggy", "http.client", "actframework.client.api")
#: Every module of the client, and the storage backends it loads for ``sub`` and ``get``.
CLIENT_MODULES = sorted(
    [info.name for info in pkgutil.walk_packages(actframework.client.__path__, "actframework.client.")]
    + ["actframework_actstore", "actframework_webdav", "actframework_dcache"]
)


def modules_loaded_by(code: str, *args: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``code`` (with ``args``)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe, *args], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def among(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [name for name in modules if any(name == p or name.startswith(p + ".") for p in packages)]


def test_the_command_line_loads_nothing_of_the_server_side() -> None:
    assert among(modules_loaded_by("import actframework.client.cli"), SERVER_SIDE) == []


@pytest.mark.parametrize("module", CLIENT_MODULES)
def test_no_client_module_needs_the_server_side(module: str) -> None:
    assert among(modules_loaded_by(f"import {module}"), SERVER_SIDE) == []


def test_help_loads_only_the_command_line() -> None:
    code = ("from actframework.client.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='act')\nexcept SystemExit as exit:\n    assert exit.code == 0")
    assert among(modules_loaded_by(code), SERVER_SIDE + COMMAND_ONLY) == []


STAT_AGAINST_A_STUB_SERVER = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

class Jobs(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps([{"c_id": 1, "c_jobname": "a", "a_JobID": None, "a_State": None,
                            "a_arcstate": "tosubmit"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Jobs)
threading.Thread(target=server.serve_forever, daemon=True).start()
home = Path(sys.argv[1])
(home / "token").write_text("t")
(home / "conf.yaml").write_text(f"server: http://127.0.0.1:{server.server_port}\\ntoken: {home / 'token'}\\n")
from actframework.client.cli import cli
try:
    cli(["--conf", str(home / "conf.yaml"), "stat"], prog_name="act")
except SystemExit as exit:
    assert exit.code == 0, exit.code
"""


def test_stat_loads_no_http_library_beyond_the_standard_one(tmp_path: Path) -> None:
    modules = modules_loaded_by(STAT_AGAINST_A_STUB_SERVER, str(tmp_path))
    assert "actframework.client.jsonhttp" in modules  # it did ask the server
    assert among(modules, SERVER_SIDE + TRANSFER_ONLY) == []


def test_the_probe_sees_what_is_loaded() -> None:
    """The checks above would pass with a probe that saw nothing."""
    assert among(modules_loaded_by("import actframework.db"), SERVER_SIDE) != []
