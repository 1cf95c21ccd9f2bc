"""ARC CE REST job states and aCT's display state (the ``State`` column).

Users filter and print the ``State`` names, so the mapping is aCT's
(``ARC_STATE_MAPPING``) exactly. Both are :class:`~enum.StrEnum`: a member
equals the string a CE sends or the column stores.
"""

from __future__ import annotations

import enum
from typing import Final


class RestState(enum.StrEnum):
    """A job state of the ARC CE REST interface (the ``arcrest:`` notation)."""

    ACCEPTING = "ACCEPTING"
    ACCEPTED = "ACCEPTED"
    PREPARING = "PREPARING"
    PREPARED = "PREPARED"
    SUBMITTING = "SUBMITTING"
    QUEUING = "QUEUING"
    RUNNING = "RUNNING"
    EXITINGLRMS = "EXITINGLRMS"
    OTHER = "OTHER"
    EXECUTED = "EXECUTED"
    KILLING = "KILLING"
    HELD = "HELD"
    FINISHING = "FINISHING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    WIPED = "WIPED"


class DisplayState(enum.StrEnum):
    """aCT's ``State`` of a job, what users see and filter on."""

    ACCEPTED = "Accepted"
    PREPARING = "Preparing"
    SUBMITTING = "Submitting"
    QUEUING = "Queuing"
    RUNNING = "Running"
    HOLD = "Hold"
    FINISHING = "Finishing"
    FINISHED = "Finished"
    FAILED = "Failed"
    KILLED = "Killed"
    DELETED = "Deleted"
    UNDEFINED = "Undefined"
    """A state aCT does not know, or a job on its way to a rerun or resubmission."""


REST_TO_STATE: Final[dict[str, DisplayState]] = {
    RestState.ACCEPTING: DisplayState.ACCEPTED,
    RestState.ACCEPTED: DisplayState.ACCEPTED,
    RestState.PREPARING: DisplayState.PREPARING,
    RestState.PREPARED: DisplayState.PREPARING,
    RestState.SUBMITTING: DisplayState.SUBMITTING,
    RestState.QUEUING: DisplayState.QUEUING,
    RestState.RUNNING: DisplayState.RUNNING,
    RestState.EXITINGLRMS: DisplayState.RUNNING,
    RestState.OTHER: DisplayState.RUNNING,
    RestState.EXECUTED: DisplayState.RUNNING,
    RestState.KILLING: DisplayState.RUNNING,
    RestState.HELD: DisplayState.HOLD,
    RestState.FINISHING: DisplayState.FINISHING,
    RestState.FINISHED: DisplayState.FINISHED,
    RestState.FAILED: DisplayState.FAILED,
    RestState.KILLED: DisplayState.KILLED,
    RestState.WIPED: DisplayState.DELETED,
}

TERMINAL_REST_STATES: Final = frozenset({RestState.FINISHED, RestState.FAILED, RestState.KILLED, RestState.WIPED})


def display_state(rest_state: str | None) -> DisplayState:
    """aCT's ``State`` for a REST state; ``Undefined`` for what it does not know."""
    return REST_TO_STATE.get((rest_state or "").upper(), DisplayState.UNDEFINED)
