"""HTTPClient: the HTTP layer of actframework, on ``requests``.

The engine (towards ARC CEs), the storage plugins (towards WebDAV and dCache)
and the client's file transfers (towards the aCT server) all speak through
:class:`HTTPClient`, so that the things that are easy to get wrong are done
right once. The rules themselves (trusted CAs, retry policy) are in
:mod:`actframework.httpbase`, which the two clients on the standard library
follow too: the ``act`` client's JSON calls (:mod:`actframework.client.jsonhttp`,
whose commands would otherwise spend most of their start importing requests)
and the dCache uploads (a socket of their own). What HTTPClient does:

* **TLS is verified, always by default**, against a grid CA directory
  (``X509_CERT_DIR``) or a CA file. ``trust_env`` is off: ``REQUESTS_CA_BUNDLE``
  and friends would otherwise silently override the CA we were told to use,
  and proxy environment variables would route grid traffic elsewhere.
* **Credentials**: an X.509 proxy file as TLS client certificate, or a bearer
  token. Neither ever appears in a log line or an exception message.
* **No shared mutable defaults**: every request builds its own headers.
* **Retries only where repeating is harmless**: connection failures and
  502/503/504 are retried with exponential backoff for methods that are safe
  to repeat (or requests the caller marks idempotent), and only when the body
  can be replayed from its start: bytes, a file path, or a seekable file
  (rewound to where it started). A half-read stream is never re-sent.
* **Connection reuse across threads**: one session with a connection pool
  sized for the worker pools that share it.
* **No 40 ms stalls**: A-REX writes a response's headers and body separately,
  and with Nagle's algorithm on its side and delayed ACK on ours every body
  arrives ~40 ms late. Setting ``TCP_QUICKACK`` on our socket once the
  headers are in makes the kernel acknowledge at once, and the body follows
  immediately (Linux only; elsewhere this is a no-op).
"""

from __future__ import annotations

import io
import json as jsonlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from actframework.errors import TransportError
from actframework.hookspecs import SILENT, TransferProgress
from actframework.httpbase import (  # the rules, re-exported for callers of this module
    DEFAULT_CA_DIR,
    RETRY_STATUSES,
    SAFE_METHODS,
    USER_AGENT,
    ParamValue,
    RetryPolicy,
    default_ca_location,
    encode_params,
)

__all__ = [
    "DEFAULT_CA_DIR",
    "RETRY_STATUSES",
    "SAFE_METHODS",
    "SEND_BLOCK",
    "Body",
    "HTTPClient",
    "ParamValue",
    "Progress",
    "RetryPolicy",
    "default_ca_location",
    "encode_params",
    "save_body",
]

log = logging.getLogger(__name__)

Body = bytes | str | Path | IO[bytes] | Iterator[bytes] | None
#: Called with the bytes of a request body as they are sent (negative when a
#: retry starts the body again), for progress bars.
Progress = Callable[[int], None]


class _CountingReader:
    """A file opened for a request body that reports each block read to a
    progress callback. ``fileno``, ``seek`` and ``tell`` pass through, so
    requests still sends a Content-Length and a retry can rewind it; a
    rewind reports the bytes it takes back as a negative count."""

    def __init__(self, file: IO[bytes], progress: Progress) -> None:
        self._file = file
        self._progress = progress
        self._sent = 0

    def read(self, size: int = -1) -> bytes:
        block = self._file.read(size)
        if block:
            self._sent += len(block)
            self._progress(len(block))
        return block

    @property
    def mode(self) -> str:
        return str(getattr(self._file, "mode", "rb"))

    def fileno(self) -> int:
        return self._file.fileno()

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def rewind_report(self) -> None:
        """Take back what an abandoned attempt reported."""
        if self._sent:
            self._progress(-self._sent)
            self._sent = 0


