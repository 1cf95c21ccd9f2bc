"""X.509 proxy certificates: load, create, delegate, verify.

Grid services authenticate users by RFC 3820 proxy certificates: short-lived
certificates that a user's certificate (or another proxy) signs for a fresh
key pair, so that the long-lived user key never leaves the user's machine.
This module does what actframework needs with them, using the
``cryptography`` package only (no ARC bindings, no ``openssl`` or
``arcproxy`` processes):

* :func:`load_proxy` / :func:`load_proxy_pem` read a proxy file (certificate,
  key, chain) into a :class:`Proxy`; :func:`write_proxy` writes one safely.
* :func:`make_proxy` does what ``arcproxy`` does: a proxy of the user's
  certificate.
* :func:`sign_proxy_csr` is delegation: it signs a CSR (from A-REX or from
  the aCT server) as a proxy of ours, with the profile of pyarcrest/aCT.
  :func:`create_proxy_csr` is the other side, what the aCT server sends.
* :func:`verify_chain` checks a proxy chain against a hashed CA directory
  with RFC 3820 rules and tells whose proxy it is.
* :func:`voms_attributes` reads the VOMS FQANs a proxy carries.

Private keys are secrets: nothing here logs them or puts them in a message,
and :class:`Proxy` keeps its key out of ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
)
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

from actframework.errors import X509Error

__all__ = [
    "PROXY_CERT_INFO_OID",
    "VOMS_AC_OID",
    "PrivateKey",
    "Proxy",
    "create_proxy_csr",
    "dn_string",
    "load_proxy",
    "load_proxy_pem",
    "make_proxy",
    "sign_proxy_csr",
    "verify_chain",
    "voms_attributes",
    "write_proxy",
]

log = logging.getLogger(__name__)

PrivateKey = CertificateIssuerPrivateKeyTypes
"""The private key types that can sign certificates (RSA, EC, DSA, Ed25519, Ed448)."""

PathArg = Union[str, "os.PathLike[str]"]

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

PROXY_CERT_INFO_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.14")
"""RFC 3820 proxyCertInfo: the extension that makes a certificate a proxy."""

INHERIT_ALL_OID = "1.3.6.1.5.5.7.21.1"
"""RFC 3820 policy language id-ppl-inheritAll: the proxy has all the issuer's rights."""

PROXY_CERT_INFO_INHERIT_ALL = bytes.fromhex("300c300a06082b06010505071501")
"""DER of ProxyCertInfo with policy inheritAll and no path length constraint,
byte for byte what pyarcrest and the aCT server put in proxies and CSRs."""

VOMS_AC_OID = ObjectIdentifier("1.3.6.1.4.1.8005.100.100.5")
"""Certificate extension holding VOMS attribute certificates."""

VOMS_FQAN_OID = "1.3.6.1.4.1.8005.100.100.4"
"""AC attribute type of the VOMS FQAN list (an IetfAttrSyntax)."""

_LEGACY_PROXY_CNS = ("proxy", "limited proxy")
"""Last CN of Globus GT2 ("legacy") proxies, which are not RFC 3820 proxies."""

_MAX_CHAIN = 20
"""Longest certificate path verify_chain builds; real ones have 3-6 links."""

# Critical extensions verify_chain understands. Like OpenSSL without policy
# checking, the policy extensions are known (so not refused when critical) but
# not evaluated. nameConstraints is not implemented, so a CA marking it
# critical is refused rather than half-checked.
_HANDLED_CRITICAL = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.POLICY_CONSTRAINTS,
    ExtensionOID.POLICY_MAPPINGS,
    ExtensionOID.INHIBIT_ANY_POLICY,
    PROXY_CERT_INFO_OID,
}

_CA_FILE = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
"""Certificate files of a hashed CA directory (``<subject hash>.<n>``)."""

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)

# OpenSSL short names, as X509_NAME_oneline prints them (which is what ARC,
# Globus and aCT use for DNs).
_SHORT_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STREET_ADDRESS: "street",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.USER_ID: "UID",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
}


# ---------------------------------------------------------------------------
# Names


def dn_string(name: x509.Name) -> str:
    """``name`` in the OpenSSL/Globus form ``/DC=org/DC=nordugrid/.../CN=x``.

    This is the form grid tools print and compare (``X509_NAME_oneline``):
    RDNs in certificate order, each prefixed by ``/``. Like OpenSSL, bytes
    outside printable ASCII are written as ``\\xHH`` (UTF-8), so a DN is the
    same string whichever tool printed it. Attributes of a multi-valued RDN
    are joined with ``+``; an attribute without a short name shows its OID.
    """
    parts = []
    for rdn in name.rdns:
        attributes = []
        for attribute in rdn:
            label = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
            attributes.append(f"{label}={_oneline_value(attribute.value)}")
        parts.append("/" + "+".join(attributes))
    return "".join(parts)


