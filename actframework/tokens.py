"""Bearer tokens (WLCG profile JWTs): which issuers actd trusts, and how a token is verified.

actd takes a user's token only from an issuer it is configured to trust,
matched by the token's ``iss`` string exactly (``https://iam.example.org``
and ``https://iam.example.org/`` are two issuers, as OIDC says). For such an
issuer it reads ``<iss>/.well-known/openid-configuration`` over verified
HTTPS, checks that the document names the same issuer, and takes the keys
from the ``jwks_uri`` it gives (HTTPS only). Keys are cached; a token whose
``kid`` is not among them makes one refetch of the key set (at most every
:data:`KEY_REFETCH_COOLDOWN_S`), so an issuer can rotate its keys and a
stream of made-up ``kid``\\ s cannot make actd hammer the issuer.

The token must be signed with an asymmetric algorithm (``alg: none`` and
HMAC are refused before any key is looked at: an HS256 token "signed" with
the issuer's public key would otherwise verify), carry ``exp``, ``iss``,
``sub`` and ``aud``, be valid now (``nbf``, ``exp``, with
:data:`CLOCK_SKEW_S` of leeway), name the issuer's configured audience in
``aud``, and hold every configured scope in ``scope``. The user is then
known by the issuer and a claim (``sub`` unless configured otherwise).

Nothing here logs a token, and error messages never quote one.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
import requests

from actframework.errors import TokenError, TokenIssuerError
from actframework.httpbase import USER_AGENT, tls_context
from actframework.trusted_issuers import TrustedIssuer

#: Signature algorithms a token may use: asymmetric ones only.
ALLOWED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Seconds of clock difference tolerated on ``exp`` and ``nbf``.
CLOCK_SKEW_S: Final = 60
#: How long an issuer's discovery document and key set are kept.
ISSUER_CACHE_S: Final = 3600.0
#: Least seconds between two refetches of a key set for an unknown ``kid``.
KEY_REFETCH_COOLDOWN_S: Final = 30.0
#: What a refused user is told to do, after the reason.
RENEW_HINT: Final = "get a new token and run act token"


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token speaks for, and until when."""

    issuer: str
    subject: str
    """The value of the issuer's identity claim."""
    expires: datetime
    """``exp`` as an aware UTC datetime."""
    scopes: frozenset[str]

    @property
    def owner(self) -> str:
        """One string naming the user across issuers (issuer and subject)."""
        return f"{self.issuer}#{self.subject}"


@dataclass
class _IssuerKeys:
    """An issuer's key client and when its discovery was read."""

    client: jwt.PyJWKClient
    fetched: float = field(default_factory=time.monotonic)


