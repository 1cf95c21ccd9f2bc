"""What actframework reads and changes in a job description, whatever its language.

The server, the client, the engine and the storage backends need the same
few things from a job: its name, executable, input files (and where they
come from), output files (and where they go), queue, delegation, log
directory, rerun count and priority. :class:`JobDescription` offers those,
typed, over a description written in xRSL or ADL; each language keeps its
own document underneath, so that everything the model does not know (an
xRSL attribute, an ADL element or attribute) is written back unchanged, in
the language it came in. A description is never translated: A-REX reads
both, and a translation would lose what one language has and the other not.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from actframework.errors import JobDescriptionError
from actframework.hookspecs import InputFile

__all__ = ["InputFile", "JobDescription", "Language", "OutputFile", "whole_number"]


class Language(enum.StrEnum):
    """A job description language that A-REX takes on its REST interface."""

    XRSL = "xrsl"
    """NorduGrid's xRSL: ``&(executable=...)``, several jobs as ``+(&...)(&...)``."""
    ADL = "adl"
    """EMI-ES ADL: an ``<ActivityDescription>``, several in ``<ActivityDescriptions>``."""

    @classmethod
    def of(cls, text: str) -> Language:
        """The language ``text`` is written in. An XML document starts with
        ``<`` (its declaration, a comment or the root element); an xRSL one
        never does (``&``, ``+``, ``|`` or a ``(*`` comment). A-REX tells
        them apart the same way."""
        return cls.ADL if text.lstrip().startswith("<") else cls.XRSL

    @property
    def content_type(self) -> str:
        """The Content-Type A-REX expects for a document in this language."""
        return "application/xml" if self is Language.ADL else "application/rsl"


@dataclass(frozen=True)
class OutputFile:
    """One output file of a job."""

    name: str
    """The file's path in the job's session directory (a trailing ``/``: a directory)."""
    target: str
    """Where the CE sends it: a URL, or ``""`` to keep it on the CE for download."""


