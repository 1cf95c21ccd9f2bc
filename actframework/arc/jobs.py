"""Typed records of what a CE says about jobs, sessions and delegations.

A-REX renders XML as JSON: an element that occurs once is an object or a
string, several are a list, and none is a missing key (or an empty body).
:func:`as_list` normalises every such field once, here, so nothing else in
actframework meets the single-object/list ambiguity.

What a CE sends is checked where it is read: a field of the wrong kind that
a record cannot do without raises :class:`~actframework.errors.ARCResponseError`
(never ``AttributeError``, never the string ``"None"``); an optional field of
the wrong kind reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from actframework.arc.states import TERMINAL_REST_STATES, DisplayState, display_state
from actframework.errors import ARCResponseError

#: The most of a CE's answer an error message quotes.
EXCERPT_CHARS = 100


def as_list(value: Any) -> list[Any]:
    """A JSON field that may be absent, one item or a list, as a list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def excerpt(text: str) -> str:
    """The start of ``text`` on one line, for an error message."""
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS] + "..."


def kind_of(value: Any) -> str:
    """The JSON kind of a decoded value, as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def required_text(item: Mapping[str, Any], key: str, what: str) -> str:
    """``item[key]`` when it is a non-empty string; else ARCResponseError."""
    value = item.get(key)
    if isinstance(value, str) and value:
        return value
    found = "missing" if key not in item else "empty" if value == "" else kind_of(value)
    raise ARCResponseError(f"{what}: {key!r} is {found}, not a string")


def optional_text(value: Any) -> str | None:
    """A string field that may be absent: a string, a number as text, or None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _texts(value: Any) -> tuple[str, ...]:
    """An optional field of one or several strings; entries of another kind are left out."""
    return tuple(text for text in map(optional_text, as_list(value)) if text)


def strings(value: Any, what: str) -> list[str]:
    """A field of one string or a list of strings, as a list; ARCResponseError otherwise."""
    items = as_list(value)
    for item in items:
        if not isinstance(item, str):
            raise ARCResponseError(f"{what}: an entry is {kind_of(item)}, not a string")
    return items


def objects(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A field of one object or a list of objects, as a list; ARCResponseError
    if any element is something else (a listing read in part could hide jobs)."""
    items = as_list(value)
    for item in items:
        if not isinstance(item, Mapping):
            raise ARCResponseError(
                f"{what}: an element of the CE's answer is {kind_of(item)}, not an object: {excerpt(repr(item))}"
            )
    return items


def _prefixed(values: Any, prefix: str) -> str | None:
    for item in as_list(values):
        if isinstance(item, str) and item.startswith(prefix):
            return item[len(prefix) :]
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    """GLUE2 times (``2026-11-24T05:36:00Z``) as aware UTC datetimes."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class CreatedJob:
    """A job the CE accepted in ``POST /jobs?action=new``."""

    id: str
    state: str


@dataclass(frozen=True)
class JobListing:
    """One entry of ``GET /jobs``: an id, and the live state when asked for."""

    id: str
    state: str | None = None


@dataclass(frozen=True)
class SessionListing:
    """The entries of one directory of a job's session (non-recursive)."""

    files: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, what: str = "session listing") -> SessionListing:
        # A-REX sends "dir"; pyarcrest 0.5 read "dirs": accept both.
        data = data or {}
        if not isinstance(data, Mapping):
            raise ARCResponseError(f"{what}: the CE's answer is {kind_of(data)}, not an object")
        dirs = strings(data.get("dir"), what) + strings(data.get("dirs"), what)
        return cls(tuple(strings(data.get("file"), what)), tuple(dirs))


@dataclass(frozen=True)
class Delegation:
    """A delegation stored on the CE (``type`` is absent on REST 1.0)."""

    id: str
    type: str | None = None


