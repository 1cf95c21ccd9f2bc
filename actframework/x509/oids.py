"""The object identifiers and fixed DER that make a certificate a proxy or
carry VOMS attributes.

Issuing, verifying and reading VOMS attributes must agree on these numbers,
and the aCT server checks uploads against them, so they live in one place.
"""

from __future__ import annotations

from cryptography.x509.oid import ObjectIdentifier

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
