"""HTTP errors in aCT's wire format: a status code and ``{"msg": "..."}``.

act-client reads ``msg`` from every error body and prints it, so every error
the server sends, including FastAPI's own validation errors, has this shape.
Internal errors say only ``Server error``; their details go to the log.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from actframework.errors import DatabaseUnavailableError, InvalidColumnError, InvalidFilterError, StoreError

log = logging.getLogger(__name__)


class APIError(Exception):
    """Raised by route code to answer ``status`` with ``{"msg": msg}``."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


def error_response(status: int, msg: str) -> JSONResponse:
    return JSONResponse({"msg": msg}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.msg)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such endpoint"
        if exc.status_code == 405:
            detail = "Method not allowed"
        return error_response(exc.status_code, detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"Invalid request: {where}: {first.get('msg', 'invalid')}".replace(": :", ":"))

    @app.exception_handler(InvalidFilterError)
    @app.exception_handler(InvalidColumnError)
    async def _bad_filter(request: Request, exc: StoreError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(DatabaseUnavailableError)
    async def _database_away(request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        # A restart of the database is an operational event, not a bug: one
        # line in the log, and an answer clients know to retry.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"msg": "The job database is unavailable; try again later"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "Server error")
