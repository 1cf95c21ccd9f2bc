"""``/jobs``: submitting, listing, killing, fetching, resubmitting and cleaning jobs.

Wire formats follow aCT dev2, so act-client works
unchanged. Every operation is scoped to the caller's proxy: the store puts
``proxyid`` into each query, so ids of another user's jobs given here select
nothing.

Batch endpoints (POST, PUT) answer 200 with one element per input element,
either the result or ``{"msg": ...}``; only a body that is not JSON, or not
a list, fails the whole request. Where aCT had bugs (§F.17) we differ: the
"not a list" message is complete, an invalid description says where parsing
stopped, and directory names taken from the database are checked before
anything is removed.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from actframework import jobdesc
from actframework.clusters import normalise_cluster_url, normalised_clusters
from actframework.db import JobStore
from actframework.db.filters import JobFilter
from actframework.db.records import Confirmation
from actframework.db.schema import CLUSTERLIST_MAX_LENGTH, JOBNAME_MAX_LENGTH
from actframework.errors import JobDescriptionError
from actframework.hookspecs import InputFile
from actframework.jobstates import RESULT_STATES, ArcState
from actframework.plugins import installed_backends
from actframework.server.deps import Caller, current_caller, get_config, get_store
from actframework.server.errors import APIError
from actframework.server.files import UnsafePathError, is_safe_name, path_parts
from actframework.server_config import ServerConfig

log = logging.getLogger(__name__)

router = APIRouter()

#: What a request without a body is parsed as, distinct from a JSON ``null``.
_NO_BODY: Final = object()

#: Legacy PATCH bodies (aCT master): ``{"arcstate": ...}`` → the action.
_LEGACY_ACTIONS: Final[dict[str, str]] = {
    ArcState.TOCANCEL: "cancel",
    ArcState.TOFETCH: "fetch",
    ArcState.TORESUBMIT: "resubmit",
}


def _json_request_body(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    """OpenAPI description of a body the route reads itself (:func:`json_body`)."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


_CREATE_BODY: Final = _json_request_body(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "clusterlist": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
                "desc": {"type": "string", "description": "xRSL or ADL of one job (the one-step submission)"},
            },
            "required": ["clusterlist"],
        },
    },
    required=False,
)

_CONFIRM_BODY: Final = _json_request_body(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "desc": {"type": "string", "description": "xRSL or ADL of one job"},
            },
            "required": ["id", "desc"],
        },
    },
    required=False,
)