class _ReplayableBody:
    """A request body that can be sent again from its start, or says it cannot."""

    def __init__(self, body: Body, progress: Progress | None = None) -> None:
        self._body = body
        self._progress = progress
        self._counting: _CountingReader | None = None
        self._start: int | None = None
        self._opened: IO[bytes] | None = None
        if hasattr(body, "seek") and hasattr(body, "tell"):
            try:
                self._start = body.tell()  # type: ignore[union-attr]
            except (OSError, io.UnsupportedOperation):
                self._start = None

    @property
    def replayable(self) -> bool:
        body = self._body
        if body is None or isinstance(body, (bytes, str, Path)):
            return True
        return self._start is not None

    def open(self) -> Any:
        """The body for one attempt (files from a path are opened afresh)."""
        self.close()
        if self._counting is not None:
            self._counting.rewind_report()
        body = self._body
        if isinstance(body, Path):
            self._opened = body.open("rb")
            return self._count(self._opened)
        if self._start is not None:
            body.seek(self._start)  # type: ignore[union-attr]
        if self._progress is not None and isinstance(body, bytes):
            return self._count(io.BytesIO(body))
        if self._progress is not None and hasattr(body, "read"):
            return self._count(body)  # type: ignore[arg-type]
        return body

    def _count(self, file: IO[bytes]) -> Any:
        if self._progress is None:
            return file
        self._counting = _CountingReader(file, self._progress)
        return self._counting

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def _quickack(response: requests.Response) -> None:
    """Ask the kernel to acknowledge the response at once (see module doc)."""
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is None:
        return
    try:
        sock = response.raw.connection.sock  # type: ignore[union-attr]
        sock.setsockopt(socket.IPPROTO_TCP, option, 1)
    except (AttributeError, OSError):
        pass


#: Bytes per send of a request body read from a file. urllib3 sends 16 KiB
#: at a time by default: for a large upload over TLS that is many small
#: writes and Python round trips, and half of curl's throughput.
SEND_BLOCK = 1024 * 1024


