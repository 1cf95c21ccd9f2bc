"""Storage backend ``actstore``: input files live on the aCT server itself.

The client uploads each local input file with ``PUT /jobs/<id>/data/<name>``
(``PUT /data`` on older servers), and the server keeps it as
``<data_dir>/inputs/<id>/<name>``; the engine uploads those files into the
CE session once the CE has created the job, and fetches the outputs from
the CE into ``<data_dir>/results/<CE id>/``, where ``act get`` lists and
downloads them. It needs no storage of its own, which is why it is the
default. Engine and server must share the data directory.

The engine side is implemented here; the client side (``act sub``/``act
get``) is not built yet in this version and raises
:class:`~actframework.errors.StorageError` saying so.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from actframework.arc.downloads import fetch_for
from actframework.arc.transfer import fetch_jobs
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

#: Parallel downloads within one job's fetch (the engine fetches several jobs at once).
FETCH_WORKERS = 4

log = logging.getLogger(__name__)


class ActStoreBackend:
    """Keeps job files in the aCT server's data directory. Takes no options."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError(f"storage backend {NAME} takes no options, got: {', '.join(options)}")

    def _not_built(self, what: str) -> NoReturn:
        raise StorageError(f"the {NAME} storage backend cannot {what} from the client yet in this version")

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        if context.caller is not Caller.ENGINE:
            self._not_built("stage input files")
        if context.ce is None or not job.ce_id:
            raise StorageError(f"job {job.id}: the engine must give a CE client and the CE job id")
        root = _job_inputs(context, job)
        staged: list[StagedFile] = []
        for entry in job.inputs:
            if not entry.is_local:
                continue
            path = _inside(root, entry.local_path, job)
            try:
                size = path.stat().st_size
                context.ce.upload_file(job.ce_id, entry.name, path)
            except OSError as exc:
                raise StorageError(f"job {job.id}: input {entry.name}: {exc.strerror or exc}") from exc
            except ActError as exc:
                raise StorageError(f"job {job.id}: uploading input {entry.name} to the CE failed: {exc}") from exc
            staged.append(StagedFile(entry.name, f"{job.ce_id}/{entry.name}", size))
        return staged

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        if context.caller is not Caller.ENGINE:
            self._not_built("rewrite job descriptions")
        # The server already points local inputs at <data_dir>/inputs/<id>/;
        # the submission turns them into uploads for act_stage_inputs.
        return job.description

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        if context.caller is not Caller.ENGINE:
            self._not_built("retrieve results")
        if context.ce is None or not job.ce_id:
            raise StorageError(f"job {job.id}: the engine must give a CE client and the CE job id")
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.parent / f".{destination.name}.partial-{secrets.token_hex(4)}"
        try:
            outcome = fetch_jobs(context.ce, [fetch_for(job.ce_id, partial, job.downloads)], FETCH_WORKERS)[0]
            if not outcome.ok:
                raise StorageError(f"job {job.id}: fetching outputs failed: {'; '.join(outcome.errors[:3])}")
            partial.mkdir(parents=True, exist_ok=True)
            os.chmod(partial, 0o700)
            if destination.exists():
                shutil.rmtree(destination)
            partial.rename(destination)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return ResultLocation(job.id, str(destination), tuple(outcome.files))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        if context.caller is not Caller.ENGINE:
            self._not_built("clean up")
        root = _job_inputs(context, job)
        existed = root.exists()
        shutil.rmtree(root, ignore_errors=True)
        return existed


def _job_inputs(context: StorageContext, job: StorageJob) -> Path:
    if context.data_dir is None:
        raise StorageError(f"the {NAME} backend needs the server's data directory")
    return context.data_dir / "inputs" / str(job.id)


def _inside(root: Path, path: Path, job: StorageJob) -> Path:
    """Refuse to upload anything but the job's own uploaded files: a stored
    description must never make the engine send other files of the server."""
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise StorageError(f"job {job.id}: input {path} is not among the job's uploaded files")
    return resolved
