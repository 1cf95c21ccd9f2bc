"""Jobs' outputs on the user's machine: ``act get`` and ``act cat`` as library calls.

:func:`download_results` fetches the results of finished jobs, ten jobs
at a time (act-client's pool), each into a directory of its own that did
not exist before: first what the aCT server holds, then what the storage
backend adds from its own storage (``act_retrieve_results``). Ctrl-C stops every
transfer, removes what the unfinished jobs had written and raises
:class:`KeyboardInterrupt`; jobs already complete keep their directories
and nothing is cleaned on the server, so a second ``act get`` finds them
all again.

:func:`stream_output` shows a running job's stdout or stderr straight from
the CE's session directory, as the user's proxy, with the
CE's certificate verified (act-client did not verify it).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actframework.arc.rest import ARCRest
from actframework.client.api import ACTClient, Ids
from actframework.errors import ActError, MissingResultFile, TransferCancelled
from actframework.hookspecs import StorageContext, StorageJob, TransferProgress
from actframework.idlist import parse_id_list
from actframework.jobstates import RESULT_STATES
from actframework.plugins import StorageManager

#: Jobs downloaded at the same time (act-client's).
GET_WORKERS = 10


@dataclass(frozen=True)
class Downloaded:
    """What ``act get`` did for one job."""

    id: int
    name: str | None
    directory: Path
    files: tuple[str, ...] = ()
    error: str | None = None


def finished_jobs(
    act: ACTClient, ids: Ids, name: str | None, state: str | None
) -> tuple[list[dict[str, Any]], list[int]]:
    """(rows, missing): the selected jobs in ``state`` (else done and
    donefailed) with their ``c_id``, ``c_jobname`` and ``a_IDFromEndpoint``,
    and the explicitly named ids that are not among them."""
    rows: list[dict[str, Any]] = []
    for one_state in [state] if state else RESULT_STATES:
        rows.extend(act.jobs(ids, name=name, state=one_state, client=["id", "jobname"], arc=["IDFromEndpoint"]))
    wanted: Sequence[int] = parse_id_list(ids).singles if isinstance(ids, str) else list(ids or [])
    found = {row["c_id"] for row in rows}
    missing = [job_id for job_id in wanted if job_id not in found]
    return rows, missing


def free_directory(name: str) -> Path:
    """A new directory ``name``, or ``name_1``, ``name_2``, ...: an existing
    directory is never written into (created here, so that two jobs of the
    same name cannot pick the same one)."""
    number = 0
    while True:
        candidate = Path(name if number == 0 else f"{name}_{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1


class _Stoppable:
    """Passes progress on, and stops the transfer once ``stop`` is set."""

    def __init__(self, inner: TransferProgress, stop: threading.Event) -> None:
        self._inner = inner
        self._stop = stop

    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        self._inner.expect(files, nbytes)

    def advance(self, nbytes: int) -> None:
        if self._stop.is_set():
            raise TransferCancelled("download stopped")
        self._inner.advance(nbytes)

    def file_done(self) -> None:
        self._inner.file_done()


def download_results(
    act: ACTClient,
    storage: StorageManager,
    context: StorageContext,
    rows: Sequence[dict[str, Any]],
    *,
    use_jobname: bool = False,
    workers: int = GET_WORKERS,
    on_done: Callable[[Downloaded], None] = lambda _result: None,
) -> list[Downloaded]:
    """Download the results of ``rows`` (from :func:`finished_jobs`), each
    into a new directory named after its CE id (or its job name); returns
    one :class:`Downloaded` per row, in order, and tells ``on_done`` about
    each as soon as it and the ones before it are complete."""
    stop = threading.Event()
    context = dataclasses.replace(context, progress=_Stoppable(context.progress, stop))
    targets = [free_directory(str(row["c_jobname"] if use_jobname else row["a_IDFromEndpoint"])) for row in rows]

    def one(row: dict[str, Any], target: Path) -> Downloaded:
        job = StorageJob(
            id=int(row["c_id"]), description="", name=row.get("c_jobname"), ce_id=row.get("a_IDFromEndpoint")
        )
        try:
            files = act.download_results(job.id, target, context.progress)
            location = storage.retrieve_results(context, job, target)
        except TransferCancelled:
            raise
        except ActError as exc:
            shutil.rmtree(target, ignore_errors=True)
            return Downloaded(job.id, job.name, target, error=str(exc))
        return Downloaded(job.id, job.name, target, tuple(sorted({*files, *location.files})))

    results: list[Downloaded] = []
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures: list[Future[Downloaded]] = []
    try:
        futures = [pool.submit(one, row, target) for row, target in zip(rows, targets, strict=True)]
        for future in futures:
            result = future.result()
            results.append(result)
            on_done(result)
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        complete = {result.directory for result in results if result.error is None}
        for target in targets:
            if target not in complete:
                shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        pool.shutdown(wait=True)
    for result in results:
        if result.error is None and not result.files:
            _remove_if_empty(result.directory)
    return results


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def output_rows(act: ACTClient, ids: Ids, name: str | None, state: str | None, stream: str) -> list[dict[str, Any]]:
    """The selected jobs with what ``act cat`` needs: CE id, cluster and the
    session path of ``stream`` (``StdOut`` or ``StdErr``)."""
    return act.jobs(ids, name=name, state=state, client=["id", "jobname"], arc=["IDFromEndpoint", "cluster", stream])


class CEConnections:
    """One verified connection per CE, as the user's proxy, for ``act cat``."""

    def __init__(self, proxy: Path) -> None:
        self._proxy = proxy
        self._open: dict[str, ARCRest] = {}

    def get(self, cluster: str) -> ARCRest:
        if cluster not in self._open:
            self._open[cluster] = ARCRest.connect(cluster, proxy=self._proxy)
        return self._open[cluster]

    def close(self) -> None:
        for ce in self._open.values():
            ce.close()
        self._open.clear()

    def __enter__(self) -> CEConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_output(ces: CEConnections, row: dict[str, Any], stream: str) -> Iterator[bytes] | None:
    """The chunks of one job's ``stream`` file from its CE, or None when the
    job has no such file yet (not submitted, or no ``stdout``/``stderr``
    in its description)."""
    path = row.get(f"a_{stream}")
    ce_id = row.get("a_IDFromEndpoint")
    cluster = row.get("a_cluster")
    if not path or not ce_id or not cluster:
        return None
    chunks = ces.get(str(cluster)).read_file(str(ce_id), str(path))
    try:
        first = next(chunks, b"")
    except MissingResultFile:
        return None

    def rest() -> Iterator[bytes]:
        yield first
        yield from chunks

    return rest()
