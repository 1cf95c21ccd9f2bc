"""Job descriptions in xRSL or ADL, read into one model and written back as they came.

:func:`parse` tells the language by the text (XML starts with ``<``) and
returns one :class:`JobDescription` per job: ``+(&...)(&...)`` and
``<ActivityDescriptions>`` hold several. :func:`unparse` writes jobs of one
language back in that language, several as one multi-job document, which
is what A-REX takes in one bulk submission. The model is in
:mod:`~actframework.jobdesc.model`, the languages in
:mod:`~actframework.jobdesc.xrsl` and :mod:`~actframework.jobdesc.adl`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import TypeVar, cast

from actframework import xrsl as xrsl_language
from actframework.errors import JobDescriptionError
from actframework.jobdesc import adl
from actframework.jobdesc.adl import ADLDescription
from actframework.jobdesc.model import InputFile, JobDescription, Language, OutputFile
from actframework.jobdesc.xrsl import XRSLDescription

__all__ = [
    "ADLDescription",
    "InputFile",
    "JobDescription",
    "Language",
    "OutputFile",
    "XRSLDescription",
    "by_language",
    "parse",
    "parse_file",
    "parse_one",
    "unparse",
]

T = TypeVar("T")


def parse(text: str, source: str | None = None) -> list[JobDescription]:
    """The jobs of a description in either language. ``source`` (a file
    name) is only used in messages; errors are
    :class:`~actframework.errors.XRSLParseError` or
    :class:`~actframework.errors.ADLParseError`, both with line and column."""
    if not isinstance(text, str):
        raise JobDescriptionError(f"a job description must be text, not {type(text).__name__}")
    if Language.of(text) is Language.ADL:
        return list(adl.parse(text, source))
    return [XRSLDescription(job) for job in xrsl_language.parse(text, source)]


def parse_file(path: str | PathLike[str]) -> list[JobDescription]:
    """The jobs of a description file. An ADL file is decoded as its XML
    declaration says; an xRSL file must be UTF-8. Errors name the file."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise JobDescriptionError(f"cannot read job description {name}: {exc.strerror or exc}") from exc
    if data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<"):
        return list(adl.parse(data, name))
    return [XRSLDescription(job) for job in xrsl_language.parse_bytes(data, name)]


def parse_one(text: str) -> JobDescription:
    """The single job of ``text``; a description of several jobs is an error
    here (the engine and the server store one job per description)."""
    jobs = parse(text)
    if len(jobs) != 1:
        raise JobDescriptionError(f"the description holds {len(jobs)} jobs, not one")
    return jobs[0]


def unparse(jobs: Sequence[JobDescription]) -> str:
    """Jobs of one language as one document of that language: a single job
    as itself, several as ``+(&...)(&...)`` or in ``<ActivityDescriptions>``.
    Jobs of different languages cannot share a document
    (:func:`by_language` sorts them first)."""
    if not jobs:
        raise JobDescriptionError("no jobs to write")
    languages = {job.language for job in jobs}
    if len(languages) != 1:
        raise JobDescriptionError(
            "xRSL and ADL jobs cannot be written as one document; group them with by_language first"
        )
    if languages == {Language.ADL}:
        return adl.unparse([cast(ADLDescription, job) for job in jobs])
    return xrsl_language.unparse([cast(XRSLDescription, job).job for job in jobs])


def by_language(items: Sequence[T], language: Callable[[T], Language]) -> dict[Language, list[T]]:
    """``items`` grouped by ``language(item)``, each group in input order,
    the groups in the order their languages first appear. A bulk submission
    sends one document per group: A-REX reads one language per request."""
    groups: dict[Language, list[T]] = {}
    for item in items:
        groups.setdefault(language(item), []).append(item)
    return groups
