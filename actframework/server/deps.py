"""What every request shares: the store, the configuration, the caller.

Routes take these as FastAPI dependencies; :func:`~actframework.server.app.create_app`
puts the store and configuration on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from actframework.db import JobStore
from actframework.server.auth import bearer_token, decode_token
from actframework.server.errors import APIError
from actframework.server_config import ServerConfig


@dataclass(frozen=True)
class Caller:
    """The authenticated owner of a request: every job query is scoped to ``proxyid``."""

    proxyid: int
    dn: str


def get_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store  # set by create_app
    return store


def get_config(request: Request) -> ServerConfig:
    config: ServerConfig = request.app.state.config  # set by create_app
    return config


def current_caller(
    request: Request, store: JobStore = Depends(get_store), config: ServerConfig = Depends(get_config)
) -> Caller:
    """The proxy the request's token stands for, which must exist and be unexpired."""
    proxyid = decode_token(config.jwt_secret, bearer_token(request))
    record = store.get_proxy(proxyid)
    if record is None or record.expirytime is None or record.expirytime <= store.now():
        raise APIError(401, "Proxy from token does not exist in database or is expired")
    request.state.dn = record.dn or ""
    return Caller(proxyid, record.dn or "")
