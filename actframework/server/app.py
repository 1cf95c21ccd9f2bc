"""The application factory and what every request shares.

The job store and configuration live on ``app.state``; routes get them (and
the caller's proxy id) through the dependencies below, never from globals,
so tests and ``actd serve`` build apps the same way. Routes are plain
(synchronous) functions: FastAPI runs them on its thread pool, and the store
is synchronous.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, FastAPI, Request

from actframework import __version__
from actframework.config import ServerConfig
from actframework.db import JobStore, open_store
from actframework.server.auth import bearer_token, decode_token
from actframework.server.errors import APIError, install_error_handlers
from actframework.server.files import remove_stale_uploads

log = logging.getLogger("actframework.server")


@dataclass(frozen=True)
class Caller:
    """The authenticated owner of a request: every job query is scoped to ``proxyid``."""

    proxyid: int
    dn: str


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_config(request: Request) -> ServerConfig:
    return request.app.state.config


def current_caller(request: Request, store: JobStore = Depends(get_store),
                   config: ServerConfig = Depends(get_config)) -> Caller:
    """The proxy the request's token stands for, which must exist and be unexpired."""
    proxyid = decode_token(config.jwt_secret, bearer_token(request))
    record = store.get_proxy(proxyid)
    if record is None or record.expirytime is None or record.expirytime <= store.now():
        raise APIError(401, "Proxy from token does not exist in database or is expired")
    request.state.dn = record.dn or ""
    return Caller(proxyid, record.dn or "")


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

    app = FastAPI(title="actframework aCT REST API", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.config = config
    if store is not None:
        app.state.store = store
    install_error_handlers(app)

    @app.middleware("http")
    async def log_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:12]
        started = time.monotonic()
        response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "dn": getattr(request.state, "dn", ""),
                "method": request.method,
                "route": request.url.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response

    from actframework.server.routes import register_routes

    register_routes(app)
    return app
