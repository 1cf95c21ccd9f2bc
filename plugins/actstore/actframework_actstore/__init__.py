"""Storage backend ``actstore``: input files live on the aCT server itself.

``act sub`` uploads each local input file to the server
(``context.server``, :class:`~actframework.storage.ServerFiles`), which
keeps it as ``<data_dir>/inputs/<id>/<name>`` and points the description
at it when the job is confirmed. From there on the core does everything:
the engine uploads those files into the CE session once the CE has created
the job, fetches the outputs from the CE into ``<data_dir>/results/<CE
id>/``, and ``act get`` downloads them; the server and the engine remove
them. The backend needs no storage of its own, which is why it is the
default. Engine and server must share the data directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actframework.storage import (
    ConfigError,
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageError,
    StorageJob,
    hookimpl,
)

NAME = "actstore"


class ActStoreBackend:
    """Keeps job files in the aCT server's data directory. Takes no options."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError(f"storage backend {NAME} takes no options, got: {', '.join(options)}")

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        """Each local input to the server (checked all before any is sent)."""
        local = [entry for entry in job.inputs if entry.is_local]
        if not local:
            return []
        for entry in local:
            if not entry.local_path.is_file():
                raise StorageError(f"Given path {entry.local_path} is not a file")
        server = context.server
        if server is None:
            raise StorageError(f"the {NAME} backend stores on the aCT server, and there is none here")
        sizes = [entry.local_path.stat().st_size for entry in local]
        context.progress.expect(files=len(local), nbytes=sum(sizes))
        return [
            StagedFile(entry.name, server.upload_input(job.id, entry.name, entry.local_path, context.progress), size)
            for entry, size in zip(local, sizes, strict=True)
        ]

    @hookimpl
    def act_rewrite_description(self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]) -> str:
        # The server points local inputs at <data_dir>/inputs/<id>/ when the
        # job is confirmed, and the engine uploads them from there.
        return job.description

    @hookimpl
    def act_retrieve_results(self, context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
        # The results are on the server, which act get downloads itself.
        return ResultLocation(job.id, str(destination))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        # The server and the engine remove the files the server holds.
        return False
