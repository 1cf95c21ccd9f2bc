"""Backends are found by name after a plain ``pip install``, as a site would do it.

One fresh virtual environment holds the core only (``pip install
actframework``, no extra: the ``act`` client); then our ``webdav``
distribution and a third-party backend kept under ``tests/plugin_dists/`` are
pip-installed into it, and ``actd plugins`` / ``load_backend`` must see them.
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

# Its tests share one new venv (a module fixture, about a minute to make):
# under pytest-xdist they run on one worker, so it is made once.
pytestmark = pytest.mark.xdist_group("plugin-venv")

REPO = Path(__file__).resolve().parents[1]
DISTS = Path(__file__).resolve().parent / "plugin_dists"


def _run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the actframework core (not editable) and no backend."""
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REPO)
    return root


def _pip_install(env: Path, path: Path) -> None:
    _run(env / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", path)


@pytest.mark.integration
def test_the_core_alone_is_the_client(core_venv: Path, tmp_path: Path) -> None:
    """``act`` works without the server's dependencies, which are not
    installed; ``actd`` names the extra that brings them."""
    probe = ("import importlib.util as u\n"
             "print([m for m in ('sqlalchemy', 'alembic', 'fastapi', 'uvicorn', 'jwt', 'prometheus_client')"
             " if u.find_spec(m)])")
    assert _run(core_venv / "bin" / "python", "-c", probe).stdout == "[]\n"
    assert "Submit and manage grid jobs" in _run(core_venv / "bin" / "act", "--help").stdout
    config = tmp_path / "actd.yaml"
    refused = _run(core_venv / "bin" / "actd", "init", "--config", config, "--data-dir", tmp_path / "data",
                   check=False)
    assert (refused.returncode, refused.stderr) == (
        1, "actd: sqlalchemy is not installed: actd needs the server's dependencies, "
           "pip install 'actframework[server]'\n")
    assert not config.exists()


@pytest.mark.integration
def test_pip_installed_backends_are_listed_and_loaded_by_name(core_venv: Path, tmp_path: Path) -> None:
    actd = core_venv / "bin" / "actd"
    python = core_venv / "bin" / "python"
    assert _run(actd, "plugins").stdout == "no storage backends installed\n"

    _pip_install(core_venv, REPO / "plugins" / "webdav")
    listing = _run(actd, "plugins").stdout.splitlines()
    assert listing[1].split() == ["webdav", "actframework-webdav", "0.1.0"]

    _pip_install(core_venv, DISTS / "localdir")
    assert "localdir  actframework-localdir  1.2.3" in _run(actd, "plugins").stdout
    source = tmp_path / "in.txt"
    source.write_text("input data\n")
    store = tmp_path / "store"
    staged = _run(python, "-c", f"""
from actframework.plugins import load_backend
from actframework.storage import Caller, InputFile, StorageContext, StorageJob
manager = load_backend("localdir", {{"root": {str(store)!r}, "root_url": "https://files.example.org/act"}})
job = StorageJob(id=5, description="", inputs=(InputFile("in.txt", {str(source)!r}),))
print(manager.stage_inputs(StorageContext(Caller.CLIENT), job)[0].location)
""").stdout.strip()
    assert staged == "https://files.example.org/act/5/in.txt"
    assert (store / "5" / "in.txt").read_text() == "input data\n"

    _pip_install(core_venv, DISTS / "localdir-clash")
    clash = _run(actd, "plugins", check=False)
    assert clash.returncode == 1
    assert clash.stderr == (
        "actd: storage backend 'localdir' is registered by more than one distribution: "
        "actframework-localdir, localdir-clash\n"
    )
    refused = _run(python, "-c", "from actframework.plugins import load_backend; load_backend('localdir', {'root': '/'})",
                   check=False)
    assert refused.returncode != 0 and "DuplicateBackendError" in refused.stderr
