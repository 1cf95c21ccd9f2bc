"""``ACTClient``: the aCT REST API from Python, as the ``act`` command uses it.

One object per server, speaking through :class:`actframework.http.HTTPClient`
(the same HTTP layer the engine and the storage backends use: TLS verified,
no environment proxies, retries only where they are safe). Every method is
one user-level operation; errors the server reports become
:class:`~actframework.errors.ServerError` carrying the server's ``msg``,
and a server that cannot be reached a :class:`~actframework.errors.TransportError`.

::

    from actframework.client.api import ACTClient

    with ACTClient.from_config(ClientConfig.load()) as act:
        ids = [job["id"] for job in act.create_jobs([["https://ce.example.org/batch"]])]
        act.upload_input(ids[0], "in.txt", Path("in.txt"))
        act.confirm_jobs([(ids[0], Path("job.xrsl").read_text())])
        print(act.jobs(ids, arc=["arcstate"]))

Job selections follow the server's filters: ``ids`` (a list of ints, or
None for all of the user's jobs), ``name`` (substring) and ``state``.
Long id lists go in batches of :data:`ID_BATCH`, as act-client sends them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from actframework import x509
from actframework.client import legacy
from actframework.config import ClientConfig
from actframework.errors import ConfigError, ServerError, TransportError
from actframework.hookspecs import SILENT, TransferProgress
from actframework.http import HTTPClient, Progress, save_body
from actframework.paths import inside

#: Ids per request when a command names many jobs (act-client's batch size).
ID_BATCH: Final = 100
#: Bytes per read when streaming a download to disk.
CHUNK: Final = 8 * 1024 * 1024

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.S)


def _certificates_pem(pem: bytes) -> tuple[str, str]:
    """(first certificate, the others joined): what ``/proxies`` takes."""
    certificates = [block.strip().decode() for block in _PEM_CERTIFICATE.findall(pem)]
    if not certificates:
        raise ServerError(0, "the signed delegation holds no certificate")
    return certificates[0], "\n".join(certificates[1:])


def _answer(status: int, body: Any, expect: int = 200) -> Any:
    """The body of an expected answer, else the server's ``msg`` as an
    error (for a refused token, with what to do about it)."""
    if status != expect:
        error = ServerError.from_answer(status, body)
        if status == 401:
            raise ServerError(status, f"{error.msg}; run act proxy")
        raise error
    return body


#: A job selection: None (all), an id string as the server takes it
#: (``1,3,5-9``, sent as it is), or ids (sent in batches of :data:`ID_BATCH`).
Ids = Sequence[int] | str | None


def _id_batches(ids: Ids) -> Iterator[str | None]:
    if ids is None or isinstance(ids, str):
        yield ids
        return
    unique = sorted(set(int(i) for i in ids))
    for start in range(0, len(unique), ID_BATCH):
        yield ",".join(str(i) for i in unique[start:start + ID_BATCH])


class _OldServer(Exception):
    """The server lacks a route that aCT added later (internal signal)."""


class ACTClient:
    """A user's session with one aCT server."""

    def __init__(self, url: str, *, token: str | None = None, ca_dir: str | os.PathLike[str] | None = None,
                 ca_file: str | os.PathLike[str] | None = None,
                 timeout: float | tuple[float, float] = (15.0, 300.0)) -> None:
        self.url = url.rstrip("/")
        self._options: dict[str, Any] = {"ca_dir": ca_dir, "ca_file": ca_file, "timeout": timeout}
        self.token = token
        """The bearer token in use (what storage backends authenticate with)."""
        self.http = HTTPClient(self.url, token=token, **self._options)
        self._old_routes = False

    @classmethod
    def from_config(cls, config: ClientConfig, *, server: str | None = None, need_token: bool = True) -> ACTClient:
        """A client for the configured server with the stored token.

        Without a token file (and ``need_token``) this fails with act-client's
        advice: run ``act proxy``."""
        url = server or config.require("server")
        token: str | None = None
        if need_token:
            try:
                token = config.token.read_text().strip()
            except OSError:
                raise ConfigError(f"Error reading token file {config.token}. Run act proxy.") from None
        return cls(url, token=token)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ACTClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return _answer(*self.http.json_request(method, path, **kwargs), expect=expect)

    # ------------------------------------------------------------------ server and proxies

    def info(self) -> dict[str, Any]:
        """The server's clusters and the column names ``stat`` may select."""
        return self._call("GET", "info") or {}

    def delegate(self, proxy_path: str | os.PathLike[str]) -> str:
        """Delegate the proxy at ``proxy_path`` to the server (the two steps
        of ``act proxy``); returns the new token, which this client uses from
        now on. The proxy's key never leaves this machine: the server sends a
        request that the proxy signs."""
        proxy = x509.load_proxy(Path(proxy_path))
        pem = proxy.to_pem()
        cert, chain = _certificates_pem(pem)
        with HTTPClient(self.url, **self._options) as anonymous:
            started = _answer(*anonymous.json_request("POST", "proxies", json={"cert": cert, "chain": chain}))
        signed = x509.sign_proxy_csr(str(started["csr"]).encode(), proxy)
        new_cert, new_chain = _certificates_pem(signed)
        with HTTPClient(self.url, token=str(started["token"]), **self._options) as pending:
            body = _answer(*pending.json_request("PUT", "proxies", json={"cert": new_cert, "chain": new_chain}))
        token = str(body["token"])
        self.token = token
        self.http.set_token(token)
        return token

    def delete_proxy(self) -> None:
        """Make the server forget the user's proxy (and so its token)."""
        self._call("DELETE", "proxies", expect=204)

    # ------------------------------------------------------------------ submission

    def create_jobs(self, clusterlists: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        """Step 1 of submission: one ``{"id": n}`` or ``{"msg": why}`` per job."""
        return list(self._call("POST", "jobs", json=[{"clusterlist": list(c)} for c in clusterlists]) or [])

    def upload_input(self, job_id: int, name: str, source: Path,
                     progress: Progress | None = None) -> None:
        """Step 2: one local input file of a created job, streamed
        (``progress`` is told the bytes as they go). A server without
        ``PUT /jobs/<id>/data/<name>`` (aCT before it) gets the file by its
        older ``PUT /data``: the first file is then sent twice, the others
        go straight to the old route."""
        if not self._old_routes:
            response = self.http.request("PUT", f"jobs/{int(job_id)}/data/{quote(name)}", data=source,
                                         progress=progress)
            if response.status_code == 204:
                return
            body = legacy.answer_body(response)
            if not legacy.route_missing(response.status_code, body):
                _answer(response.status_code, body, expect=204)
            self._old_routes = True
            if progress is not None:
                progress(-source.stat().st_size)
        legacy.upload_input_legacy(self.http, job_id, name, source, progress)

    def confirm_jobs(self, jobs: Sequence[tuple[int, str]],
                     storage: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Step 3: the final descriptions; ``{"id", "name"}`` or ``{"msg"}`` per job.

        ``storage`` (``{"backend": name, "url": base URL}``) tells the server
        where the inputs were staged when that is not the server itself, so
        that they are removed once the jobs are gone."""
        extra = {"storage": dict(storage)} if storage else {}
        return list(self._call("PUT", "jobs", json=[{"id": int(i), "desc": d, **extra} for i, d in jobs]) or [])

    # ------------------------------------------------------------------ jobs

    def jobs(self, ids: Ids = None, *, name: str | None = None, state: str | None = None,
             client: Sequence[str] = ("id", "jobname"), arc: Sequence[str] = ("JobID", "State", "arcstate"),
             ) -> list[dict[str, Any]]:
        """The user's jobs with the chosen columns (``c_``/``a_`` keys)."""
        rows: list[dict[str, Any]] = []
        for batch in _id_batches(ids):
            params = {"id": batch, "name": name or None, "state": state or None,
                      "client": ",".join(client), "arc": ",".join(arc)}
            rows.extend(self._call("GET", "jobs", params=params) or [])
        return rows

    def _action(self, method: str, ids: Ids, name: str | None, state: str | None,
                **extra: str) -> list[Any]:
        answers: list[Any] = []
        for batch in _id_batches(ids):
            params = {"id": batch, "name": name or None, "state": state or None, **extra}
            answers.extend(self._call(method, "jobs", params=params) or [])
        return answers

    def kill(self, ids: Ids = None, *, name: str | None = None,
             state: str | None = None) -> list[dict[str, Any]]:
        """Kill jobs; one ``{"c_id", "a_id", "a_arcstate"}`` per job killed."""
        return self._action("PATCH", ids, name, state, action="cancel")

    def fetch(self, ids: Ids = None, *, name: str | None = None) -> list[int]:
        """Ask for the outputs of failed jobs; the ids that will be fetched."""
        return self._action("PATCH", ids, name, None, action="fetch")

    def resubmit(self, ids: Ids = None, *, name: str | None = None) -> list[int]:
        """Resubmit failed jobs from scratch; the ids that will be."""
        return self._action("PATCH", ids, name, None, action="resubmit")

    def clean(self, ids: Ids = None, *, name: str | None = None,
              state: str | None = None) -> list[int]:
        """Remove finished jobs with their files; the ids cleaned."""
        return self._action("DELETE", ids, name, state)

    # ------------------------------------------------------------------ results

    def list_results(self, job_id: int, path: str = "") -> tuple[list[str], list[str]]:
        """(files, directories) in one directory of a job's results."""
        folder = path.strip("/")
        response = self.http.request("GET", f"jobs/{int(job_id)}/results/{quote(folder)}" + ("/" if folder else ""))
        body = legacy.answer_body(response)
        if response.status_code == 200 and isinstance(body, dict):
            return list(body.get("file") or []), list(body.get("dir") or [])
        if legacy.route_missing(response.status_code, body):
            raise _OldServer
        _answer(response.status_code, body)  # the server's msg for an error
        raise ServerError(response.status_code, f"job {job_id}: the results listing is not a JSON object")

    def download_results(self, job_id: int, destination: Path, progress: TransferProgress = SILENT) -> list[str]:
        """All of a job's results into the empty directory ``destination``;
        the relative paths of the files. Names the server lists are kept
        inside ``destination``. A server without the listing routes (aCT
        before them) sends the results as one zip (``GET /results``)."""
        if not self._old_routes:
            try:
                return self._download_listed(job_id, destination, progress)
            except _OldServer:
                self._old_routes = True
        files = legacy.download_results_zip(self.http, job_id, destination, progress.advance)
        progress.expect(files=len(files))
        for _ in files:
            progress.file_done()
        return files

    def _download_listed(self, job_id: int, destination: Path, progress: TransferProgress) -> list[str]:
        files: list[str] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            names, folders = self.list_results(job_id, folder)
            prefix = f"{folder}/" if folder else ""
            for name in names:
                relative = prefix + name
                target = inside(destination, relative)
                if target is None or target == destination.resolve():
                    raise ServerError(0, f"job {job_id}: the server listed {relative!r}, outside the results")
                self.download_result(job_id, relative, target, progress)
                files.append(relative)
            pending.extend(prefix + sub for sub in folders)
        return sorted(files)

    def download_result(self, job_id: int, path: str, destination: Path,
                        progress: TransferProgress = SILENT) -> int:
        """Stream one result file to ``destination`` (written under a
        temporary name and renamed, so an interrupted download leaves
        nothing); returns its size. ``progress`` learns the file's size
        when the server sends it, and the bytes as they arrive."""
        response = self.http.request("GET", f"jobs/{int(job_id)}/results/{quote(path.strip('/'))}", stream=True)
        try:
            if response.status_code != 200:
                raise ServerError.from_answer(response.status_code, legacy.answer_body(response))
            return save_body(response, destination, progress, CHUNK)
        except (OSError, ValueError) as exc:
            raise TransportError(f"downloading {path} of job {job_id}: {exc}") from exc
        finally:
            response.close()
