"""The rules every HTTP client of actframework follows, without an HTTP library.

:class:`~actframework.http.HTTPClient` (on requests: the engine, the storage
backends, the client's file transfers), the ``act`` client's JSON calls
(:mod:`actframework.client.jsonhttp`, on :mod:`http.client`, for a cheap
start) and the dCache uploads (a socket of their own) must agree on what
they trust and when they repeat a request. The rules live here, where
importing them costs nothing.
"""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from actframework import __version__

RETRY_STATUSES = frozenset({502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PROPFIND", "MKCOL"})
DEFAULT_CA_DIR = Path("/etc/grid-security/certificates")
USER_AGENT = f"actframework/{__version__}"

ParamValue = str | int | float | Sequence[str | int] | None


def default_ca_location() -> str | bool:
    """Where to find trusted CAs when the caller gave none: ``$X509_CERT_DIR``,
    else the grid default directory if it exists, else the system bundle."""
    from_env = os.environ.get("X509_CERT_DIR")
    if from_env:
        return from_env
    if DEFAULT_CA_DIR.is_dir():
        return str(DEFAULT_CA_DIR)
    return True


def tls_context(
    *,
    proxy: str | os.PathLike[str] | None = None,
    ca_dir: str | os.PathLike[str] | None = None,
    ca_file: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A verifying context for clients on :mod:`ssl` directly: trusted CAs
    from ``ca_file``, else ``ca_dir``, else :func:`default_ca_location`
    (a directory as OpenSSL's hashed ``capath``), and the user's proxy as
    client certificate if given."""
    context = ssl.create_default_context()
    where = str(ca_file) if ca_file else str(ca_dir) if ca_dir else default_ca_location()
    if isinstance(where, str):
        if Path(where).is_dir():
            context.load_verify_locations(capath=where)
        else:
            context.load_verify_locations(cafile=where)
    if proxy is not None:
        context.load_cert_chain(str(proxy))
    return context


def encode_params(params: Mapping[str, ParamValue] | None) -> dict[str, str]:
    """Query parameters with list values comma-joined (``id=1,2,3``), as
    A-REX and the aCT server expect; ``None`` values are left out."""
    encoded: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            encoded[key] = ",".join(str(v) for v in value)
        else:
            encoded[key] = str(value)
    return encoded


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently requests that are safe to repeat are retried."""

    attempts: int = 4
    """Total tries, the first included."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled for each further one (with jitter)."""
    max_sleep: float = 10.0
    statuses: frozenset[int] = RETRY_STATUSES
    """Answers worth another try (storage that reports a busy pool as 500 adds it)."""

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_sleep)
        return min(self.backoff * (2.0**retry) * (0.5 + random.random() / 2), self.max_sleep)
