"""Keeping token users' access tokens fresh with their refresh grants.

A token user who handed actd a refresh grant (``act token
--refresh-token-file F --client-id ID --client-secret-file F2``) need not
come back before their access token expires for their jobs to go on: every
``token_refresh_interval`` seconds, :func:`refresh_tokens_cycle` takes the
users with work left whose access token expires within
``token_refresh_before`` seconds and redeems their refresh token at the
issuer's token endpoint (OAuth2 ``refresh_token`` grant, RFC 6749 section
6, client authenticated with HTTP Basic). The new access token is verified
as ``POST /tokens`` verifies one (it must name the same user) and stored
the same way (:func:`~actframework.token_users.store_token_user`: same row,
same id, its 0600 file rewritten); a refresh token the issuer rotated
replaces the old one.

A refresh that fails (the issuer refuses the grant, cannot be reached,
answers a token actd refuses) is logged once, when the failures start,
without any secret, and tried again at every look until it works; until
then the user's jobs wait as those of a user whose proxy expired. Once the
user has no work left, no refresh is made: the token expires, and the
clean-up of :mod:`actframework.engine.credentials` removes it with its
grant, as it does an idle proxy.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import requests

from actframework.db import RefreshGrant
from actframework.engine.context import EngineContext
from actframework.errors import ActError, TokenError, TokenIssuerError
from actframework.httpbase import USER_AGENT
from actframework.token_users import store_token_user
from actframework.tokens import TokenVerifier
from actframework.trusted_issuers import TrustedIssuer

log = logging.getLogger(__name__)


def refresh_tokens_cycle(context: EngineContext, _cluster: str = "") -> int:
    """Refresh the access tokens that expire soon of token users with a
    refresh grant and work left; returns how many were refreshed."""
    settings = context.settings
    if not context.schedule.due(("token-refresh", ""), settings.token_refresh_interval):
        return 0
    due = context.store.refresh_grants_due(datetime.now(UTC) + timedelta(seconds=settings.token_refresh_before))
    refreshed = 0
    for grant in due:
        if context.stopping.is_set():
            break
        try:
            refresh(context, grant)
        except ActError as exc:  # TokenError included; tried again at the next look
            if context.store.refresh_failed(grant.proxyid):
                log.warning(
                    "the token of user %s could not be refreshed (tried again every %d s): %s",
                    grant.proxyid,
                    settings.token_refresh_interval,
                    exc,
                )
            continue
        refreshed += 1
    return refreshed


def refresh(context: EngineContext, grant: RefreshGrant) -> None:
    """Redeem ``grant`` for a new access token and store it as its user's
    credential; TokenError (TokenIssuerError when the issuer is at fault)
    says why not."""
    record = context.store.get_proxy(grant.proxyid)
    if record is None:
        return  # the user left (DELETE /proxies) since the grants were read
    answer = _redeem(grant, str(context.config.ca_dir), context.settings.ce_timeout)
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenIssuerError(f"{grant.tokenendpoint} answered without an access_token")
    identity = _verifier(context.config.token_issuers, str(context.config.ca_dir)).verify(access)
    if identity.owner != record.dn:
        raise TokenError(f"{grant.tokenendpoint} answered with a token of another user ({identity.owner})")
    rotated = answer.get("refresh_token")
    context.store.refresh_succeeded(grant.proxyid, rotated if isinstance(rotated, str) else None)
    store_token_user(context.store, context.config.proxies_dir, identity, access)
    log.info("refreshed the token of user %s (%s): valid until %s", grant.proxyid, identity.owner, identity.expires)


def _redeem(grant: RefreshGrant, ca_dir: str, timeout: float) -> dict[str, Any]:
    """The token endpoint's JSON answer to the refresh grant request."""
    # RFC 6749 2.3.1: client id and secret are form-encoded, then Basic.
    client = (quote_plus(grant.clientid), quote_plus(grant.clientsecret.decode("utf-8")))
    form = {"grant_type": "refresh_token", "refresh_token": grant.refreshtoken.decode("utf-8")}
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                grant.tokenendpoint,
                data=form,
                auth=client,
                timeout=timeout,
                verify=ca_dir,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
    except requests.RequestException as exc:
        raise TokenIssuerError(f"cannot reach {grant.tokenendpoint}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body if isinstance(body, dict) else {}
        reason = " ".join(str(error[key]) for key in ("error", "error_description") if error.get(key))
        raise TokenError(f"{grant.tokenendpoint} refused the refresh: HTTP {response.status_code} {reason}".strip())
    return body


@functools.lru_cache(maxsize=4)
def _verifier(issuers: tuple[TrustedIssuer, ...], ca_dir: str) -> TokenVerifier:
    """One verifier per configuration, so issuers' keys stay cached between cycles."""
    return TokenVerifier(issuers, ca_dir=ca_dir)
