"""The proxy file: a certificate, its key and its chain, and how it is read
and written.

Every part of actframework that holds a credential (the ``act`` client, the
aCT server's proxy store, the engine) reads and writes this one format, the
one ``arcproxy`` and ``voms-proxy-init`` write, and always as a 0600 file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Union

from cryptography import x509

from actframework.errors import X509Error
from actframework.x509.certificates import has_proxy_cert_info, identity_name
from actframework.x509.keys import PrivateKey, load_private_key, private_key_pem, same_key
from actframework.x509.names import dn_string
from actframework.x509.pem import cert_pem, pem_blocks

PathArg = Union[str, "os.PathLike[str]"]


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
        if not same_key(self.certificate.public_key(), self.key):
            raise X509Error("the private key does not belong to the certificate " + dn_string(self.certificate.subject))
        object.__setattr__(self, "chain", tuple(self.chain))

    @property
    def subject(self) -> str:
        """The certificate's own subject DN (for a proxy, the user DN plus CNs)."""
        return dn_string(self.certificate.subject)

    @property
    def dn(self) -> str:
        """The identity: the DN of the end-entity (user) certificate behind
        the proxies, in ``/DC=.../CN=...`` form, as ARC and aCT print it."""
        return dn_string(identity_name([self.certificate, *self.chain]))

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
        return has_proxy_cert_info(self.certificate)

    def to_pem(self) -> bytes:
        """The proxy file: certificate, key (unencrypted, traditional OpenSSL
        form, as ``arcproxy`` and ``voms-proxy-init`` write it), then the chain.

        The result holds the private key: write it with :func:`write_proxy`.
        """
        return b"".join(
            [
                cert_pem(self.certificate),
                private_key_pem(self.key),
                *(cert_pem(cert) for cert in self.chain),
            ]
        )


def load_proxy_pem(data: bytes) -> Proxy:
    """Parse a proxy file's contents (certificate, key, chain PEM blocks).

    The first certificate is the proxy certificate and the rest, in order,
    its chain; exactly one private key must be present and it must be
    unencrypted, since proxies are protected by file permissions and a short
    lifetime, not a passphrase. Raises :class:`X509Error` otherwise.
    """
    blocks = pem_blocks(data)
    if not blocks:
        raise X509Error("not a PEM proxy: no PEM blocks found")
    certificates: list[x509.Certificate] = []
    keys: list[bytes] = []
    for label, block in blocks:
        if label == "CERTIFICATE":
            try:
                certificates.append(x509.load_pem_x509_certificate(block))
            except ValueError as error:
                raise X509Error(f"proxy holds an unreadable certificate: {error}") from None
        elif label.endswith("PRIVATE KEY"):
            keys.append(block)
    if not certificates:
        raise X509Error("proxy holds no certificate")
    if not keys:
        raise X509Error("proxy holds no private key")
    if len(keys) > 1:
        raise X509Error("proxy holds more than one private key")
    key = load_private_key(keys[0], None, "proxy")
    return Proxy(certificates[0], key, tuple(certificates[1:]))


def load_proxy(path: PathArg) -> Proxy:
    """Read a proxy file (see :func:`load_proxy_pem`); :class:`X509Error`
    names the file if it cannot be read or is not a usable proxy."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise X509Error(f"cannot read proxy {path}: {error.strerror or error}") from None
    try:
        return load_proxy_pem(data)
    except X509Error as error:
        raise X509Error(f"{path}: {error}") from None


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
        raise X509Error(f"cannot write proxy {target}: {error.strerror or error}") from None
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
            raise X509Error(f"cannot write proxy {target}: {error.strerror or error}") from None
        raise
