"""X.509 proxy certificates: load, create, delegate, verify.

Grid services authenticate users by RFC 3820 proxy certificates: short-lived
certificates that a user's certificate (or another proxy) signs for a fresh
key pair, so that the long-lived user key never leaves the user's machine.
This package does what actframework needs with them, using the
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

The package is split by job: :mod:`~actframework.x509.proxyfile` (the
:class:`Proxy` and its file), :mod:`~actframework.x509.issue` (making
proxies and CSRs), :mod:`~actframework.x509.delegation` (signing CSRs),
:mod:`~actframework.x509.verify` (chains), :mod:`~actframework.x509.voms`,
and the pieces they share: :mod:`~actframework.x509.names` (DNs),
:mod:`~actframework.x509.oids`, :mod:`~actframework.x509.certificates`,
:mod:`~actframework.x509.keys`, :mod:`~actframework.x509.pem` and
:mod:`~actframework.x509.der`. Import from here: the names below are the
API, the modules' other names are not.
"""

from actframework.x509.delegation import sign_proxy_csr
from actframework.x509.issue import create_proxy_csr, make_proxy
from actframework.x509.keys import PrivateKey
from actframework.x509.names import dn_string
from actframework.x509.oids import PROXY_CERT_INFO_INHERIT_ALL, PROXY_CERT_INFO_OID, VOMS_AC_OID
from actframework.x509.proxyfile import Proxy, load_proxy, load_proxy_pem, write_proxy
from actframework.x509.verify import verify_chain
from actframework.x509.voms import voms_attributes

__all__ = [
    "PROXY_CERT_INFO_INHERIT_ALL",
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
