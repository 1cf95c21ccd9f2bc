"""User-named paths under the data directory: checking, uploading, zipping.

Paths in upload and download URLs come from users, so each is checked twice:
lexically (no empty, ``.`` or ``..`` components, not absolute, no NUL) and
after resolving symlinks (the real path must stay inside the job's
directory). aCT did neither.

Uploads are written to a temporary file next to their target and renamed
into place only when complete, so a file a job is about to be submitted with
is never half-written, and an aborted or oversized upload, or one that finds
the disk full, leaves nothing behind. A server killed mid-upload cannot
remove its temporary file; the name carries the server process's
``<host>:<pid>``, and a server starting on the data directory removes those
of dead processes of its host (:func:`remove_stale_uploads`). Results are
read in chunks and zips are built while they are being sent: no file or
archive is ever held in memory as a whole.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import zipfile
from collections.abc import AsyncIterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final, TypeGuard

import anyio
import anyio.to_thread

from actframework.processes import owner_is_dead, process_owner

#: Bytes gathered from the request before one write to disk: large enough
#: that the thread hop per write is negligible, small enough to bound memory.
WRITE_CHUNK = 1024 * 1024

#: Bytes read per step, and gathered before one yield, when building a zip.
ZIP_CHUNK = 1024 * 1024


class UnsafePathError(ValueError):
    """A user-given path that is malformed or leads outside its directory."""


class UploadTooLargeError(Exception):
    """An upload larger than the configured limit."""


#: Prefix and suffix of upload temporaries: ``.upload-<host>:<pid>-<random>.part``.
UPLOAD_TEMP_PREFIX: Final = ".upload-"
UPLOAD_TEMP_SUFFIX: Final = ".part"


def path_parts(path: str) -> tuple[str, ...]:
    """The components of a relative, slash-separated user path.

    Raises :class:`UnsafePathError` for an empty or absolute path, for empty,
    ``.`` or ``..`` components (also when they arrived percent-encoded: the
    server decodes the URL first) and for NUL characters. A single trailing
    slash is allowed and dropped; callers that care look at the raw path.
    """
    if not path or "\x00" in path or path.startswith("/"):
        raise UnsafePathError(path)
    parts = tuple(path.removesuffix("/").split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(path)
    return parts


def is_safe_name(name: str | None) -> TypeGuard[str]:
    """Whether ``name`` can be used as one directory name (a CE job id: the
    CE chooses it, so it is checked before it names anything on disk)."""
    return name is not None and name not in ("", ".", "..") and not any(c in name for c in "/\\\x00")


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symlink resolved, is ``root`` or below it
    (``root`` must already be resolved)."""
    return path.resolve().is_relative_to(root)


def resolve_inside(root: Path, parts: Sequence[str]) -> Path:
    """``root/parts...`` with symlinks resolved; :class:`UnsafePathError` if
    that leaves ``root`` (which must already be resolved)."""
    target = root.joinpath(*parts).resolve()
    if not target.is_relative_to(root):
        raise UnsafePathError("/".join(parts))
    return target


# --------------------------------------------------------------------------- uploads


async def store_upload(chunks: AsyncIterable[bytes], root: Path, parts: Sequence[str], limit: int) -> Path:
    """Write the streamed ``chunks`` to ``root/parts...`` (parents created).

    The bytes go to a temporary file in the target's directory, renamed over
    the target once complete. More than ``limit`` bytes raise
    :class:`UploadTooLargeError` as soon as they are seen; then, as on any
    other failure (a client that disconnects, a full disk), the target is
    untouched and the temporary file and the directories created for it are
    removed again. Cleanup is shielded from cancellation.
    File system work runs on worker threads so the event loop keeps serving
    other requests while a large upload is written.
    """
    target, created = await anyio.to_thread.run_sync(_prepare_target, root, parts)
    stored = False
    try:
        fd, temp_name = await anyio.to_thread.run_sync(_create_temp, target)
        try:
            with os.fdopen(fd, "wb") as handle:
                received = 0
                pending: list[bytes] = []
                pending_size = 0
                async for chunk in chunks:
                    received += len(chunk)
                    if received > limit:
                        raise UploadTooLargeError(received)
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= WRITE_CHUNK:
                        await anyio.to_thread.run_sync(handle.write, b"".join(pending))
                        pending, pending_size = [], 0
                await anyio.to_thread.run_sync(_finish, handle, b"".join(pending))
            await anyio.to_thread.run_sync(os.replace, temp_name, target)
            stored = True
        finally:
            if not stored:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_remove_quietly, temp_name)
    finally:
        if not stored:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_empty_dirs, created)
    return target


