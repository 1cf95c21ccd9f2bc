"""Token verification against the real loopback issuer (OIDC discovery and
JWKS over verified HTTPS): good tokens give the user's identity; each kind
of bad token is refused with a message that says what is wrong."""

from __future__ import annotations

import uuid

from datetime import UTC, datetime

import jwt
import pytest

from actframework.errors import ConfigError, TokenError, TokenIssuerError
from actframework.tokens import TokenVerifier
from actframework.trusted_issuers import TrustedIssuer

from fixtures.token_issuer import KID, TokenIssuer

#: One worker runs these one after another: the key-cache test counts the
#: verifier's fetches in the issuer's log, which the others' verifiers add to.
pytestmark = [pytest.mark.integration, pytest.mark.arex, pytest.mark.xdist_group("token-verifier")]

AUDIENCE = "https://actd.example.org"
SCOPES = ("compute.create", "compute.read")


#: This module's verifiers name themselves so to the issuer, whose one log
#: also holds what every other verifier and CE of the test run fetches.
PRODUCT = f"actf-test-verifier-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def verifier(token_issuer: TokenIssuer) -> TokenVerifier:
    trusted = TrustedIssuer(token_issuer.url, AUDIENCE, SCOPES)
    return TokenVerifier(
        [trusted], ca_file=str(token_issuer.ca_file), key_refetch_cooldown=0, user_agent=f"{PRODUCT}/1"
    )


def fetched_by_us(token_issuer: TokenIssuer, start: int) -> list[str]:
    """The paths this module's verifiers fetched since line ``start`` of the issuer's log."""
    return [line.split()[1] for line in token_issuer.requests_seen()[start:] if line.endswith(f" {PRODUCT}")]


def claims_of(token_issuer: TokenIssuer) -> dict[str, object]:
    return token_issuer.claims(AUDIENCE, subject="alice", scope=" ".join(SCOPES), lifetime=600)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    assert not isinstance(caught.value, TokenIssuerError)
    assert token not in str(caught.value)
    return str(caught.value)


def test_a_good_token_gives_the_issuer_and_subject_and_its_expiry(
    verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.mint(AUDIENCE, subject="alice", lifetime=600)
    identity = verifier.verify(token)
    assert (identity.issuer, identity.subject) == (token_issuer.url, "alice")
    assert identity.owner == f"{token_issuer.url}#alice"
    assert set(SCOPES) <= identity.scopes
    assert abs((identity.expires - datetime.now(UTC)).total_seconds() - 600) < 30


def test_an_audience_list_holding_ours_is_accepted(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    assert verifier.verify(token_issuer.mint(["https://other.example", AUDIENCE])).subject == "test-token-user"


def test_keys_are_cached_and_refetched_only_for_an_unknown_kid(
    verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    before = len(token_issuer.requests_seen())
    verifier.verify(token_issuer.mint(AUDIENCE))
    verifier.verify(token_issuer.mint(AUDIENCE))
    assert fetched_by_us(token_issuer, before) == ["/.well-known/openid-configuration", "/jwks"]
    message = refused(verifier, token_issuer.mint(AUDIENCE, kid="rotated-away"))
    assert "'rotated-away' is not one" in message
    assert fetched_by_us(token_issuer, before) == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


def test_an_expired_token_is_refused_with_what_to_do(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    message = refused(verifier, token_issuer.mint(AUDIENCE, lifetime=-120, not_before=-600))
    assert "expired" in message and "act token" in message


def test_a_token_not_yet_valid_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    assert "not valid yet" in refused(verifier, token_issuer.mint(AUDIENCE, not_before=600, lifetime=1200))


def test_a_forged_signature_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    assert "signature does not verify" in refused(verifier, token_issuer.forged(claims_of(token_issuer)))


def test_an_untrusted_issuer_is_refused_before_anything_is_fetched(
    verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    before = len(token_issuer.requests_seen())
    message = refused(verifier, token_issuer.mint(AUDIENCE, claims={"iss": "https://evil.example.org"}))
    assert "'https://evil.example.org' is not one this server trusts" in message
    assert fetched_by_us(token_issuer, before) == []


def test_an_issuer_differing_only_by_a_trailing_slash_is_another_issuer(
    verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    message = refused(verifier, token_issuer.mint(AUDIENCE, claims={"iss": token_issuer.url + "/"}))
    assert "is not one this server trusts" in message


def test_a_token_for_another_audience_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    message = refused(verifier, token_issuer.mint("https://other.example"))
    assert AUDIENCE in message and "audience" in message


def test_a_token_without_a_needed_scope_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    message = refused(verifier, token_issuer.mint(AUDIENCE, scope="compute.read"))
    assert "lacks the scope(s) compute.create" in message


def test_alg_none_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    assert "'none' are not accepted" in refused(verifier, token_issuer.unsigned(claims_of(token_issuer)))


def test_an_hs256_token_keyed_with_the_issuers_public_key_is_refused(
    verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.hmac_keyed_with_public_key(claims_of(token_issuer))
    assert "'HS256' are not accepted" in refused(verifier, token)


def test_text_that_is_no_jwt_is_refused(verifier: TokenVerifier) -> None:
    assert "not a JWT" in refused(verifier, "not-a-token")


def test_a_token_without_a_subject_is_refused(verifier: TokenVerifier, token_issuer: TokenIssuer) -> None:
    claims = claims_of(token_issuer)
    del claims["sub"]
    token = jwt.encode(claims, token_issuer.private_key(), algorithm="RS256", headers={"kid": KID})
    assert "no 'sub' claim" in refused(verifier, token)


def test_an_issuer_that_cannot_be_reached_is_the_issuers_fault_not_the_tokens(
    token_issuer: TokenIssuer,
) -> None:
    # Trusted but not served over TLS the verifier trusts: the system CAs do not know the test CA.
    verifier = TokenVerifier([TrustedIssuer(token_issuer.url, AUDIENCE)], ca_file=None, timeout=5)
    with pytest.raises(TokenIssuerError, match="cannot read"):
        verifier.verify(token_issuer.mint(AUDIENCE))


@pytest.mark.parametrize(("raw", "complaint"), [
    ({"issuer": "http://iam.example.org", "audience": "a"}, "https URL"),
    ({"issuer": "https://iam.example.org"}, "audience"),
    ({"issuer": "https://iam.example.org", "audience": "a", "scopes": [1]}, "scopes"),
    ({"issuer": "https://iam.example.org", "audience": "a", "colour": "blue"}, "unknown key"),
])
def test_a_malformed_trusted_issuer_is_a_configuration_error(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        TrustedIssuer.from_mapping(raw, "server.tokens.issuers[0]")


def test_scopes_may_be_given_as_one_string() -> None:
    trusted = TrustedIssuer.from_mapping(
        {"issuer": "https://iam.example.org", "audience": "a", "scopes": "compute.create compute.read"}, "x")
    assert trusted.scopes == ("compute.create", "compute.read")
