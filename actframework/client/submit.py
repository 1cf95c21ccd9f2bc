"""Submitting job descriptions: the three steps of ``act sub`` as a library call.

aCT takes a job in three steps: create it (``POST /jobs``: the server hands
out ids), stage its inputs (through the storage backend), then confirm it
with its final description (``PUT /jobs``: only now does the engine see
it). A job that was created but not confirmed is killed before the call
returns, so that nothing is left half-made on the server.

Ctrl-C is handled as aCT's client does: the create and
confirm steps cannot be interrupted half-way (the interrupt is raised when
the step is over), the uploads can, and the cleanup of unconfirmed jobs
always runs to its end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from actframework import jobdesc
from actframework.client.api import ACTClient
from actframework.client.interrupts import deferred_interrupt, ignored_interrupt
from actframework.errors import ActError, JobDescriptionError
from actframework.hookspecs import StorageContext, StorageJob
from actframework.plugins import StorageManager

#: Description files per batch (act-client's).
SUBMIT_BATCH = 100


@dataclass(frozen=True)
class Submitted:
    """What became of one job of a description file."""

    path: str
    """The description file it came from."""
    name: str
    """The job's name (from its description, else the file's path)."""
    id: int | None = None
    """The aCT job id, when the job was accepted."""
    error: str | None = None
    """Why it was not, otherwise."""

    @property
    def ok(self) -> bool:
        return self.error is None


def read_descriptions(paths: Sequence[Path]) -> tuple[list[tuple[str, jobdesc.JobDescription]], list[Submitted]]:
    """(jobs, failures): every job of every readable description file (xRSL
    or ADL; ``+`` and ``<ActivityDescriptions>`` hold several), and one
    failure per file that cannot be read or parsed (its message names the
    file, line and column)."""
    jobs: list[tuple[str, jobdesc.JobDescription]] = []
    failures: list[Submitted] = []
    for path in paths:
        try:
            parsed = jobdesc.parse_file(path)
        except ActError as exc:
            failures.append(Submitted(str(path), str(path), error=str(exc)))
            continue
        jobs.extend((str(path), job) for job in parsed)
    return jobs, failures


def submit_batch(
    act: ACTClient,
    storage: StorageManager,
    context: StorageContext,
    clusters: Sequence[str],
    jobs: Sequence[tuple[str, jobdesc.JobDescription]],
    report: Callable[[Sequence[Submitted]], None] = lambda _results: None,
    announce: Callable[[str], None] = lambda _line: None,
    storage_record: Mapping[str, str] | None = None,
) -> list[Submitted]:
    """Create, stage and confirm ``jobs`` (one batch); one result per job,
    in order, also given to ``report`` as soon as they are known. Jobs that
    fail at any step are then killed on the server (``announce`` hears
    about it first, as act-client tells its user). ``storage_record`` is
    sent with the confirmation when the backend staged the inputs away from
    the server (see :meth:`ACTClient.confirm_jobs`)."""
    if not jobs:
        return []
    with deferred_interrupt():
        created = act.create_jobs([list(clusters)] * len(jobs))
    results: list[Submitted | None] = [None] * len(jobs)
    unconfirmed: list[int] = [int(answer["id"]) for answer in created if "msg" not in answer]
    try:
        to_confirm: list[tuple[int, int, str]] = []  # (position, id, description)
        for position, ((path, job), answer) in enumerate(zip(jobs, created, strict=True)):
            if "msg" in answer:
                results[position] = Submitted(path, _name(job, path), error=str(answer["msg"]))
                continue
            job_id = int(answer["id"])
            try:
                name = _name(job, path)
                storage_job = StorageJob(id=job_id, description=job.unparse(), name=name, inputs=tuple(job.inputs))
                staged = storage.stage_inputs(context, storage_job)
                text = storage.rewrite_description(context, storage_job, staged)
            except ActError as exc:
                results[position] = Submitted(path, _name(job, path), job_id, error=str(exc))
                continue
            to_confirm.append((position, job_id, text))
        if to_confirm:
            with deferred_interrupt():
                answers = act.confirm_jobs([(job_id, text) for _, job_id, text in to_confirm], storage_record)
                for (position, job_id, _), answer in zip(to_confirm, answers, strict=True):
                    path, job = jobs[position]
                    name = _name(job, path)
                    if "msg" in answer:
                        results[position] = Submitted(path, name, job_id, error=str(answer["msg"]))
                    else:
                        results[position] = Submitted(path, str(answer.get("name") or name), job_id)
                        unconfirmed.remove(job_id)
        final = [result for result in results if result is not None]
        report(final)
    finally:
        if unconfirmed:
            with ignored_interrupt():
                announce("Cleaning up failed or cancelled jobs ...")
                act.kill(unconfirmed)
    return final


def _name(job: jobdesc.JobDescription, path: str) -> str:
    """How a job is called in messages: its name, else its file's path
    (also when the name cannot be read, which the server reports)."""
    try:
        return job.name or path
    except JobDescriptionError:
        return path
