"""Job files that the aCT server holds, moved into and out of CE sessions.

The engine's own file work, whatever storage backend the site uses: the
inputs that users uploaded to the server (``<data_dir>/inputs/<job id>/``)
go into the CE session by the REST interface once the CE created the job,
and the outputs come back from the CE into ``<data_dir>/results/<CE id>/``,
where ``act get`` downloads them. Backends never see this: files on their
own storage are URLs in the description, which the CE fetches itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from actframework.arc.downloads import fetch_outputs
from actframework.arc.rest import ARCRest
from actframework.errors import ActError, StorageError
from actframework.paths import inside


def job_inputs_dir(inputs_dir: Path, job_id: int) -> Path:
    """``<inputs_dir>/<job id>``: where the server keeps a job's uploads."""
    return inputs_dir / str(job_id)


def _server_file(root: Path, path: Path, job_id: int) -> Path:
    """``root / path``, refused if it leaves ``root``: the engine must never
    upload other files of the server, whatever names a description gives."""
    resolved = inside(root, path)
    if resolved is None:
        raise StorageError(f"job {job_id}: {path} is not inside {root}")
    return resolved


def upload_inputs(ce: ARCRest, ce_id: str, job_id: int, root: Path, uploads: Sequence[tuple[str, Path]]) -> int:
    """Upload the job's server-held inputs (``(name in the session, file)``,
    each inside ``root``) into its CE session; returns the bytes sent."""
    sent = 0
    for name, source in uploads:
        path = _server_file(root, source, job_id)
        try:
            size = path.stat().st_size
            ce.upload_file(ce_id, name, path)
        except OSError as exc:
            raise StorageError(f"job {job_id}: input {name}: {exc.strerror or exc}") from exc
        except ActError as exc:
            raise StorageError(f"job {job_id}: uploading input {name} to the CE failed: {exc}") from exc
        sent += size
    return sent


def fetch_results(ce: ARCRest, ce_id: str, job_id: int, destination: Path, downloads: str | None) -> list[str]:
    """Fetch the job's outputs from its CE into ``destination`` (see
    :func:`~actframework.arc.downloads.fetch_outputs`); the files' relative paths."""
    try:
        return fetch_outputs(ce, ce_id, destination, downloads)
    except StorageError as exc:
        raise StorageError(f"job {job_id}: {exc}") from exc


def remove_inputs(inputs_dir: Path, job_id: int) -> bool:
    """Remove what the server holds of the job's inputs; True if there was any."""
    root = job_inputs_dir(inputs_dir, job_id)
    existed = root.exists()
    shutil.rmtree(root, ignore_errors=True)
    return existed
