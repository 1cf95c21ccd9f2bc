"""Route groups of the REST API; each module adds its routes to the app."""

from __future__ import annotations

from fastapi import FastAPI

from actframework.server.routes import data, info, jobs, proxies, tokens


def register_routes(app: FastAPI) -> None:
    """Add every route group's routes to ``app``."""
    for module in (info, proxies, tokens, jobs, data):
        app.include_router(module.router)