def _when(moment: datetime) -> str:
    """A certificate time for messages: ``2026-11-24 05:18:58 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _oneline_value(value: str | bytes) -> str:
    data = value if isinstance(value, bytes) else value.encode("utf-8")
    return "".join(
        chr(byte) if 0x20 <= byte <= 0x7E else f"\\x{byte:02X}" for byte in data
    )


# ---------------------------------------------------------------------------
# Small DER reader (CSR version repair, proxyCertInfo, VOMS ACs)

_INTEGER = 0x02
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
_OID = 0x06
_UTF8_STRING = 0x0C
_SEQUENCE = 0x30
_SET = 0x31
_CONTEXT_0_CONSTRUCTED = 0xA0


class _DERError(ValueError):
    """Malformed DER; callers turn it into an X509Error naming what they parsed."""


@dataclass(frozen=True)
class _TLV:
    """One DER element: ``data[start:end]`` is all of it, ``data[body:end]`` its contents."""

    tag: int
    start: int
    body: int
    end: int


def _read_tlv(data: bytes, offset: int, limit: int) -> _TLV:
    """The DER element at ``offset``, which must end by ``limit``.

    Only what certificates and ACs use: single-byte tags and definite lengths.
    """
    if offset + 2 > limit:
        raise _DERError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise _DERError("multi-byte tags are not supported")
    first = data[offset + 1]
    position = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise _DERError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or position + count > limit:
            raise _DERError("bad length")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    if position + length > limit:
        raise _DERError("element runs past its container")
    return _TLV(tag, offset, position, position + length)


def _children(data: bytes, parent: _TLV) -> list[_TLV]:
    """The elements inside a constructed element, in order."""
    if not parent.tag & 0x20:
        raise _DERError("primitive element where a constructed one was expected")
    items = []
    offset = parent.body
    while offset < parent.end:
        item = _read_tlv(data, offset, parent.end)
        items.append(item)
        offset = item.end
    return items


def _expect(item: _TLV, tag: int, what: str) -> _TLV:
    if item.tag != tag:
        raise _DERError(f"{what}: expected tag 0x{tag:02x}, found 0x{item.tag:02x}")
    return item


def _parse_der(data: bytes, tag: int, what: str) -> _TLV:
    """The single top-level element of ``data`` (trailing bytes are an error)."""
    top = _read_tlv(data, 0, len(data))
    if top.end != len(data):
        raise _DERError(f"{what}: trailing bytes")
    return _expect(top, tag, what)


def _der_int(data: bytes, item: _TLV) -> int:
    return int.from_bytes(data[item.body : item.end], "big", signed=True)


def _der_oid(data: bytes, item: _TLV) -> str:
    """Dotted string of an OBJECT IDENTIFIER element."""
    body = data[item.body : item.end]
    if not body or body[-1] & 0x80:
        raise _DERError("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (
        [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    )
    return ".".join(str(arc) for arc in head + arcs[1:])


# ---------------------------------------------------------------------------
# PEM and the Proxy type


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, whole PEM block) for each PEM block in ``data``, in order."""
    return [
        (match.group(1).decode("ascii"), match.group(0))
        for match in _PEM_BLOCK.finditer(data)
    ]


def _same_key(public: CertificatePublicKeyTypes, private: PrivateKey) -> bool:
    """Whether ``private`` is the key of the certificate public key ``public``."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(*spki) == private.public_key().public_bytes(*spki)


def _has_proxy_cert_info(certificate: x509.Certificate) -> bool:
    return any(ext.oid == PROXY_CERT_INFO_OID for ext in certificate.extensions)


def _is_legacy_proxy(certificate: x509.Certificate) -> bool:
    """A Globus GT2 proxy: subject = issuer + ``CN=proxy`` or ``CN=limited proxy``."""
    rdns = certificate.subject.rdns
    if len(rdns) < 2 or x509.Name(rdns[:-1]) != certificate.issuer:
        return False
    last = list(rdns[-1])
    return (
        len(last) == 1
        and last[0].oid == NameOID.COMMON_NAME
        and last[0].value in _LEGACY_PROXY_CNS
    )


def _private_key_pem(key: PrivateKey) -> bytes:
    """The key unencrypted, in the traditional OpenSSL form grid tools write
    (``BEGIN RSA PRIVATE KEY``); keys without such a form (Ed25519) as PKCS#8."""
    try:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    except ValueError:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Proxy:
    """A credential as grid tools store it: certificate, its private key, and
    the certificates that chain it towards a CA (usually the user certificate,
    plus further proxies for a proxy of a proxy).

    ``certificate`` is normally an RFC 3820 proxy, but a plain user
    certificate with its key is also a :class:`Proxy` (``is_rfc3820`` is then
    false): some services accept both. The key never appears in ``repr``.
    """

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        # A proxy whose key does not belong to its certificate fails only at
        # the far end of a TLS handshake or a delegation; refuse it here.
        if not _same_key(self.certificate.public_key(), self.key):
            raise X509Error(
                "the private key does not belong to the certificate "
                + dn_string(self.certificate.subject)
            )
        object.__setattr__(self, "chain", tuple(self.chain))

    @property
    def subject(self) -> str:
        """The certificate's own subject DN (for a proxy, the user DN plus CNs)."""
        return dn_string(self.certificate.subject)

    @property
    def dn(self) -> str:
        """The identity: the DN of the end-entity (user) certificate behind
        the proxies, in ``/DC=.../CN=...`` form, as ARC and aCT print it."""
        return dn_string(_identity_name([self.certificate, *self.chain]))

    @property
    def not_after(self) -> datetime:
        """End of the certificate's validity, an aware UTC datetime."""
        return self.certificate.not_valid_after_utc

    @property
    def time_left(self) -> timedelta:
        """Validity left from now; zero once expired (never negative)."""
        return max(self.not_after - datetime.now(UTC), timedelta(0))

    @property
    def is_rfc3820(self) -> bool:
        """Whether the certificate carries the RFC 3820 proxyCertInfo extension."""
        return _has_proxy_cert_info(self.certificate)

    def to_pem(self) -> bytes:
        """The proxy file: certificate, key (unencrypted, traditional OpenSSL
        form, as ``arcproxy`` and ``voms-proxy-init`` write it), then the chain.

        The result holds the private key: write it with :func:`write_proxy`.
        """
        return b"".join(
            [
                _cert_pem(self.certificate),
                _private_key_pem(self.key),
                *(_cert_pem(cert) for cert in self.chain),
            ]
        )


