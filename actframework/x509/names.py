"""Distinguished names as grid tools write them.

ARC, Globus and aCT print and compare DNs in OpenSSL's one-line form
(``/DC=org/DC=nordugrid/CN=x``), not RFC 4514; every DN actframework shows
or stores goes through :func:`dn_string` so that it matches theirs.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

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


def _oneline_value(value: str | bytes) -> str:
    data = value if isinstance(value, bytes) else value.encode("utf-8")
    return "".join(chr(byte) if 0x20 <= byte <= 0x7E else f"\\x{byte:02X}" for byte in data)
