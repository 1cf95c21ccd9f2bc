"""``POST /tokens``: a user hands actd a bearer token instead of a proxy.

The token comes in ``Authorization: Bearer <jwt>``. actd verifies it with
the issuers of ``auth.token_issuers`` (:class:`~actframework.tokens.TokenVerifier`,
one per app, so issuers' keys are fetched once and cached), stores it as the
user's credential (:func:`~actframework.token_users.store_token_user`) and
answers, exactly as ``PUT /proxies`` does, with its own token for the user's
id, valid until the bearer token expires.

The JSON body is optional: ``refresh_token``, ``client_id`` and
``client_secret`` (all three or none) hand actd an OAuth2 refresh grant,
with which the engine renews the stored access token before it expires, at
the token endpoint the issuer's discovery document names.

Every refusal happens before anything is stored: a bad token is a 401 with
what to do, an issuer actd cannot reach a 502, and no token text is ever
logged or echoed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from actframework.db import JobStore
from actframework.errors import TokenError, TokenIssuerError
from actframework.server.auth import issue_token
from actframework.server.deps import get_config, get_store
from actframework.server.errors import APIError
from actframework.server_config import ServerConfig
from actframework.token_users import owner_of, store_token_user
from actframework.tokens import TokenVerifier

log = logging.getLogger(__name__)

router = APIRouter()

NO_ISSUERS = (
    "this actd takes no tokens: it trusts no token issuer (auth.token_issuers is empty); "
    "delegate a proxy with act proxy, or ask the site to trust your issuer"
)
NO_TOKEN = "no token: send your token as Authorization: Bearer <token> (act token does)"
GRANT_FIELDS = ("refresh_token", "client_id", "client_secret")

_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in GRANT_FIELDS},
                    "description": "An optional refresh grant: all three fields or none.",
                }
            }
        },
    }
}


@dataclass(frozen=True)
class RefreshGrantIn:
    """The refresh grant of a request (secrets: never logged)."""

    refresh_token: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)


def token_verifier(config: ServerConfig) -> TokenVerifier | None:
    """The verifier of an app (None when no issuer is trusted), made once by
    :func:`~actframework.server.app.create_app`, so that issuers' keys
    fetched for one request serve the next. It verifies issuers over HTTPS
    with the CAs of ``auth.ca_dir``, as everything else the server trusts."""
    if not config.token_issuers:
        return None
    return TokenVerifier(config.token_issuers, ca_dir=str(config.ca_dir))


def _presented_token(request: Request) -> str:
    parts = (request.headers.get("Authorization") or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise APIError(401, NO_TOKEN)
    return parts[1]


def _grant(payload: Any) -> RefreshGrantIn | None:
    """The refresh grant of the body, None without one; 400 if half given."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise APIError(400, "the body must be a JSON object (refresh_token, client_id, client_secret) or empty")
    given = {name: payload.get(name) for name in GRANT_FIELDS if payload.get(name) is not None}
    if not given:
        return None
    values = {name: value.strip() for name, value in given.items() if isinstance(value, str)}
    bad = [name for name in GRANT_FIELDS if not values.get(name)]
    if bad:
        raise APIError(
            400, f"a refresh grant needs refresh_token, client_id and client_secret; missing: {', '.join(bad)}"
        )
    return RefreshGrantIn(values["refresh_token"], values["client_id"], values["client_secret"])


@router.post("/tokens", openapi_extra=_BODY)
def hand_over_token(
    request: Request,
    payload: Any = Body(None),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> dict[str, str]:
    """Verify the caller's bearer token, keep it as their credential and
    answer with actd's token for them (as ``PUT /proxies`` does)."""
    verifier: TokenVerifier | None = request.app.state.token_verifier  # set by create_app
    if verifier is None:
        raise APIError(403, NO_ISSUERS)
    token = _presented_token(request)
    grant = _grant(payload)
    try:
        identity = verifier.verify(token)
        owner_of(identity)
        endpoint = verifier.token_endpoint(identity.issuer) if grant is not None else None
    except TokenIssuerError as exc:
        log.warning("token not taken: its issuer cannot be asked: %s", exc)
        raise APIError(502, f"cannot check the token with its issuer now ({exc}); try again later") from None
    except TokenError as exc:
        raise APIError(401, str(exc)) from None
    proxyid = store_token_user(store, config.proxies_dir, identity, token)
    if grant is not None and endpoint is not None:
        store.set_refresh_grant(proxyid, grant.refresh_token, grant.client_id, grant.client_secret, endpoint)
    request.state.dn = identity.owner
    log.info(
        "Token submitted: user: %s, expiration: %s%s",
        identity.owner,
        identity.expires,
        ", with a refresh grant" if grant is not None else "",
    )
    return {"token": issue_token(config.jwt_secret, proxyid, identity.expires)}
