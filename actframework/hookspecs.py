"""The storage hooks: the contract between the core and storage backends.

This is the core's specification module (pluggy reads the hook
specifications from it). Backend authors import what they need from
:mod:`actframework.storage`, which re-exports the records defined here with
everything else a backend may use; ``docs/plugins.md`` is the guide.

A storage backend decides where a job's input files wait until the job
runs, and may keep results: on the aCT server itself (``actstore``), on a
plain WebDAV server (``webdav``) or on a dCache door (``dcache``). The core
does the aCT server's own file work itself (the engine uploads inputs that
the server holds into the CE session and fetches outputs from the CE onto
the server; ``act get`` downloads what the server holds): a backend deals
only with its own storage.

Exactly one backend is registered with a plugin manager at a time, so every
hook is ``firstresult``: the backend's answer is the answer. Hooks receive
and return the typed records defined here, never bare dictionaries, so that a
backend written against this version keeps working when fields are added.

Who calls what, in the life of one job:

1. ``act sub`` (client) creates the job on the server, then calls
   :func:`act_stage_inputs` and :func:`act_rewrite_description`, then
   confirms the job with the rewritten description.
2. The engine submits the description as confirmed; it uploads the inputs
   the server holds into the CE session and the CE fetches the others
   (URLs) itself. It calls no hook for that.
3. ``act get`` (client) downloads what the server holds of the results,
   then calls :func:`act_retrieve_results` so that the backend adds what its
   own storage holds.
4. ``act clean``, ``act get`` and ``act kill`` (client), and the engine's
   cleaner (as the job's owner), call :func:`act_clean_up` so that nothing a
   job staged is left behind.

Transfers report to ``context.progress`` (:class:`TransferProgress`):
``expect`` what is coming, ``advance`` per chunk, ``file_done`` per file.
``act`` draws its progress bars from it, and stops a download on Ctrl-C by
raising :class:`~actframework.errors.TransferCancelled` from ``advance``:
let it through, after removing the partial file.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import pluggy

PROJECT_NAME = "actframework"
"""The pluggy project name: hook markers of other projects are not ours."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Caller(enum.StrEnum):
    """Which side of actframework calls a hook: information for logs and
    messages. A backend does the same work on either side (the core does
    what differs, such as the server's own files)."""

    CLIENT = "client"
    """The ``act`` command or the ``ACTClient`` library, on a user's machine."""
    ENGINE = "engine"
    """The ``actd engine`` process, on the aCT host, acting for a job's owner."""


@dataclass(frozen=True)
class Credentials:
    """What a backend may authenticate with, and what it must trust.

    Secrets are never part of ``repr`` so that a logged record cannot leak them.
    """

    proxy: Path | None = None
    """The X.509 proxy file (certificate, key, chain) of the job's owner."""
    token: str | None = field(default=None, repr=False)
    """A bearer token of the job's owner, for storage that accepts tokens
    instead of a proxy. Never the aCT server's own token: the server's data
    area is :attr:`StorageContext.server`."""
    ca_dir: Path | None = None
    """Trusted CA certificates: a hashed directory (the grid ``X509_CERT_DIR``)
    or a PEM bundle (a site's ``ca_certificates``)."""


class TransferProgress(Protocol):
    """Where a backend reports the files and bytes it moves, so that ``act``
    can draw a progress bar. Calls may come from several threads."""

    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        """More work is coming: ``files`` files of ``nbytes`` bytes in all
        (either may be 0 when it is not known yet)."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes moved (negative when a retry starts a file again).

        It raises :class:`~actframework.errors.TransferCancelled` when the
        user stops the command: a backend lets that through (after removing
        the partial file), so report often, at least once per chunk."""

    def file_done(self) -> None:
        """One more file is complete."""


class _Silent:
    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self) -> None:
        pass


SILENT: TransferProgress = _Silent()
"""The progress of callers that show none (the engine, scripts)."""


class ServerFiles(Protocol):
    """The aCT server's data area, as the user who calls a hook may use it.

    For a backend whose storage is the aCT server itself (``actstore``):
    the core implements it over the user's session with the server, so that
    no backend needs the server's API or the user's token. It is given only
    on the client side (``context.server``); the engine gives None.
    """

    def upload_input(self, job_id: int, name: str, source: Path, progress: TransferProgress = SILENT) -> str:
        """Upload ``source`` as input ``name`` of job ``job_id`` (the job's
        id on the server, :attr:`StorageJob.id`), streamed; returns the URL
        it is kept at. ``progress`` is told the bytes as they go
        (``advance``) and the file once it is complete (``file_done``); the
        caller announces it (``expect``). Raises
        :class:`~actframework.errors.StorageError` if the server refuses it
        (the server keeps nothing of a failed upload)."""
        ...


