"""``ACTClient``: the aCT REST API from Python, as the ``act`` command uses it.

One object per server. Its JSON calls go through
:class:`~actframework.client.jsonhttp.JSONClient` (:mod:`http.client`, so
that commands which only ask the server start without requests), its file
transfers through :class:`actframework.http.HTTPClient` (the HTTP layer the
engine and the storage backends use), made on first use; both follow the
same rules: TLS verified, no environment proxies, retries only where they
are safe. Every method is one user-level operation; errors the server reports become
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

import functools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from actframework.client.jsonhttp import JSONClient
from actframework.errors import ConfigError, ServerError, TransportError
from actframework.hookspecs import SILENT, TransferProgress
from actframework.paths import inside

if TYPE_CHECKING:
    from actframework.client.config import ClientConfig
    from actframework.http import HTTPClient, Progress

#: Ids per request when a command names many jobs (act-client's batch size).
ID_BATCH: Final = 100
#: Bytes per read when streaming a download to disk.
CHUNK: Final = 8 * 1024 * 1024

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.DOTALL)


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
        raise _advised(ServerError.from_answer(status, body))
    return body


def _advised(error: ServerError) -> ServerError:
    """A refused token's error says what to do about it."""
    return ServerError(error.status, f"{error.msg}; run act proxy or act token") if error.status == 401 else error


#: A job selection: None (all), an id string as the server takes it
#: (``1,3,5-9``, sent as it is), or ids (sent in batches of :data:`ID_BATCH`).
Ids = Sequence[int] | str | None


def _id_batches(ids: Ids) -> Iterator[str | None]:
    if ids is None or isinstance(ids, str):
        yield ids
        return
    unique = sorted({int(i) for i in ids})
    for start in range(0, len(unique), ID_BATCH):
        yield ",".join(str(i) for i in unique[start : start + ID_BATCH])


class _OldServer(Exception):
    """The server lacks a route that aCT added later (internal signal)."""


