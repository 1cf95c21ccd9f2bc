"""The job model over EMI-ES ADL, the XML job description language A-REX reads.

A job is an ``<ActivityDescription>`` in the ADL namespace; several jobs
are ``<ActivityDescription>`` elements inside one ``<ActivityDescriptions>``
(A-REX takes that wrapper in any namespace, or none). Where the model's
fields live, as ARC's own ADL parser reads them:

=================  ====================================================
name               ``ActivityIdentification/Name``
executable         ``Application/Executable/Path`` (``Argument``: arguments)
stdin/out/err      ``Application/Input``, ``Output``, ``Error``
log_dir            ``Application/LoggingDirectory`` (any namespace; ARC
                   writes it in the NorduGrid one)
rerun, priority    ``Application/nordugrid-adl:Rerun``, ``Priority``
queue              ``Resources/QueueName``
delegation_id      ``DataStaging/nordugrid-adl:DelegationID``: the
                   delegation of the job's data staging; a ``Source`` or
                   ``Target`` may name its own ``DelegationID``
inputs             ``DataStaging/InputFile``: ``Name``, and the ``URI`` of
                   its first ``Source``; no ``Source``: the client uploads it
outputs            ``DataStaging/OutputFile``: ``Name``, and the ``URI`` of
                   its first ``Target``; no ``Target``: kept on the CE
=================  ====================================================

Elements are added where the ADL schema's sequence puts them, so that a
description we change still validates. Everything else in the document,
elements and attributes of any namespace, stays as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from lxml import etree

from actframework.errors import ADLError
from actframework.jobdesc.model import InputFile, JobDescription, Language, OutputFile, whole_number
from actframework.jobdesc.xmlread import Document, read

__all__ = ["ADL_NS", "NORDUGRID_NS", "ADLDescription", "parse", "unparse"]

ADL_NS = "http://www.eu-emi.eu/es/2010/12/adl"
"""The EMI-ES ADL namespace."""
NORDUGRID_NS = "http://www.nordugrid.org/es/2011/12/nordugrid-adl"
"""NorduGrid's extensions to ADL (rerun, priority, log directory, delegation)."""
NORDUGRID_PREFIX = "nordugrid-adl"
"""The prefix ARC writes the extensions with; ours when a document has none."""


def _adl(local: str) -> str:
    return f"{{{ADL_NS}}}{local}"


def _ng(local: str) -> str:
    return f"{{{NORDUGRID_NS}}}{local}"


ACTIVITY = _adl("ActivityDescription")
IDENTIFICATION = _adl("ActivityIdentification")
APPLICATION = _adl("Application")
RESOURCES = _adl("Resources")
STAGING = _adl("DataStaging")
NAME = _adl("Name")
EXECUTABLE = _adl("Executable")
PATH = _adl("Path")
ARGUMENT = _adl("Argument")
INPUT_FILE = _adl("InputFile")
OUTPUT_FILE = _adl("OutputFile")
SOURCE = _adl("Source")
TARGET = _adl("Target")
URI = _adl("URI")
QUEUE = _adl("QueueName")
PRIORITY = _ng("Priority")
RERUN = _ng("Rerun")
STAGING_DELEGATION = _ng("DelegationID")
LOGGING_DIRECTORY = "LoggingDirectory"

#: The schema's order of the children we may add, per parent: a new element
#: goes before the first sibling that the order puts after it.
ORDER: dict[str, tuple[str, ...]] = {
    ACTIVITY: (IDENTIFICATION, APPLICATION, RESOURCES, STAGING),
    IDENTIFICATION: (NAME, _adl("Description"), _adl("Type"), _adl("Annotation"), _ng("ActivityOldID")),
    RESOURCES: tuple(
        _adl(name)
        for name in (
            "OperatingSystem",
            "Platform",
            "RuntimeEnvironment",
            "ParallelEnvironment",
            "Coprocessor",
            "NetworkInfo",
            "NodeAccess",
            "IndividualPhysicalMemory",
            "IndividualVirtualMemory",
            "DiskSpaceRequirement",
            "RemoteSessionAccess",
            "Benchmark",
            "SlotRequirement",
            "QueueName",
            "IndividualCPUTime",
            "TotalCPUTime",
            "WallTime",
        )
    ),
    STAGING: (_adl("ClientDataPush"), INPUT_FILE, OUTPUT_FILE, STAGING_DELEGATION),
    INPUT_FILE: (NAME, SOURCE, _adl("IsExecutable")),
    OUTPUT_FILE: (NAME, TARGET),
    SOURCE: (URI, _adl("DelegationID"), _adl("Option")),
    TARGET: (
        URI,
        _adl("DelegationID"),
        _adl("Option"),
        _adl("Mandatory"),
        _adl("CreationFlag"),
        _adl("UseIfFailure"),
        _adl("UseIfCancel"),
        _adl("UseIfSuccess"),
    ),
}

#: What a data staging file's location element is, by the file's kind.
LOCATION = {INPUT_FILE: SOURCE, OUTPUT_FILE: TARGET}