def _prepare_target(root: Path, parts: Sequence[str]) -> tuple[Path, list[Path]]:
    """The checked target path, its directory created, and the directories
    that had to be created (outermost first), to be removed again if the
    upload fails. The check is repeated after creating directories:
    ``mkdir`` follows symlinks, and only the resolved result shows whether
    it stayed inside ``root``."""
    candidates = [root, *(root.joinpath(*parts[:depth]) for depth in range(1, len(parts)))]
    created = [directory for directory in candidates if not directory.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        real_root = root.resolve()
        target = resolve_inside(real_root, parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UnsafePathError("/".join(parts)) from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise UnsafePathError("/".join(parts)) from None
            raise
        target = resolve_inside(real_root, parts)
        if target.is_dir():
            raise UnsafePathError("/".join(parts))
    except BaseException:
        _remove_empty_dirs(created)
        raise
    return target, created


def _remove_empty_dirs(directories: Sequence[Path]) -> None:
    """Remove ``directories``, innermost first, as far as they are empty
    (a concurrent upload may have put a file into one meanwhile)."""
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except OSError:
            return


def _create_temp(target: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(
            dir=target.parent, prefix=f"{UPLOAD_TEMP_PREFIX}{process_owner()}-", suffix=UPLOAD_TEMP_SUFFIX
        )
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise UnsafePathError(target.name) from None
        raise


def _finish(handle: BinaryIO, data: bytes) -> None:
    """Write the last bytes and flush them to disk before the rename, so a
    crash cannot leave a renamed but empty input file."""
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def remove_stale_uploads(inputs_dir: Path) -> int:
    """Remove the upload temporaries under ``inputs_dir/<job id>/...`` left
    by dead server processes of this host; returns how many. Those of live
    servers (other workers, a second server on a shared data directory) and
    of other hosts are left alone."""
    removed = 0
    for current, _dirs, files in os.walk(inputs_dir):
        for name in files:
            if not (name.startswith(UPLOAD_TEMP_PREFIX) and name.endswith(UPLOAD_TEMP_SUFFIX)):
                continue
            owner = name[len(UPLOAD_TEMP_PREFIX) :].rsplit("-", 1)[0]
            if owner_is_dead(owner):
                _remove_quietly(os.path.join(current, name))
                removed += 1
    return removed


# --------------------------------------------------------------------------- results


def list_directory(root: Path, directory: Path) -> tuple[list[str], list[str]]:
    """Names of the files and of the subdirectories in ``directory``, sorted.

    Symlinks count as what they point to when that is inside ``root`` and
    are left out otherwise, so a listing never offers what cannot be fetched.
    """
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_symlink() and not is_inside(Path(entry.path), root):
                continue
            if entry.is_dir():
                dirs.append(entry.name)
            elif entry.is_file():
                files.append(entry.name)
    return sorted(files), sorted(dirs)


class _Sink:
    """A write-only, unseekable file for :class:`zipfile.ZipFile` that keeps
    what was written until it is taken. Being unseekable makes ``zipfile``
    write sizes after each member (data descriptors) instead of seeking back,
    which is what lets the archive be sent while it is being built."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts, self.size = [], 0
        return data


def zip_directory(root: Path) -> Iterator[bytes]:
    """A zip of everything below ``root`` (names relative to it, directories
    included, like ``shutil.make_archive``), produced piece by piece.

    At most about :data:`ZIP_CHUNK` bytes are held at a time, whatever the
    size of the files. Symlinks leading outside ``root`` are left out, and
    symlinked directories are not descended into.
    """
    real_root = root.resolve()
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for current, dirnames, filenames in os.walk(real_root):
            here = Path(current)
            dirnames.sort()
            for name in dirnames:
                path = here / name
                if not path.is_symlink():
                    archive.mkdir(path.relative_to(real_root).as_posix())
            for name in sorted(filenames):
                path = here / name
                if path.is_symlink() and not is_inside(path, real_root):
                    continue
                yield from _zip_file(archive, sink, path, path.relative_to(real_root).as_posix())
            if sink.size:
                yield sink.take()
    yield sink.take()


def _zip_file(archive: zipfile.ZipFile, sink: _Sink, path: Path, name: str) -> Iterator[bytes]:
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below, across yields
    except (FileNotFoundError, IsADirectoryError):
        return
    with source:
        info = zipfile.ZipInfo.from_file(path, name)
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            return
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            while chunk := source.read(ZIP_CHUNK):
                member.write(chunk)
                if sink.size >= ZIP_CHUNK:
                    yield sink.take()
