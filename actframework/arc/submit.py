"""Submitting jobs to a CE in bulk: descriptions in, aligned results out.

One call does what ``arcsub`` does for a batch, in as few round trips as the
interface allows: at most one delegation, one ``POST /jobs?action=new`` for
all jobs, then the local input files on a bounded pool of upload workers.

The description is prepared the way ``arcsub`` prepares it, because A-REX
takes it literally: a relative ``executable`` or ``stdin`` is an input file
to upload; ``stdout``, ``stderr`` and the ``gmlog`` directory are added to
``outputfiles`` (A-REX deletes every session file not listed there when the
job ends); local input sources become empty sources (A-REX then waits for an
upload); the queue and delegation are written into the description on REST
1.0 and sent as parameters on 1.1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from actframework import xrsl
from actframework.arc.jobs import CreatedJob
from actframework.arc.rest import ARCRest
from actframework.arc.results import JobResult
from actframework.arc.transfer import DEFAULT_WORKERS, Upload, upload_inputs
from actframework.errors import ActError, ARCResponseError, InputFileError, InputUploadError, XRSLError
from actframework.hookspecs import InputFile


@dataclass(frozen=True)
class PreparedJob:
    """A description ready for the CE and the local files it needs uploaded."""

    description: xrsl.XRSLJob
    uploads: tuple[tuple[str, Path], ...]


@dataclass(frozen=True)
class SubmissionBatch:
    """The outcome of :func:`submit_jobs`."""

    results: list[JobResult[CreatedJob]]
    """One per input description, in input order."""
    delegation_id: str | None
    """The delegation the jobs use (created here when none was given)."""


def prepare_job(
    job: xrsl.XRSLJob,
    *,
    input_dir: Path,
    queue: str | None = None,
    delegation_id: str | None = None,
    into_description: bool = True,
) -> PreparedJob:
    """Make one parsed job ready for submission (see the module doc).

    ``into_description`` writes ``queue`` and ``delegation_id`` into the
    description (REST 1.0); otherwise they are left to request parameters.
    Raises :class:`InputFileError` for a local input that is not a readable
    file and :class:`XRSLError` for malformed file lists.
    """
    job = job.copy()
    inputs = list(job.inputfiles)
    outputs = list(job.outputfiles)
    input_names = {name for name, _ in inputs}
    output_names = {name.rstrip("/") for name, _ in outputs}
    for attr in ("executable", "stdin"):
        value = job.get_string(attr)
        if value and not value.startswith(("/", "$")) and value not in input_names:
            inputs.append((value, ""))
            input_names.add(value)
    for attr in ("stdout", "stderr"):
        value = job.get_string(attr)
        if value and value not in output_names:
            outputs.append((value, ""))
            output_names.add(value)
    gmlog = job.get_string("gmlog")
    if gmlog and gmlog.rstrip("/") not in output_names:
        outputs.append((gmlog.rstrip("/") + "/", ""))

    uploads: list[tuple[str, Path]] = []
    rewritten: list[tuple[str, str]] = []
    for name, source in inputs:
        entry = InputFile(name, source)
        if not entry.is_local:
            rewritten.append((name, source))
            continue
        path = entry.local_path if entry.local_path.is_absolute() else input_dir / entry.local_path
        if not path.is_file() or not os.access(path, os.R_OK):
            raise InputFileError(f"input file {path} does not exist or cannot be read")
        uploads.append((name, path))
        rewritten.append((name, ""))
    if inputs:
        job.set_inputfiles(rewritten)
    if outputs:
        job.set_outputfiles(outputs)
    if into_description:
        if queue and "queue" not in job:
            job.set("queue", queue)
        if delegation_id:
            job.set("delegationid", delegation_id)
    return PreparedJob(job, tuple(uploads))


def submit_jobs(
    rest: ARCRest,
    descriptions: Sequence[str | xrsl.XRSLJob],
    *,
    queue: str | None = None,
    delegation_id: str | None = None,
    proxy: str | os.PathLike[str] | None = None,
    input_dir: str | os.PathLike[str] | None = None,
    workers: int = DEFAULT_WORKERS,
) -> SubmissionBatch:
    """Submit each single-job description to the CE behind ``rest``.

    ``delegation_id`` reuses a delegation; without one, a delegation is made
    from ``proxy`` when given (jobs that stage data from URLs need one), and
    returned in the batch. Local input paths are relative to ``input_dir``
    (default: the current directory).

    Each result holds the created job, or the error that kept the job from
    being submitted (:class:`XRSLError`, :class:`InputFileError`, the CE's
    refusal) — or :class:`InputUploadError`, which carries the CE id of a
    job that exists on the CE but lacks inputs: kill it.
    """
    base = Path(input_dir) if input_dir is not None else Path.cwd()
    if delegation_id is None and proxy is not None:
        delegation_id = rest.create_delegation(proxy)
    legacy = rest.version == "1.0"
    results: list[JobResult[CreatedJob] | None] = [None] * len(descriptions)
    prepared: list[tuple[int, PreparedJob]] = []
    for index, description in enumerate(descriptions):
        try:
            jobs = xrsl.parse(description) if isinstance(description, str) else [description]
            if len(jobs) != 1:
                raise XRSLError(f"a description must hold one job, this one holds {len(jobs)}")
            prepared.append((index, prepare_job(
                jobs[0], input_dir=base, queue=queue, delegation_id=delegation_id, into_description=legacy,
            )))
        except ActError as exc:
            results[index] = JobResult("", error=exc)

    if prepared:
        document = xrsl.unparse([p.description for _, p in prepared])
        created = rest.create_jobs(
            document,
            queue=None if legacy else queue,
            delegation_id=None if legacy else delegation_id,
        )
        if len(created) != len(prepared):
            # Which of the jobs exist on the CE cannot be told from this answer.
            error = ARCResponseError(f"create jobs: the CE answered {len(created)} results for {len(prepared)} jobs")
            for index, _ in prepared:
                results[index] = JobResult("", error=error)
        else:
            to_upload = [(index, p, r) for (index, p), r in zip(prepared, created)]
            for index, _, result in to_upload:
                results[index] = result
            waiting = [(index, p, r) for index, p, r in to_upload if r.ok and p.uploads]
            errors = upload_inputs(rest, [Upload(r.job_id, p.uploads) for _, p, r in waiting], workers)
            for (index, _, result), job_errors in zip(waiting, errors):
                if job_errors:
                    results[index] = JobResult(result.job_id, error=InputUploadError(result.job_id, job_errors))
    return SubmissionBatch([r for r in results if r is not None], delegation_id)
