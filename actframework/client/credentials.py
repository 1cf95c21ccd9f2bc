"""The user's proxy on their own machine: finding, checking and making it.

``act proxy`` delegates the proxy file named by the configuration (``proxy:``,
else ``$X509_USER_PROXY``, else ``/tmp/x509up_u<uid>``). A user without one
can let ``act proxy --create`` make it from their grid certificate, as
``arcproxy`` does: the certificate and key are looked up where ARC looks
(``$X509_USER_CERT``/``$X509_USER_KEY``, else ``~/.globus/usercert.pem`` and
``~/.globus/userkey.pem``) and the new RFC 3820 proxy is written with mode
0600. VOMS attributes cannot be added this way (that needs a VOMS server);
servers that require them refuse such a proxy with their own message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from actframework import x509
from actframework.errors import X509Error

#: Lifetime of a created proxy (arcproxy's default).
DEFAULT_LIFETIME = timedelta(hours=12)


def user_credential_paths() -> tuple[Path, Path]:
    """(certificate, key) of the user's grid identity, where ARC looks for them."""
    globus = Path.home() / ".globus"
    cert = os.environ.get("X509_USER_CERT") or str(globus / "usercert.pem")
    key = os.environ.get("X509_USER_KEY") or str(globus / "userkey.pem")
    return Path(cert).expanduser(), Path(key).expanduser()


def _key_is_encrypted(path: Path) -> bool:
    try:
        text = path.read_bytes()
    except OSError:
        return False  # make_proxy reports the unreadable file with its reason
    return b"ENCRYPTED" in text


def create_proxy(
    destination: Path,
    *,
    cert: Path | None = None,
    key: Path | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
    ask_passphrase: Callable[[Path], str] | None = None,
) -> x509.Proxy:
    """Make an RFC 3820 proxy of the user's certificate and write it to
    ``destination`` (mode 0600). ``ask_passphrase`` is called with the key's
    path when the key is encrypted; without it an encrypted key is an error."""
    default_cert, default_key = user_credential_paths()
    cert = cert or default_cert
    key = key or default_key
    passphrase: bytes | None = None
    if _key_is_encrypted(key):
        if ask_passphrase is None:
            raise X509Error(f"{key} is encrypted; a passphrase is needed")
        passphrase = ask_passphrase(key).encode()
    proxy = x509.make_proxy(cert, key, lifetime=lifetime, passphrase=passphrase)
    x509.write_proxy(proxy, destination)
    return proxy


def usable_proxy(path: Path) -> x509.Proxy:
    """The proxy at ``path``, refused with a one-line reason when it cannot
    be delegated: missing (with the way to make one), unreadable, or expired."""
    if not path.is_file():
        raise X509Error(
            f"proxy file {path} does not exist; make one with `act proxy --create` "
            "(or arcproxy), or set `proxy:` in the configuration"
        )
    proxy = x509.load_proxy(path)
    if proxy.not_after <= datetime.now(UTC):
        raise X509Error(
            f"proxy {path} expired at {proxy.not_after:%Y-%m-%d %H:%M:%S} UTC; "
            "make a new one with `act proxy --create` (or arcproxy)"
        )
    return proxy
