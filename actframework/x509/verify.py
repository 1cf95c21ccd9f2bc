"""Verifying a proxy chain against a hashed CA directory.

The aCT server accepts uploaded proxies only after this check, which is
what OpenSSL does with ``-allow_proxy_certs`` plus the RFC 3820 rules,
written with ``cryptography`` alone and refusing with a message that names
the first reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from actframework.errors import X509Error
from actframework.x509.certificates import (
    extension_value,
    format_time,
    has_proxy_cert_info,
    is_ca,
    is_self_issued,
    proxy_cert_info,
)
from actframework.x509.names import dn_string
from actframework.x509.oids import PROXY_CERT_INFO_OID
from actframework.x509.pem import pem_blocks

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
        raise X509Error(f"cannot read CA directory {ca_dir}: {error.strerror or error}") from None
    seen: set[bytes] = set()
    anchors = []
    for name in names:
        if not _CA_FILE.match(name):
            continue
        try:
            data = (ca_dir / name).read_bytes()
        except OSError:
            continue
        for label, block in pem_blocks(data):
            if label not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
                continue
            try:
                certificate = x509.load_pem_x509_certificate(block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE"))
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
        if trusted and is_self_issued(current):
            return path
        if len(path) > _MAX_CHAIN:
            raise X509Error(f"certificate chain longer than {_MAX_CHAIN} certificates")
        name = dn_string(current.subject)
        candidates = [
            *anchors,
            *(c for c in chain if c.public_bytes(serialization.Encoding.DER) != current_der),
        ]
        by_name = [c for c in candidates if c.subject == current.issuer]
        issuer = next((c for c in by_name if _signed_by(current, c)), None)
        if issuer is None:
            if is_self_issued(current) and _signed_by(current, current):
                what = "proxy" if has_proxy_cert_info(current) else "certificate"
                raise X509Error(f"self-signed {what} {name} is not a trusted CA in {ca_dir}")
            if by_name:
                raise X509Error(
                    f"signature of {name} does not verify with the key of its issuer {dn_string(current.issuer)}"
                )
            if trusted:
                raise X509Error(f"issuer {dn_string(current.issuer)} of trusted CA {name} is not in {ca_dir}")
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
        raise X509Error(f"certificate {name} is not valid before {format_time(certificate.not_valid_before_utc)}")
    if at > certificate.not_valid_after_utc:
        raise X509Error(f"certificate {name} expired at {format_time(certificate.not_valid_after_utc)}")


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
    info = proxy_cert_info(proxy)
    assert info is not None
    rdns = proxy.subject.rdns
    last = list(rdns[-1]) if rdns else []
    if len(rdns) < 2 or x509.Name(rdns[:-1]) != issuer.subject or len(last) != 1 or last[0].oid != NameOID.COMMON_NAME:
        raise X509Error(
            f"proxy subject {name} does not extend its issuer's subject {dn_string(issuer.subject)} by one CN"
        )
    if is_ca(proxy):
        raise X509Error(f"proxy {name} claims to be a CA")
    for kind in (x509.SubjectAlternativeName, x509.IssuerAlternativeName):
        if extension_value(proxy, kind) is not None:
            raise X509Error(f"proxy {name} carries an alternative name, which RFC 3820 forbids")
    if info.path_length is not None and below > info.path_length:
        raise X509Error(f"proxy {name} allows {info.path_length} further proxies below it, the chain has {below}")
    issuer_name = dn_string(issuer.subject)
    if is_ca(issuer):
        raise X509Error(f"proxy {name} is issued by the CA {issuer_name}; proxies are issued by users and proxies")
    usage = extension_value(issuer, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise X509Error(f"{issuer_name} may not sign proxies: its keyUsage lacks digitalSignature")


def _check_ca(ca: x509.Certificate, intermediates_below: int) -> None:
    name = dn_string(ca.subject)
    if not is_ca(ca):
        raise X509Error(f"certificate {name} issues certificates but is not a CA")
    usage = extension_value(ca, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise X509Error(f"CA {name} may not sign certificates: its keyUsage lacks keyCertSign")
    constraints = extension_value(ca, x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    if limit is not None and intermediates_below > limit:
        raise X509Error(f"CA {name} allows {limit} intermediate CAs below it, the chain has {intermediates_below}")


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
    while proxies < len(path) and has_proxy_cert_info(path[proxies]):
        proxies += 1
    if proxies == len(path):
        raise X509Error("certificate chain has no end-entity certificate")
    for index in range(proxies):
        _check_proxy(path[index], path[index + 1], below=index)
    end_entity = path[proxies]
    if is_ca(end_entity):
        raise X509Error(f"certificate {dn_string(end_entity.subject)} is a CA, not a user certificate or proxy")
    intermediates = 0
    for link in path[proxies + 1 :]:
        if has_proxy_cert_info(link):
            raise X509Error(f"proxy {dn_string(link.subject)} appears above the end-entity certificate")
        _check_ca(link, intermediates)
        if not is_self_issued(link):
            intermediates += 1
    return dn_string(end_entity.subject)