_LEGACY_ACTION_BODY: Final = _json_request_body(
    {
        "type": "object",
        "properties": {"arcstate": {"type": "string", "enum": sorted(_LEGACY_ACTIONS)}},
        "required": ["arcstate"],
    },
    required=False,
)


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON, or ``_NO_BODY`` when there is none.

    The Content-Type header is not checked: act-client sends JSON with
    ``application/json``, and refusing the same bytes under another header
    would help nobody. Bytes that are not JSON are a 400, as in aCT.
    """
    raw = await request.body()
    if not raw.strip():
        return _NO_BODY
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise APIError(400, "Request body is not valid JSON") from None


def _filter(id: str | None, name: str | None, state: str | None) -> JobFilter:
    """The job filter of a request; an invalid id list raises the store's
    InvalidFilterError, which the error handlers turn into a 400."""
    return JobFilter.from_strings(id, name, state)


def _columns(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _render(value: Any) -> Any:
    """A column value as aCT (Flask's JSON provider) sends it: datetimes as
    HTTP dates (stored naive in UTC), everything else as is."""
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return format_datetime(aware.astimezone(UTC), usegmt=True)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


# --------------------------------------------------------------------------- files on the server


def _remove_inputs(config: ServerConfig, client_id: int) -> None:
    """Remove a job's uploaded input files; they are not needed any more."""
    shutil.rmtree(config.inputs_dir / str(client_id), ignore_errors=True)


def _remove_results(config: ServerConfig, ce_id: str | None) -> None:
    if is_safe_name(ce_id):
        shutil.rmtree(config.results_dir / ce_id, ignore_errors=True)
    elif ce_id:
        log.warning("not removing results of CE job id %r: not a plain directory name", ce_id)


# --------------------------------------------------------------------------- job descriptions


class _ElementError(Exception):
    """One batch element cannot be processed; ``msg`` goes into its answer."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


@dataclass(frozen=True)
class _Description:
    """A parsed single-job description and the local input files it needs."""

    job: jobdesc.JobDescription
    name: str | None
    local_inputs: tuple[str, ...]


def _parse_description(text: Any) -> _Description:
    """Parse ``text`` as one job, in xRSL or ADL, and find the input files
    the user uploads to the server (the local ones).

    A relative executable or standard input that the input files do not
    list counts as a local input too: ARC adds it implicitly, and the
    engine would otherwise only find it missing at submission.
    """
    if not isinstance(text, str) or not text.strip():
        raise _ElementError("No job description given")
    try:
        jobs = jobdesc.parse(text)
    except JobDescriptionError as exc:
        raise _ElementError(f"Invalid job description: {exc}") from None
    if len(jobs) != 1:
        raise _ElementError(f"Invalid job description: it holds {len(jobs)} jobs; submit each job separately")
    job = jobs[0]
    try:
        name = job.name
        local = [entry.name for entry in (*job.inputs, *job.implied_inputs()) if entry.is_local]
    except JobDescriptionError as exc:
        raise _ElementError(f"Invalid job description: {exc}") from None
    if name is not None and len(name) > JOBNAME_MAX_LENGTH:
        raise _ElementError(f"Invalid job description: job name is longer than {JOBNAME_MAX_LENGTH} characters")
    for entry_name in local:  # uploaded to <inputs>/<id>/<name>: the data routes' path rules apply
        try:
            path_parts(entry_name)
        except UnsafePathError:
            raise _ElementError(f"Invalid input file name {entry_name}") from None
    return _Description(job, name, tuple(local))


def _final_description(description: _Description, job_dir: Path) -> str:
    """The description to store, in the language it came in: every local
    input must have been uploaded to ``job_dir``, and its source becomes
    that file's absolute path, from where the engine uploads it to the CE."""
    job = description.job.copy()
    if description.local_inputs:
        local = set(description.local_inputs)
        for entry_name in description.local_inputs:
            if not (job_dir / entry_name).is_file():
                raise _ElementError(f"Input file {entry_name} missing")
        entries = [
            InputFile(entry.name, str(job_dir / entry.name)) if entry.name in local else entry for entry in job.inputs
        ]
        listed = {entry.name for entry in entries}
        entries += [
            InputFile(entry_name, str(job_dir / entry_name))
            for entry_name in description.local_inputs
            if entry_name not in listed
        ]
        job.set_inputs(entries)
    text = job.unparse()
    jobdesc.parse_one(text)  # what we store must read back
    return text


# --------------------------------------------------------------------------- GET


@router.get("/jobs")
def list_jobs(
    id: str | None = Query(None),
    name: str | None = Query(None),
    state: str | None = Query(None),
    client: str | None = Query(None),
    arc: str | None = Query(None),
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
) -> StreamingResponse:
    """The caller's jobs with the chosen ``client``/``arc`` columns as
    ``c_``/``a_`` keys; ``[]`` when no column is chosen.

    The JSON array is streamed page by page as the store reads them, so the
    server's memory stays flat whatever the number of jobs. The first page
    is read before the answer starts: a bad column or an unreachable
    database still gets its status code."""
    flt = _filter(id, name, state)
    pages = store.iter_job_pages(caller.proxyid, flt, _columns(client), _columns(arc))
    first = next(pages, [])
    return StreamingResponse(_json_array(first, pages), media_type="application/json")


def _json_array(first: list[dict[str, Any]], rest: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    """Pages of rows as one JSON array, a chunk per page."""
    opening = b"["
    for page in itertools.chain((first,), rest):
        if page:
            yield opening + b",".join(_encode_row(row) for row in page)
            opening = b","
    yield b"[]" if opening == b"[" else b"]"


def _encode_row(row: dict[str, Any]) -> bytes:
    return json.dumps({key: _render(value) for key, value in row.items()}, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- POST


def _element_clusters(element: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    """The element's cluster list, normalised and de-duplicated, each allowed
    by the server. A single URL given as a string is taken as a list of one
    (aCT would have checked it character by character)."""
    given = element.get("clusterlist")
    if isinstance(given, str):
        given = [given]
    if not given:
        raise _ElementError("No clusters given")
    if not isinstance(given, list):
        raise _ElementError("Cluster list is not a list")
    clusters: list[str] = []
    for url in given:
        normal = normalise_cluster_url(url) if isinstance(url, str) else None
        if normal is None or normal not in allowed:
            raise _ElementError(f"Unknown cluster {url}")
        if normal not in clusters:
            clusters.append(normal)
    if len(",".join(clusters)) > CLUSTERLIST_MAX_LENGTH:
        raise _ElementError(f"Cluster list is longer than {CLUSTERLIST_MAX_LENGTH} characters")
    return clusters


@router.post("/jobs", openapi_extra=_CREATE_BODY)
def create_jobs(
    caller: Caller = Depends(current_caller),
    body: Any = Depends(json_body),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> list[dict[str, Any]]:
    """Step 1 of submission: one new, unconfirmed job per element, answered
    with its ``id``. An element that also carries ``desc`` (the older
    one-step form) is confirmed at once; it cannot have local input files,
    since they could not have been uploaded for a job that did not exist."""
    if body is _NO_BODY:
        return []
    if not isinstance(body, list):
        raise APIError(400, "Input JSON is not a list")
    allowed = normalised_clusters(config.clusters)
    results: list[dict[str, Any]] = [{} for _ in body]
    wanted: list[tuple[int, list[str], Confirmation | None]] = []
    for index, element in enumerate(body):
        try:
            if not isinstance(element, dict):
                raise _ElementError("Job element is not an object")
            clusters = _element_clusters(element, allowed)
            confirmation = None
            if "desc" in element:
                description = _parse_description(element["desc"])
                if description.local_inputs:
                    raise _ElementError(f"Input file {description.local_inputs[0]} missing")
                text = _final_description(description, config.inputs_dir)
                confirmation = Confirmation(0, description.name, text)
            wanted.append((index, clusters, confirmation))
        except _ElementError as exc:
            results[index] = {"msg": exc.msg}
        except JobDescriptionError:
            log.exception("a description does not read back after writing")
            results[index] = {"msg": "Server error"}
    if not wanted:
        return results

    ids = store.create_client_jobs(caller.proxyid, [clusters for _, clusters, _ in wanted])
    confirming: list[tuple[int, Confirmation]] = []
    for (index, _, confirmation), job_id in zip(wanted, ids, strict=True):
        results[index] = {"id": job_id}
        if confirmation is not None:
            confirming.append((index, replace(confirmation, id=job_id)))
    confirmed = store.confirm_client_jobs(caller.proxyid, [c for _, c in confirming])
    for (index, confirmation), ok in zip(confirming, confirmed, strict=True):
        results[index] = {"id": confirmation.id, "name": confirmation.jobname} if ok else {"msg": "Server error"}
    return results


# --------------------------------------------------------------------------- PUT


@router.put("/jobs", openapi_extra=_CONFIRM_BODY)
def confirm_jobs(
    caller: Caller = Depends(current_caller),
    body: Any = Depends(json_body),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> list[dict[str, Any]]:
    """Step 3 of submission: store each job's final description, which is
    what lets the engine take it. Local inputs must have been uploaded."""
    if body is _NO_BODY:
        return []
    if not isinstance(body, list):
        raise APIError(400, "Input JSON is not a list")
    wanted_ids = {
        element["id"]
        for element in body
        if isinstance(element, dict) and isinstance(element.get("id"), int) and not isinstance(element.get("id"), bool)
    }
    owned = store.owned_client_job_ids(caller.proxyid, wanted_ids)

    results: list[dict[str, Any]] = []
    pending: list[tuple[int, Confirmation]] = []
    staged_at: dict[int, tuple[str, str]] = {}
    for element in body:
        if not isinstance(element, dict):
            results.append({"msg": "Job element is not an object"})
            continue
        answer = {key: value for key, value in element.items() if key != "desc"}
        results.append(answer)
        job_id = element.get("id")
        try:
            if job_id is None:
                raise _ElementError("No job ID given")
            if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id not in owned:
                raise _ElementError(f"Job ID {job_id} does not exist")
            description = _parse_description(element.get("desc"))
            if description.name is not None:
                answer["name"] = description.name
            text = _final_description(description, config.inputs_dir / str(job_id))
            if element.get("storage") is not None:
                staged_at[job_id] = _storage_record(element["storage"])
        except _ElementError as exc:
            answer["msg"] = exc.msg
            continue
        except JobDescriptionError:
            log.exception("job %s: a description does not read back after writing", job_id)
            answer["msg"] = "Server error"
            continue
        pending.append((len(results) - 1, Confirmation(job_id, description.name, text)))

    confirmed = store.confirm_client_jobs(caller.proxyid, [c for _, c in pending])
    for (index, confirmation), ok in zip(pending, confirmed, strict=True):
        if ok:
            results[index] = {"id": confirmation.id, "name": confirmation.jobname}
        else:
            results[index]["msg"] = f"Job ID {confirmation.id} is already submitted"
    accepted = {c.id for (_, c), ok in zip(pending, confirmed, strict=True) if ok}
    store.record_stagings(
        caller.proxyid, [(job_id, *where) for job_id, where in staged_at.items() if job_id in accepted]
    )
    return results


@functools.cache
def _backend_names() -> frozenset[str]:
    """The storage backends installed here (read once: scanning the entry
    points for every job of a bulk PUT would be the slowest part of it)."""
    return frozenset(b.name for b in installed_backends())


#: Longest recorded storage URL (the ``stagings.url`` column).
STORAGE_URL_MAX_LENGTH: Final = 1024


def _storage_record(value: Any) -> tuple[str, str]:
    """``{"backend": name, "url": base URL}``: where a storage backend put a
    job's inputs, for the engine to remove them once the job is gone. Only
    an installed backend and an http(s) URL are taken: the engine loads the
    backend with this URL as its only option, so no other setting (a token
    file, say) can be smuggled in."""
    if not isinstance(value, dict) or set(value) != {"backend", "url"}:
        raise _ElementError('Invalid storage: give {"backend": name, "url": URL}')
    backend, url = value["backend"], value["url"]
    if not isinstance(backend, str) or backend not in _backend_names():
        raise _ElementError(f"Invalid storage: no storage backend {backend!r} on this server")
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > STORAGE_URL_MAX_LENGTH
    ):
        raise _ElementError(
            f"Invalid storage: {url!r} is not an http(s) URL of at most {STORAGE_URL_MAX_LENGTH} characters"
        )
    return backend, url


# --------------------------------------------------------------------------- PATCH


@router.patch("/jobs", openapi_extra=_LEGACY_ACTION_BODY)
def act_on_jobs(
    action: str | None = Query(None),
    id: str | None = Query(None),
    name: str | None = Query(None),
    state: str | None = Query(None),
    caller: Caller = Depends(current_caller),
    body: Any = Depends(json_body),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> list[Any]:
    """Kill (``cancel``), fetch failed jobs' outputs (``fetch``) or resubmit
    failed jobs (``resubmit``). Without ``action``, a body
    ``{"arcstate": "tocancel"|"tofetch"|"toresubmit"}`` (the older API)
    names the action."""
    if action is None and isinstance(body, dict) and "arcstate" in body:
        action = _LEGACY_ACTIONS.get(body["arcstate"]) if isinstance(body["arcstate"], str) else None
        if action is None:
            raise APIError(400, f'Invalid arcstate "{body["arcstate"]}"')
    if action is None:
        raise APIError(400, "Request has no action parameter")
    if action not in ("cancel", "fetch", "resubmit"):
        raise APIError(400, f'Invalid action "{action}"')
    flt = _filter(id, name, state)
    if action == "fetch":
        return store.fetch_jobs(caller.proxyid, flt)
    if action == "resubmit":
        return store.resubmit_jobs(caller.proxyid, flt)
    outcomes = store.cancel_jobs(caller.proxyid, flt)
    for outcome in outcomes:
        if outcome.removed:
            _remove_inputs(config, outcome.client_id)
    return [{"c_id": o.client_id, "a_id": o.arc_id, "a_arcstate": o.arcstate_before} for o in outcomes]


# --------------------------------------------------------------------------- DELETE


@router.delete("/jobs")
def clean_jobs(
    id: str | None = Query(None),
    name: str | None = Query(None),
    state: str | None = Query(None),
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> list[int]:
    """Clean the caller's finished jobs: the engine removes them from the CE;
    here their rows go, with their inputs and (if fetched) their results."""
    outcomes = store.clean_jobs(caller.proxyid, _filter(id, name, state))
    for outcome in outcomes:
        _remove_inputs(config, outcome.client_id)
        if outcome.arcstate_before in RESULT_STATES:
            _remove_results(config, outcome.ce_id)
    return [outcome.client_id for outcome in outcomes]
