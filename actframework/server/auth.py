"""Tokens: the HS256 JWTs that identify a delegated proxy.

A token carries ``proxyid`` and ``exp`` (the proxy's expiry), exactly as
aCT's do, so tokens are interchangeable with what act-client expects. It is
checked in aCT's order with aCT's messages, but a token that is not a JWT at
all is a 401 here, not aCT's 500.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
from fastapi import Request

from actframework.server.errors import APIError

ALGORITHM = "HS256"


def issue_token(secret: str, proxyid: int, expires: datetime) -> str:
    """A token for ``proxyid``, valid until ``expires`` (the proxy's end)."""
    return _encode({"proxyid": proxyid}, secret, expires)


def bearer_token(request: Request) -> str:
    """The token of the ``Authorization: Bearer <token>`` header."""
    header = request.headers.get("Authorization")
    if not header:
        raise APIError(401, "Auth token is missing")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise APIError(401, "Auth token is missing")
    return parts[1]


def _claims(secret: str, token: str) -> dict[str, object]:
    """The verified claims of ``token``; 401 with aCT's message when it is not valid."""
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise APIError(401, "Auth token is expired") from None
    except jwt.InvalidSignatureError:
        raise APIError(401, "Invalid token signature") from None
    except jwt.PyJWTError:
        raise APIError(401, "Invalid auth token") from None


def _int_claim(claims: dict[str, object], name: str) -> int | None:
    value = claims.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _encode(claims: dict[str, object], secret: str, expires: datetime) -> str:
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return jwt.encode({**claims, "exp": expires}, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> int:
    """The token's ``proxyid``; 401 with aCT's message when it is not valid."""
    proxyid = _int_claim(_claims(secret, token), "proxyid")
    if proxyid is None:
        raise APIError(401, "Invalid auth token")
    return proxyid


PENDING_CLAIM = "pendingid"
"""Claim of a delegation token (step 1 of ``/proxies``). Such a token carries
no ``proxyid``, so :func:`decode_token` refuses it and it opens no job route:
it only lets its holder finish that one delegation."""


def issue_pending_token(secret: str, pendingid: int, expires: datetime) -> str:
    """A token for finishing the started delegation ``pendingid`` (``PUT /proxies``)."""
    return _encode({PENDING_CLAIM: pendingid}, secret, expires)


def decode_pending_token(secret: str, token: str) -> int:
    """The ``pendingid`` of a delegation token; 401 for any other token,
    including a valid proxy token (it names no delegation request)."""
    pendingid = _int_claim(_claims(secret, token), PENDING_CLAIM)
    if pendingid is None:
        raise APIError(401, "Auth token is not for a delegation; start with POST /proxies")
    return pendingid
