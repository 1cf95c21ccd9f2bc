"""Storage backend ``webdav``: input files on a plain WebDAV server.

``act sub`` puts each job's local input files into a collection of its own,
``<url>/<job id>/`` (MKCOL, then one streamed PUT per file), and rewrites the
job description (xRSL or ADL, written back in its own language) so that its
inputs are URLs there: the CE fetches them itself, with the user's delegated
proxy, and the aCT server never carries the data. ``act clean``, ``act get`` and ``act kill`` remove the collection
(DELETE; already gone is fine).

The outputs take the usual way (the engine fetches them from the CE onto
the aCT host and ``act get`` downloads them from the server: the core does
that), unless ``outputs`` is on: then each output file the description
keeps on the CE (``("name" "")``, a plain file name) is sent by the CE
itself to ``<url>/<job id>-results/<name>``, and ``act get`` downloads it
from there (next to whatever the server has). Results on
WebDAV are the user's files: cleaning the job removes its inputs, never
its results.

Options: ``url`` (base URL of the user's WebDAV directory; the client may
also give it with ``--webdav URL``, or act-client's ``webdav:`` key),
``timeout`` (seconds, default 60), ``token_file`` (a file holding a bearer
token for the WebDAV server, used instead of the proxy; mode 0600) and
``outputs`` (true: outputs to WebDAV as above; default false). The aCT
server's own token is never sent to WebDAV.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from actframework.storage import (
    ActError,
    ConfigError,
    InputFile,
    OutputFile,
    ResultLocation,
    RetryPolicy,
    StagedFile,
    StorageContext,
    StorageError,
    StorageJob,
    hookimpl,
    inside,
    parse,
    unparse,
)
from actframework_webdav.dav import DavClient, DavEntry

NAME = "webdav"
#: WebDAV servers report a busy or restarting backend as 500 too.
RETRY = RetryPolicy(statuses=frozenset({500, 502, 503, 504}))

__all__ = ["NAME", "DavClient", "DavEntry", "WebDAVBackend"]


class WebDAVBackend:
    """Stages job files on a WebDAV server."""

    name = NAME
    options = frozenset({"url", "timeout", "token_file", "outputs"})

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - self.options
        if unknown:
            raise ConfigError(f"storage backend {self.name}: unknown option {min(unknown)!r}")
        url = options.get("url")
        if url is not None and urlparse(str(url)).scheme not in ("http", "https"):
            raise ConfigError(f"storage backend {self.name}: url must be an http(s) URL, got {url!r}")
        self.url: str | None = str(url).rstrip("/") if url else None
        timeout = options.get("timeout", 60)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"storage backend {self.name}: timeout must be a positive number")
        self.timeout = float(timeout)
        token_file = options.get("token_file")
        self.token_file = Path(str(token_file)).expanduser() if token_file else None
        outputs = options.get("outputs", False)
        if not isinstance(outputs, bool):
            raise ConfigError(f"storage backend {self.name}: outputs must be true or false")
        self.outputs = outputs

    @staticmethod
    def results_collection(job: StorageJob) -> str:
        """Where the CE puts a job's outputs when ``outputs`` is on."""
        return f"{job.id}-results"

    # ------------------------------------------------------------------ plumbing

    def _base(self) -> str:
        if not self.url:
            raise StorageError(
                f"the {self.name} backend needs a URL: --webdav URL, or `webdav:` in the "
                "configuration, or the backend option url"
            )
        return self.url

    def _token(self) -> str | None:
        if self.token_file is None:
            return None
        try:
            mode = self.token_file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StorageError(f"{self.token_file} is readable by others: chmod 600 it")
            return self.token_file.read_text().strip()
        except OSError as exc:
            raise StorageError(f"cannot read {self.token_file}: {exc.strerror or exc}") from None

    def dav(self, context: StorageContext) -> DavClient:
        """A client for the base URL, as the job's owner: the configured
        token, else the owner's own token (a token user's), else the proxy."""
        token = self._token() or context.credentials.token
        proxy = None if token else context.credentials.proxy
        return DavClient(
            self._base(), proxy=proxy, token=token, ca_dir=context.credentials.ca_dir, timeout=self.timeout, retry=RETRY
        )

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        local = self.local_inputs(context, job)
        staged: list[StagedFile] = []
        if local or self.outputs:
            with self.dav(context) as dav:
                if self.outputs:
                    dav.mkcol(self.results_collection(job))  # the CE writes there, it makes no collections
                if local:
                    dav.mkcol(str(job.id))
                for entry, _ in local:
                    size = dav.put(entry.local_path, str(job.id), entry.name, progress=context.progress)
                    staged.append(StagedFile(entry.name, dav.url(str(job.id), entry.name), size))
        return staged

    def local_inputs(self, context: StorageContext, job: StorageJob) -> list[tuple[InputFile, int]]:
        """The job's local input files with their sizes, announced to the
        progress; refused (before anything is sent) without a URL or when a
        file is missing."""
        self._base()
        local = [entry for entry in job.inputs if entry.is_local]
        for entry in local:
            if not entry.local_path.is_file():
                raise StorageError(f"Given path {entry.local_path} is not a file")
        sized = [(entry, entry.local_path.stat().st_size) for entry in local]
        context.progress.expect(files=len(sized), nbytes=sum(size for _, size in sized))
        return sized

    @hookimpl
    def act_rewrite_description(self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]) -> str:
        if not (staged or self.outputs):
            return job.description
        where = {item.name: item.location for item in staged}
        jobs = parse(job.description)
        results_base = f"{self._base()}/{self.results_collection(job)}"
        for parsed in jobs:
            if staged:
                parsed.set_inputs(
                    [InputFile(entry.name, where.get(entry.name, entry.source)) for entry in parsed.inputs]
                )
            if self.outputs and parsed.outputs:
                parsed.set_outputs(
                    [
                        OutputFile(entry.name, f"{results_base}/{DavClient.path(entry.name)}")
                        if not entry.target and "/" not in entry.name.strip("/") and not entry.name.endswith("/")
                        else entry
                        for entry in parsed.outputs
                    ]
                )
        return unparse(jobs)

    @hookimpl
    def act_retrieve_results(self, context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
        """The outputs the CE wrote to ``<url>/<id>-results/`` (none if there
        is no such collection, or no URL), downloaded into ``destination``."""
        if not self.url:
            return ResultLocation(job.id, str(destination))
        collection = self.results_collection(job)
        written: list[Path] = []
        files: list[str] = []
        try:
            with self.dav(context) as dav:
                pending = [("", dav.list(collection, missing_ok=True))]
                while pending:
                    prefix, entries = pending.pop()
                    for entry in entries:
                        relative = f"{prefix}{entry.name}"
                        if entry.is_collection:
                            pending.append((f"{relative}/", dav.list(collection, relative)))
                            continue
                        target = inside(destination, relative)
                        if target is None:
                            raise StorageError(f"job {job.id}: WebDAV listed {relative!r}, outside the results")
                        dav.get(target, collection, relative, progress=context.progress)
                        written.append(target)
                        files.append(relative)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return ResultLocation(job.id, f"{self._base()}/{collection}", tuple(sorted(files)))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        try:
            with self.dav(context) as dav:
                return dav.delete(str(job.id))
        except ActError as exc:
            raise StorageError(f"removing the WebDAV files of job {job.id}: {exc}") from exc
