"""Shared pytest setup: the fixtures for real components live in ``fixtures/``."""

pytest_plugins = [
    "fixtures.databases",
    "fixtures.arex",
    "fixtures.arc_client",
    "fixtures.scripted_http",
    "fixtures.breaking_relay",
    "fixtures.server",
    "fixtures.stack",
    "fixtures.webdav",
    "fixtures.dcache_door",
]
