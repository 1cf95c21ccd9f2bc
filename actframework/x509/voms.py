"""The VOMS attributes (FQANs) a proxy carries.

aCT groups and labels proxies by VO and role; this reads the FQANs out of
the VOMS attribute certificate extension without verifying the AC, which
would need the VOMS servers' certificates.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

from actframework.errors import X509Error
from actframework.x509.der import (
    CONTEXT_0_CONSTRUCTED,
    INTEGER,
    OCTET_STRING,
    OID,
    SEQUENCE,
    SET,
    TLV,
    UTF8_STRING,
    DERError,
    children,
    der_oid,
    expect,
    parse_der,
)
from actframework.x509.names import dn_string
from actframework.x509.oids import VOMS_AC_OID, VOMS_FQAN_OID
from actframework.x509.proxyfile import Proxy


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
        except (DERError, UnicodeDecodeError) as error:
            raise X509Error(
                f"certificate {dn_string(certificate.subject)} has a malformed VOMS extension: {error}"
            ) from None
        fqans.extend(fqan for fqan in found if fqan not in fqans)
    return fqans


def _fqans_from_extension(data: bytes) -> list[str]:
    fqans: list[str] = []
    for ac_list in children(data, parse_der(data, SEQUENCE, "VOMS extension")):
        for ac in children(data, expect(ac_list, SEQUENCE, "AC list")):
            fqans.extend(_fqans_from_ac(data, expect(ac, SEQUENCE, "AttributeCertificate")))
    return fqans


def _fqans_from_ac(data: bytes, ac: TLV) -> list[str]:
    """FQANs of one AttributeCertificate (RFC 3281 4.1):

    ``AttributeCertificateInfo ::= SEQUENCE { version, holder, issuer,
    signature, serialNumber, attrCertValidityPeriod, attributes SEQUENCE OF
    Attribute, ...}``, ``Attribute ::= SEQUENCE { type OID, values SET }``,
    ``IetfAttrSyntax ::= SEQUENCE { policyAuthority [0] GeneralNames
    OPTIONAL, values SEQUENCE OF CHOICE { octets OCTET STRING, oid OID,
    string UTF8String } }``.
    """
    parts = children(data, ac)
    if len(parts) != 3:
        raise DERError("AttributeCertificate must have 3 parts")
    info = children(data, expect(parts[0], SEQUENCE, "AttributeCertificateInfo"))
    if info and info[0].tag == INTEGER:
        info = info[1:]  # version (v2)
    if len(info) < 6:
        raise DERError("AttributeCertificateInfo is too short")
    expect(info[4], SEQUENCE, "attrCertValidityPeriod")
    attributes = expect(info[5], SEQUENCE, "attributes")
    fqans: list[str] = []
    for attribute in children(data, attributes):
        type_and_values = children(data, expect(attribute, SEQUENCE, "Attribute"))
        if len(type_and_values) != 2:
            raise DERError("Attribute must have a type and values")
        if der_oid(data, expect(type_and_values[0], OID, "attribute type")) != VOMS_FQAN_OID:
            continue
        for syntax in children(data, expect(type_and_values[1], SET, "attribute values")):
            items = children(data, expect(syntax, SEQUENCE, "IetfAttrSyntax"))
            if items and items[0].tag == CONTEXT_0_CONSTRUCTED:
                items = items[1:]  # policyAuthority, "<vo>://<host>:<port>"
            if len(items) != 1:
                raise DERError("IetfAttrSyntax must hold one value list")
            for value in children(data, expect(items[0], SEQUENCE, "IetfAttrSyntax values")):
                if value.tag in (OCTET_STRING, UTF8_STRING):
                    fqans.append(data[value.body : value.end].decode("utf-8"))
    return fqans
