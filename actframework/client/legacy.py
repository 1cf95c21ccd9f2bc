"""Job files with aCT servers that only know the older API forms.

aCT "master" has no ``PUT /jobs/<id>/data/<name>`` and no
``GET /jobs/<id>/results/...``; it takes an input file as
``PUT /data?id=<id>&filename=<name>`` and sends all of a job's results as one
zip from ``GET /results?id=<id>``. The ``actstore`` backend tries the new
routes first and, when :func:`route_missing` says the server has no such
route, falls back to the functions here, so ``act sub`` and ``act get`` keep
working against old servers.

The zip comes from a server, so it is not trusted: member names that would
lead outside the download directory are refused before anything is written,
symlinks are never created, and a failed or interrupted download leaves
nothing behind.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Final

import requests

from actframework.errors import ServerError, StorageError, TransportError
from actframework.http import HTTPClient, Progress

log = logging.getLogger(__name__)

#: Bytes per read when streaming the zip to disk.
CHUNK: Final = 8 * 1024 * 1024

#: Errors :mod:`zipfile` raises for an archive that is damaged or unsupported.
_BAD_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError)


#: The ``msg`` actframework's own server gives for a route it does not have
#: (actframework/server/errors.py): an older actframework release lacking a
#: route answers these, with the status, instead of a framework page.
NO_ROUTE_MESSAGES: Final = {404: "No such endpoint", 405: "Method not allowed"}


def route_missing(status: int, body: object) -> bool:
    """Whether an answer means "this server has no such route".

    Every error that aCT gives on a route it has is JSON ``{"msg": ...}`` (a
    404 for an unknown job included); a route it lacks gets the framework's
    own 404/405 (Flask's HTML page, FastAPI's ``{"detail": "Not Found"}``).
    actframework's server wraps even those in a ``msg``, with the fixed
    :data:`NO_ROUTE_MESSAGES`. ``body`` must be the answer's own decoded
    body (:func:`answer_body`): ``HTTPClient.json_request`` turns a non-JSON
    error page into ``{"msg": <text>}``, which would hide a missing route.
    """
    if status not in NO_ROUTE_MESSAGES:
        return False
    if not (isinstance(body, dict) and "msg" in body):
        return True
    return bool(body["msg"] == NO_ROUTE_MESSAGES[status])


def answer_body(response: requests.Response) -> object:
    """The response's body decoded as JSON, else its text (for :func:`route_missing`)."""
    text = response.text
    try:
        return json.loads(text)
    except ValueError:
        return text


def upload_input_legacy(
    http: HTTPClient, job_id: int, name: str, source: Path, progress: Progress | None = None
) -> None:
    """Upload one input file of a created job with ``PUT /data?id=&filename=``.

    The body is streamed from ``source`` with its length declared, so
    HTTPClient can replay it on a retry; ``progress`` is told the bytes as
    they are sent (HTTPClient's rule: a retry first takes back, as a
    negative count, what the abandoned attempt reported). Raises
    :class:`ServerError` with the server's ``msg`` unless it answers 204,
    :class:`StorageError` if ``source`` cannot be opened.
    """
    params: dict[str, str | int] = {"id": int(job_id), "filename": name}
    try:
        handle = source.open("rb")
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc.strerror or exc}") from exc
    with handle:
        response = http.request("PUT", "data", params=params, data=handle, progress=progress)
    if response.status_code != 204:
        raise ServerError.from_answer(response.status_code, answer_body(response))


def download_results_zip(
    http: HTTPClient, job_id: int, destination: Path, progress: Progress | None = None
) -> list[str]:
    """Download a job's results with ``GET /results?id=`` and unpack them.

    The zip is streamed to a temporary file next to ``destination`` (it may
    be larger than memory), unpacked with :func:`extract_zip` and removed.
    Returns the sorted relative paths of the files; ``[]`` when the server
    has no results (204, or a 404 with a ``msg``), without creating
    ``destination``. ``progress`` is told the zip's bytes as they arrive.
    Raises :class:`ServerError` for other answers (a server without the
    route included), :class:`TransportError` when the download breaks off,
    :class:`StorageError` for a bad zip or a local write error. Whatever the
    failure, even an interrupt, what this call wrote is removed.
    """
    _require_empty(destination)
    response = http.request("GET", "results", params={"id": int(job_id)}, stream=True)
    archive: Path | None = None
    try:
        status = response.status_code
        if status == 204:
            return []
        if status != 200:
            body = answer_body(response)
            if status == 404 and not route_missing(status, body):
                return []
            raise ServerError.from_answer(status, body)
        destination.parent.mkdir(parents=True, exist_ok=True)
        archive = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.zip"
        with archive.open("xb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        response.close()  # the connection is not needed while unpacking
        try:
            return extract_zip(archive, destination)
        except StorageError as exc:
            raise StorageError(f"results of job {job_id}: {exc}") from exc
    except requests.RequestException as exc:
        raise TransportError(f"downloading the results of job {job_id}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"downloading the results of job {job_id}: {exc}") from exc
    finally:
        response.close()
        if archive is not None:
            archive.unlink(missing_ok=True)


def _member_parts(name: str) -> tuple[str, ...]:
    """The path components of a zip member name, refused (StorageError) if
    the name is absolute or climbs out with ``..``: a hostile or broken
    server must not make us write outside the download directory."""
    parts = tuple(part for part in PurePosixPath(name).parts if part != ".")
    if name.startswith("/") or ".." in parts or "\0" in name:
        raise StorageError(f"zip member {name!r} leads outside the download directory; nothing was unpacked")
    return parts


def extract_zip(zip_path: Path, destination: Path) -> list[str]:
    """Unpack ``zip_path`` into ``destination`` (created if missing; it must
    be empty if it exists) and return the sorted relative file paths.

    Every member name is checked before anything is written (see
    :func:`_member_parts`); symlink members are skipped, not created. A bad
    zip raises :class:`StorageError`; on any failure, an interrupt included,
    everything written is removed again (``destination`` too if this call
    created it).
    """
    _require_empty(destination)
    created = not destination.exists()
    files: list[str] = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [(info, _member_parts(info.filename)) for info in archive.infolist()]
            destination.mkdir(parents=True, exist_ok=True)
            for info, parts in members:
                if not parts:
                    continue
                target = destination.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    log.warning("%s: not creating symlink %s", zip_path.name, info.filename)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as member, target.open("wb") as out:
                    shutil.copyfileobj(member, out, CHUNK)
                files.append("/".join(parts))
    except BaseException as exc:
        _remove_written(destination, created)
        if isinstance(exc, _BAD_ZIP):
            raise StorageError(f"not a valid zip: {exc}") from exc
        if isinstance(exc, OSError):
            raise StorageError(f"unpacking into {destination}: {exc}") from exc
        raise
    return sorted(set(files))


def _require_empty(destination: Path) -> None:
    """Refuse a destination with anything in it: its files are not ours to
    overwrite, and cleaning up after a failure empties it again."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise StorageError(f"{destination} is not an empty directory")


def _remove_written(destination: Path, created: bool) -> None:
    """Undo an extraction: ``destination`` was empty or absent before it."""
    if created:
        shutil.rmtree(destination, ignore_errors=True)
        return
    if destination.is_dir():
        for entry in destination.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
