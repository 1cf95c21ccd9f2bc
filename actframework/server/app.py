"""The application factory: the store, the configuration, the routes.

The job store and configuration live on ``app.state``; routes get them (and
the caller's proxy id) through the dependencies of
:mod:`actframework.server.deps`, never from globals, so tests and
``actd serve`` build apps the same way. Routes are plain (synchronous)
functions: FastAPI runs them on its thread pool, and the store is
synchronous.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from actframework import __version__
from actframework.db import JobStore, open_store
from actframework.server.errors import install_error_handlers
from actframework.server.files import remove_stale_uploads
from actframework.server.metrics import ServerMetrics
from actframework.server.routes import register_routes
from actframework.server.routes.tokens import token_verifier
from actframework.server_config import ServerConfig

log = logging.getLogger("actframework.server")


def create_app(config: ServerConfig, store: JobStore | None = None) -> FastAPI:
    """The aCT REST API for ``config`` (on ``store`` if given, else one opened
    from the configured database when the app starts)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        app.state.store = store or open_store(config.database_url, outage_wait=config.database_outage_wait)
        stale = remove_stale_uploads(config.inputs_dir)
        if stale:
            log.info("removed %d unfinished upload(s) of server processes that died", stale)
        try:
            yield
        finally:
            if own:
                app.state.store.close()

    app = FastAPI(
        title="actframework aCT REST API", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.config = config
    app.state.token_verifier = token_verifier(config)
    if store is not None:
        app.state.store = store
    install_error_handlers(app)
    app.state.metrics = metrics = ServerMetrics()

    @app.middleware("http")
    async def log_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:12]
        started = time.monotonic()
        response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        duration = time.monotonic() - started
        # The route's template, set on the scope by the router when one matched.
        metrics.observe(
            request.method, getattr(request.scope.get("route"), "path", None), response.status_code, duration
        )
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "dn": getattr(request.state, "dn", ""),
                "method": request.method,
                "route": request.url.path,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 1),
            },
        )
        return response

    register_routes(app)
    return app
