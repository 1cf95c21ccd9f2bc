"""The systemd units a site installs for ``actd serve`` and ``actd engine``
(packaging/systemd/): systemd itself finds nothing wrong with them, their
hardening keeps the exposure low, and the engine gets the time it needs to
give up its leases before systemd kills it."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actframework.engine.runner import stop_bound
from actframework.engine_settings import EngineSettings

from fixtures.required import unavailable

UNITS = Path(__file__).resolve().parents[1] / "packaging" / "systemd"
NAMES = ("actd-serve.service", "actd-engine.service")
#: systemd-analyze security's scale runs from 0 (locked down) to 10.
MOST_EXPOSURE = 2.0


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        unavailable("systemd-analyze", "it is not installed", "apt-get install systemd")
    return found


def installed_copy(name: str, tmp_path: Path) -> Path:
    """The unit with ``ExecStart`` pointing at this venv's actd (``verify``
    checks that the command exists and is executable)."""
    actd = Path(sys.executable).with_name("actd")
    text = (UNITS / name).read_text().replace("/opt/actd/bin/actd", str(actd))
    copy = tmp_path / name
    copy.write_text(text)
    return copy


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", NAMES)
def test_systemd_analyze_verify_finds_nothing_wrong_with_the_unit(name: str, tmp_path: Path) -> None:
    done = subprocess.run([analyze(), "verify", str(installed_copy(name, tmp_path))],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_unit_exposes_little_by_systemds_own_measure(name: str, tmp_path: Path) -> None:
    done = subprocess.run([analyze(), "security", "--offline=true", "--no-pager",
                           str(installed_copy(name, tmp_path))],
                          capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", done.stdout)
    assert found is not None, done.stdout + done.stderr
    assert float(found.group(1)) <= MOST_EXPOSURE, done.stdout


@pytest.mark.parametrize("name", NAMES)
def test_the_unit_runs_as_its_own_user_on_a_read_only_system_but_for_the_data_dir(name: str) -> None:
    service = unit(name)["Service"]
    assert service["User"] == "actd" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/actd"
    assert service["NoNewPrivileges"] == "yes" and service["Restart"] == "on-failure"
    assert service["Environment"] == "ACTD_CONFIG=/etc/actd/config.yaml"


def test_systemd_waits_longer_than_the_engine_needs_to_stop_and_give_up_its_leases() -> None:
    timeout = unit("actd-engine.service")["Service"]["TimeoutStopSec"]
    assert timeout.endswith("s")
    assert float(timeout[:-1]) > stop_bound(EngineSettings().ce_timeout)