def _text(element: etree._Element | None) -> str | None:
    """An element's text, all of it (as ARC reads it), or None without the element."""
    return None if element is None else "".join(element.itertext())


def _find(element: etree._Element | None, *path: str) -> etree._Element | None:
    """The first element down ``path`` (child tags), or None."""
    for tag in path:
        if element is None:
            return None
        element = element.find(tag)
    return element


def _name_of(element: etree._Element) -> str:
    """The element's ``{namespace}name``. lxml types tags loosely because a
    tag set by hand is stored as given; every tag here is text."""
    return str(element.tag)


def _local(tag: str) -> str:
    return etree.QName(tag).localname


def _insert(parent: etree._Element, child: etree._Element) -> etree._Element:
    """Put ``child`` where the schema wants it among ``parent``'s children."""
    order = ORDER.get(_name_of(parent), ())
    later = order[order.index(_name_of(child)) + 1 :] if _name_of(child) in order else ()
    for index, sibling in enumerate(parent):
        if _name_of(sibling) in later:
            parent.insert(index, child)
            return child
    parent.append(child)
    return child


def _new(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A new element ``tag`` under ``parent``, in schema order. A NorduGrid
    element gets ARC's prefix declared on it when the document has none."""
    uri = etree.QName(tag).namespace
    nsmap = {NORDUGRID_PREFIX: uri} if uri == NORDUGRID_NS and uri not in parent.nsmap.values() else None
    element = _insert(parent, parent.makeelement(tag, nsmap=nsmap))
    element.text = text
    return element


def _child(parent: etree._Element, tag: str) -> etree._Element:
    """``parent``'s first child ``tag``, added when there is none."""
    found = parent.find(tag)
    return found if found is not None else _new(parent, tag)


def _set_location(entry: etree._Element, location: str) -> None:
    """Point a data staging file at ``location`` (``""``: none, the client
    uploads an input and an output stays on the CE).

    A first ``Source``/``Target`` with another URI gets the new one and
    keeps its options and delegation; further ones are dropped, as they
    were alternatives for the old location."""
    tag = LOCATION[_name_of(entry)]
    current = entry.findall(tag)
    if current and _text(current[0].find(URI)) == location:
        return
    for extra in current[1:] if location else current:
        entry.remove(extra)
    if location:
        holder = current[0] if current else _new(entry, tag)
        for uri in holder.findall(URI):
            holder.remove(uri)
        _new(holder, URI, location)


class ADLDescription(JobDescription):
    """One ``<ActivityDescription>``; :attr:`root` is the root of its own tree."""

    language = Language.ADL
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, root: etree._Element) -> None:
        if _name_of(root) != ACTIVITY:
            raise ADLError(f"a job is an ActivityDescription in the namespace {ADL_NS}, not {_name_of(root)}")
        self.root = root

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ADLDescription):
            return NotImplemented
        return self.unparse() == other.unparse()

    def __repr__(self) -> str:
        return f"ADLDescription({self.unparse()!r})"

    # ------------------------------------------------------------------ reading

    def _get(self, *path: str) -> str | None:
        return _text(_find(self.root, *path))

    @property
    def name(self) -> str | None:
        return self._get(IDENTIFICATION, NAME)

    @property
    def executable(self) -> str | None:
        return self._get(APPLICATION, EXECUTABLE, PATH)

    @property
    def arguments(self) -> list[str]:
        executable = _find(self.root, APPLICATION, EXECUTABLE)
        return [] if executable is None else [_text(argument) or "" for argument in executable.iterfind(ARGUMENT)]

    @property
    def stdin(self) -> str | None:
        return self._get(APPLICATION, _adl("Input"))

    @property
    def stdout(self) -> str | None:
        return self._get(APPLICATION, _adl("Output"))

    @property
    def stderr(self) -> str | None:
        return self._get(APPLICATION, _adl("Error"))

    def _files(self, tag: str) -> list[tuple[str, str]]:
        staging = self.root.find(STAGING)
        if staging is None:
            return []
        return [
            (_text(entry.find(NAME)) or "", _text(_find(entry, LOCATION[tag], URI)) or "")
            for entry in staging.iterfind(tag)
        ]

    @property
    def inputs(self) -> list[InputFile]:
        return [InputFile(name, source) for name, source in self._files(INPUT_FILE)]

    @property
    def outputs(self) -> list[OutputFile]:
        return [OutputFile(name, target) for name, target in self._files(OUTPUT_FILE)]

    @property
    def queue(self) -> str | None:
        return self._get(RESOURCES, QUEUE)

    @property
    def delegation_id(self) -> str | None:
        return self._get(STAGING, STAGING_DELEGATION)

    @property
    def log_dir(self) -> str | None:
        application = self.root.find(APPLICATION)
        if application is None:
            return None
        for child in application:
            if _local(_name_of(child)) == LOGGING_DIRECTORY:
                return _text(child)
        return None

    @property
    def rerun(self) -> int | None:
        return whole_number(self._get(APPLICATION, RERUN), "Rerun", ADLError)

    @property
    def priority(self) -> int | None:
        return whole_number(self._get(APPLICATION, PRIORITY), "Priority", ADLError)

    # ------------------------------------------------------------------ changing

    def set_name(self, name: str) -> None:
        _child(_child(self.root, IDENTIFICATION), NAME).text = name

    def set_inputs(self, entries: Iterable[InputFile]) -> None:
        self._set_files(INPUT_FILE, [(entry.name, entry.source) for entry in entries])

    def upload_source(self, size: int) -> str:
        return ""

    def set_outputs(self, entries: Iterable[OutputFile]) -> None:
        self._set_files(OUTPUT_FILE, [(entry.name, entry.target) for entry in entries])

    def _set_files(self, tag: str, entries: Sequence[tuple[str, str]]) -> None:
        """Replace every ``tag`` element by one per entry, in order, reusing
        the element of the same name where there is one."""
        staging = self.root.find(STAGING)
        if staging is None:
            if not entries:
                return
            staging = _new(self.root, STAGING)
        existing: dict[str, etree._Element] = {}
        for old in staging.findall(tag):
            existing.setdefault(_text(old.find(NAME)) or "", old)
            staging.remove(old)
        for name, location in entries:
            entry = existing.pop(name, None)
            if entry is None:
                entry = staging.makeelement(tag)
                _new(entry, NAME, name)
            _insert(staging, entry)
            _set_location(entry, location)

    def set_queue(self, queue: str) -> None:
        _child(_child(self.root, RESOURCES), QUEUE).text = queue

    def set_delegation_id(self, delegation_id: str) -> None:
        _child(_child(self.root, STAGING), STAGING_DELEGATION).text = delegation_id

    # ------------------------------------------------------------------ whole jobs

    def copy(self) -> ADLDescription:
        return ADLDescription(copy.deepcopy(self.root))

    def unparse(self) -> str:
        """The ``<ActivityDescription>`` element, without an XML declaration
        (so that several can be put into one ``<ActivityDescriptions>``)."""
        return etree.tostring(self.root, encoding="unicode", with_tail=False)


