"""Job files: uploading inputs and downloading results.

* ``PUT /jobs/<id>/data/<path>`` and the legacy ``PUT /data?id=&filename=``
  store a local input file under ``<inputs_dir>/<id>/``;
* ``GET /jobs/<id>/results/[<path>]`` lists and serves the outputs the engine
  fetched into ``<results_dir>/<CE job id>/``; the legacy ``GET /results?id=``
  sends them as one zip.

Bodies are streamed both ways (act-client sends uploads chunked), sizes are
limited by ``max_upload_bytes``, a full disk (or quota) answers 507, and user paths never lead outside the job's
directory: see :mod:`actframework.server.files`. Messages and status codes
are aCT's where aCT has them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from actframework.db import JobStore
from actframework.db.filters import JobFilter
from actframework.errors import is_disk_full
from actframework.idlist import MAX_ID, IdSelection, parse_id_list
from actframework.jobstates import RESULT_STATES
from actframework.server.deps import Caller, current_caller, get_config, get_store
from actframework.server.errors import APIError
from actframework.server.files import (
    UnsafePathError,
    UploadTooLargeError,
    is_safe_name,
    list_directory,
    path_parts,
    resolve_inside,
    store_upload,
    zip_directory,
)
from actframework.server_config import ServerConfig

router = APIRouter()
log = logging.getLogger(__name__)

#: OpenAPI description of an upload body, which the routes stream themselves.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


# --------------------------------------------------------------------------- uploads


@router.put("/jobs/{job_id}/data/{path:path}", status_code=204, openapi_extra=_UPLOAD_BODY)
async def upload_input(
    job_id: int,
    path: str,
    request: Request,
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> Response:
    """Store the request body as input file ``path`` of the caller's job."""
    return await _upload(request, store, config, caller.proxyid, job_id, path)


@router.put("/data", status_code=204, openapi_extra=_UPLOAD_BODY)
async def upload_input_legacy(
    request: Request,
    id: str | None = None,
    filename: str | None = None,
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> Response:
    """The old client's upload: one job id and the file name in the query."""
    job_id = _single_id(id, none="No job ID given", several="More than one job ID given")
    if not filename:
        raise APIError(400, "File name not given")
    return await _upload(request, store, config, caller.proxyid, job_id, filename)


async def _upload(
    request: Request, store: JobStore, config: ServerConfig, proxyid: int, job_id: int, path: str
) -> Response:
    """Checks in the order that costs the client least: ownership, the path,
    then a declared size, before a byte of the body is read."""
    owned = await run_in_threadpool(_owns, store, proxyid, job_id)
    if not owned:
        raise APIError(400, f"Client Job ID {job_id} does not exist")
    try:
        parts = path_parts(path)
    except UnsafePathError:
        raise APIError(400, f"Invalid file path: {path}") from None
    if path.endswith("/"):
        raise APIError(400, f"Invalid file path: {path}")
    limit = config.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, _too_large(limit))
    try:
        await store_upload(request.stream(), config.inputs_dir / str(job_id), parts, limit)
    except UnsafePathError:
        raise APIError(400, f"Invalid file path: {path}") from None
    except UploadTooLargeError:
        # The rest of the body is not read; the server closes the connection.
        return JSONResponse({"msg": _too_large(limit)}, status_code=413, headers={"Connection": "close"})
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # store_upload removed what it wrote; the rest of the body is not read.
        log.warning("job %s: no room for input %s: %s", job_id, path, exc.strerror)
        return JSONResponse(
            {"msg": "No space left on the server for input files; try again later"},
            status_code=507,
            headers={"Connection": "close"},
        )
    except ClientDisconnect:
        # The user stopped the upload (Ctrl-C): store_upload kept nothing.
        # Normal, so one line rather than a traceback; nobody reads the answer.
        log.info("job %s: the client went away while uploading %s", job_id, path)
        return Response(status_code=400)
    return Response(status_code=204)


def _too_large(limit: int) -> str:
    return f"File is larger than the upload limit of {limit} bytes"


# --------------------------------------------------------------------------- results


@router.get("/jobs/{job_id}/results/{path:path}", response_model=None)
def get_results(
    job_id: int,
    path: str,
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> Response | dict[str, list[str]]:
    """A listing ``{"file": [...], "dir": [...]}`` when ``path`` is empty or
    ends with ``/``, otherwise the file (with HTTP Range support)."""
    state_ok, root = _results_dir(store, config, caller.proxyid, job_id)
    if not state_ok:
        raise APIError(404, "No results in current job state")
    if root is None:
        raise APIError(404, "Job has no results")
    listing = path == "" or path.endswith("/")
    try:
        parts = path_parts(path) if path else ()
    except UnsafePathError:
        raise APIError(400, f"Invalid file path: {path}") from None
    real_root = root.resolve()
    try:
        # A symlink out of the job's directory is treated as absent.
        target = resolve_inside(real_root, parts)
    except UnsafePathError:
        target = None
    if listing:
        if target is None or not target.is_dir():
            raise APIError(404, "Output directory does not exist")
        files, dirs = list_directory(real_root, target)
        return {"file": files, "dir": dirs}
    if target is None or not target.is_file():
        raise APIError(404, "Output file does not exist")
    return FileResponse(target)


@router.get("/results", response_model=None)
def get_results_zip(
    id: str | None = None,
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> Response:
    """The old client's download: the job's whole results directory as a zip
    named ``<CE job id>.zip``, built while it is sent."""
    job_id = _single_id(id, none="No job ID given", several="Cannot fetch results of more than one job")
    state_ok, root = _results_dir(store, config, caller.proxyid, job_id)
    if not state_ok:
        raise APIError(404, "Results for job not found")
    if root is None:
        return Response(status_code=204)
    return StreamingResponse(
        zip_directory(root),
        media_type="application/zip",
        # Unquoted: the old client takes everything after "=" as the file name.
        headers={"Content-Disposition": f"attachment; filename={root.name}.zip"},
    )


# --------------------------------------------------------------------------- common


def _single_id(text: str | None, *, none: str, several: str) -> int:
    """The one job id of a legacy ``id`` query parameter (aCT's messages)."""
    if text is None or not text.strip(","):
        raise APIError(400, none)
    selection = parse_id_list(text)
    ids = set(selection.singles)
    for low, high in selection.ranges:
        ids.update(range(low, min(high, low + 1) + 1))
    if len(ids) > 1:
        raise APIError(400, several)
    if not ids:
        # Only ids beyond the largest possible one: no such job.
        return MAX_ID + 1
    return ids.pop()


def _owns(store: JobStore, proxyid: int, job_id: int) -> bool:
    return job_id in store.owned_client_job_ids(proxyid, [job_id])


def _results_dir(store: JobStore, config: ServerConfig, proxyid: int, job_id: int) -> tuple[bool, Path | None]:
    """(whether the job is the caller's and its outputs were fetched, the
    results directory if it exists). A CE job id that is not a plain
    directory name cannot have results here, whatever the database says."""
    rows = store.select_jobs(
        proxyid, JobFilter(ids=IdSelection(singles=(job_id,))), ["id"], ["arcstate", "IDFromEndpoint"]
    )
    if not rows or rows[0]["a_arcstate"] not in RESULT_STATES:
        return False, None
    ce_id = rows[0]["a_IDFromEndpoint"]
    if not isinstance(ce_id, str) or not is_safe_name(ce_id):
        return True, None
    root = config.results_dir / ce_id
    return True, (root if root.is_dir() else None)
