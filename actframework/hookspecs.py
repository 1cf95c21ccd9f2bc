"""The storage hooks: the one contract that storage backends implement.

A storage backend decides where a job's input files wait until the job runs,
and where its results can be read afterwards: on the aCT server itself
(``actstore``), on a plain WebDAV server (``webdav``) or on a dCache door
(``dcache``). Backends are separate distributions; each registers a factory in
the entry-point group ``actframework.storage`` (see :mod:`actframework.plugins`).

The factory is called with one keyword argument, ``options``: the backend's
own settings (a mapping read from the client or server configuration). It
returns an object whose methods, marked with :data:`hookimpl`, implement the
four hooks below. A plugin author imports only this module::

    from actframework.hookspecs import hookimpl, StagedFile

    class MyBackend:
        def __init__(self, options):
            self.base_url = options["url"]

        @hookimpl
        def act_stage_inputs(self, context, job):
            ...

Exactly one backend is registered with a plugin manager at a time, so every
hook is ``firstresult``: the backend's answer is the answer. Hooks receive
and return the typed records defined here, never bare dictionaries, so that a
backend written against this version keeps working when fields are added.

Who calls what, in the life of one job:

1. ``act sub`` (client) creates the job on the server, then calls
   :func:`act_stage_inputs` and :func:`act_rewrite_description`, then confirms
   the job with the rewritten description.
2. The engine, when it submits the job to a CE, calls
   :func:`act_stage_inputs` and :func:`act_rewrite_description` again with
   ``context.caller == Caller.ENGINE``: a backend whose files the CE cannot
   fetch by itself (``actstore``) uploads them into the CE session there; a
   URL-based backend leaves them to the CE's own data staging.
3. After the job finished, the engine calls :func:`act_retrieve_results` to
   bring the outputs where users can read them; ``act get`` (client) calls it
   to download them.
4. ``act clean``, ``act get`` and ``act kill`` (client) and the engine's
   cleaner call :func:`act_clean_up` so that nothing a job staged is left
   behind.

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
from typing import Any, Protocol
from urllib.parse import urlparse

import pluggy

PROJECT_NAME = "actframework"
"""The pluggy project name: hook markers of other projects are not ours."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Caller(enum.StrEnum):
    """Which side of actframework calls a hook; backends act differently on each."""

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
    """A bearer token, for storage that accepts tokens instead of a proxy."""
    ca_dir: Path | None = None
    """Directory of trusted CA certificates (the grid ``X509_CERT_DIR``)."""


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


@dataclass(frozen=True)
class StorageContext:
    """The circumstances of one hook call."""

    caller: Caller
    credentials: Credentials = Credentials()
    server_url: str | None = None
    """Base URL of the aCT REST server (client side), for backends that store there."""
    data_dir: Path | None = None
    """The server's data directory (engine side), for backends that keep files there."""
    ce: Any = None
    """Engine side: the CE client (:class:`actframework.arc.ARCRest`), acting
    as the job's owner, for backends that move files into or out of CE
    sessions themselves. None on the client side."""
    progress: TransferProgress = SILENT
    """Where to report transfers (``act`` draws a bar from it)."""


@dataclass(frozen=True)
class InputFile:
    """One entry of a job description's ``inputfiles``."""

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
    """The job description text (xRSL)."""
    inputs: tuple[InputFile, ...] = ()
    name: str | None = None
    cluster: str | None = None
    """Engine side: the CE the job is (being) submitted to."""
    ce_id: str | None = None
    """Engine side: the job's id on the CE, once it has one."""
    downloads: str = "/"
    """Engine side: which outputs to retrieve, in aCT's ``downloadfiles``
    notation: ``;``-separated session paths (``/`` for all, a trailing ``/``
    for a directory and everything below) and ``diagnose=<dir>/`` (all
    diagnose files into ``dir``) or ``diagnose=<dir>/<file>`` (one file)."""


@dataclass(frozen=True)
class StagedFile:
    """Where one input file was put, so the description can point at it."""

    name: str
    """The file's name in the session directory (as :attr:`InputFile.name`)."""
    location: str
    """A URL the CE can fetch, or a backend-specific location on the aCT host."""
    size: int
    """Bytes stored, so callers can report progress and check completeness."""


@dataclass(frozen=True)
class ResultLocation:
    """Where a job's results are, after :func:`act_retrieve_results`."""

    job_id: int
    location: str
    """URL or path of the directory holding the job's outputs."""
    files: tuple[str, ...] = ()
    """Paths of the retrieved files, relative to :attr:`location`."""


@hookspec(firstresult=True)
def act_stage_inputs(context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
    """Put the job's local input files where the job will be able to read them.

    Called by the client (``act sub``) once the server has given the job its
    id and before the job is confirmed: this is where user files leave the
    user's machine. Called by the engine right after the CE accepted the job:
    a backend whose locations the CE cannot fetch by itself moves the files
    into the CE session here; a URL-based backend returns the files as already
    staged. Returns one :class:`StagedFile` per local input, in input order.
    Raises :class:`actframework.errors.StorageError` if a file cannot be
    staged; nothing the call staged may be left half-written.
    """


@hookspec(firstresult=True)
def act_rewrite_description(
    context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
) -> str:
    """Return the job description rewritten for where its inputs were staged.

    Called by the client after :func:`act_stage_inputs`, before the job is
    confirmed, and by the engine before it submits the job to a CE. A backend
    that the CE can read from points each staged input at its URL (and may
    direct outputs to its storage too); one that uploads into the CE session
    returns the description with the sources the CE expects there. The text
    returned must be a valid description of the same job.
    """


@hookspec(firstresult=True)
def act_retrieve_results(
    context: StorageContext, job: StorageJob, destination: Path
) -> ResultLocation:
    """Bring the job's results to ``destination`` and say what arrived.

    Called by the engine when a finished job's outputs are fetched from the
    CE, and by the client (``act get``) to download them to the user's
    machine. Partial downloads are removed before an error is raised.
    """


@hookspec(firstresult=True)
def act_clean_up(context: StorageContext, job: StorageJob) -> bool:
    """Remove everything this backend stored for the job.

    Called by the client on ``act clean``, ``act get`` (after a successful
    download) and ``act kill``, and by the engine's cleaner. Must be
    idempotent: cleaning what is already gone is success. Returns True when
    something was removed.
    """
