"""Typed records of what a CE says about jobs, sessions and delegations.

A-REX renders XML as JSON: an element that occurs once is an object or a
string, several are a list, and none is a missing key (or an empty body).
:func:`as_list` normalises every such field once, here, so nothing else in
actframework meets the single-object/list ambiguity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from actframework.arc.states import TERMINAL_REST_STATES, display_state


def as_list(value: Any) -> list[Any]:
    """A JSON field that may be absent, one item or a list, as a list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def _prefixed(values: Any, prefix: str) -> str | None:
    for item in as_list(values):
        if isinstance(item, str) and item.startswith(prefix):
            return item[len(prefix):]
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
        return datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
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
    def from_json(cls, data: Mapping[str, Any] | None) -> SessionListing:
        # A-REX sends "dir"; pyarcrest 0.5 read "dirs": accept both.
        data = data or {}
        dirs = as_list(data.get("dir")) + as_list(data.get("dirs"))
        return cls(tuple(str(f) for f in as_list(data.get("file"))), tuple(str(d) for d in dirs))


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
    def display_state(self) -> str:
        """aCT's ``State`` name (``Finished``, ``Running``, ...)."""
        return display_state(self.state)

    @property
    def is_terminal(self) -> bool:
        return (self.state or "") in TERMINAL_REST_STATES

    @classmethod
    def from_info(cls, job_id: str, info_document: Mapping[str, Any]) -> ARCJob:
        """Build from the ``info_document`` of ``POST /jobs?action=info``."""
        activity = info_document.get("ComputingActivity") or {}
        if isinstance(activity, list):  # several renderings of one job: take the first
            activity = activity[0] if activity else {}
        a = activity
        end = _time(a.get("EndTime")) or _time(a.get("ComputingManagerEndTime"))
        return cls(
            id=job_id,
            state=_prefixed(a.get("State"), "arcrest:"),
            restart_state=_prefixed(a.get("RestartState"), "arcrest:"),
            name=a.get("Name"),
            errors=tuple(str(e) for e in as_list(a.get("Error"))),
            exit_code=_int(a.get("ExitCode")),
            queue=a.get("Queue"),
            owner=a.get("Owner"),
            local_owner=a.get("LocalOwner"),
            local_id=a.get("LocalIDFromManager"),
            stdin=a.get("StdIn"),
            stdout=a.get("StdOut"),
            stderr=a.get("StdErr"),
            log_dir=a.get("LogDir"),
            execution_nodes=tuple(str(n) for n in as_list(a.get("ExecutionNode"))),
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
