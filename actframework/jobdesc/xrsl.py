"""The job model over an xRSL job (:class:`actframework.xrsl.XRSLJob`).

The parser and writer are :mod:`actframework.xrsl`; this module only maps
the model's fields to xRSL attributes. Values the CE must evaluate
(``$(VAR)``, ``#``) cannot be read as plain strings and raise
:class:`~actframework.errors.XRSLError` when a field needs them, as
:meth:`XRSLJob.get_string <actframework.xrsl.XRSLJob.get_string>` does.
"""

from __future__ import annotations

from collections.abc import Iterable

from actframework.errors import XRSLError
from actframework.jobdesc.model import InputFile, JobDescription, Language, OutputFile, whole_number
from actframework.xrsl import XRSLJob
from actframework.xrsl import unparse as unparse_xrsl

__all__ = ["XRSLDescription"]


class XRSLDescription(JobDescription):
    """One xRSL job; :attr:`job` is the document, shared, not copied."""

    language = Language.XRSL
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, job: XRSLJob) -> None:
        self.job = job

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XRSLDescription):
            return NotImplemented
        return self.job == other.job

    def __repr__(self) -> str:
        return f"XRSLDescription({self.unparse()!r})"

    # ------------------------------------------------------------------ reading

    @property
    def name(self) -> str | None:
        return self.job.get_string("jobname")

    @property
    def executable(self) -> str | None:
        return self.job.get_string("executable")

    @property
    def arguments(self) -> list[str]:
        values = self.job.get("arguments") or ()
        if not all(isinstance(value, str) for value in values):
            raise XRSLError("attribute 'arguments' must be strings, without lists, $(...) or '#'")
        return [value for value in values if isinstance(value, str)]

    @property
    def stdin(self) -> str | None:
        return self.job.get_string("stdin")

    @property
    def stdout(self) -> str | None:
        return self.job.get_string("stdout")

    @property
    def stderr(self) -> str | None:
        return self.job.get_string("stderr")

    @property
    def inputs(self) -> list[InputFile]:
        return [InputFile(name, source) for name, source in self.job.inputfiles]

    @property
    def outputs(self) -> list[OutputFile]:
        return [OutputFile(name, target) for name, target in self.job.outputfiles]

    @property
    def queue(self) -> str | None:
        return self.job.get_string("queue")

    @property
    def delegation_id(self) -> str | None:
        return self.job.get_string("delegationid")

    @property
    def log_dir(self) -> str | None:
        return self.job.get_string("gmlog")

    @property
    def rerun(self) -> int | None:
        return whole_number(self.job.get_string("rerun"), "attribute 'rerun'", XRSLError)

    @property
    def priority(self) -> int | None:
        return whole_number(self.job.get_string("priority"), "attribute 'priority'", XRSLError)

    # ------------------------------------------------------------------ changing

    def set_name(self, name: str) -> None:
        self.job.set("jobname", name)

    def set_inputs(self, entries: Iterable[InputFile]) -> None:
        self.job.set_inputfiles([(entry.name, entry.source) for entry in entries])

    def upload_source(self, size: int) -> str:
        return str(size)

    def set_outputs(self, entries: Iterable[OutputFile]) -> None:
        self.job.set_outputfiles([(entry.name, entry.target) for entry in entries])

    def set_queue(self, queue: str) -> None:
        self.job.set("queue", queue)

    def set_delegation_id(self, delegation_id: str) -> None:
        self.job.set("delegationid", delegation_id)

    # ------------------------------------------------------------------ whole jobs

    def copy(self) -> XRSLDescription:
        return XRSLDescription(self.job.copy())

    def unparse(self) -> str:
        return unparse_xrsl(self.job)
