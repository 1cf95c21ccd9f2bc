"""ARCRest: the ARC CE REST interface (versions 1.0 and 1.1), in bulk.

This is the only code in actframework that builds CE URLs. Every method maps
to one documented REST call (or a few, when a request must be split under
A-REX's 1 MiB limit on id lists); submission (:mod:`actframework.arc.submit`)
and the parallel transfers (:mod:`actframework.arc.transfer`) build on it.

Failure of a whole request raises :class:`~actframework.errors.ARCHTTPError`
(or :class:`~actframework.errors.TransportError` when no answer came, or
:class:`~actframework.errors.ARCResponseError` when the answer is not the
JSON document the call expects); bulk methods report per-job failures in
their :class:`JobResult` list instead, including a job whose element of an
otherwise readable answer is unusable. Every JSON answer is read by
:func:`read_document`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlsplit

import requests

from actframework.arc.jobs import (
    ARCJob,
    CreatedJob,
    Delegation,
    JobListing,
    SessionListing,
    as_list,
    excerpt,
    kind_of,
    objects,
    optional_text,
    required_text,
    strings,
)
from actframework.arc.results import JobResult
from actframework.errors import (
    ARCAuthError,
    ARCError,
    ARCHTTPError,
    ARCResponseError,
    ARCVersionError,
    MissingResultFile,
)
from actframework.http import HTTPClient, RetryPolicy, save_body
from actframework.jobdesc.model import Language

log = logging.getLogger(__name__)

T = TypeVar("T")

API_BASE: Final = "/arex"
IMPLEMENTED_VERSIONS: Final = ("1.0", "1.1")
MAX_ID_BODY: Final = 1_000_000
"""A-REX reads at most 1 MiB of a bulk request body; stay safely under it."""
DOWNLOAD_CHUNK: Final = 8 * 1024 * 1024
DIAGNOSE_FILES: Final = (
    "failed",
    "local",
    "errors",
    "description",
    "diag",
    "comment",
    "status",
    "acl",
    "xml",
    "input",
    "output",
    "input_status",
    "output_status",
    "statistics",
)
# Bulk actions that change nothing when repeated may be retried on failure.
_REPEATABLE_ACTIONS: Final = frozenset({"info", "status", "delegations", "kill", "clean"})


def split_cluster_url(cluster: str) -> tuple[str, str | None]:
    """``https://host[:port]/<queue>`` (aCT's cluster URL) → (service URL, queue).

    The service URL is ``https://host:port/arex``: the REST interface lives
    under ``/arex`` whatever path the cluster URL has, and the path names the
    queue (none for a bare host or ``/arex``).
    """
    parts = urlsplit(cluster if "://" in cluster else f"https://{cluster}")
    if parts.scheme != "https" or not parts.hostname:
        raise ARCError(f"not an https cluster URL: {cluster!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    service = f"https://{host}:{parts.port or 443}{API_BASE}"
    path = parts.path.strip("/")
    queue = path.rsplit("/", 1)[-1] if path and path != API_BASE.strip("/") else None
    return service, queue


def _id_chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    """Split ids so that each ``{"job": [{"id": ...}, ...]}`` body stays under the limit."""
    chunk: list[str] = []
    size = len('{"job": []}')
    for job_id in ids:
        entry = len(json.dumps({"id": job_id})) + 2
        if chunk and size + entry > MAX_ID_BODY:
            yield chunk
            chunk, size = [], len('{"job": []}')
        chunk.append(job_id)
        size += entry
    if chunk:
        yield chunk


def _status_code(item: Mapping[str, Any]) -> int | None:
    """A job element's ``status-code`` (A-REX sends a string); None if it has none."""
    value = item.get("status-code")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def read_document(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON object a CE answer holds (``{}`` for an empty body, which
    A-REX sends for an empty list).

    Anything else raises :class:`ARCResponseError` for the whole request: a
    body that is not JSON (an HTML page from a proxy in front of the CE),
    JSON cut short, or JSON whose top level is not an object.
    """
    text = response.text
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        ctype = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
        start = text.lstrip()
        if start.startswith(("{", "[")):
            problem = "JSON that is cut short or malformed"
        elif "html" in ctype or start.startswith("<"):
            problem = f"not JSON ({ctype}, from a proxy?)"
        else:
            problem = f"not JSON ({ctype})"
        raise ARCResponseError(f"{what}: the CE's answer is {problem}: {excerpt(text)!r}") from None
    if not isinstance(data, dict):
        raise ARCResponseError(f"{what}: the CE's answer is {kind_of(data)}, not an object: {excerpt(text)!r}")
    return data


class ARCRest:
    """A client for one CE, speaking one negotiated REST version.

    Thread-safe: worker pools share one instance (and its connection pool).
    """

    def __init__(self, http: HTTPClient, version: str) -> None:
        if version not in IMPLEMENTED_VERSIONS:
            raise ARCVersionError(f"ARC CE REST version {version} is not implemented")
        self.http = http
        self.version = version
        self.api = f"{API_BASE}/rest/{version}"

    def __repr__(self) -> str:
        return f"ARCRest({self.http.base_url}{self.api})"

    def job_url(self, job_id: str) -> str:
        """The job's REST URL on the CE (aCT's ``JobID``)."""
        return f"{self.http.base_url}{self.api}/jobs/{quote(job_id, safe='')}"

    # ------------------------------------------------------------------ construction

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        proxy: str | os.PathLike[str] | None = None,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        version: str | None = None,
        timeout: float | tuple[float, float] = (15.0, 300.0),
        pool_size: int = 16,
        retry: RetryPolicy = RetryPolicy(),
    ) -> ARCRest:
        """Connect to the CE at ``url`` (service or cluster URL) and negotiate
        the REST version: ``version`` if given (it must be offered and
        implemented), else the highest version both sides speak."""
        service, _queue = split_cluster_url(url)
        parts = urlsplit(service)
        http = HTTPClient(
            f"{parts.scheme}://{parts.netloc}",
            proxy=proxy,
            token=token,
            ca_dir=ca_dir,
            ca_file=ca_file,
            timeout=timeout,
            pool_size=pool_size,
            retry=retry,
        )
        offered = cls.api_versions(http)
        if version is not None:
            if version not in offered:
                raise ARCVersionError(
                    f"{service} does not offer REST version {version} (it offers {', '.join(offered)})"
                )
            chosen = version
        else:
            common = [v for v in offered if v in IMPLEMENTED_VERSIONS]
            if not common:
                raise ARCVersionError(
                    f"{service} offers REST versions {', '.join(offered) or 'none'}; "
                    f"this client implements {', '.join(IMPLEMENTED_VERSIONS)}"
                )
            chosen = max(common, key=lambda v: tuple(int(p) for p in v.split(".")))
        # A token works on either version: A-REX reads the bearer token on
        # REST 1.0 too (6.6 and later); only JWT delegation needs 1.1.
        return cls(http, chosen)

    @staticmethod
    def api_versions(http: HTTPClient) -> list[str]:
        """The REST versions the CE offers (``GET /arex/rest``)."""
        response = http.request("GET", f"{API_BASE}/rest", headers={"Accept": "application/json"})
        if response.status_code == 403:
            raise ARCAuthError(403, "the CE does not accept our credentials", f"{http.base_url}{API_BASE}/rest")
        if response.status_code != 200:
            raise _refusal(response, f"{http.base_url}{API_BASE}/rest")
        what = f"{http.base_url}{API_BASE}/rest"
        return strings(read_document(response, what).get("version"), f"{what} versions")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ARCRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _json(self, method: str, path: str, expect: int, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON object of an answer with status ``expect`` (see :func:`read_document`).

        Another success status is no refusal but not the CE's answer either
        (a proxy's page served with 200): an :class:`ARCResponseError`, so a
        caller treats it as an answer it cannot read."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response = self.http.request(method, f"{self.api}/{path}", headers=headers, **kwargs)
        status = response.status_code
        if status != expect and 200 <= status < 300:
            raise ARCResponseError(
                f"{what}: the CE answered {status} where {expect} was expected: {excerpt(response.text)!r}"
            )
        if status != expect:
            raise _refusal(response, f"{method} {path}")
        return read_document(response, what)

    def _bulk(
        self, action: str, ids: Sequence[str], expect: int, extract: Callable[[Mapping[str, Any]], T]
    ) -> list[JobResult[T]]:
        """POST ``jobs?action=<action>`` for ``ids`` (split under the body
        limit); per-job results aligned with ``ids``.

        An element of the answer that names its job but is unusable (no
        status code, a null state, ...) is an error of that job only. An
        element that names no job cannot be matched to one: every job the
        answer has no usable result for then holds an error saying so."""
        unique = list(dict.fromkeys(ids))
        found: dict[str, JobResult[T]] = {}
        for chunk in _id_chunks(unique):
            data = self._json(
                "POST",
                "jobs",
                201,
                what=action,
                params={"action": action},
                json={"job": [{"id": job_id} for job_id in chunk]},
                idempotent=action in _REPEATABLE_ACTIONS,
            )
            unnamed: list[Any] = []
            for item in as_list(data.get("job")):
                job_id = item.get("id") if isinstance(item, Mapping) else None
                if isinstance(job_id, str) and job_id:
                    found[job_id] = _job_result(action, job_id, item, expect, extract)
                else:
                    unnamed.append(item)
            if unnamed:
                error = ARCResponseError(
                    f"{action}: no usable result for this job; {len(unnamed)} element(s) of the CE's answer "
                    f"name no job, e.g. {excerpt(json.dumps(unnamed[0]))}"
                )
                for job_id in chunk:
                    found.setdefault(job_id, JobResult(job_id, error=error))
        missing = ARCResponseError(f"{action}: the CE returned no result for this job")
        return [found.get(job_id) or JobResult(job_id, error=missing) for job_id in ids]

    # ------------------------------------------------------------------ CE

    def get_ce_info(self) -> dict[str, Any]:
        """The CE's GLUE2 information document (queues, limits, software)."""
        return self._json("GET", "info", 200, what="info", idempotent=True)

    def get_jobs_list(self, states: Sequence[str] | None = None) -> list[JobListing]:
        """Every job of ours on the CE; with ``states``, only those (live states).

        A listing with any unusable element raises :class:`ARCResponseError`
        as a whole: a listing read in part would hide the jobs it lost."""
        data = self._json("GET", "jobs", 200, what="list jobs", params={"state": list(states) if states else None})
        listing: list[JobListing] = []
        for item in objects(data.get("job"), "list jobs"):
            job_id = required_text(item, "id", "list jobs")
            state = item.get("state")
            if state is not None and not isinstance(state, str):
                raise ARCResponseError(f"list jobs {job_id}: 'state' is {kind_of(state)}, not a string")
            listing.append(JobListing(job_id, state or None))
        return listing

    # ------------------------------------------------------------------ jobs

    def create_jobs(
        self, description: str, *, queue: str | None = None, delegation_id: str | None = None
    ) -> list[JobResult[CreatedJob]]:
        """Submit one description document: single xRSL (``&``), multi-job
        xRSL (``+``) or ADL (``<``). One result per job in the document, in
        order; a job the CE refused has an error and no id.

        ``queue`` and ``delegation_id`` go into query parameters on REST 1.1;
        on 1.0 they must already be in the description (the submission
        pipeline writes them there).
        """
        if self.version == "1.0" and (queue or delegation_id):
            raise ARCVersionError("REST 1.0 takes queue and delegation in the description, not as parameters")
        ctype = Language.of(description).content_type
        data = self._json(
            "POST",
            "jobs",
            201,
            what="create jobs",
            params={"action": "new", "queue": queue, "delegation_id": delegation_id},
            data=description.encode(),
            headers={"Content-Type": ctype},
            idempotent=False,
        )
        return [_created(item) for item in as_list(data.get("job"))]

    def get_jobs_info(self, ids: Sequence[str], *, with_delegations: bool = False) -> list[JobResult[ARCJob]]:
        """Full information on each job (one bulk call per ~15,000 ids).

        The info document does not name a job's delegations; with
        ``with_delegations`` a second bulk call fills :attr:`ARCJob.delegation_ids`.
        """
        results = self._bulk("info", ids, 200, lambda item: ARCJob.from_info(item["id"], item.get("info_document")))
        if not with_delegations:
            return results
        delegations = self.get_jobs_delegations([r.job_id for r in results if r.ok])
        found = {d.job_id: d.value for d in delegations if d.ok}
        return [
            JobResult(r.job_id, value=dataclasses.replace(r.value, delegation_ids=tuple(found.get(r.job_id) or ())))
            if r.ok and r.value is not None
            else r
            for r in results
        ]

    def get_jobs_status(self, ids: Sequence[str]) -> list[JobResult[str]]:
        """Each job's REST state (``FINISHED``, ...)."""
        return self._bulk("status", ids, 200, lambda item: required_text(item, "state", f"status {item['id']}"))

    def kill_jobs(self, ids: Sequence[str]) -> list[JobResult[bool]]:
        return self._bulk("kill", ids, 202, lambda item: True)

    def clean_jobs(self, ids: Sequence[str]) -> list[JobResult[bool]]:
        """Remove jobs from the CE. A-REX accepts (202) but ignores a clean of
        a job still waiting for its inputs (PREPARING): kill such a job, wait
        until it is terminal (KILLED), then clean it."""
        return self._bulk("clean", ids, 202, lambda item: True)

    def restart_jobs(self, ids: Sequence[str]) -> list[JobResult[bool]]:
        return self._bulk("restart", ids, 202, lambda item: True)

    def get_jobs_delegations(self, ids: Sequence[str]) -> list[JobResult[list[str]]]:
        """The delegation ids each job uses ([] for a job without one)."""
        return self._bulk(
            "delegations", ids, 200, lambda item: strings(item.get("delegation_id"), f"delegations {item['id']}")
        )

    # ------------------------------------------------------------------ session

    def _session_path(self, job_id: str, path: str) -> str:
        return f"jobs/{quote(job_id, safe='')}/session/{quote(path.lstrip('/'))}"

    def list_session(self, job_id: str, path: str = "") -> SessionListing:
        """Files and subdirectories of a directory of the job's session."""
        response = self.http.request(
            "GET",
            f"{self.api}/{self._session_path(job_id, path)}",
            headers={"Accept": "application/json"},
            idempotent=True,
        )
        if response.status_code == 404:
            raise MissingResultFile(job_id, path or "/")
        if response.status_code != 200:
            raise _refusal(response, f"list {job_id}/{path}")
        what = f"list {job_id}/{path}"
        return SessionListing.from_json(read_document(response, what), what)

    def upload_file(self, job_id: str, path: str, source: Path | bytes) -> None:
        """Put one input file into the job's session (the body is replayed
        from the start if the connection drops and the request is retried)."""
        response = self.http.request(
            "PUT",
            f"{self.api}/{self._session_path(job_id, path)}",
            data=source,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code not in (200, 201, 204):
            raise _refusal(response, f"upload {job_id}/{path}")

    def download_file(self, job_id: str, path: str, destination: Path) -> int:
        """Stream one session file to ``destination``; returns bytes written.
        A partial file is never left behind."""
        return self._download(f"{self.api}/{self._session_path(job_id, path)}", job_id, path, destination)

    def delete_session_file(self, job_id: str, path: str) -> None:
        response = self.http.request("DELETE", f"{self.api}/{self._session_path(job_id, path)}")
        if response.status_code not in (200, 202, 204):
            raise _refusal(response, f"delete {job_id}/{path}")

    def download_diagnose_file(self, job_id: str, name: str, destination: Path) -> int:
        """Stream one of the job's A-REX diagnose files (``errors``, ``diag``, ...)."""
        if name not in DIAGNOSE_FILES:
            raise ValueError(f"unknown diagnose file {name!r}; one of {', '.join(DIAGNOSE_FILES)}")
        return self._download(
            f"{self.api}/jobs/{quote(job_id, safe='')}/diagnose/{name}", job_id, f"diagnose/{name}", destination
        )

    def read_file(self, job_id: str, path: str) -> Iterator[bytes]:
        """The chunks of one session file as they arrive, for showing a file
        without storing it (``act cat``). The request is sent when the first
        chunk is asked for; a missing file raises :class:`MissingResultFile`."""
        return self._chunks(f"{self.api}/{self._session_path(job_id, path)}", job_id, path)

    def _get_file(self, url_path: str, job_id: str, what: str) -> requests.Response:
        """A streamed GET of one file, its refusals raised (the caller reads
        and closes the response)."""
        response = self.http.request("GET", url_path, stream=True)
        if response.status_code == 200:
            return response
        try:
            if response.status_code == 404:
                raise MissingResultFile(job_id, what)
            raise _refusal(response, f"download {job_id}/{what}")
        finally:
            response.close()

    def _chunks(self, url_path: str, job_id: str, what: str) -> Iterator[bytes]:
        response = self._get_file(url_path, job_id, what)
        try:
            yield from response.iter_content(DOWNLOAD_CHUNK)
        finally:
            response.close()

    def _download(self, url_path: str, job_id: str, what: str, destination: Path) -> int:
        response = self._get_file(url_path, job_id, what)  # refusals come before anything is created
        try:
            return save_body(response, destination, chunk_size=DOWNLOAD_CHUNK)
        finally:
            response.close()

    # ------------------------------------------------------------------ delegations

    def list_delegations(self) -> list[Delegation]:
        data = self._json("GET", "delegations", 200, what="list delegations", idempotent=True)
        return [
            Delegation(required_text(d, "id", "list delegations"), optional_text(d.get("type")))
            for d in objects(data.get("delegation"), "list delegations")
        ]

    def new_delegation(self) -> tuple[str, bytes]:
        """Start a delegation: the CE makes a key pair and returns (id, CSR PEM)."""
        response = self.http.request("POST", f"{self.api}/delegations", params={"action": "new"})
        if response.status_code != 201:
            raise _refusal(response, "new delegation")
        # A-REX 7.0 sends "location: /arex/rest/1.1/delegations/<id>", 6.17
        # "/arex/rest/1.0/delegations?action=new/<id>": either way the id is
        # what follows the last slash.
        location = response.headers.get("Location", "")
        delegation_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not delegation_id:
            raise ARCError("new delegation: the CE sent no delegation id")
        return delegation_id, response.content

    def upload_delegation(self, delegation_id: str, certificate_pem: bytes) -> None:
        """Complete a delegation with the signed proxy certificate and its chain."""
        response = self.http.request(
            "PUT",
            f"{self.api}/delegations/{quote(delegation_id, safe='')}",
            data=certificate_pem,
            headers={"Content-Type": "application/x-pem-file"},
        )
        if response.status_code not in (200, 201, 204):
            raise _refusal(response, f"upload delegation {delegation_id}")

    def get_delegation(self, delegation_id: str) -> bytes:
        """The delegated certificate chain (PEM) the CE holds."""
        return self._delegation_action(delegation_id, "get", 200, idempotent=True)

    def renew_delegation_csr(self, delegation_id: str) -> bytes:
        """Ask the CE for a fresh CSR for an existing delegation."""
        return self._delegation_action(delegation_id, "renew", 201)

    def delete_delegation(self, delegation_id: str) -> None:
        self._delegation_action(delegation_id, "delete", 202, idempotent=True)

    def _delegation_action(self, delegation_id: str, action: str, expect: int, idempotent: bool = False) -> bytes:
        response = self.http.request(
            "POST",
            f"{self.api}/delegations/{quote(delegation_id, safe='')}",
            params={"action": action},
            idempotent=idempotent,
        )
        if response.status_code != expect:
            raise _refusal(response, f"{action} delegation {delegation_id}")
        return response.content

    def create_delegation(self, proxy: str | os.PathLike[str], lifetime: timedelta | None = None) -> str:
        """Delegate ``proxy`` to the CE: new, sign the CSR, upload. Returns the
        delegation id. On failure the half-made delegation is deleted."""
        delegation_id, csr = self.new_delegation()
        try:
            self._sign_and_upload(delegation_id, csr, proxy, lifetime)
        except BaseException:
            self._discard(delegation_id)
            raise
        return delegation_id

    def create_jwt_delegation(self, token: str) -> str:
        """Delegate a bearer token to the CE (REST 1.1): A-REX keeps it and
        hands it to the transfers of jobs that name the returned id.

        A token delegation cannot be renewed: A-REX 7.0 answers ``renew``
        with an X.509 CSR and drops the stored token, and refuses a token
        ``PUT`` (500). A fresher token needs a new delegation."""
        if self.version == "1.0":
            raise ARCVersionError("REST 1.0 has no token delegation: it answers type=jwt with an X.509 CSR")
        response = self.http.request(
            "POST",
            f"{self.api}/delegations",
            params={"action": "new", "type": "jwt"},
            headers={"X-Token-Delegation": token},
        )
        if response.status_code != 201:
            raise _refusal(response, "new token delegation")
        delegation_id = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
        if not delegation_id:
            raise ARCError("new token delegation: the CE sent no delegation id")
        return delegation_id

    def renew_delegation(
        self, delegation_id: str, proxy: str | os.PathLike[str], lifetime: timedelta | None = None
    ) -> None:
        """Refresh an existing delegation with ``proxy`` (jobs using it keep it)."""
        csr = self.renew_delegation_csr(delegation_id)
        self._sign_and_upload(delegation_id, csr, proxy, lifetime)

    def _sign_and_upload(
        self, delegation_id: str, csr: bytes, proxy: str | os.PathLike[str], lifetime: timedelta | None
    ) -> None:
        from actframework.x509 import load_proxy, sign_proxy_csr

        signed = sign_proxy_csr(csr, load_proxy(Path(proxy)), lifetime)
        self.upload_delegation(delegation_id, signed)

    def _discard(self, delegation_id: str) -> None:
        try:
            self.delete_delegation(delegation_id)
        except Exception as exc:  # the original error matters more
            log.warning("could not delete unfinished delegation %s: %s", delegation_id, exc)


def _job_result(
    action: str, job_id: str, item: Mapping[str, Any], expect: int, extract: Callable[[Mapping[str, Any]], T]
) -> JobResult[T]:
    """One job's result from its element of a bulk answer."""
    code = _status_code(item)
    if code is None:
        return JobResult(job_id, error=ARCResponseError(f"{action} {job_id}: the CE's result has no status code"))
    if code != expect:
        reason = optional_text(item.get("reason")) or ""
        return JobResult(job_id, error=ARCHTTPError(code, reason, f"{action} {job_id}"))
    try:
        return JobResult(job_id, value=extract(item))
    except ARCResponseError as exc:
        return JobResult(job_id, error=exc)
    except (KeyError, TypeError, ValueError) as exc:
        return JobResult(job_id, error=ARCResponseError(f"{action} {job_id}: unusable result ({exc!r})"))


def _created(item: Any) -> JobResult[CreatedJob]:
    """One job's result from its element of a ``POST /jobs?action=new`` answer.

    A job the CE says it created but whose id cannot be read is an
    :class:`ARCResponseError` (it may exist on the CE), a refused one an
    :class:`ARCHTTPError`. A created job's missing or null state reads as
    ``""``: the id is what matters, the state only says how far it got."""
    if not isinstance(item, Mapping):
        return JobResult(
            "",
            error=ARCResponseError(
                f"create job: an element of the CE's answer is {kind_of(item)}, not an object: {excerpt(repr(item))}"
            ),
        )
    raw_id = item.get("id")
    job_id = raw_id if isinstance(raw_id, str) else ""
    code = _status_code(item)
    if code is None:
        return JobResult(job_id, error=ARCResponseError(f"create job {job_id}: the CE's result has no status code"))
    if code != 201:
        return JobResult(job_id, error=ARCHTTPError(code, optional_text(item.get("reason")) or "", "create job"))
    if not job_id:
        return JobResult(
            "",
            error=ARCResponseError(
                f"create job: the CE created a job but its id is {kind_of(raw_id) if 'id' in item else 'missing'}"
            ),
        )
    state = item.get("state")
    return JobResult(job_id, value=CreatedJob(job_id, state if isinstance(state, str) else ""))


AREX_REFUSAL: Final = "User can't be assigned configuration"
"""A-REX's words for credentials it does not admit (HTTP 403 on 6, 500 on 7)."""


def _refusal(response: requests.Response, what: str) -> ARCHTTPError:
    """The error for an answer with an unexpected status: :class:`ARCAuthError`
    when the CE refused our credentials, whichever status its version uses."""
    reason = _reason_text(response)
    status = response.status_code
    if status == 403 or (status == 500 and reason == AREX_REFUSAL):
        return ARCAuthError(status, reason, what)
    return ARCHTTPError(status, reason, what)


def _reason_text(response: Any) -> str:
    """A-REX puts its reason in the status line, sometimes in a text body."""
    try:
        body = (response.text or "").strip()
    except Exception:  # a body that breaks off is no reason to lose the status
        body = ""
    if body and not body.startswith(("<", "{")) and len(body) < 300:
        return body
    return str(response.reason or "")