class JobDescription(ABC):
    """One job, as the rest of actframework sees it.

    Reading an attribute that is not there gives None (or an empty list);
    one whose value cannot be used as this model needs it (an xRSL value
    with ``$(...)``, an ADL ``Priority`` that is not a number) raises a
    :class:`~actframework.errors.JobDescriptionError`. The ``set_*``
    methods change the underlying document in place, keeping what they do
    not touch; :meth:`copy` first when the caller's job must stay as it is.
    """

    language: ClassVar[Language]

    # ------------------------------------------------------------------ reading

    @property
    @abstractmethod
    def name(self) -> str | None:
        """The job's name (xRSL ``jobname``, ADL ``ActivityIdentification/Name``)."""

    @property
    @abstractmethod
    def executable(self) -> str | None:
        """The program to run; a relative path is a file in the session directory."""

    @property
    @abstractmethod
    def arguments(self) -> list[str]:
        """The program's arguments."""

    @property
    @abstractmethod
    def stdin(self) -> str | None:
        """The session file given to the program as standard input."""

    @property
    @abstractmethod
    def stdout(self) -> str | None:
        """The session file the program's standard output goes to."""

    @property
    @abstractmethod
    def stderr(self) -> str | None:
        """The session file the program's standard error goes to."""

    @property
    @abstractmethod
    def inputs(self) -> list[InputFile]:
        """The input files in document order, each with its source: ``""``
        (or a local path) for a file the client uploads, a URL for one the CE
        fetches."""

    @property
    @abstractmethod
    def outputs(self) -> list[OutputFile]:
        """The output files in document order, each with its target."""

    @property
    @abstractmethod
    def queue(self) -> str | None:
        """The batch queue the job asks for."""

    @property
    @abstractmethod
    def delegation_id(self) -> str | None:
        """The CE delegation the job's data staging uses (written into the
        description only for CEs that take it nowhere else, REST 1.0)."""

    @property
    @abstractmethod
    def log_dir(self) -> str | None:
        """The session directory the CE writes its diagnostics to (xRSL
        ``gmlog``, ADL ``LoggingDirectory``)."""

    @property
    @abstractmethod
    def rerun(self) -> int | None:
        """How often the CE may rerun the job after a failure."""

    @property
    @abstractmethod
    def priority(self) -> int | None:
        """The job's priority, 0 to 100 by convention (aCT's default is 50)."""

    # ------------------------------------------------------------------ changing

    @abstractmethod
    def set_name(self, name: str) -> None:
        """Set the job's name."""

    @abstractmethod
    def set_inputs(self, entries: Iterable[InputFile]) -> None:
        """Replace the input files with ``entries``, in that order.

        What the document says of a file besides its source (xRSL options
        such as ``"cache=no"``; ADL ``IsExecutable``, and the options and
        delegation of its source) is kept for an entry whose name it already
        lists, so that rewriting a local path into a staging URL loses
        nothing; an ADL source that becomes ``""`` (uploaded) has no options
        left to keep. An empty list removes every input file.
        """

    @abstractmethod
    def set_outputs(self, entries: Iterable[OutputFile]) -> None:
        """Replace the output files with ``entries``, like :meth:`set_inputs`."""

    @abstractmethod
    def set_queue(self, queue: str) -> None:
        """Ask for ``queue``."""

    @abstractmethod
    def set_delegation_id(self, delegation_id: str) -> None:
        """Make the job's data staging use the CE delegation ``delegation_id``."""

    @abstractmethod
    def upload_source(self, size: int) -> str:
        """The source to write for an input file of ``size`` bytes that the
        submitter uploads into the session.

        xRSL says the size (``("in.txt" "1024")``, as ``arcsub`` writes it):
        A-REX then keeps the job in PREPARING until the session file has
        that many bytes, so an upload cut off half way (a killed engine, a
        dropped connection) can be sent again and never runs as a shorter
        file. ADL has no field for it and gets an empty source.
        """

    # ------------------------------------------------------------------ whole jobs

    @abstractmethod
    def copy(self) -> JobDescription:
        """An independent copy: changing it leaves this job as it is."""

    @abstractmethod
    def unparse(self) -> str:
        """This job alone, as a document of its language."""

    # ------------------------------------------------------------------ what the CE adds

    def implied_inputs(self) -> list[InputFile]:
        """Files the CE expects in the session although the input list does
        not name them: a relative executable and the standard input. ARC
        adds them implicitly (``arcsub`` uploads them), so a client must
        upload them too, or the job waits for them in vain."""
        listed = {entry.name for entry in self.inputs}
        implied: list[InputFile] = []
        for path in (self.executable, self.stdin):
            if path and not path.startswith(("/", "$")) and path not in listed:
                implied.append(InputFile(path, ""))
                listed.add(path)
        return implied

    def implied_outputs(self) -> list[OutputFile]:
        """Session files the user expects back although the output list does
        not name them: standard output and error, and the log directory.
        A-REX deletes every session file that is not a listed output when
        the job ends, so ``arcsub`` lists these, and so do we."""
        listed = {entry.name.rstrip("/") for entry in self.outputs}
        implied: list[OutputFile] = []
        for path in (self.stdout, self.stderr):
            if path and path not in listed:
                implied.append(OutputFile(path, ""))
                listed.add(path)
        log_dir = self.log_dir
        if log_dir and log_dir.rstrip("/") not in listed:
            implied.append(OutputFile(log_dir.rstrip("/") + "/", ""))
        return implied


def whole_number(text: str | None, what: str, error: type[JobDescriptionError]) -> int | None:
    """``text`` read as a whole number (a sign and ASCII digits, blanks
    around allowed), None for None; anything else raises ``error`` naming
    ``what``. Stricter than :func:`int`, which also takes ``1_000`` and
    other scripts' digits that the CE would not read."""
    if text is None:
        return None
    digits = text.strip()
    unsigned = digits[1:] if digits[:1] in ("+", "-") else digits
    if not (unsigned.isascii() and unsigned.isdigit()):
        raise error(f"{what} must be a whole number, not {text!r}")
    return int(digits)
