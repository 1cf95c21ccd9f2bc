"""Route groups of the REST API; each module adds its routes to the app."""

from __future__ import annotations

from fastapi import FastAPI


def register_routes(app: FastAPI) -> None:
    from actframework.server.routes import data, info, jobs, proxies

    for module in (info, proxies, jobs, data):
        app.include_router(module.router)
