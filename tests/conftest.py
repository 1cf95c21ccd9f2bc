"""Shared pytest setup: the fixtures for real components live in ``fixtures/``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from fixtures.required import skips_fail_in_ci

pytest_plugins = [
    "fixtures.databases",
    "fixtures.arex",
    "fixtures.arc_client",
    "fixtures.scripted_http",
    "fixtures.breaking_relay",
    "fixtures.server",
    "fixtures.private_db",
    "fixtures.stack",
    "fixtures.webdav",
    "fixtures.dcache_door",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Under ``CI=true`` a skipped test fails (see ``fixtures.required``)."""
    outcome = yield
    skips_fail_in_ci(outcome.get_result())