@dataclass(frozen=True)
class ARCJob:
    """What the CE's info document says about one job.

    The fields are those the engine stores (the ``arcjobs`` columns of the
    same names) and that users look at; ``raw`` keeps the whole
    ``ComputingActivity`` for anything else.
    """

    id: str
    state: str | None = None
    """The REST state (``arcrest:`` entry of ``State``), e.g. ``FINISHED``."""
    restart_state: str | None = None
    """The REST state a restart would resume from (``RestartState``)."""
    name: str | None = None
    errors: tuple[str, ...] = ()
    exit_code: int | None = None
    queue: str | None = None
    owner: str | None = None
    local_owner: str | None = None
    local_id: str | None = None
    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    log_dir: str | None = None
    execution_nodes: tuple[str, ...] = ()
    requested_slots: int | None = None
    requested_wall_time: int | None = None
    requested_cpu_time: int | None = None
    used_wall_time: int | None = None
    used_cpu_time: int | None = None
    used_memory: int | None = None
    waiting_position: int | None = None
    submission_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    working_area_erase_time: datetime | None = None
    proxy_expiration_time: datetime | None = None
    delegation_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def display_state(self) -> DisplayState:
        """aCT's ``State`` name (``Finished``, ``Running``, ...)."""
        return display_state(self.state)

    @property
    def is_terminal(self) -> bool:
        return (self.state or "") in TERMINAL_REST_STATES

    @classmethod
    def from_info(cls, job_id: str, info_document: Any) -> ARCJob:
        """Build from the ``info_document`` of ``POST /jobs?action=info``.

        Raises :class:`ARCResponseError` when the document is not an object
        holding the job's ``ComputingActivity`` object: without it nothing
        about the job is known, and reading it as a job in no state would
        overwrite what the engine knows. Single fields of the wrong kind
        read as absent."""
        what = f"info {job_id}"
        if not isinstance(info_document, Mapping):
            raise ARCResponseError(f"{what}: the info document is {kind_of(info_document)}, not an object")
        activity = info_document.get("ComputingActivity")
        if isinstance(activity, list):  # several renderings of one job: take the first
            activity = activity[0] if activity else None
        if not isinstance(activity, Mapping):
            found = "missing" if activity is None else kind_of(activity)
            raise ARCResponseError(f"{what}: the info document's ComputingActivity is {found}, not an object")
        a = activity
        end = _time(a.get("EndTime")) or _time(a.get("ComputingManagerEndTime"))
        return cls(
            id=job_id,
            state=_prefixed(a.get("State"), "arcrest:"),
            restart_state=_prefixed(a.get("RestartState"), "arcrest:"),
            name=optional_text(a.get("Name")),
            errors=_texts(a.get("Error")),
            exit_code=_int(a.get("ExitCode")),
            queue=optional_text(a.get("Queue")),
            owner=optional_text(a.get("Owner")),
            local_owner=optional_text(a.get("LocalOwner")),
            local_id=optional_text(a.get("LocalIDFromManager")),
            stdin=optional_text(a.get("StdIn")),
            stdout=optional_text(a.get("StdOut")),
            stderr=optional_text(a.get("StdErr")),
            log_dir=optional_text(a.get("LogDir")),
            execution_nodes=_texts(a.get("ExecutionNode")),
            requested_slots=_int(a.get("RequestedSlots")),
            requested_wall_time=_int(a.get("RequestedTotalWallTime")),
            requested_cpu_time=_int(a.get("RequestedTotalCPUTime")),
            used_wall_time=_int(a.get("UsedTotalWallTime")),
            used_cpu_time=_int(a.get("UsedTotalCPUTime")),
            used_memory=_int(a.get("UsedMainMemory")),
            waiting_position=_int(a.get("WaitingPosition")),
            submission_time=_time(a.get("SubmissionTime")),
            start_time=_time(a.get("StartTime")),
            end_time=end,
            working_area_erase_time=_time(a.get("WorkingAreaEraseTime")),
            proxy_expiration_time=_time(a.get("ProxyExpirationTime")),
            raw=a,
        )
