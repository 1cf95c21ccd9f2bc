"""Storage backend ``dcache``: input files on dCache through its WebDAV door.

Like ``webdav``, plus what dCache needs to be fast: every upload is sent with
``Expect: 100-continue`` and waits for the door's answer, so that the door can
redirect (307) the body straight to a pool instead of relaying it.

Options: ``url`` (the door URL of the user's directory), ``timeout`` (seconds,
default 60), ``continue_timeout`` (seconds to wait for ``100 Continue`` before
sending the body anyway, default 5) and ``max_parallel_uploads`` (default 4).

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

NAME = "dcache"
DEFAULTS: Mapping[str, float] = {"timeout": 60, "continue_timeout": 5, "max_parallel_uploads": 4}


class DCacheBackend:
    """Stages job files on dCache, uploading straight to the pools."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - {"url", *DEFAULTS}
        if unknown:
            raise ConfigError(f"storage backend {NAME}: unknown option {sorted(unknown)[0]!r}")
        url = options.get("url")
        if url is not None and urlparse(str(url)).scheme not in ("http", "https"):
            raise ConfigError(f"storage backend {NAME}: url must be an http(s) URL, got {url!r}")
        self.url: str | None = str(url).rstrip("/") if url else None
        settings = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
        for key, value in settings.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"storage backend {NAME}: {key} must be a positive number")
        self.timeout = float(settings["timeout"])
        self.continue_timeout = float(settings["continue_timeout"])
        self.max_parallel_uploads = int(settings["max_parallel_uploads"])

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
