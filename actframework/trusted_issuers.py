"""The token issuers actd trusts, as its configuration names them.

Kept apart from :mod:`actframework.tokens` (the verification, which needs
PyJWT from the ``server`` extra) so that reading actd's configuration
imports nothing that only the server brings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from actframework.errors import ConfigError


@dataclass(frozen=True)
class TrustedIssuer:
    """One issuer actd takes tokens from, and what its tokens must hold."""

    issuer: str
    """Exactly as in the tokens' ``iss``."""
    audience: str
    """What the tokens' ``aud`` must name (actd's own identity)."""
    scopes: tuple[str, ...] = ()
    """Scopes every token must hold, e.g. ``compute.create``."""
    identity_claim: str = "sub"
    """The claim that names the user within the issuer."""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str) -> TrustedIssuer:
        """One entry of the configuration's trusted issuers; ConfigError if malformed."""
        issuer, audience = raw.get("issuer"), raw.get("audience")
        if not isinstance(issuer, str) or urlsplit(issuer).scheme != "https" or not urlsplit(issuer).netloc:
            raise ConfigError(f"{where}: issuer must be the issuer's https URL, got {issuer!r}")
        if not isinstance(audience, str) or not audience:
            raise ConfigError(f"{where}: audience must be a non-empty string")
        scopes = raw.get("scopes", [])
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not all(isinstance(scope, str) and scope for scope in scopes):
            raise ConfigError(f"{where}: scopes must be a list of scope names")
        claim = raw.get("identity_claim", "sub")
        if not isinstance(claim, str) or not claim:
            raise ConfigError(f"{where}: identity_claim must be a claim name")
        unknown = set(raw) - {"issuer", "audience", "scopes", "identity_claim"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(issuer, audience, tuple(scopes), claim)
