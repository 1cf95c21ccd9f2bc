"""Running the REST API under uvicorn (``actd serve``)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from actframework import logs
from actframework.config import ServerConfig, resolve_server_config_path
from actframework.server.app import create_app


def app_from_environment() -> FastAPI:
    """The app for the configuration in ``$ACTD_CONFIG``: what each uvicorn
    worker process builds for itself."""
    config = ServerConfig.load(resolve_server_config_path(None))
    logs.configure(config.log_level)
    return create_app(config)


def serve(config: ServerConfig) -> None:
    """Serve the API on the configured address until interrupted."""
    host, port = config.listen_address
    os.environ["ACTD_CONFIG"] = str(config.path)
    logs.configure(config.log_level)
    uvicorn.run(
        "actframework.server.serve:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=config.workers,
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        log_level=config.log_level,
        access_log=False,
        log_config=None,
    )