def _identity_name(certificates: Sequence[x509.Certificate]) -> x509.Name:
    """Subject of the first certificate that is not a proxy (RFC 3820 or
    legacy). If the chain stops at a proxy, its issuer name is the identity:
    a proxy's issuer is, by construction, the next certificate up."""
    for certificate in certificates:
        if not (_has_proxy_cert_info(certificate) or _is_legacy_proxy(certificate)):
            return certificate.subject
    return certificates[-1].issuer


def load_proxy_pem(data: bytes) -> Proxy:
    """Parse a proxy file's contents (certificate, key, chain PEM blocks).

    The first certificate is the proxy certificate and the rest, in order,
    its chain; exactly one private key must be present and it must be
    unencrypted, since proxies are protected by file permissions and a short
    lifetime, not a passphrase. Raises :class:`X509Error` otherwise.
    """
    blocks = _pem_blocks(data)
    if not blocks:
        raise X509Error("not a PEM proxy: no PEM blocks found")
    certificates: list[x509.Certificate] = []
    keys: list[bytes] = []
    for label, block in blocks:
        if label == "CERTIFICATE":
            try:
                certificates.append(x509.load_pem_x509_certificate(block))
            except ValueError as error:
                raise X509Error(
                    f"proxy holds an unreadable certificate: {error}"
                ) from None
        elif label.endswith("PRIVATE KEY"):
            keys.append(block)
    if not certificates:
        raise X509Error("proxy holds no certificate")
    if not keys:
        raise X509Error("proxy holds no private key")
    if len(keys) > 1:
        raise X509Error("proxy holds more than one private key")
    key = _load_private_key(keys[0], None, "proxy")
    return Proxy(certificates[0], key, tuple(certificates[1:]))


def load_proxy(path: PathArg) -> Proxy:
    """Read a proxy file (see :func:`load_proxy_pem`); :class:`X509Error`
    names the file if it cannot be read or is not a usable proxy."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise X509Error(
            f"cannot read proxy {path}: {error.strerror or error}"
        ) from None
    try:
        return load_proxy_pem(data)
    except X509Error as error:
        raise X509Error(f"{path}: {error}") from None


def _load_private_key(block: bytes, passphrase: bytes | None, what: str) -> PrivateKey:
    """Load a PEM private key with messages that never quote key material."""
    try:
        key = serialization.load_pem_private_key(block, password=passphrase)
    except TypeError:
        # cryptography: "Password was not given but private key is encrypted",
        # or a passphrase was given for an unencrypted key, which is fine.
        if passphrase is None:
            raise X509Error(
                f"{what} private key is encrypted and no passphrase was given"
            ) from None
        return _load_private_key(block, None, what)
    except ValueError:
        if passphrase is not None:
            raise X509Error(
                f"cannot decrypt the {what} private key: wrong passphrase?"
            ) from None
        raise X509Error(f"{what} private key is unreadable") from None
    except UnsupportedAlgorithm:
        raise X509Error(f"{what} private key is of an unsupported type") from None
    if not isinstance(
        key,
        (
            rsa.RSAPrivateKey,
            ec.EllipticCurvePrivateKey,
            dsa.DSAPrivateKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PrivateKey,
        ),
    ):
        raise X509Error(f"{what} private key cannot sign certificates")
    return key


def write_proxy(proxy: Proxy, path: PathArg) -> None:
    """Write ``proxy`` to ``path`` as a proxy file of mode 0600.

    The file is created 0600 under a temporary name in the same directory
    and renamed over ``path``, so the key is never readable by others, not
    even for an instant, and readers see either the old proxy or the whole
    new one, never a partial file.
    """
    target = Path(path)
    data = proxy.to_pem()
    try:
        # mkstemp creates the file with O_EXCL and mode 0600 (a umask can
        # only narrow that), so no other user can ever open it.
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as error:
        raise X509Error(
            f"cannot write proxy {target}: {error.strerror or error}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise X509Error(
                f"cannot write proxy {target}: {error.strerror or error}"
            ) from None
        raise


# ---------------------------------------------------------------------------
# Creating proxies


def _proxy_name(issuer_subject: x509.Name, cn: str) -> x509.Name:
    return x509.Name(
        [
            *issuer_subject.rdns,
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
            ),
        ]
    )


def _signing_hash(
    issuer: x509.Certificate, key: PrivateKey
) -> hashes.HashAlgorithm | None:
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


def _build_proxy(
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    public_key: CertificatePublicKeyTypes,
    lifetime: timedelta | None,
    now: datetime,
) -> x509.Certificate:
    """An RFC 3820 proxy of ``issuer`` for ``public_key``, profile of
    pyarcrest's ``signProxyCSR`` (act-spec C.6):

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
        raise X509Error(
            f"certificate {dn_string(issuer.subject)} "
            f"expired at {_when(issuer.not_valid_after_utc)}"
        )
    issuer_key_id = x509.SubjectKeyIdentifier.from_public_key(
        issuer_key.public_key()
    ).digest
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
            x509.UnrecognizedExtension(
                PROXY_CERT_INFO_OID, PROXY_CERT_INFO_INHERIT_ALL
            ),
            critical=True,
        )
    )
    return builder.sign(issuer_key, _signing_hash(issuer, issuer_key))  # type: ignore[arg-type]