class _Adapter(HTTPAdapter):
    """requests' adapter with connections that send bodies in large blocks."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", SEND_BLOCK)
        super().init_poolmanager(*args, **kwargs)


class HTTPClient:
    """Requests to one HTTP(S) service, thread-safe, with connection reuse.

    ``url`` is the service's base URL (scheme, host, port and an optional path
    prefix); request paths are relative to it.
    """

    def __init__(
        self,
        url: str,
        *,
        proxy: str | os.PathLike[str] | None = None,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        verify: bool = True,
        timeout: float | tuple[float, float] = (15.0, 300.0),
        retry: RetryPolicy = RetryPolicy(),
        pool_size: int = 16,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url!r}")
        if proxy is not None and token is not None:
            raise ValueError("authenticate with a proxy or a token, not both")
        self.base_url = url.rstrip("/")
        self.proxy = Path(proxy) if proxy is not None else None
        self._token = token
        self.timeout = timeout
        self.retry = retry
        session = requests.Session()
        session.trust_env = False
        if not verify:
            session.verify = False
        elif ca_file is not None:
            session.verify = str(ca_file)
        elif ca_dir is not None:
            session.verify = str(ca_dir)
        else:
            session.verify = default_ca_location()
        if self.proxy is not None:
            session.cert = str(self.proxy)
        session.headers["User-Agent"] = USER_AGENT
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session

    def __repr__(self) -> str:
        auth = "proxy" if self.proxy else "token" if self._token else "none"
        return f"HTTPClient({self.base_url!r}, auth={auth})"

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def set_token(self, token: str | None) -> None:
        """Use another bearer token from the next request on (token renewal)."""
        self._token = token

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        json: Any = None,
        data: Body = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        allow_redirects: bool = True,
        progress: Progress | None = None,
    ) -> requests.Response:
        """Send one request and return the response (any status).

        With ``stream=False`` the body has been read; with ``stream=True`` the
        caller reads it (``iter_content``) and must close the response.
        ``idempotent`` overrides the method's default safety for retries:
        A-REX's POST ``action=status`` is safe to repeat, ``action=new`` is not.
        ``progress`` is told the bytes of ``data`` as they are sent.
        Raises :class:`TransportError` when no HTTP answer came.
        """
        method = method.upper()
        send_headers = dict(headers or {})
        if self._token is not None:
            send_headers["Authorization"] = f"Bearer {self._token}"
        if json is not None:
            if data is not None:
                raise ValueError("give json or data, not both")
            data = jsonlib.dumps(json).encode()
            send_headers.setdefault("Content-Type", "application/json")
        body = _ReplayableBody(data, progress)
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        attempts = self.retry.attempts if safe and body.replayable else 1
        url = self.url_for(path)
        query = encode_params(params)
        try:
            for attempt in range(attempts):
                started = time.monotonic()
                try:
                    response = self._session.request(
                        method,
                        url,
                        params=query,
                        data=body.open(),
                        headers=send_headers,
                        stream=True,
                        timeout=timeout or self.timeout,
                        allow_redirects=allow_redirects,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if attempt + 1 < attempts and _worth_retrying(exc):
                        pause = self.retry.delay(attempt)
                        log.info("%s %s: %s; retrying in %.1f s", method, url, _reason(exc), pause)
                        time.sleep(pause)
                        continue
                    raise TransportError(f"{method} {url}: {_reason(exc)}") from exc
                except requests.RequestException as exc:
                    raise TransportError(f"{method} {url}: {_reason(exc)}") from exc
                _quickack(response)
                if response.status_code in self.retry.statuses and attempt + 1 < attempts:
                    pause = self.retry.delay(attempt, response.headers.get("Retry-After"))
                    log.info("%s %s: HTTP %d; retrying in %.1f s", method, url, response.status_code, pause)
                    response.close()
                    time.sleep(pause)
                    continue
                if not stream:
                    try:
                        response.content  # noqa: B018  (reads and caches the body)
                    except requests.RequestException as exc:
                        raise TransportError(f"{method} {url}: {_reason(exc)}") from exc
                log.debug("%s %s -> %d (%.3f s)", method, url, response.status_code, time.monotonic() - started)
                return response
        finally:
            body.close()
        raise AssertionError("unreachable: the loop returns or raises")

    def json_request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Send a request that answers JSON; return (status, decoded body).

        An empty body decodes to ``None`` (A-REX sends one for empty lists). A
        body that is not JSON raises :class:`TransportError` quoting its start,
        because it means we are not talking to the service we think we are.
        """
        headers = {"Accept": "application/json", **(kwargs.pop("headers", None) or {})}
        response = self.request(method, path, headers=headers, **kwargs)
        text = response.text
        if not text.strip():
            return response.status_code, None
        try:
            return response.status_code, jsonlib.loads(text)
        except ValueError:
            if response.status_code >= 400:
                return response.status_code, {"msg": text.strip()[:500]}
            raise TransportError(f"{method} {self.url_for(path)}: expected JSON, got: {text.strip()[:80]!r}") from None


def _worth_retrying(exc: requests.RequestException) -> bool:
    """Connection trouble is; a certificate the server does not accept is not."""
    return not isinstance(exc, requests.exceptions.SSLError)


def _reason(exc: BaseException) -> str:
    """A short human reason, without URLs of nested exceptions or secrets."""
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return "TLS: the server certificate did not verify against the trusted CAs"
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        for marker, reason in (
            ("Connection refused", "connection refused"),
            ("Name or service not known", "unknown host"),
            ("Connection reset", "connection reset"),
            ("RemoteDisconnected", "connection closed by the server"),
            ("BrokenPipe", "connection closed by the server"),
        ):
            if marker in text:
                return reason
        return "connection failed"
    return exc.__class__.__name__


def save_body(
    response: requests.Response,
    destination: Path,
    progress: TransferProgress = SILENT,
    chunk_size: int = 8 * 1024 * 1024,
) -> int:
    """Stream a response body to ``destination`` through a temporary name in
    the same directory, renamed into place when complete: an interrupted or
    failed download leaves nothing. ``progress`` learns the size (when the
    server sends it) and the bytes as they arrive, and may stop the
    transfer by raising. Returns the size."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
    length = response.headers.get("Content-Length", "")
    progress.expect(files=1, nbytes=int(length) if length.isdigit() else 0)
    size = 0
    try:
        with partial.open("wb") as out:
            for chunk in response.iter_content(chunk_size):
                out.write(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    progress.file_done()
    return size