class TokenVerifier:
    """Verifies tokens of the trusted issuers (thread-safe; keys cached)."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        ca_file: str | None = None,
        ca_dir: str | None = None,
        timeout: float = 10.0,
        key_refetch_cooldown: float = KEY_REFETCH_COOLDOWN_S,
        user_agent: str = USER_AGENT,
    ) -> None:
        """``user_agent`` names this verifier to the issuers (what their
        logs show); actframework's own by default."""
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self._user_agent = user_agent
        self._ca_file, self._ca_dir = ca_file, ca_dir
        self._timeout = timeout
        self._cooldown = key_refetch_cooldown
        self._keys: dict[str, _IssuerKeys] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> TokenIdentity:
        """The identity ``token`` proves; TokenError (or TokenIssuerError) says why not."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("the token is not a JWT; " + RENEW_HINT) from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise TokenError(
                f"tokens signed with {algorithm!r} are not accepted (only public-key signatures); " + RENEW_HINT
            )
        issuer = unverified.get("iss")
        trusted = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise TokenError(
                f"the token's issuer {issuer!r} is not one this server trusts "
                f"({', '.join(sorted(self._issuers)) or 'none configured'}); "
                "get a token from one of them and run act token"
            )
        key = self._signing_key(trusted, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=trusted.audience,
                issuer=trusted.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired; " + RENEW_HINT) from None
        except jwt.ImmatureSignatureError:
            raise TokenError(
                "the token is not valid yet (its nbf or iat is in the future); check the clocks, or get a new token"
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenError(
                f"the token is not meant for this server: its audience must include "
                f"{trusted.audience!r}; ask the issuer for a token with that audience"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the token has no {exc.claim!r} claim; " + RENEW_HINT) from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify with its issuer's key; " + RENEW_HINT) from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token was refused: {exc}; " + RENEW_HINT) from None
        scopes = frozenset(str(claims.get("scope") or "").split())
        missing = [scope for scope in trusted.scopes if scope not in scopes]
        if missing:
            raise TokenError(f"the token lacks the scope(s) {' '.join(missing)}; ask the issuer for a token with them")
        subject = claims.get(trusted.identity_claim)
        if not isinstance(subject, str) or not subject:
            raise TokenError(
                f"the token's {trusted.identity_claim!r} claim does not name a user; "
                "ask the issuer for a token that does"
            )
        return TokenIdentity(trusted.issuer, subject, datetime.fromtimestamp(int(claims["exp"]), UTC), scopes)

    # ------------------------------------------------------------------ keys

    def _signing_key(self, trusted: TrustedIssuer, kid: object) -> Any:
        if not isinstance(kid, str) or not kid:
            raise TokenError("the token names no signing key (kid); " + RENEW_HINT)
        keys = self._issuer_keys(trusted)
        try:
            return keys.client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as exc:
            raise TokenIssuerError(f"cannot fetch the keys of {trusted.issuer}: {exc}") from None
        except jwt.PyJWKClientError:
            raise TokenError(
                f"the token's signing key {kid!r} is not one {trusted.issuer} publishes; " + RENEW_HINT
            ) from None

    def _issuer_keys(self, trusted: TrustedIssuer) -> _IssuerKeys:
        with self._lock:
            keys = self._keys.get(trusted.issuer)
            if keys is None or time.monotonic() - keys.fetched > ISSUER_CACHE_S:
                jwks_uri = _https_url(self._discover(trusted.issuer), "jwks_uri")
                keys = _IssuerKeys(
                    jwt.PyJWKClient(
                        jwks_uri,
                        cache_keys=True,
                        lifespan=ISSUER_CACHE_S,
                        timeout=self._timeout,
                        ssl_context=self._tls(),
                        cooldown_duration=self._cooldown,
                        headers={"User-Agent": self._user_agent},
                    )
                )
                self._keys[trusted.issuer] = keys
            return keys

    def _tls(self) -> ssl.SSLContext:
        return tls_context(ca_file=self._ca_file, ca_dir=self._ca_dir)

    def token_endpoint(self, issuer: str) -> str:
        """The ``token_endpoint`` (https) that a trusted issuer's discovery
        document names, where refresh grants are redeemed; TokenIssuerError
        if the issuer cannot be read or names none."""
        if issuer not in self._issuers:
            raise TokenError(f"{issuer!r} is not an issuer this server trusts")
        return _https_url(self._discover(issuer), "token_endpoint")

    def _discover(self, issuer: str) -> dict[str, Any]:
        """The issuer's discovery document, checked to name ``issuer``."""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        verify: str | bool = self._ca_file or self._ca_dir or True
        try:
            with requests.Session() as session:
                session.trust_env = False
                response = session.get(
                    url, timeout=self._timeout, verify=verify, headers={"User-Agent": self._user_agent}
                )
        except requests.RequestException as exc:
            raise TokenIssuerError(f"cannot read {url}: {exc}") from None
        if response.status_code != 200:
            raise TokenIssuerError(f"{url} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except json.JSONDecodeError:
            raise TokenIssuerError(f"{url} is not JSON") from None
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise TokenIssuerError(f"{url} names another issuer than {issuer}")
        return document


def _https_url(document: dict[str, Any], key: str) -> str:
    """The https URL under ``key`` of an issuer's discovery document."""
    value = document.get(key)
    if not isinstance(value, str) or urlsplit(value).scheme != "https":
        raise TokenIssuerError(f"the issuer {document.get('issuer')} gives no https {key}")
    return value
