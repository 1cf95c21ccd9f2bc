"""The ``act`` client's JSON calls to the aCT server, on :mod:`http.client`.

Most ``act`` commands (``stat``, ``info``, ``kill``, ``clean``, ``fetch``,
``resub``, the create and confirm steps of ``sub``) are a few small JSON
exchanges, and scripts run them in loops, so what they cost is mostly the
start of the process. Importing requests (urllib3, charset detection, idna,
cookies) would more than double that start; act-client 1.0.0, which users
compare us with, speaks :mod:`http.client` directly. So these calls go over
:mod:`http.client` too, and :class:`~actframework.http.HTTPClient` (requests)
is loaded only by the commands that move files.

The rules are HTTPClient's (:mod:`actframework.httpbase`): TLS is verified
against the same trusted CAs; no proxy environment variable applies
(:mod:`http.client` reads none); the token is never logged nor put in an
error; requests that are safe to repeat are retried on connection failures
and 502/503/504 by the same policy; failures are a
:class:`~actframework.errors.TransportError` with the same short reasons.
Redirects are not followed: aCT servers answer in place, and following one
elsewhere would carry the token along.

One connection is kept and reused for the calls of a command (a lock lets
threads share it); one the server has closed meanwhile is replaced before
it is used.
"""

from __future__ import annotations

import functools
import http.client
import json as jsonlib
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from actframework.client.jsonstream import BodyError, array_elements
from actframework.errors import ServerError, TransportError
from actframework.httpbase import SAFE_METHODS, USER_AGENT, ParamValue, RetryPolicy, encode_params, tls_context

log = logging.getLogger("actframework.http")  # where HTTPClient logs, which -v shows

#: Bytes asked for per read of a streamed answer (a read returns what has come).
_READ: Final = 64 * 1024


class _ConnectFailed(Exception):
    """No connection could be made (the cause says why)."""


