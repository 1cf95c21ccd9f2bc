"""Shared pytest setup: the fixtures for real components live in ``fixtures/``."""

pytest_plugins = [
    "fixtures.databases",
    "fixtures.arex",
    "fixtures.scripted_http",
]
