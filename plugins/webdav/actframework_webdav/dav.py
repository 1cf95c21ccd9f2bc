"""The WebDAV operations a storage backend needs, over actframework's HTTP layer.

:class:`DavClient` speaks to one WebDAV base URL (the user's directory) as
the user: an X.509 proxy as TLS client certificate, or a bearer token.
Through :class:`~actframework.storage.HTTPClient` it verifies the server's
certificate against the grid CAs, sends no environment proxies, and retries
only what can be repeated (PUT bodies are replayed from their start).

The status codes each call accepts are WebDAV's (RFC 4918): MKCOL answers
201, or 405 when the collection exists (fine: "make sure it exists"), or 409
when a parent is missing (the parents are made first, then it is tried
again); DELETE of something already gone (404) is no error; PROPFIND with
``Depth: 1`` answers 207 with one ``response`` per entry.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from actframework.storage import SILENT, HTTPClient, RetryPolicy, StorageError, TransferProgress, save_body

#: Bytes per read when streaming a download to disk.
CHUNK: Final = 8 * 1024 * 1024
_DAV: Final = "{DAV:}"
_PROPFIND_BODY: Final = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/></prop></propfind>'
)


@dataclass(frozen=True)
class DavEntry:
    """One member of a collection, as PROPFIND lists it."""

    name: str
    is_collection: bool
    size: int | None = None


def _reason(response: object) -> str:
    text = getattr(response, "text", "") or ""
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    status = getattr(response, "status_code", 0)
    return f"HTTP {status}" + (f": {first}" if first else "")


class DavClient:
    """One user's WebDAV directory at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        proxy: str | os.PathLike[str] | None = None,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self.http = HTTPClient(
            self.base_url,
            proxy=proxy,
            token=token,
            ca_dir=ca_dir,
            ca_file=ca_file,
            timeout=(min(15.0, timeout), timeout),
            retry=retry,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DavClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def path(*parts: str) -> str:
        """A relative request path of URL-quoted ``parts`` (each may hold ``/``)."""
        segments = [segment for part in parts for segment in str(part).split("/") if segment]
        for segment in segments:
            if segment in (".", ".."):
                raise StorageError(f"refusing the path segment {segment!r} in {'/'.join(parts)!r}")
        return "/".join(quote(segment, safe="") for segment in segments)

    def url(self, *parts: str) -> str:
        """The absolute URL of ``parts`` below the base."""
        return f"{self.base_url}/{self.path(*parts)}"

    # ------------------------------------------------------------------ collections

    def mkcol(self, *parts: str) -> None:
        """Make sure the collection exists, making missing parents too."""
        path = self.path(*parts)
        response = self.http.request("MKCOL", path + "/")
        if response.status_code in (201, 405):
            return
        if response.status_code == 409 and "/" in path:
            self.mkcol(path.rsplit("/", 1)[0])
            response = self.http.request("MKCOL", path + "/")
            if response.status_code in (201, 405):
                return
        raise StorageError(f"MKCOL {self.url(path)}: {_reason(response)}")

    def delete(self, *parts: str) -> bool:
        """Remove a file or a whole collection; False if it was not there."""
        path = self.path(*parts)
        response = self.http.request("DELETE", path)
        if response.status_code in (200, 202, 204):
            return True
        if response.status_code == 404:
            return False
        raise StorageError(f"DELETE {self.url(path)}: {_reason(response)}")

    def list(self, *parts: str, missing_ok: bool = False) -> list[DavEntry]:
        """The members of a collection (PROPFIND, depth 1), without itself;
        none for a missing collection if ``missing_ok``."""
        path = self.path(*parts)
        response = self.http.request(
            "PROPFIND",
            path + "/",
            data=_PROPFIND_BODY,
            idempotent=True,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )
        if response.status_code == 404:
            if missing_ok:
                return []
            raise StorageError(f"PROPFIND {self.url(path)}: no such collection")
        if response.status_code != 207:
            raise StorageError(f"PROPFIND {self.url(path)}: {_reason(response)}")
        own = PurePosixPath(unquote(f"{self._base_path}/{path}"))
        return sorted(self._entries(response.content, own), key=lambda entry: entry.name)

    @staticmethod
    def _entries(body: bytes, own: PurePosixPath) -> Iterator[DavEntry]:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as exc:
            raise StorageError(f"PROPFIND of {own}: the answer is not XML: {exc}") from None
        for response in root.iter(f"{_DAV}response"):
            href = response.findtext(f"{_DAV}href") or ""
            entry_path = PurePosixPath(unquote(urlsplit(href).path))
            if entry_path == own or entry_path.parent != own:
                continue
            is_collection = response.find(f".//{_DAV}resourcetype/{_DAV}collection") is not None
            length = response.findtext(f".//{_DAV}getcontentlength")
            yield DavEntry(entry_path.name, is_collection, int(length) if length and length.isdigit() else None)

    # ------------------------------------------------------------------ files

    def put(self, source: Path, *parts: str, progress: TransferProgress = SILENT) -> int:
        """Upload ``source`` (streamed; replayed from its start on a retry);
        returns its size."""
        path = self.path(*parts)
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise StorageError(f"Given path {source} is not a file: {exc.strerror or exc}") from None
        response = self.http.request(
            "PUT", path, data=source, progress=progress.advance, headers={"Content-Type": "application/octet-stream"}
        )
        if response.status_code not in (200, 201, 204):
            raise StorageError(f"Error uploading file {source}: PUT {self.url(path)}: {_reason(response)}")
        progress.file_done()
        return size

    def get(self, destination: Path, *parts: str, progress: TransferProgress = SILENT) -> int:
        """Download one file to ``destination`` (through a temporary name:
        an interrupted download leaves nothing); returns its size."""
        path = self.path(*parts)
        response = self.http.request("GET", path, stream=True)
        try:
            if response.status_code != 200:
                raise StorageError(f"GET {self.url(path)}: {_reason(response)}")
            return save_body(response, destination, progress, CHUNK)
        finally:
            response.close()
