"""ARC CE REST job states and aCT's display state (the ``State`` column).

Users filter and print the ``State`` names, so the mapping is aCT's
(``ARC_STATE_MAPPING``) exactly.
"""

from __future__ import annotations

from typing import Final

REST_TO_STATE: Final[dict[str, str]] = {
    "ACCEPTING": "Accepted",
    "ACCEPTED": "Accepted",
    "PREPARING": "Preparing",
    "PREPARED": "Preparing",
    "SUBMITTING": "Submitting",
    "QUEUING": "Queuing",
    "RUNNING": "Running",
    "EXITINGLRMS": "Running",
    "OTHER": "Running",
    "EXECUTED": "Running",
    "KILLING": "Running",
    "HELD": "Hold",
    "FINISHING": "Finishing",
    "FINISHED": "Finished",
    "FAILED": "Failed",
    "KILLED": "Killed",
    "WIPED": "Deleted",
}

TERMINAL_REST_STATES: Final = frozenset({"FINISHED", "FAILED", "KILLED", "WIPED"})


def display_state(rest_state: str | None) -> str:
    """aCT's ``State`` for a REST state; ``Undefined`` for what it does not know."""
    return REST_TO_STATE.get((rest_state or "").upper(), "Undefined")
