"""Finding PEM blocks in proxy, certificate, CSR and CA files.

Proxy files mix certificates and a key, CA files may hold several
certificates, so every reader first splits the data into labelled blocks.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, whole PEM block) for each PEM block in ``data``, in order."""
    return [(match.group(1).decode("ascii"), match.group(0)) for match in _PEM_BLOCK.finditer(data)]


def cert_pem(certificate: x509.Certificate) -> bytes:
    """``certificate`` as one PEM block."""
    return certificate.public_bytes(serialization.Encoding.PEM)