def _check_can_issue_proxy(issuer: x509.Certificate, now: datetime) -> None:
    """Refuse issuers whose proxies every verifier would reject."""
    name = dn_string(issuer.subject)
    if issuer.not_valid_before_utc > now:
        raise X509Error(
            f"certificate {name} is not valid before {_when(issuer.not_valid_before_utc)}"
        )
    if issuer.not_valid_after_utc <= now:
        raise X509Error(
            f"certificate {name} expired at {_when(issuer.not_valid_after_utc)}"
        )
    if _is_ca(issuer):
        raise X509Error(
            f"certificate {name} is a CA; proxies are issued by users and proxies"
        )
    usage = _extension_value(issuer, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(
            f"certificate {name} may not sign proxies: "
            "its keyUsage lacks digitalSignature"
        )
    info = _proxy_cert_info(issuer)
    if info is not None and info.path_length == 0:
        raise X509Error(
            f"proxy {name} may not sign further proxies: "
            "its path length constraint is 0"
        )


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
        raise X509Error(
            f"cannot read user certificate {user_cert_path}: {error.strerror or error}"
        ) from None
    try:
        key_data = Path(user_key_path).read_bytes()
    except OSError as error:
        raise X509Error(
            f"cannot read user key {user_key_path}: {error.strerror or error}"
        ) from None
    certificates = [
        block for label, block in _pem_blocks(cert_data) if label == "CERTIFICATE"
    ]
    if not certificates:
        raise X509Error(f"{user_cert_path}: no PEM certificate found")
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in certificates]
    except ValueError as error:
        raise X509Error(f"{user_cert_path}: unreadable certificate: {error}") from None
    user_cert = chain[0]
    keys = [
        block for label, block in _pem_blocks(key_data) if label.endswith("PRIVATE KEY")
    ]
    if not keys:
        raise X509Error(f"{user_key_path}: no PEM private key found")
    try:
        user_key = _load_private_key(keys[0], passphrase, "user")
    except X509Error as error:
        raise X509Error(f"{user_key_path}: {error}") from None
    if not _same_key(user_cert.public_key(), user_key):
        raise X509Error(
            f"{user_key_path} is not the key of the certificate in {user_cert_path}"
        )
    now = datetime.now(UTC)
    _check_can_issue_proxy(user_cert, now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    certificate = _build_proxy(user_cert, user_key, key.public_key(), lifetime, now)
    log.debug(
        "created proxy %s valid until %s",
        dn_string(certificate.subject),
        _when(certificate.not_valid_after_utc),
    )
    return Proxy(certificate, key, tuple(chain))


def create_proxy_csr(
    issuer_cert: x509.Certificate, key: PrivateKey | None = None
) -> tuple[bytes, PrivateKey]:
    """The CSR a delegation target sends, as the aCT server makes it in
    ``POST /proxies``: subject = the issuer's (proxy) subject, a critical
    proxyCertInfo inheritAll, signed with SHA-256 by ``key`` (a fresh RSA
    2048-bit key, e=65537, unless given). Returns (CSR PEM, key); the key
    stays with the caller until the signed certificate comes back.

    Legacy (``CN=proxy``) issuers and issuers whose keyUsage lacks
    digitalSignature are refused: they cannot sign an RFC 3820 proxy.
    """
    if _is_legacy_proxy(issuer_cert):
        raise X509Error(
            f"{dn_string(issuer_cert.subject)} is a legacy (pre-RFC 3820) proxy; "
            "make an RFC 3820 proxy"
        )
    usage = _extension_value(issuer_cert, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(
            f"certificate {dn_string(issuer_cert.subject)} may not sign proxies: "
            "its keyUsage lacks digitalSignature"
        )
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    algorithm = (
        None
        if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else hashes.SHA256()
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(issuer_cert.subject)
        .add_extension(
            x509.UnrecognizedExtension(
                PROXY_CERT_INFO_OID, PROXY_CERT_INFO_INHERIT_ALL
            ),
            critical=True,
        )
        .sign(key, algorithm)
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


# ---------------------------------------------------------------------------
# Delegation: signing a CSR


def _csr_der(csr: bytes) -> bytes:
    blocks = [
        block
        for label, block in _pem_blocks(csr)
        if label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    ]
    if not blocks:
        if csr[:1] == b"\x30":
            return csr  # already DER
        raise X509Error(
            "not a certificate signing request: no PEM CERTIFICATE REQUEST block"
        )
    body = b"".join(line for line in blocks[0].splitlines()[1:-1] if line.strip())
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise X509Error("certificate signing request is not valid base64") from None


def _verify_csr_signature(
    csr: x509.CertificateSigningRequest, signed_data: bytes
) -> None:
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
            raise X509Error(
                "certificate signing request has a signature without a hash"
            )
        elif isinstance(public_key, rsa.RSAPublicKey):
            rsa_padding = (
                parameters
                if isinstance(parameters, (padding.PSS, padding.PKCS1v15))
                else padding.PKCS1v15()
            )
            public_key.verify(signature, signed_data, rsa_padding, algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_data, ec.ECDSA(algorithm))
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, signed_data, algorithm)
        else:
            raise X509Error("certificate signing request has an unsupported key type")
    except InvalidSignature:
        raise X509Error(
            "certificate signing request signature does not verify"
        ) from None
    except (UnsupportedAlgorithm, TypeError, ValueError):
        raise X509Error(
            "certificate signing request uses an unsupported signature algorithm"
        ) from None


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
        request = _parse_der(der, _SEQUENCE, "CertificationRequest")
        parts = _children(der, request)
        if len(parts) != 3:
            raise _DERError("CertificationRequest must have 3 parts")
        info = _expect(parts[0], _SEQUENCE, "CertificationRequestInfo")
        fields = _children(der, info)
        if not fields:
            raise _DERError("empty CertificationRequestInfo")
        version = _expect(fields[0], _INTEGER, "version")
        version_value = _der_int(der, version)
    except _DERError as error:
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
        raise X509Error(
            f"certificate signing request has unsupported version {version_value}"
        )
    repaired = der[: version.body] + b"\x00" + der[version.end :]
    try:
        csr = x509.load_der_x509_csr(repaired)
    except (ValueError, x509.InvalidVersion) as error:
        raise X509Error(f"malformed certificate signing request: {error}") from None
    _verify_csr_signature(csr, der[info.start : info.end])
    return csr


def sign_proxy_csr(
    csr_pem: bytes, issuer: Proxy, lifetime: timedelta | None = None
) -> bytes:
    """Delegate: sign ``csr_pem`` as an RFC 3820 proxy of ``issuer``.

    ``issuer`` must itself be an RFC 3820 proxy that is valid now. The new
    certificate has the profile described in :func:`_build_proxy` (act-spec
    C.6): the issuer's subject plus ``CN=<unix time>``, critical proxyCertInfo
    inheritAll, notAfter = now + ``lifetime`` but never past the issuer's
    notAfter (the issuer's notAfter when no lifetime is given), signed with
    the issuer's key and hash. The CSR's subject and extensions are ignored;
    only its (verified) public key is used, so A-REX's CSRs with an empty
    subject and version 2 are fine (see :func:`_load_csr`).

    Returns the PEM to upload (A-REX ``PUT /delegations/<id>``, aCT
    ``PUT /proxies``): new certificate, issuer certificate, issuer chain.
    """
    if not issuer.is_rfc3820:
        raise X509Error(
            f"certificate {issuer.subject} is not an RFC 3820 proxy; delegation needs a proxy"
        )
    now = datetime.now(UTC)
    _check_can_issue_proxy(issuer.certificate, now)
    csr = _load_csr(csr_pem)
    certificate = _build_proxy(
        issuer.certificate, issuer.key, csr.public_key(), lifetime, now
    )
    log.debug(
        "signed delegated proxy %s valid until %s",
        dn_string(certificate.subject),
        certificate.not_valid_after_utc,
    )
    return b"".join(
        _cert_pem(cert) for cert in (certificate, issuer.certificate, *issuer.chain)
    )


# ---------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class _ProxyCertInfo:
    path_length: int | None
    policy_language: str


def _proxy_cert_info(certificate: x509.Certificate) -> _ProxyCertInfo | None:
    """Parsed proxyCertInfo (RFC 3820 3.8), or None when absent.

    ``ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL,
    proxyPolicy SEQUENCE { policyLanguage OID, policy OCTET STRING OPTIONAL } }``
    """
    try:
        extension = certificate.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
    except x509.ExtensionNotFound:
        return None
    data = extension.value.public_bytes()
    try:
        items = _children(data, _parse_der(data, _SEQUENCE, "ProxyCertInfo"))
        path_length = None
        if items and items[0].tag == _INTEGER:
            path_length = _der_int(data, items[0])
            items = items[1:]
        if len(items) != 1:
            raise _DERError("ProxyCertInfo must hold one proxyPolicy")
        policy = _children(data, _expect(items[0], _SEQUENCE, "proxyPolicy"))
        if not policy:
            raise _DERError("proxyPolicy has no policyLanguage")
        language = _der_oid(data, _expect(policy[0], _OID, "policyLanguage"))
    except _DERError as error:
        raise X509Error(
            f"proxy {dn_string(certificate.subject)} has a malformed proxyCertInfo: {error}"
        ) from None
    if path_length is not None and path_length < 0:
        raise X509Error(
            f"proxy {dn_string(certificate.subject)} has a negative path length"
        )
    return _ProxyCertInfo(path_length, language)


def _extension_value(
    certificate: x509.Certificate, kind: type[_Extension]
) -> _Extension | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _is_self_issued(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _is_ca(certificate: x509.Certificate) -> bool:
    """CA as OpenSSL's X509_check_ca decides for our purposes: basicConstraints
    CA=true, or a version 1 self-issued certificate (old roots have no
    extensions at all)."""
    constraints = _extension_value(certificate, x509.BasicConstraints)
    if constraints is not None:
        return bool(constraints.ca)
    return certificate.version == x509.Version.v1 and _is_self_issued(certificate)


def _load_ca_dir(ca_dir: Path) -> list[x509.Certificate]:
    """The certificates of a hashed CA directory (``X509_CERT_DIR`` layout).

    Every ``<8 hex>.<n>`` file is read (several PEM certificates per file
    allowed); the hash in the name is not recomputed, since issuers are
    matched by subject anyway. Unreadable files and ``.signing_policy``,
    ``.namespaces``, ``.r0`` (CRL) files are skipped.
    """
    try:
        names = sorted(entry.name for entry in os.scandir(ca_dir))
    except OSError as error:
        raise X509Error(
            f"cannot read CA directory {ca_dir}: {error.strerror or error}"
        ) from None
    seen: set[bytes] = set()
    anchors = []
    for name in names:
        if not _CA_FILE.match(name):
            continue
        try:
            data = (ca_dir / name).read_bytes()
        except OSError:
            continue
        for label, block in _pem_blocks(data):
            if label not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
                continue
            try:
                certificate = x509.load_pem_x509_certificate(
                    block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE")
                )
            except ValueError:
                continue
            der = certificate.public_bytes(serialization.Encoding.DER)
            if der not in seen:
                seen.add(der)
                anchors.append(certificate)
    if not anchors:
        raise X509Error(f"no CA certificates (<hash>.0 files) in {ca_dir}")
    return anchors


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _build_path(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: list[x509.Certificate],
    ca_dir: Path,
) -> list[x509.Certificate]:
    """Leaf-first path from ``certificate`` to a self-issued trusted CA.

    At each step the issuer is looked for among the trusted CAs first (as
    OpenSSL does by default), then among the untrusted ``chain``; a candidate
    counts only if its subject matches and its key verifies the signature.
    Signatures are thus checked for every link except the trust anchor's
    self-signature, which the CA directory vouches for.
    """
    anchor_ders = {a.public_bytes(serialization.Encoding.DER) for a in anchors}
    path = [certificate]
    current = certificate
    while True:
        current_der = current.public_bytes(serialization.Encoding.DER)
        trusted = current_der in anchor_ders
        if trusted and _is_self_issued(current):
            return path
        if len(path) > _MAX_CHAIN:
            raise X509Error(f"certificate chain longer than {_MAX_CHAIN} certificates")
        name = dn_string(current.subject)
        candidates = [
            *anchors,
            *(
                c
                for c in chain
                if c.public_bytes(serialization.Encoding.DER) != current_der
            ),
        ]
        by_name = [c for c in candidates if c.subject == current.issuer]
        issuer = next((c for c in by_name if _signed_by(current, c)), None)
        if issuer is None:
            if _is_self_issued(current) and _signed_by(current, current):
                what = "proxy" if _has_proxy_cert_info(current) else "certificate"
                raise X509Error(
                    f"self-signed {what} {name} is not a trusted CA in {ca_dir}"
                )
            if by_name:
                raise X509Error(
                    f"signature of {name} does not verify with the key of "
                    f"its issuer {dn_string(current.issuer)}"
                )
            if trusted:
                raise X509Error(
                    f"issuer {dn_string(current.issuer)} of trusted CA {name} is not in {ca_dir}"
                )
            raise X509Error(
                f"issuer {dn_string(current.issuer)} of {name} is neither in the "
                f"chain nor a trusted CA in {ca_dir} (unknown CA or incomplete chain)"
            )
        if any(issuer is step for step in path):
            raise X509Error(f"certificate chain loops at {dn_string(issuer.subject)}")
        path.append(issuer)
        current = issuer


def _check_validity(certificate: x509.Certificate, at: datetime) -> None:
    name = dn_string(certificate.subject)
    if at < certificate.not_valid_before_utc:
        raise X509Error(
            f"certificate {name} is not valid before {_when(certificate.not_valid_before_utc)}"
        )
    if at > certificate.not_valid_after_utc:
        raise X509Error(
            f"certificate {name} expired at {_when(certificate.not_valid_after_utc)}"
        )


def _check_critical_extensions(certificate: x509.Certificate) -> None:
    for extension in certificate.extensions:
        if extension.critical and extension.oid not in _HANDLED_CRITICAL:
            raise X509Error(
                f"certificate {dn_string(certificate.subject)} has an unsupported "
                f"critical extension {extension.oid.dotted_string}"
            )


def _check_proxy(proxy: x509.Certificate, issuer: x509.Certificate, below: int) -> None:
    """RFC 3820 rules for one proxy link; ``below`` = proxies it has signed in this path."""
    name = dn_string(proxy.subject)
    extension = proxy.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
    if not extension.critical:
        raise X509Error(f"proxy {name}: proxyCertInfo must be critical (RFC 3820)")
    info = _proxy_cert_info(proxy)
    assert info is not None
    rdns = proxy.subject.rdns
    last = list(rdns[-1]) if rdns else []
    if (
        len(rdns) < 2
        or x509.Name(rdns[:-1]) != issuer.subject
        or len(last) != 1
        or last[0].oid != NameOID.COMMON_NAME
    ):
        raise X509Error(
            f"proxy subject {name} does not extend its issuer's subject "
            f"{dn_string(issuer.subject)} by one CN"
        )
    if _is_ca(proxy):
        raise X509Error(f"proxy {name} claims to be a CA")
    for kind in (x509.SubjectAlternativeName, x509.IssuerAlternativeName):
        if _extension_value(proxy, kind) is not None:
            raise X509Error(
                f"proxy {name} carries an alternative name, which RFC 3820 forbids"
            )
    if info.path_length is not None and below > info.path_length:
        raise X509Error(
            f"proxy {name} allows {info.path_length} further proxies below it, "
            f"the chain has {below}"
        )
    issuer_name = dn_string(issuer.subject)
    if _is_ca(issuer):
        raise X509Error(
            f"proxy {name} is issued by the CA {issuer_name}; "
            "proxies are issued by users and proxies"
        )
    usage = _extension_value(issuer, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(
            f"{issuer_name} may not sign proxies: its keyUsage lacks digitalSignature"
        )


def _check_ca(ca: x509.Certificate, intermediates_below: int) -> None:
    name = dn_string(ca.subject)
    if not _is_ca(ca):
        raise X509Error(f"certificate {name} issues certificates but is not a CA")
    usage = _extension_value(ca, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise X509Error(
            f"CA {name} may not sign certificates: its keyUsage lacks keyCertSign"
        )
    constraints = _extension_value(ca, x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    if limit is not None and intermediates_below > limit:
        raise X509Error(
            f"CA {name} allows {limit} intermediate CAs below it, "
            f"the chain has {intermediates_below}"
        )


def verify_chain(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    ca_dir: Path,
    at: datetime | None = None,
) -> str:
    """Verify ``certificate`` (a proxy or a user certificate) up to a CA of
    the hashed CA directory ``ca_dir`` and return the end-entity (user) DN.

    Implemented with ``cryptography`` alone, checking what OpenSSL checks
    with ``-allow_proxy_certs`` plus the RFC 3820 rules:

    * a path is built from ``certificate`` through ``chain`` (untrusted) to a
      self-issued CA in ``ca_dir``; every link's signature is verified with
      its issuer's key and its issuer name must match;
    * every certificate is valid at ``at`` (default now; naive means UTC);
    * no certificate has a critical extension we do not understand;
    * proxies (certificates with proxyCertInfo) come first; each has it
      critical, a subject equal to its issuer's subject plus one CN, is not a
      CA, has no alternative names, respects every pCPathLenConstraint above
      it, and is issued by a non-CA whose keyUsage (if any) allows
      digitalSignature;
    * then exactly one end-entity certificate, which must not be a CA;
    * then CAs: basicConstraints CA=true, keyUsage (if any) with keyCertSign,
      basicConstraints path length respected.

    Not checked: CRLs and Globus ``.signing_policy`` namespaces (ARC's own
    checks) and VOMS ACs. Raises :class:`X509Error` naming the first reason
    for refusal.
    """
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    anchors = _load_ca_dir(Path(ca_dir))
    path = _build_path(certificate, chain, anchors, Path(ca_dir))
    for link in path:
        _check_validity(link, when)
        _check_critical_extensions(link)
    proxies = 0
    while proxies < len(path) and _has_proxy_cert_info(path[proxies]):
        proxies += 1
    if proxies == len(path):
        raise X509Error("certificate chain has no end-entity certificate")
    for index in range(proxies):
        _check_proxy(path[index], path[index + 1], below=index)
    end_entity = path[proxies]
    if _is_ca(end_entity):
        raise X509Error(
            f"certificate {dn_string(end_entity.subject)} is a CA, not a user certificate or proxy"
        )
    intermediates = 0
    for link in path[proxies + 1 :]:
        if _has_proxy_cert_info(link):
            raise X509Error(
                f"proxy {dn_string(link.subject)} appears above the end-entity certificate"
            )
        _check_ca(link, intermediates)
        if not _is_self_issued(link):
            intermediates += 1
    return dn_string(end_entity.subject)


# ---------------------------------------------------------------------------
# VOMS


def voms_attributes(
    certificate_and_chain: Proxy | x509.Certificate | Iterable[x509.Certificate],
) -> list[str]:
    """The VOMS FQANs (``/atlas/Role=production/Capability=NULL``...) carried
    by a proxy, in AC order, duplicates removed; ``[]`` when it has no VOMS AC.

    Looks at the certificate and each chain certificate (a proxy of a VOMS
    proxy carries the AC one level up). The extension
    ``1.3.6.1.4.1.8005.100.100.5`` holds ``SEQUENCE OF SEQUENCE OF
    AttributeCertificate`` (RFC 3281); the FQANs are the OCTET STRING values
    of each AC's IetfAttrSyntax attribute ``1.3.6.1.4.1.8005.100.100.4``.

    The AC's signature, validity and issuer are NOT verified (that needs the
    VOMS server certificates of a vomsdir): treat the result as what the
    proxy claims, fit for labelling and grouping, not for authorisation.
    """
    if isinstance(certificate_and_chain, Proxy):
        certificates = [certificate_and_chain.certificate, *certificate_and_chain.chain]
    elif isinstance(certificate_and_chain, x509.Certificate):
        certificates = [certificate_and_chain]
    else:
        certificates = list(certificate_and_chain)
    fqans: list[str] = []
    for certificate in certificates:
        try:
            extension = certificate.extensions.get_extension_for_oid(VOMS_AC_OID)
        except x509.ExtensionNotFound:
            continue
        try:
            found = _fqans_from_extension(extension.value.public_bytes())
        except (_DERError, UnicodeDecodeError) as error:
            raise X509Error(
                f"certificate {dn_string(certificate.subject)} has a malformed "
                f"VOMS extension: {error}"
            ) from None
        fqans.extend(fqan for fqan in found if fqan not in fqans)
    return fqans


def _fqans_from_extension(data: bytes) -> list[str]:
    fqans: list[str] = []
    for ac_list in _children(data, _parse_der(data, _SEQUENCE, "VOMS extension")):
        for ac in _children(data, _expect(ac_list, _SEQUENCE, "AC list")):
            fqans.extend(
                _fqans_from_ac(data, _expect(ac, _SEQUENCE, "AttributeCertificate"))
            )
    return fqans


def _fqans_from_ac(data: bytes, ac: _TLV) -> list[str]:
    """FQANs of one AttributeCertificate (RFC 3281 4.1):

    ``AttributeCertificateInfo ::= SEQUENCE { version, holder, issuer,
    signature, serialNumber, attrCertValidityPeriod, attributes SEQUENCE OF
    Attribute, ...}``, ``Attribute ::= SEQUENCE { type OID, values SET }``,
    ``IetfAttrSyntax ::= SEQUENCE { policyAuthority [0] GeneralNames
    OPTIONAL, values SEQUENCE OF CHOICE { octets OCTET STRING, oid OID,
    string UTF8String } }``.
    """
    parts = _children(data, ac)
    if len(parts) != 3:
        raise _DERError("AttributeCertificate must have 3 parts")
    info = _children(data, _expect(parts[0], _SEQUENCE, "AttributeCertificateInfo"))
    if info and info[0].tag == _INTEGER:
        info = info[1:]  # version (v2)
    if len(info) < 6:
        raise _DERError("AttributeCertificateInfo is too short")
    _expect(info[4], _SEQUENCE, "attrCertValidityPeriod")
    attributes = _expect(info[5], _SEQUENCE, "attributes")
    fqans: list[str] = []
    for attribute in _children(data, attributes):
        type_and_values = _children(data, _expect(attribute, _SEQUENCE, "Attribute"))
        if len(type_and_values) != 2:
            raise _DERError("Attribute must have a type and values")
        if (
            _der_oid(data, _expect(type_and_values[0], _OID, "attribute type"))
            != VOMS_FQAN_OID
        ):
            continue
        for syntax in _children(
            data, _expect(type_and_values[1], _SET, "attribute values")
        ):
            items = _children(data, _expect(syntax, _SEQUENCE, "IetfAttrSyntax"))
            if items and items[0].tag == _CONTEXT_0_CONSTRUCTED:
                items = items[1:]  # policyAuthority, "<vo>://<host>:<port>"
            if len(items) != 1:
                raise _DERError("IetfAttrSyntax must hold one value list")
            for value in _children(
                data, _expect(items[0], _SEQUENCE, "IetfAttrSyntax values")
            ):
                if value.tag in (_OCTET_STRING, _UTF8_STRING):
                    fqans.append(data[value.body : value.end].decode("utf-8"))
    return fqans
