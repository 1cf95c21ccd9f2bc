"""Job files kept on the aCT host, moved into and out of CE sessions.

What the engine side of a storage backend does when the files live on the
aCT host rather than on storage the CE can reach: the inputs that users
uploaded to the server (``<data_dir>/inputs/<job id>/``) go into the CE
session by the REST interface, and the outputs come back from the CE into
``<data_dir>/results/<CE id>/``. ``actstore`` does only this; ``webdav`` and
``dcache`` do it for the jobs that reached the server without their
storage (submitted by a client that uploaded to the server).
"""

from __future__ import annotations

from pathlib import Path

from actframework.arc.downloads import fetch_outputs
from actframework.errors import ActError, StorageError
from actframework.hookspecs import ResultLocation, StagedFile, StorageContext, StorageJob
from actframework.paths import inside


def job_inputs_dir(context: StorageContext, job: StorageJob) -> Path:
    """``<data_dir>/inputs/<job id>``: where the server keeps a job's uploads."""
    if context.data_dir is None:
        raise StorageError("moving files on the aCT host needs the server's data directory")
    return context.data_dir / "inputs" / str(job.id)


def _server_file(root: Path, path: Path, job: StorageJob) -> Path:
    """``root / path``, refused if it leaves ``root``: the engine must never
    upload other files of the server, whatever names a description gives."""
    resolved = inside(root, path)
    if resolved is None:
        raise StorageError(f"job {job.id}: {path} is not inside {root}")
    return resolved


def inputs_from_host(context: StorageContext, job: StorageJob) -> list[StagedFile]:
    """Upload the job's local inputs (files the server holds) into its CE
    session; inputs given as URLs are left to the CE."""
    if context.ce is None or not job.ce_id:
        raise StorageError(f"job {job.id}: the engine must give a CE client and the CE job id")
    local = [entry for entry in job.inputs if entry.is_local]
    if not local:
        return []
    root = job_inputs_dir(context, job)
    staged: list[StagedFile] = []
    for entry in local:
        path = _server_file(root, entry.local_path, job)
        try:
            size = path.stat().st_size
            context.ce.upload_file(job.ce_id, entry.name, path)
        except OSError as exc:
            raise StorageError(f"job {job.id}: input {entry.name}: {exc.strerror or exc}") from exc
        except ActError as exc:
            raise StorageError(f"job {job.id}: uploading input {entry.name} to the CE failed: {exc}") from exc
        staged.append(StagedFile(entry.name, f"{job.ce_id}/{entry.name}", size))
    return staged


def results_on_host(context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
    """Fetch the job's outputs from its CE into ``destination`` (see
    :func:`~actframework.arc.downloads.fetch_outputs`)."""
    if context.ce is None or not job.ce_id:
        raise StorageError(f"job {job.id}: the engine must give a CE client and the CE job id")
    try:
        files = fetch_outputs(context.ce, job.ce_id, destination, job.downloads)
    except StorageError as exc:
        raise StorageError(f"job {job.id}: {exc}") from exc
    return ResultLocation(job.id, str(destination), tuple(files))
