"""Issuing RFC 3820 proxies: the certificate profile, what ``arcproxy`` does,
and the CSR a delegation target sends.

Proxies made from the user's certificate and proxies signed for a CSR
(:mod:`actframework.x509.delegation`) must look alike to A-REX and aCT, so
both are built here by :func:`build_proxy`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from actframework.errors import X509Error
from actframework.x509.certificates import extension_value, format_time, is_ca, is_legacy_proxy, proxy_cert_info
from actframework.x509.keys import PrivateKey, load_private_key, same_key
from actframework.x509.names import dn_string
from actframework.x509.oids import PROXY_CERT_INFO_INHERIT_ALL, PROXY_CERT_INFO_OID
from actframework.x509.pem import pem_blocks
from actframework.x509.proxyfile import PathArg, Proxy

log = logging.getLogger(__name__)


def _proxy_name(issuer_subject: x509.Name, cn: str) -> x509.Name:
    return x509.Name(
        [
            *issuer_subject.rdns,
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, cn)]),
        ]
    )


def _signing_hash(issuer: x509.Certificate, key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The hash to sign a proxy with: the one the issuing certificate was
    signed with (pyarcrest's rule), none for Ed25519/Ed448 keys, SHA-256 if
    the issuer's algorithm has no separate hash."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    try:
        algorithm = issuer.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    return algorithm or hashes.SHA256()


def build_proxy(
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    public_key: CertificatePublicKeyTypes,
    lifetime: timedelta | None,
    now: datetime,
) -> x509.Certificate:
    """An RFC 3820 proxy of ``issuer`` for ``public_key``, profile of
    pyarcrest's ``signProxyCSR`` (docs/x509.md lists it):

    * subject = issuer subject + ``CN=<unix time>``, issuer = issuer subject;
    * notBefore = now, notAfter = now + lifetime, never past the issuer's
      notAfter (a proxy cannot outlive what it derives from);
    * critical basicConstraints CA=false, critical keyUsage digitalSignature
      and keyAgreement, authorityKeyIdentifier (key id of the issuer key,
      issuer's issuer and serial), critical proxyCertInfo inheritAll;
    * signed with the issuer key and the issuer's signature hash.

    The serial number is random rather than pyarcrest's copy of the issuer's
    serial: RFC 3820 (3.2) requires serials unique among an issuer's proxies.
    """
    if lifetime is not None and lifetime <= timedelta(0):
        raise X509Error(f"proxy lifetime must be positive, not {lifetime}")
    not_after = issuer.not_valid_after_utc
    if lifetime is not None:
        not_after = min(not_after, now + lifetime)
    if not_after <= now:
        raise X509Error(f"certificate {dn_string(issuer.subject)} expired at {format_time(issuer.not_valid_after_utc)}")
    issuer_key_id = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key()).digest
    builder = (
        x509.CertificateBuilder()
        .subject_name(_proxy_name(issuer.subject, str(int(now.timestamp()))))
        .issuer_name(issuer.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .public_key(public_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier(
                key_identifier=issuer_key_id,
                authority_cert_issuer=[x509.DirectoryName(issuer.issuer)],
                authority_cert_serial_number=issuer.serial_number,
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, PROXY_CERT_INFO_INHERIT_ALL),
            critical=True,
        )
    )
    return builder.sign(issuer_key, _signing_hash(issuer, issuer_key))  # type: ignore[arg-type]


def check_can_issue_proxy(issuer: x509.Certificate, now: datetime) -> None:
    """Refuse issuers whose proxies every verifier would reject."""
    name = dn_string(issuer.subject)
    if issuer.not_valid_before_utc > now:
        raise X509Error(f"certificate {name} is not valid before {format_time(issuer.not_valid_before_utc)}")
    if issuer.not_valid_after_utc <= now:
        raise X509Error(f"certificate {name} expired at {format_time(issuer.not_valid_after_utc)}")
    if is_ca(issuer):
        raise X509Error(f"certificate {name} is a CA; proxies are issued by users and proxies")
    usage = extension_value(issuer, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(f"certificate {name} may not sign proxies: its keyUsage lacks digitalSignature")
    info = proxy_cert_info(issuer)
    if info is not None and info.path_length == 0:
        raise X509Error(f"proxy {name} may not sign further proxies: its path length constraint is 0")


def make_proxy(
    user_cert_path: PathArg,
    user_key_path: PathArg,
    lifetime: timedelta = timedelta(hours=12),
    key_bits: int = 2048,
    passphrase: bytes | None = None,
) -> Proxy:
    """Create an RFC 3820 proxy of the user's certificate, as ``arcproxy`` does.

    A fresh RSA key of ``key_bits`` bits is signed by the user key with the
    same profile as :func:`sign_proxy_csr`. The lifetime is cut at the user
    certificate's notAfter. A user certificate that is expired or not yet
    valid is refused, since every service would refuse its proxy. Further
    certificates in the user certificate file (intermediate CAs) are kept in
    the chain after the user certificate.
    """
    try:
        cert_data = Path(user_cert_path).read_bytes()
    except OSError as error:
        raise X509Error(f"cannot read user certificate {user_cert_path}: {error.strerror or error}") from None
    try:
        key_data = Path(user_key_path).read_bytes()
    except OSError as error:
        raise X509Error(f"cannot read user key {user_key_path}: {error.strerror or error}") from None
    certificates = [block for label, block in pem_blocks(cert_data) if label == "CERTIFICATE"]
    if not certificates:
        raise X509Error(f"{user_cert_path}: no PEM certificate found")
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in certificates]
    except ValueError as error:
        raise X509Error(f"{user_cert_path}: unreadable certificate: {error}") from None
    user_cert = chain[0]
    keys = [block for label, block in pem_blocks(key_data) if label.endswith("PRIVATE KEY")]
    if not keys:
        raise X509Error(f"{user_key_path}: no PEM private key found")
    try:
        user_key = load_private_key(keys[0], passphrase, "user")
    except X509Error as error:
        raise X509Error(f"{user_key_path}: {error}") from None
    if not same_key(user_cert.public_key(), user_key):
        raise X509Error(f"{user_key_path} is not the key of the certificate in {user_cert_path}")
    now = datetime.now(UTC)
    check_can_issue_proxy(user_cert, now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    certificate = build_proxy(user_cert, user_key, key.public_key(), lifetime, now)
    log.debug(
        "created proxy %s valid until %s",
        dn_string(certificate.subject),
        format_time(certificate.not_valid_after_utc),
    )
    return Proxy(certificate, key, tuple(chain))


def create_proxy_csr(issuer_cert: x509.Certificate, key: PrivateKey | None = None) -> tuple[bytes, PrivateKey]:
    """The CSR a delegation target sends, as the aCT server makes it in
    ``POST /proxies``: subject = the issuer's (proxy) subject, a critical
    proxyCertInfo inheritAll, signed with SHA-256 by ``key`` (a fresh RSA
    2048-bit key, e=65537, unless given). Returns (CSR PEM, key); the key
    stays with the caller until the signed certificate comes back.

    Legacy (``CN=proxy``) issuers and issuers whose keyUsage lacks
    digitalSignature are refused: they cannot sign an RFC 3820 proxy.
    """
    if is_legacy_proxy(issuer_cert):
        raise X509Error(f"{dn_string(issuer_cert.subject)} is a legacy (pre-RFC 3820) proxy; make an RFC 3820 proxy")
    usage = extension_value(issuer_cert, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(
            f"certificate {dn_string(issuer_cert.subject)} may not sign proxies: its keyUsage lacks digitalSignature"
        )
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    algorithm = None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(issuer_cert.subject)
        .add_extension(
            x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, PROXY_CERT_INFO_INHERIT_ALL),
            critical=True,
        )
        .sign(key, algorithm)
    )
    return csr.public_bytes(serialization.Encoding.PEM), key
