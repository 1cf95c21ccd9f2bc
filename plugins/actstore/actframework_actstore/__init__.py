"""Storage backend ``actstore``: input files live on the aCT server itself.

The client uploads each local input file with ``PUT /jobs/<id>/data/<name>``
(``PUT /data`` on older servers, see :mod:`actframework.client.legacy`), and
the server keeps it as
``<data_dir>/inputs/<id>/<name>``; the engine uploads those files into the
CE session once the CE has created the job, and fetches the outputs from
the CE into ``<data_dir>/results/<CE id>/``, where ``act get`` lists and
downloads them. It needs no storage of its own, which is why it is the
default. Engine and server must share the data directory.

On the client side (``act sub``, ``act get``) it talks to the aCT server
through :class:`actframework.client.api.ACTClient` with the user's token
(``context.credentials.token``, ``context.server_url``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actframework.arc.host_files import inputs_from_host, job_inputs_dir, results_on_host
from actframework.client.api import ACTClient
from actframework.errors import ActError, ConfigError, StorageError
from actframework.hookspecs import (
    Caller,
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    hookimpl,
)

NAME = "actstore"

log = logging.getLogger(__name__)


class ActStoreBackend:
    """Keeps job files in the aCT server's data directory. Takes no options."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError(f"storage backend {NAME} takes no options, got: {', '.join(options)}")

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        if context.caller is not Caller.ENGINE:
            return _upload_to_server(context, job)
        return inputs_from_host(context, job)

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        # Client: the server points local inputs at <data_dir>/inputs/<id>/
        # when the job is confirmed. Engine: the submission turns those into
        # uploads for act_stage_inputs. Either way the text stays as it is.
        return job.description

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        if context.caller is not Caller.ENGINE:
            return _download_from_server(context, job, destination)
        return results_on_host(context, job, destination)

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        if context.caller is not Caller.ENGINE:
            return False  # the server removes a job's files itself when it is cleaned or killed
        root = job_inputs_dir(context, job)
        existed = root.exists()
        shutil.rmtree(root, ignore_errors=True)
        return existed


def _client(context: StorageContext) -> ACTClient:
    if not context.server_url or not context.credentials.token:
        raise StorageError(f"the {NAME} backend needs the aCT server URL and the user's token")
    return ACTClient(context.server_url, token=context.credentials.token, ca_dir=context.credentials.ca_dir)


def _upload_to_server(context: StorageContext, job: StorageJob) -> list[StagedFile]:
    """``act sub``: each local input to ``PUT /jobs/<id>/data/<name>``."""
    act = _client(context)
    local = [entry for entry in job.inputs if entry.is_local]
    for entry in local:
        if not entry.local_path.is_file():
            act.close()
            raise StorageError(f"Given path {entry.local_path} is not a file")
    sizes = [entry.local_path.stat().st_size for entry in local]
    context.progress.expect(files=len(local), nbytes=sum(sizes))
    staged: list[StagedFile] = []
    with act:
        for entry, size in zip(local, sizes, strict=True):
            path = entry.local_path
            try:
                act.upload_input(job.id, entry.name, path, progress=context.progress.advance)
            except ActError as exc:
                raise StorageError(f"Error uploading file {path}: {exc}") from exc
            context.progress.file_done()
            staged.append(StagedFile(entry.name, f"{context.server_url}/jobs/{job.id}/data/{entry.name}", size))
    return staged


def _download_from_server(context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
    """``act get``: the job's results, listed and downloaded recursively
    (one zip from servers that predate the listing). A failed download
    removes what it wrote (``destination`` included)."""
    try:
        with _client(context) as act:
            files = act.download_results(job.id, destination, context.progress)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    return ResultLocation(job.id, str(destination), tuple(files))