@dataclass(frozen=True)
class StorageContext:
    """The circumstances of one hook call."""

    caller: Caller
    """Who calls (information only: backends act the same on both sides)."""
    credentials: Credentials = Credentials()
    """What to authenticate with: the user's proxy on the client side, the
    job owner's delegated proxy on the engine side."""
    server: ServerFiles | None = None
    """The aCT server's data area, for a backend that stores there; None
    where there is none (on the engine side, in a backend's own tests)."""
    progress: TransferProgress = SILENT
    """Where to report transfers (``act`` draws a bar from it)."""


@dataclass(frozen=True)
class InputFile:
    """One input file of a job description (xRSL ``inputfiles``, ADL ``InputFile``)."""

    name: str
    """The file's name in the job's session directory on the CE."""
    source: str
    """Where it comes from, as written in the description: a path or a URL."""

    @property
    def is_local(self) -> bool:
        """True when the source is a file on the submitting machine.

        The rule is aCT's: no scheme (or ``file``) and no host. An empty source
        means the file of the same name in the current directory.
        """
        if not self.source:
            return True
        url = urlparse(self.source)
        return url.scheme in ("", "file") and not url.hostname

    @property
    def local_path(self) -> Path:
        """The local file this entry refers to (only meaningful if :attr:`is_local`)."""
        if not self.source:
            return Path(self.name)
        return Path(urlparse(self.source).path if self.source.startswith("file:") else self.source)


@dataclass(frozen=True)
class StorageJob:
    """A job as storage backends see it."""

    id: int
    """The aCT job id that users see (``clientjobs.id``); backends key their files by it."""
    description: str
    """The job description text (xRSL or ADL; :mod:`actframework.jobdesc` reads both)."""
    inputs: tuple[InputFile, ...] = ()
    """The description's input files (given to :func:`act_stage_inputs`)."""
    name: str | None = None
    """The job's name, when the caller knows it (for messages)."""
    cluster: str | None = None
    """The CE the job went to, when the caller knows it (information)."""
    ce_id: str | None = None
    """The job's id on its CE, when it has one (information)."""


@dataclass(frozen=True)
class StagedFile:
    """Where one input file was put, so the description can point at it."""

    name: str
    """The file's name in the session directory (as :attr:`InputFile.name`)."""
    location: str
    """Where the file is now: a URL the CE can fetch, or (for files the
    server holds) the URL the server keeps it at."""
    size: int
    """Bytes stored, so callers can report progress and check completeness."""


@dataclass(frozen=True)
class ResultLocation:
    """What :func:`act_retrieve_results` added to the job's result directory."""

    job_id: int
    location: str
    """URL or path of the directory the files came from (or went to)."""
    files: tuple[str, ...] = ()
    """Paths of the files the backend wrote, relative to the destination
    (``/``-separated); empty when its storage holds no results."""


@hookspec(firstresult=True)
def act_stage_inputs(context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
    """Put the job's local input files where the job will be able to read them.

    Called by the client (``act sub``) once the server has given the job its
    id and before the job is confirmed: this is where user files leave the
    user's machine. Local inputs are those with :attr:`InputFile.is_local`;
    the others (URLs) are left to the CE. Returns one :class:`StagedFile` per
    local input, in input order, each announced to ``context.progress``.
    Raises :class:`actframework.errors.StorageError` if a file cannot be
    staged (a missing file before anything is stored); nothing the call
    staged may be left half-written.
    """


@hookspec(firstresult=True)
def act_rewrite_description(context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]) -> str:
    """Return the job description rewritten for where its inputs were staged.

    Called by the client right after :func:`act_stage_inputs`, with what it
    returned; the text returned is what the server keeps and the engine
    submits. A backend that the CE can read from points each staged input at
    its URL (and may direct outputs to its storage too); one whose files the
    server holds returns the description as it is (the server points local
    inputs at its own copies). The text returned must be a valid
    description of the same job, in the language it came in: change it with
    ``parse``, ``set_inputs`` / ``set_outputs`` and ``unparse`` (from
    :mod:`actframework.storage`), which read and write xRSL and ADL alike.
    """


@hookspec(firstresult=True)
def act_retrieve_results(context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
    """Add to ``destination`` the job's results that the backend's storage holds.

    Called by the client (``act get``) after it downloaded into
    ``destination`` (a directory that exists) what the aCT server holds of
    the job's results. A backend whose storage holds none returns a
    :class:`ResultLocation` without files. A file is written whole or not
    at all (a temporary name, renamed when complete); on an error the
    files the call wrote are removed before it is raised.
    """


@hookspec(firstresult=True)
def act_clean_up(context: StorageContext, job: StorageJob) -> bool:
    """Remove everything this backend stored for the job.

    Called by the client on ``act clean``, ``act get`` (after a successful
    download) and ``act kill``, and by the engine (its cleaner, and when a
    client never did it) as the job's owner, with the owner's delegated
    proxy. The core removes what the aCT server holds itself. Must be
    idempotent: cleaning what is already gone is success. Returns True when
    something was removed.
    """
