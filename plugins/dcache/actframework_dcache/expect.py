"""PUT with a real ``Expect: 100-continue``, as dCache's WebDAV door needs it.

A dCache door redirects an upload straight to a pool (307) only when the
request carries ``Expect: 100-continue``, and only once it has chosen a pool;
every other upload it relays through itself. So the client must send the
headers, then *wait*: for ``100 Continue`` (send the body to the door), for a
307 (send the body to the pool named in ``Location``, which carries a one-time
token, so no client credentials go there), or for another final answer (an
error: send nothing). If nothing comes within ``continue_timeout`` the body
goes to the door anyway, as curl does (RFC 9110 §10.1.1 allows it).

Python's HTTP stacks cannot do this: ``http.client`` sends the body at once
and swallows 1xx answers, and requests/urllib3 build on it. act-client's
workaround, a PUT with the Expect header and an *empty* body, is a different
request: a door or a plain WebDAV server may answer it by creating an empty
file (then overwritten, or not), and an RFC-strict server owes it no 100. So
this module speaks HTTP/1.1 on its own socket for the one request, and uses
:mod:`http.client` only to read the final answer.

dCache closes the connection after every Expect request (dCache #5604), so
each upload gets a fresh connection; nothing is pooled.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urljoin, urlsplit

from actframework.storage import SILENT, StorageError, TransferProgress, TransportError, tls_context

#: Bytes per send of the body.
BLOCK: Final = 1024 * 1024
#: Longest status line or header line we accept from a door.
MAX_LINE: Final = 65536


@dataclass(frozen=True)
class Upload:
    """How one upload went: the final answer and who got the body."""

    status: int
    reason: str
    body: bytes = b""
    redirected_to: str | None = None
    """The pool URL the door sent the body to (307), if any."""
    continued: bool = False
    """The door said ``100 Continue`` (the body went to the door)."""
    headers: Message = field(default_factory=Message, repr=False)


class ExpectClient:
    """Uploads to one door with a real ``Expect: 100-continue``."""

    def __init__(
        self,
        *,
        proxy: str | os.PathLike[str] | None = None,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        continue_timeout: float = 5.0,
    ) -> None:
        self.token = token
        self.timeout = timeout
        self.continue_timeout = continue_timeout
        self._door_tls = tls_context(proxy=None if token else proxy, ca_dir=ca_dir)
        self._pool_tls = tls_context(proxy=None, ca_dir=ca_dir)

    def put(self, url: str, source: Path, progress: TransferProgress = SILENT) -> Upload:
        """Upload ``source`` to ``url`` through the door; the final answer."""
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise StorageError(f"Given path {source} is not a file: {exc.strerror or exc}") from None
        headers = {"Content-Length": str(size), "Expect": "100-continue", "Content-Type": "application/octet-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with _Connection(url, self._door_tls, self.timeout) as door:
            door.send_head("PUT", headers)
            first = door.wait_for_answer(self.continue_timeout)
            if first is None or first[0] == 100:
                door.send_file(source, progress)
                status, reason, answer_headers, body = door.final_answer()
                return Upload(status, reason, body, continued=first is not None, headers=answer_headers)
            status, reason = first
            answer_headers, body = door.rest_of_answer()
        if status not in (301, 302, 303, 307, 308):
            return Upload(status, reason, body, headers=answer_headers)
        location = answer_headers.get("Location")
        if not location:
            raise StorageError(f"PUT {url}: the door redirected ({status}) without a Location")
        pool_url = urljoin(url, location)
        # The pool URL carries its own one-time authorisation: no client
        # certificate and no token go to the pool.
        with _Connection(pool_url, self._pool_tls, self.timeout) as pool:
            pool.send_head("PUT", {"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            pool.send_file(source, progress)
            status, reason, answer_headers, body = pool.final_answer()
        return Upload(status, reason, body, redirected_to=pool_url, headers=answer_headers)


class _Connection:
    """One HTTP/1.1 exchange on a socket of its own."""

    def __init__(self, url: str, tls: ssl.SSLContext, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StorageError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.timeout = timeout
        try:
            raw = socket.create_connection((self.host, self.port), timeout=timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock: socket.socket = (
                tls.wrap_socket(raw, server_hostname=self.host) if parts.scheme == "https" else raw
            )
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"PUT {url}: TLS: {exc.verify_message}") from None
        except OSError as exc:
            raise TransportError(f"PUT {url}: {exc.strerror or exc}") from None
        self.reader = self.sock.makefile("rb")

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.sock.close()

    def _fail(self, what: str, exc: BaseException) -> TransportError:
        return TransportError(f"PUT {self.url}: {what}: {getattr(exc, 'strerror', None) or exc}")

    def send_head(self, method: str, headers: dict[str, str]) -> None:
        lines = [
            f"{method} {self.target} HTTP/1.1",
            f"Host: {self.host_header}",
            "User-Agent: actframework-dcache",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        try:
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        except OSError as exc:
            raise self._fail("sending the request", exc) from None

    def wait_for_answer(self, patience: float) -> tuple[int, str] | None:
        """The status of the door's first answer, or None if it stays silent
        for ``patience`` seconds. A ``100`` answer is read to its end.

        The wait is a read with a timeout, not a ``select``: a TLS 1.3
        server sends session tickets after the handshake, which make the
        socket readable without any answer in them. A file object that timed
        out cannot be read again, so the wait reads through a file of its
        own, which is dropped when nothing came (it then holds nothing)."""
        self.sock.settimeout(patience)
        reader = self.sock.makefile("rb")
        try:
            status, reason = self._status_line(reader)
        except TimeoutError:
            reader.close()
            return None
        finally:
            self.sock.settimeout(self.timeout)
        self.reader.close()
        self.reader = reader
        if status == 100:
            self._headers()
        return status, reason

    def _status_line(self, reader: BinaryIO) -> tuple[int, str]:
        try:
            line = reader.readline(MAX_LINE + 1)
        except TimeoutError:
            raise
        except OSError as exc:
            raise self._fail("reading the answer", exc) from None
        if not line:
            raise TransportError(f"PUT {self.url}: the server closed the connection without an answer")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise TransportError(f"PUT {self.url}: not an HTTP answer: {line[:80]!r}")
        return int(parts[1]), parts[2] if len(parts) > 2 else ""

    def _headers(self) -> Message:
        try:
            return http.client.parse_headers(self.reader)
        except (http.client.HTTPException, OSError) as exc:
            raise self._fail("reading the answer's headers", exc) from None

    def rest_of_answer(self) -> tuple[Message, bytes]:
        """Headers and body of a final answer whose status line was read."""
        headers = self._headers()
        length = headers.get("Content-Length", "")
        if not length.isdigit():
            return headers, b""  # a chunked or unbounded error page: not needed, the connection is dropped
        try:
            return headers, self.reader.read(min(int(length), MAX_LINE))
        except OSError:
            return headers, b""

    def send_file(self, source: Path, progress: TransferProgress) -> None:
        try:
            with source.open("rb") as file:
                while block := file.read(BLOCK):
                    self.sock.sendall(block)
                    progress.advance(len(block))
        except OSError as exc:
            raise self._fail("sending the body", exc) from None
        progress.file_done()

    def final_answer(self) -> tuple[int, str, Message, bytes]:
        """The final answer, skipping any 1xx, read with :mod:`http.client`."""
        response = http.client.HTTPResponse(self.sock, method="PUT")
        try:
            response.begin()
            body = response.read(MAX_LINE)
        except (http.client.HTTPException, OSError) as exc:
            raise self._fail("reading the answer", exc) from None
        finally:
            response.close()
        return response.status, response.reason, response.msg, body
