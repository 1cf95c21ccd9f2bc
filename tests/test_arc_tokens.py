"""Bearer tokens on the real CEs: A-REX 6.17 (REST 1.0) and 7.0 (REST 1.1)
take a token of the configured issuer in place of a client certificate, and
refuse one that does not verify, each in its own way."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from actframework.arc import ARCRest
from actframework.errors import ARCAuthError

from fixtures.arex import ArcCE, arc_session
from fixtures.token_issuer import KID, TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.arex]


def _jobs_with(ce: ArcCE, token: str) -> requests.Response:
    with arc_session(ce, anonymous=True) as session:
        return session.get(f"{ce.rest_url}/jobs", headers={"Authorization": f"Bearer {token}"})


def test_a_token_of_the_configured_issuer_lists_jobs_without_a_certificate(
    ce_with_tokens: ArcCE, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.mint(ce_with_tokens.url)
    answer = _jobs_with(ce_with_tokens, token)
    assert answer.status_code == 200, (answer.status_code, answer.reason)
    # A-REX fetched the issuer's metadata and keys to verify the token.
    seen = {line.rsplit(" ", 1)[0] for line in token_issuer.requests_seen()}  # without the client's name
    assert {"GET /.well-known/openid-configuration 200", "GET /jwks 200"} <= seen
    with ARCRest.connect(ce_with_tokens.url, token=token, ca_dir=ce_with_tokens.ca_dir) as client:
        assert isinstance(client.get_jobs_list(), list)


def test_a_forged_token_is_refused_with_403_on_6_17_and_500_on_7_0(
    ce_with_tokens: ArcCE, token_issuer: TokenIssuer
) -> None:
    genuine = jwt.decode(token_issuer.mint(ce_with_tokens.url), options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(genuine, other_key, algorithm="RS256", headers={"kid": KID, "typ": "JWT"})
    answer = _jobs_with(ce_with_tokens, forged)
    # Same words, other status: 7.0 answers a refusal with 500, which a
    # client must not take for a CE outage.
    assert answer.reason == "User can't be assigned configuration"
    assert answer.status_code == (403 if ce_with_tokens.release == "6.17" else 500)
    # The client names both the same: a refusal of our credentials.
    if ce_with_tokens.release == "6.17":
        with pytest.raises(ARCAuthError, match="403"):  # 6.17 does not even tell its versions
            ARCRest.connect(ce_with_tokens.url, token=forged, ca_dir=ce_with_tokens.ca_dir)
    else:
        with ARCRest.connect(ce_with_tokens.url, token=forged, ca_dir=ce_with_tokens.ca_dir) as client:
            with pytest.raises(ARCAuthError) as refused:
                client.get_jobs_list()
        assert refused.value.status == 500


def test_rest_1_1_stores_a_jwt_delegation_and_rest_1_0_answers_with_a_csr(
    ce_with_tokens: ArcCE, token_issuer: TokenIssuer, ce_delegations: list[str], arc_rest: ARCRest
) -> None:
    token = token_issuer.mint(ce_with_tokens.url)
    with arc_session(ce_with_tokens) as session:
        answer = session.post(f"{ce_with_tokens.rest_url}/delegations", params={"action": "new", "type": "jwt"},
                              headers={"X-Token-Delegation": token})
    assert answer.status_code == 201
    delegation_id = answer.headers["Location"].rsplit("/", 1)[-1]
    ce_delegations.append(delegation_id)
    if ce_with_tokens.release == "6.17":
        # REST 1.0 knows no JWT delegation: type=jwt is ignored and an X.509 CSR comes back.
        assert answer.content.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
        return
    assert answer.content == b""
    assert {d.id: d.type for d in arc_rest.list_delegations()}[delegation_id] == "jwt"


@pytest.fixture(scope="module")
def arc_rest(ce_with_tokens: ArcCE) -> Iterator[ARCRest]:
    """A certificate client on ``ce_with_tokens`` (for ``ce_delegations``' clean-up too)."""
    with ARCRest.connect(ce_with_tokens.url, proxy=ce_with_tokens.proxy, ca_dir=ce_with_tokens.ca_dir) as client:
        yield client
