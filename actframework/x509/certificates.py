"""What a certificate is, in the terms proxies need: an RFC 3820 proxy, a
legacy Globus proxy, a CA, and whose identity a chain carries.

Issuing refuses what verifying would reject, so both ask the same questions
here rather than each answering them its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.x509.oid import NameOID

from actframework.errors import X509Error
from actframework.x509.der import INTEGER, OID, SEQUENCE, DERError, children, der_int, der_oid, expect, parse_der
from actframework.x509.names import dn_string
from actframework.x509.oids import PROXY_CERT_INFO_OID

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

_LEGACY_PROXY_CNS = ("proxy", "limited proxy")
"""Last CN of Globus GT2 ("legacy") proxies, which are not RFC 3820 proxies."""


def format_time(moment: datetime) -> str:
    """A certificate time for messages: ``2026-11-24 05:18:58 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def has_proxy_cert_info(certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` is an RFC 3820 proxy (carries proxyCertInfo)."""
    return any(ext.oid == PROXY_CERT_INFO_OID for ext in certificate.extensions)


def is_legacy_proxy(certificate: x509.Certificate) -> bool:
    """A Globus GT2 proxy: subject = issuer + ``CN=proxy`` or ``CN=limited proxy``."""
    rdns = certificate.subject.rdns
    if len(rdns) < 2 or x509.Name(rdns[:-1]) != certificate.issuer:
        return False
    last = list(rdns[-1])
    return len(last) == 1 and last[0].oid == NameOID.COMMON_NAME and last[0].value in _LEGACY_PROXY_CNS


def identity_name(certificates: Sequence[x509.Certificate]) -> x509.Name:
    """Subject of the first certificate that is not a proxy (RFC 3820 or
    legacy). If the chain stops at a proxy, its issuer name is the identity:
    a proxy's issuer is, by construction, the next certificate up."""
    for certificate in certificates:
        if not (has_proxy_cert_info(certificate) or is_legacy_proxy(certificate)):
            return certificate.subject
    return certificates[-1].issuer


@dataclass(frozen=True)
class ProxyCertInfo:
    """What a proxy's proxyCertInfo says: how many proxies may follow it, and its policy language."""

    path_length: int | None
    policy_language: str


def proxy_cert_info(certificate: x509.Certificate) -> ProxyCertInfo | None:
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
        items = children(data, parse_der(data, SEQUENCE, "ProxyCertInfo"))
        path_length = None
        if items and items[0].tag == INTEGER:
            path_length = der_int(data, items[0])
            items = items[1:]
        if len(items) != 1:
            raise DERError("ProxyCertInfo must hold one proxyPolicy")
        policy = children(data, expect(items[0], SEQUENCE, "proxyPolicy"))
        if not policy:
            raise DERError("proxyPolicy has no policyLanguage")
        language = der_oid(data, expect(policy[0], OID, "policyLanguage"))
    except DERError as error:
        raise X509Error(f"proxy {dn_string(certificate.subject)} has a malformed proxyCertInfo: {error}") from None
    if path_length is not None and path_length < 0:
        raise X509Error(f"proxy {dn_string(certificate.subject)} has a negative path length")
    return ProxyCertInfo(path_length, language)


def extension_value(certificate: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    """The value of ``certificate``'s extension of type ``kind``, or None when absent."""
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def is_self_issued(certificate: x509.Certificate) -> bool:
    """Whether issuer and subject are the same name (a root, or a CA's rollover certificate)."""
    return certificate.issuer == certificate.subject


def is_ca(certificate: x509.Certificate) -> bool:
    """CA as OpenSSL's X509_check_ca decides for our purposes: basicConstraints
    CA=true, or a version 1 self-issued certificate (old roots have no
    extensions at all)."""
    constraints = extension_value(certificate, x509.BasicConstraints)
    if constraints is not None:
        return bool(constraints.ca)
    return certificate.version == x509.Version.v1 and is_self_issued(certificate)