class ACTClient:
    """A user's session with one aCT server."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_dir: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float | tuple[float, float] = (15.0, 300.0),
    ) -> None:
        self.url = url.rstrip("/")
        self._options: dict[str, Any] = {"ca_dir": ca_dir, "ca_file": ca_file, "timeout": timeout}
        self.token = token
        """The bearer token in use (what storage backends authenticate with)."""
        self._json = JSONClient(self.url, token=token, **self._options)
        self._old_routes = False

    @functools.cached_property
    def http(self) -> HTTPClient:
        """The requests-based client for file transfers and the older API
        forms, made (and requests imported) when first needed."""
        from actframework.http import HTTPClient

        return HTTPClient(self.url, token=self.token, **self._options)

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
        trust = config.trust()
        return cls(url, token=token, ca_dir=trust["ca_dir"], ca_file=trust["ca_file"])

    def close(self) -> None:
        self._json.close()
        if "http" in self.__dict__:
            self.http.close()

    def __enter__(self) -> ACTClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return _answer(*self._json.json_request(method, path, **kwargs), expect=expect)

    # ------------------------------------------------------------------ server and proxies

    def info(self) -> dict[str, Any]:
        """The server's clusters and the column names ``stat`` may select."""
        return self._call("GET", "info") or {}

    def delegate(self, proxy_path: str | os.PathLike[str]) -> str:
        """Delegate the proxy at ``proxy_path`` to the server (the two steps
        of ``act proxy``); returns the new token, which this client uses from
        now on. The proxy's key never leaves this machine: the server sends a
        request that the proxy signs."""
        from actframework import x509  # cryptography: only this command needs it

        proxy = x509.load_proxy(Path(proxy_path))
        pem = proxy.to_pem()
        cert, chain = _certificates_pem(pem)
        with JSONClient(self.url, **self._options) as anonymous:
            started = _answer(*anonymous.json_request("POST", "proxies", json={"cert": cert, "chain": chain}))
        signed = x509.sign_proxy_csr(str(started["csr"]).encode(), proxy)
        new_cert, new_chain = _certificates_pem(signed)
        with JSONClient(self.url, token=str(started["token"]), **self._options) as pending:
            body = _answer(*pending.json_request("PUT", "proxies", json={"cert": new_cert, "chain": new_chain}))
        return self._use_token(str(body["token"]))

    def hand_over_token(self, bearer_token: str, refresh_grant: Mapping[str, str] | None = None) -> str:
        """Hand the user's bearer token (and, if given, a refresh grant:
        ``refresh_token``, ``client_id``, ``client_secret``) to the server
        (``act token``); returns the server's token for the user, which this
        client uses from now on. A refusal is the server's message as it is:
        it says what to do."""
        with JSONClient(self.url, token=bearer_token, **self._options) as presenting:
            status, body = presenting.json_request(
                "POST", "tokens", json=dict(refresh_grant) if refresh_grant else None
            )
        if status != 200:
            raise ServerError.from_answer(status, body)
        return self._use_token(str(body["token"]))

    def _use_token(self, token: str) -> str:
        self.token = token
        self._json.set_token(token)
        if "http" in self.__dict__:
            self.http.set_token(token)
        return token

    def delete_proxy(self) -> None:
        """Make the server forget the user's proxy or bearer token (and so its token)."""
        self._call("DELETE", "proxies", expect=204)

    # ------------------------------------------------------------------ submission

    def create_jobs(self, clusterlists: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        """Step 1 of submission: one ``{"id": n}`` or ``{"msg": why}`` per job."""
        return list(self._call("POST", "jobs", json=[{"clusterlist": list(c)} for c in clusterlists]) or [])

    def upload_input(self, job_id: int, name: str, source: Path, progress: Progress | None = None) -> None:
        """Step 2: one local input file of a created job, streamed
        (``progress`` is told the bytes as they go). A server without
        ``PUT /jobs/<id>/data/<name>`` (aCT before it) gets the file by its
        older ``PUT /data``: the first file is then sent twice, the others
        go straight to the old route."""
        from actframework.client import legacy

        if not self._old_routes:
            response = self.http.request(
                "PUT", f"jobs/{int(job_id)}/data/{quote(name)}", data=source, progress=progress
            )
            if response.status_code == 204:
                return
            body = legacy.answer_body(response)
            if not legacy.route_missing(response.status_code, body):
                _answer(response.status_code, body, expect=204)
            self._old_routes = True
            if progress is not None:
                progress(-source.stat().st_size)
        legacy.upload_input_legacy(self.http, job_id, name, source, progress)

    def confirm_jobs(
        self, jobs: Sequence[tuple[int, str]], storage: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Step 3: the final descriptions; ``{"id", "name"}`` or ``{"msg"}`` per job.

        ``storage`` (``{"backend": name, "url": base URL}``) tells the server
        where the inputs were staged when that is not the server itself, so
        that they are removed once the jobs are gone."""
        extra = {"storage": dict(storage)} if storage else {}
        return list(self._call("PUT", "jobs", json=[{"id": int(i), "desc": d, **extra} for i, d in jobs]) or [])

    # ------------------------------------------------------------------ jobs

    def jobs(
        self,
        ids: Ids = None,
        *,
        name: str | None = None,
        state: str | None = None,
        client: Sequence[str] = ("id", "jobname"),
        arc: Sequence[str] = ("JobID", "State", "arcstate"),
    ) -> list[dict[str, Any]]:
        """The user's jobs with the chosen columns (``c_``/``a_`` keys)."""
        return list(self.iter_jobs(ids, name=name, state=state, client=client, arc=arc))

    def iter_jobs(
        self,
        ids: Ids = None,
        *,
        name: str | None = None,
        state: str | None = None,
        client: Sequence[str] = ("id", "jobname"),
        arc: Sequence[str] = ("JobID", "State", "arcstate"),
    ) -> Iterator[dict[str, Any]]:
        """:meth:`jobs` one by one as the server's answer arrives, so that a
        listing of any length is never held whole (``act stat``)."""
        for batch in _id_batches(ids):
            params = {
                "id": batch,
                "name": name or None,
                "state": state or None,
                "client": ",".join(client),
                "arc": ",".join(arc),
            }
            try:
                for row in self._json.json_array("jobs", params=params):
                    if not isinstance(row, dict):
                        raise TransportError(f"GET {self.url}/jobs: a job that is not a JSON object: {row!r:.60}")
                    yield row
            except ServerError as error:
                raise _advised(error) from None

    def _action(self, method: str, ids: Ids, name: str | None, state: str | None, **extra: str) -> list[Any]:
        answers: list[Any] = []
        for batch in _id_batches(ids):
            params = {"id": batch, "name": name or None, "state": state or None, **extra}
            answers.extend(self._call(method, "jobs", params=params) or [])
        return answers

    def kill(self, ids: Ids = None, *, name: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Kill jobs; one ``{"c_id", "a_id", "a_arcstate"}`` per job killed."""
        return self._action("PATCH", ids, name, state, action="cancel")

    def fetch(self, ids: Ids = None, *, name: str | None = None) -> list[int]:
        """Ask for the outputs of failed jobs; the ids that will be fetched."""
        return self._action("PATCH", ids, name, None, action="fetch")

    def resubmit(self, ids: Ids = None, *, name: str | None = None) -> list[int]:
        """Resubmit failed jobs from scratch; the ids that will be."""
        return self._action("PATCH", ids, name, None, action="resubmit")

    def clean(self, ids: Ids = None, *, name: str | None = None, state: str | None = None) -> list[int]:
        """Remove finished jobs with their files; the ids cleaned."""
        return self._action("DELETE", ids, name, state)

    # ------------------------------------------------------------------ results

    def list_results(self, job_id: int, path: str = "") -> tuple[list[str], list[str]]:
        """(files, directories) in one directory of a job's results."""
        from actframework.client import legacy

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
        from actframework.client import legacy

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

    def download_result(self, job_id: int, path: str, destination: Path, progress: TransferProgress = SILENT) -> int:
        """Stream one result file to ``destination`` (written under a
        temporary name and renamed, so an interrupted download leaves
        nothing); returns its size. ``progress`` learns the file's size
        when the server sends it, and the bytes as they arrive."""
        from actframework.client import legacy
        from actframework.http import save_body

        response = self.http.request("GET", f"jobs/{int(job_id)}/results/{quote(path.strip('/'))}", stream=True)
        try:
            if response.status_code != 200:
                raise ServerError.from_answer(response.status_code, legacy.answer_body(response))
            return save_body(response, destination, progress, CHUNK)
        except (OSError, ValueError) as exc:
            raise TransportError(f"downloading {path} of job {job_id}: {exc}") from exc
        finally:
            response.close()