class JSONClient:
    """JSON requests to one aCT server, with a bearer token."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float | tuple[float, float] = (15.0, 300.0),
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url!r}")
        self.base_url = url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._https = parts.scheme == "https"
        self._trust = {"ca_dir": ca_dir, "ca_file": ca_file}
        self._tls: ssl.SSLContext | None = None
        self._token = token
        self.timeout = timeout
        self.retry = retry
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JSONClient({self.base_url!r}, auth={'token' if self._token else 'none'})"

    def __enter__(self) -> JSONClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def set_token(self, token: str | None) -> None:
        """Use another bearer token from the next request on."""
        self._token = token

    def json_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> tuple[int, Any]:
        """Send one request (``json`` as its body) and return (status, decoded
        body), as :meth:`HTTPClient.json_request <actframework.http.HTTPClient.json_request>`
        does: an empty body is None, an error page that is not JSON becomes
        ``{"msg": <text>}``, any other body that is not JSON is a
        :class:`TransportError`. ``idempotent`` overrides the method's default
        safety for retries."""
        method = method.upper()
        headers = self._headers()
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        url, target = self._url(path, params)
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        attempts = self.retry.attempts if safe else 1
        for attempt in range(attempts):
            started = time.monotonic()
            try:
                status, retry_after, data = self._exchange(method, target, body, headers)
            except (OSError, http.client.HTTPException, _ConnectFailed) as exc:
                if attempt + 1 < attempts and not isinstance(_cause(exc), ssl.SSLError):
                    pause = self.retry.delay(attempt)
                    log.info("%s %s: %s; retrying in %.1f s", method, url, _reason(exc), pause)
                    time.sleep(pause)
                    continue
                raise TransportError(f"{method} {url}: {_reason(exc)}") from exc
            if status in self.retry.statuses and attempt + 1 < attempts:
                pause = self.retry.delay(attempt, retry_after)
                log.info("%s %s: HTTP %d; retrying in %.1f s", method, url, status, pause)
                time.sleep(pause)
                continue
            log.debug("%s %s -> %d (%.3f s)", method, url, status, time.monotonic() - started)
            return status, _decode(method, url, status, data)
        raise AssertionError("unreachable: the loop returns or raises")

    def json_array(self, path: str, *, params: Mapping[str, ParamValue] | None = None) -> Iterator[Any]:
        """``GET path``: the elements of the JSON array it answers, each as
        soon as it has arrived (:mod:`actframework.client.jsonstream`), so
        that a listing of any length is never held whole.

        Connection failures and gateway errors before the answer are retried
        as :meth:`json_request` retries a GET; once elements have come, a body
        that breaks off, is not a JSON array or has more after it is a
        :class:`TransportError`. An answer other than 200 is a
        :class:`~actframework.errors.ServerError` with the server's ``msg``.
        The connection is held until the generator is exhausted or closed."""
        headers = self._headers()
        url, target = self._url(path, params)
        with self._lock:
            response = self._respond("GET", url, target, headers)
            if response.status != 200:
                raise ServerError.from_answer(response.status, self._read_error(url, response))
            try:
                yield from array_elements(functools.partial(_read_some, response))
            except BodyError as exc:
                self._drop()
                raise TransportError(f"GET {url}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise TransportError(f"GET {url}: the answer broke off: {_reason(exc)}") from exc
            except BaseException:
                self._drop()  # the rest of the body is still to come on this connection
                raise
            if response.will_close:
                self._drop()

    def _read_error(self, url: str, response: http.client.HTTPResponse) -> Any:
        """The decoded body of an error answer (see :meth:`json_request`)."""
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise TransportError(f"GET {url}: {_reason(exc)}") from exc
        if response.will_close:
            self._drop()
        return _decode("GET", url, response.status, data)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _url(self, path: str, params: Mapping[str, ParamValue] | None) -> tuple[str, str]:
        """(the URL to name in messages, the request target)."""
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        query = urlencode(encode_params(params))
        return url, f"{self._prefix}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def _respond(self, method: str, url: str, target: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        """Send a safe request, retrying as :meth:`json_request` does, and
        return the answer with its body unread (the caller holds the lock
        and reads it)."""
        for attempt in range(self.retry.attempts):
            last = attempt + 1 == self.retry.attempts
            try:
                connection = self._open()
                connection.request(method, target, headers=headers)
                response = connection.getresponse()
                _quickack(connection.sock)
            except (OSError, http.client.HTTPException, _ConnectFailed) as exc:
                self._drop()
                if last or isinstance(_cause(exc), ssl.SSLError):
                    raise TransportError(f"{method} {url}: {_reason(exc)}") from exc
                pause = self.retry.delay(attempt)
                log.info("%s %s: %s; retrying in %.1f s", method, url, _reason(exc), pause)
                time.sleep(pause)
                continue
            if response.status not in self.retry.statuses or last:
                log.debug("%s %s -> %d", method, url, response.status)
                return response
            retry_after = response.getheader("Retry-After")
            self._drop()  # rather than read an error page of unknown length
            pause = self.retry.delay(attempt, retry_after)
            log.info("%s %s: HTTP %d; retrying in %.1f s", method, url, response.status, pause)
            time.sleep(pause)
        raise AssertionError("unreachable: the loop returns or raises")

    # ------------------------------------------------------------------ the connection

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str | None, bytes]:
        """One request and its whole answer: (status, Retry-After, body)."""
        with self._lock:
            connection = self._open()
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                _quickack(connection.sock)
                data = response.read()
            except BaseException:
                self._drop()
                raise
            if response.will_close:
                self._drop()
            return response.status, response.getheader("Retry-After"), data

    def _open(self) -> http.client.HTTPConnection:
        """The kept connection if the server has not closed it, else a new one."""
        if self._connection is not None and not _still_open(self._connection.sock):
            self._drop()
        if self._connection is None:
            connect_timeout, read_timeout = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
            connection: http.client.HTTPConnection
            if self._https:
                if self._tls is None:
                    self._tls = tls_context(**self._trust)
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=connect_timeout, context=self._tls
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=connect_timeout)
            try:
                connection.connect()
            except OSError as exc:
                connection.close()
                raise _ConnectFailed() from exc
            connection.sock.settimeout(read_timeout)
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _read_some(response: http.client.HTTPResponse) -> bytes:
    """What has come of the body (up to :data:`_READ` bytes), ``b""`` at its
    end, also when it ended before it was whole: the caller sees what is
    missing by what it holds."""
    try:
        return response.read1(_READ)
    except http.client.IncompleteRead:
        return b""


def _still_open(sock: socket.socket | None) -> bool:
    """An idle connection the server has not closed has nothing to read."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _quickack(sock: socket.socket | None) -> None:
    """Acknowledge the rest of the answer at once (see :mod:`actframework.http`)."""
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        except OSError:
            pass


def _decode(method: str, url: str, status: int, data: bytes) -> Any:
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        return jsonlib.loads(text)
    except ValueError:
        if status >= 400:
            return {"msg": text.strip()[:500]}
        raise TransportError(f"{method} {url}: expected JSON, got: {text.strip()[:80]!r}") from None


def _cause(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, _ConnectFailed) and exc.__cause__ is not None else exc


def _reason(exc: BaseException) -> str:
    """The short reasons HTTPClient gives, without URLs or secrets."""
    connecting = isinstance(exc, _ConnectFailed)
    cause = _cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return "TLS: the server certificate did not verify against the trusted CAs"
    if isinstance(cause, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(cause, TimeoutError):
        return "timed out connecting" if connecting else "timed out waiting for the answer"
    for kind, reason in (
        (ConnectionRefusedError, "connection refused"),
        (socket.gaierror, "unknown host"),
        (http.client.RemoteDisconnected, "connection closed by the server"),  # a reset, too
        (ConnectionResetError, "connection reset"),
        (BrokenPipeError, "connection closed by the server"),
    ):
        if isinstance(cause, kind):
            return reason
    return "connection failed"
