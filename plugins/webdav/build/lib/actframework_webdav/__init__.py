"""Storage backend ``webdav``: input files on a plain WebDAV server.

Each job gets a collection ``<url>/<job id>/`` (MKCOL) holding its input files
(PUT); the CE stages them from there with the user's delegated proxy, and
``clean``/``get``/``kill`` remove the collection (DELETE).

Options: ``url`` (base URL of the user's WebDAV directory; the client may
also give it with ``--webdav URL``) and ``timeout`` (seconds, default 60).

The transfers are not built yet in this version: every hook raises
:class:`~actframework.errors.StorageError` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

from actframework.errors import ConfigError, StorageError
from actframework.hookspecs import (
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    hookimpl,
)

NAME = "webdav"


class WebDAVBackend:
    """Stages job files on a WebDAV server."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - {"url", "timeout"}
        if unknown:
            raise ConfigError(f"storage backend {NAME}: unknown option {sorted(unknown)[0]!r}")
        url = options.get("url")
        if url is not None and urlparse(str(url)).scheme not in ("http", "https"):
            raise ConfigError(f"storage backend {NAME}: url must be an http(s) URL, got {url!r}")
        self.url: str | None = str(url).rstrip("/") if url else None
        timeout = options.get("timeout", 60)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"storage backend {NAME}: timeout must be a positive number")
        self.timeout = float(timeout)

    def _not_built(self, what: str) -> NoReturn:
        raise StorageError(f"the {NAME} storage backend cannot {what} yet in this version")

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        self._not_built("stage input files")

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        self._not_built("rewrite job descriptions")

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        self._not_built("retrieve results")

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        self._not_built("clean up")