# --------------------------------------------------------------------------- reading documents


def _check(document: Document, activity: etree._Element) -> None:
    """Refuse, at its position, what ARC's ADL parser refuses among the
    elements the model reads, so that the user hears of it on submission
    rather than from the CE."""
    staging = activity.find(STAGING)
    for tag, location in LOCATION.items():
        for entry in staging.iterfind(tag) if staging is not None else ():
            name = _text(entry.find(NAME))
            if not name:
                raise document.error(f"{_local(tag)} without a Name", entry)
            for holder in entry.iterfind(location):
                if not (_text(holder.find(URI)) or "").strip():
                    raise document.error(f"{_local(location)} of {_local(tag)} {name!r} without a URI", holder)
    application = activity.find(APPLICATION)
    for tag in (PRIORITY, RERUN):
        element = _find(application, tag)
        if element is not None:
            try:
                whole_number(_text(element), _local(tag), ADLError)
            except ADLError as exc:
                raise document.error(str(exc), element) from None


def _activities(document: Document) -> list[etree._Element]:
    """The ``ActivityDescription`` elements of a document, checked."""
    root = document.root
    wrapped = _local(_name_of(root)) == "ActivityDescriptions"
    activities = list(root) if wrapped else [root]
    for activity in activities:
        if _local(_name_of(activity)) != "ActivityDescription":
            where = "inside <ActivityDescriptions>" if wrapped else "as the root element"
            raise document.error(
                f"expected <ActivityDescription> {where}, found <{_local(_name_of(activity))}>", activity
            )
        if _name_of(activity) != ACTIVITY:
            raise document.error(f'<ActivityDescription> must be in the ADL namespace: xmlns="{ADL_NS}"', activity)
        _check(document, activity)
    if not activities:
        raise document.error("<ActivityDescriptions> holds no <ActivityDescription>", root)
    return activities


def parse(data: str | bytes, source: str | None = None) -> list[ADLDescription]:
    """The jobs of an ADL document: one for an ``<ActivityDescription>``,
    one per child of ``<ActivityDescriptions>``, each a tree of its own
    that keeps the namespace declarations it needs.

    ``source`` (a file name) is only used in messages. Raises
    :class:`~actframework.errors.ADLParseError` with the line and column of
    what is wrong (see :mod:`actframework.jobdesc.xmlread` for why a
    document type declaration is refused).
    """
    document = read(data, source)
    activities = _activities(document)
    if activities == [document.root]:
        return [ADLDescription(document.root)]
    return [ADLDescription(copy.deepcopy(activity)) for activity in activities]


def unparse(jobs: Sequence[ADLDescription]) -> str:
    """One job as its ``<ActivityDescription>``, several wrapped in
    ``<ActivityDescriptions>`` (no namespace: A-REX and ARC's clients write
    it so). No XML declaration: the text goes into JSON and HTTP bodies,
    which say their encoding themselves."""
    if not jobs:
        raise ADLError("no jobs to write")
    if len(jobs) == 1:
        return jobs[0].unparse()
    return "<ActivityDescriptions>" + "".join(job.unparse() for job in jobs) + "</ActivityDescriptions>"
