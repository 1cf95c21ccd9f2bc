"""Storage backend ``dcache``: input files on dCache through its WebDAV door.

Everything the ``webdav`` backend does (a collection per job, URLs in the
description for the CE to fetch, DELETE on clean), plus what dCache needs to
be fast: every upload is sent with a real ``Expect: 100-continue`` and waits
for the door's answer, so that the door can redirect (307) the body straight
to a pool instead of relaying it (see :mod:`actframework_dcache.expect`, and
there why act-client's empty-body probe is not the same thing). Uploads run
in parallel, at most ``max_parallel_uploads`` at once (many simultaneous
redirected PUTs have made doors fail, dCache #5618).

Options: ``url`` (the door URL of the user's directory), ``timeout``
(seconds, default 60), ``continue_timeout`` (seconds to wait for the door's
first answer before sending the body anyway, default 5; dCache advises
patience, since the door answers only once a pool is ready),
``max_parallel_uploads`` (default 4) and ``token_file`` (as for webdav).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from actframework.storage import ConfigError, InputFile, StagedFile, StorageContext, StorageError, StorageJob, hookimpl
from actframework_dcache.expect import ExpectClient, Upload
from actframework_webdav import WebDAVBackend

NAME = "dcache"
DEFAULTS: Mapping[str, float] = {"continue_timeout": 5, "max_parallel_uploads": 4}

__all__ = ["NAME", "DCacheBackend", "ExpectClient", "Upload"]


class DCacheBackend(WebDAVBackend):
    """Stages job files on dCache, uploading straight to the pools."""

    name = NAME
    options = WebDAVBackend.options | frozenset(DEFAULTS)

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)  # checks url, timeout, token_file and unknown names
        settings = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
        for key, value in settings.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"storage backend {NAME}: {key} must be a positive number")
        self.continue_timeout = float(settings["continue_timeout"])
        self.max_parallel_uploads = int(settings["max_parallel_uploads"])

    def expect_client(self, context: StorageContext) -> ExpectClient:
        """Uploads as the job's owner (the configured token, else the
        owner's own token, else the proxy)."""
        token = self._token() or context.credentials.token
        return ExpectClient(
            proxy=None if token else context.credentials.proxy,
            token=token,
            ca_dir=context.credentials.ca_dir,
            timeout=self.timeout,
            continue_timeout=self.continue_timeout,
        )

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        sized = self.local_inputs(context, job)
        if not sized:
            return []
        local = [entry for entry, _ in sized]
        sizes = [size for _, size in sized]
        with self.dav(context) as dav:
            dav.mkcol(str(job.id))
            urls = [dav.url(str(job.id), entry.name) for entry in local]
        uploader = self.expect_client(context)

        def upload(item: tuple[InputFile, str]) -> Upload:
            entry, url = item
            return uploader.put(url, entry.local_path, context.progress)

        with ThreadPoolExecutor(max_workers=self.max_parallel_uploads) as pool:
            results = list(pool.map(upload, zip(local, urls, strict=True)))
        staged: list[StagedFile] = []
        for entry, url, size, result in zip(local, urls, sizes, results, strict=True):
            if result.status not in (200, 201, 204):
                detail = result.body.decode("utf-8", "replace").strip().splitlines()[:1]
                raise StorageError(
                    f"Error uploading file {entry.local_path}: PUT {url}: HTTP {result.status} "
                    f"{result.reason}" + (f": {detail[0][:200]}" if detail else "")
                )
            staged.append(StagedFile(entry.name, url, size))
        return staged
