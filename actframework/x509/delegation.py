"""Delegation: signing a CSR from A-REX or the aCT server as a proxy of ours.

A CSR comes from a remote service, so it is read defensively: its signature
must prove the sender holds the key, and A-REX 6's non-standard CSR version
is repaired without trusting anything else in the request.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from actframework.errors import X509Error
from actframework.x509.der import INTEGER, SEQUENCE, DERError, children, der_int, expect, parse_der
from actframework.x509.issue import build_proxy, check_can_issue_proxy
from actframework.x509.names import dn_string
from actframework.x509.pem import cert_pem, pem_blocks
from actframework.x509.proxyfile import Proxy

log = logging.getLogger(__name__)


def _csr_der(csr: bytes) -> bytes:
    blocks = [block for label, block in pem_blocks(csr) if label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")]
    if not blocks:
        if csr[:1] == b"\x30":
            return csr  # already DER
        raise X509Error("not a certificate signing request: no PEM CERTIFICATE REQUEST block")
    body = b"".join(line for line in blocks[0].splitlines()[1:-1] if line.strip())
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise X509Error("certificate signing request is not valid base64") from None


def _verify_csr_signature(csr: x509.CertificateSigningRequest, signed_data: bytes) -> None:
    """Check the CSR signature over ``signed_data`` (the original, unrepaired
    CertificationRequestInfo bytes) with the CSR's own public key."""
    public_key = csr.public_key()
    signature, algorithm = csr.signature, None
    try:
        algorithm = csr.signature_hash_algorithm
        # Older cryptography releases lack signature_algorithm_parameters on
        # CSRs; PKCS#1 v1.5 is what every grid CSR uses anyway.
        parameters = getattr(csr, "signature_algorithm_parameters", None)
        if isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, signed_data)
        elif algorithm is None:
            raise X509Error("certificate signing request has a signature without a hash")
        elif isinstance(public_key, rsa.RSAPublicKey):
            rsa_padding = parameters if isinstance(parameters, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
            public_key.verify(signature, signed_data, rsa_padding, algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_data, ec.ECDSA(algorithm))
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, signed_data, algorithm)
        else:
            raise X509Error("certificate signing request has an unsupported key type")
    except InvalidSignature:
        raise X509Error("certificate signing request signature does not verify") from None
    except (UnsupportedAlgorithm, TypeError, ValueError):
        raise X509Error("certificate signing request uses an unsupported signature algorithm") from None


def _load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """Load a CSR and verify its signature, tolerating A-REX's version field.

    A-REX 6.17 writes CSRs whose version INTEGER is 2 (PKCS#10 allows only 0),
    and ``cryptography`` 38+ refuses to load them (``InvalidVersion``). So the
    DER is walked first: for version 1 or 2, the one content byte of the
    version INTEGER is rewritten to 0 (the length does not change) and the
    repaired DER is loaded. That breaks the CSR's signature, which covers the
    original bytes, so the signature is then checked by hand with the CSR's
    public key over the ORIGINAL CertificationRequestInfo. A CSR whose
    signature does not verify is refused either way: the signature proves
    that whoever sent it holds the private key we delegate to.
    """
    der = _csr_der(csr_pem)
    try:
        request = parse_der(der, SEQUENCE, "CertificationRequest")
        parts = children(der, request)
        if len(parts) != 3:
            raise DERError("CertificationRequest must have 3 parts")
        info = expect(parts[0], SEQUENCE, "CertificationRequestInfo")
        fields = children(der, info)
        if not fields:
            raise DERError("empty CertificationRequestInfo")
        version = expect(fields[0], INTEGER, "version")
        version_value = der_int(der, version)
    except DERError as error:
        raise X509Error(f"malformed certificate signing request: {error}") from None
    if version_value == 0:
        try:
            csr = x509.load_der_x509_csr(der)
        except (ValueError, x509.InvalidVersion) as error:
            raise X509Error(f"malformed certificate signing request: {error}") from None
        if not csr.is_signature_valid:
            raise X509Error("certificate signing request signature does not verify")
        return csr
    if version_value not in (1, 2) or version.end - version.body != 1:
        raise X509Error(f"certificate signing request has unsupported version {version_value}")
    repaired = der[: version.body] + b"\x00" + der[version.end :]
    try:
        csr = x509.load_der_x509_csr(repaired)
    except (ValueError, x509.InvalidVersion) as error:
        raise X509Error(f"malformed certificate signing request: {error}") from None
    _verify_csr_signature(csr, der[info.start : info.end])
    return csr


def sign_proxy_csr(csr_pem: bytes, issuer: Proxy, lifetime: timedelta | None = None) -> bytes:
    """Delegate: sign ``csr_pem`` as an RFC 3820 proxy of ``issuer``.

    ``issuer`` must itself be an RFC 3820 proxy that is valid now. The new
    certificate has the profile described in :func:`~actframework.x509.issue.build_proxy`: the
    issuer's subject plus ``CN=<unix time>``, critical proxyCertInfo
    inheritAll, notAfter = now + ``lifetime`` but never past the issuer's
    notAfter (the issuer's notAfter when no lifetime is given), signed with
    the issuer's key and hash. The CSR's subject and extensions are ignored;
    only its (verified) public key is used, so A-REX's CSRs with an empty
    subject and version 2 are fine (see :func:`_load_csr`).

    Returns the PEM to upload (A-REX ``PUT /delegations/<id>``, aCT
    ``PUT /proxies``): new certificate, issuer certificate, issuer chain.
    """
    if not issuer.is_rfc3820:
        raise X509Error(f"certificate {issuer.subject} is not an RFC 3820 proxy; delegation needs a proxy")
    now = datetime.now(UTC)
    check_can_issue_proxy(issuer.certificate, now)
    csr = _load_csr(csr_pem)
    certificate = build_proxy(issuer.certificate, issuer.key, csr.public_key(), lifetime, now)
    log.debug(
        "signed delegated proxy %s valid until %s",
        dn_string(certificate.subject),
        certificate.not_valid_after_utc,
    )
    return b"".join(cert_pem(cert) for cert in (certificate, issuer.certificate, *issuer.chain))
