"""Submitting jobs to a CE in bulk: the steps of ``arcsub``, one at a time.

:func:`prepare_job` makes a parsed job ready for the CE and says which local
files it needs uploaded; :func:`post_jobs` creates the prepared jobs of one
language with one ``POST /jobs?action=new`` (A-REX reads one language per
request); the uploads follow (:func:`actframework.arc.transfer.upload_inputs`,
or :func:`actframework.arc.host_files.upload_inputs` in the engine). They
are separate steps because the engine stores each created job's CE id
before it uploads anything.

The description is prepared the way ``arcsub`` prepares it, because A-REX
takes it literally: a relative executable or standard input is an input
file to upload; standard output and error and the log directory are added
to the output files (A-REX deletes every session file not listed there when
the job ends); local input sources become the file's size in xRSL (A-REX
then waits for an upload of exactly that many bytes, so a cut-off upload
can be sent again) and empty in ADL; the queue and delegation are written
into the description on REST 1.0 and sent as parameters on 1.1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from actframework import jobdesc
from actframework.arc.jobs import CreatedJob
from actframework.arc.rest import ARCRest
from actframework.arc.results import JobResult
from actframework.errors import InputFileError
from actframework.jobdesc import InputFile, JobDescription


@dataclass(frozen=True)
class PreparedJob:
    """A description ready for the CE and the local files it needs uploaded."""

    description: JobDescription
    uploads: tuple[tuple[str, Path], ...]


def prepare_job(
    job: JobDescription,
    *,
    input_dir: Path,
    queue: str | None = None,
    delegation_id: str | None = None,
    into_description: bool = True,
) -> PreparedJob:
    """Make one parsed job ready for submission (see the module doc); the
    caller's job is not changed.

    ``into_description`` writes ``queue`` and ``delegation_id`` into the
    description (REST 1.0); otherwise they are left to request parameters.
    Raises :class:`InputFileError` for a local input that is not a readable
    file and :class:`~actframework.errors.JobDescriptionError` for
    malformed file lists.
    """
    job = job.copy()
    inputs = [*job.inputs, *job.implied_inputs()]
    outputs = [*job.outputs, *job.implied_outputs()]

    uploads: list[tuple[str, Path]] = []
    rewritten: list[InputFile] = []
    for entry in inputs:
        if not entry.is_local:
            rewritten.append(entry)
            continue
        path = entry.local_path if entry.local_path.is_absolute() else input_dir / entry.local_path
        if not path.is_file() or not os.access(path, os.R_OK):
            raise InputFileError(f"input file {path} does not exist or cannot be read")
        uploads.append((entry.name, path))
        rewritten.append(InputFile(entry.name, job.upload_source(path.stat().st_size)))
    if inputs:
        job.set_inputs(rewritten)
    if outputs:
        job.set_outputs(outputs)
    if into_description:
        if queue and job.queue is None:
            job.set_queue(queue)
        if delegation_id:
            job.set_delegation_id(delegation_id)
    return PreparedJob(job, tuple(uploads))


def post_jobs(
    rest: ARCRest, jobs: Sequence[PreparedJob], *, queue: str | None = None, delegation_id: str | None = None
) -> list[JobResult[CreatedJob]]:
    """Create ``jobs`` (all of one language) on the CE in one request; the
    results are aligned with ``jobs`` unless the CE answered a different
    number of them. On REST 1.1 ``queue`` and ``delegation_id`` go as request
    parameters; on 1.0 :func:`prepare_job` wrote them into each description."""
    legacy = rest.version == "1.0"
    document = jobdesc.unparse([job.description for job in jobs])
    return rest.create_jobs(document, queue=None if legacy else queue, delegation_id=None if legacy else delegation_id)
