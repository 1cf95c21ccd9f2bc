"""Shared pytest setup: the fixtures for real components live in ``fixtures/``."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from fixtures.required import skips_fail_in_ci

pytest_plugins = [
    "fixtures.databases",
    "fixtures.arex",
    "fixtures.arex7",
    "fixtures.token_issuer",
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


@pytest.fixture(autouse=True)
def _no_log_handler_on_a_closed_stream() -> Iterator[None]:
    """``actd`` commands run in process (click's CliRunner) set up logging
    to the stderr of that run, which CliRunner closes afterwards. Such a
    handler left on the root logger (``actd``) or on actframework's (``act
    -v``) makes every later log line of the same
    test process print "Logging error" tracebacks into the next run's
    stderr; it goes when the test that left it ends."""
    yield
    for logger in (logging.getLogger(), logging.getLogger("actframework")):
        for handler in logger.handlers[:]:
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                logger.removeHandler(handler)
