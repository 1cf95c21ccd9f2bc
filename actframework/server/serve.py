"""Running the REST API under uvicorn (``actd serve``)."""

from __future__ import annotations

import json
import os
import shutil

import uvicorn
from fastapi import FastAPI

from actframework import logs
from actframework.config import normalise_listen
from actframework.server.app import create_app
from actframework.server.metrics import start_multiprocess_endpoint
from actframework.server_config import ServerConfig


def app_from_environment() -> FastAPI:
    """The app for the configuration in ``$ACTD_CONFIG`` and ``$ACTD_SET``
    (the ``--set`` flags, as JSON): what each uvicorn worker process builds
    for itself."""
    assignments = json.loads(os.environ.get("ACTD_SET") or "[]")
    config = ServerConfig.load(None, assignments=assignments)
    logs.configure(config.log_level)
    return create_app(config)


def serve(config: ServerConfig) -> None:
    """Serve the API on the configured address until interrupted (and its
    metrics on ``server.metrics_listen``, if set)."""
    host, port = config.listen_address
    if config.path is not None:
        os.environ["ACTD_CONFIG"] = str(config.path)
    os.environ["ACTD_SET"] = json.dumps(list(config.assignments))
    logs.configure(config.log_level)
    metrics_dir = None
    if config.metrics_listen:
        metrics_dir = start_multiprocess_endpoint(*normalise_listen(config.metrics_listen))
    try:
        _run_uvicorn(config, host, port)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(config: ServerConfig, host: str, port: int) -> None:
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
