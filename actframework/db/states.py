"""The ``arcstate`` values and which of them each store operation accepts.

Kept in one place because the REST semantics (act-spec §A.4/§A.5) and the
engine's claims are all defined as sets of these states, and a typo in a
state literal would silently select nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Every value ``arcjobs.arcstate`` takes (act-spec §A.7).
ARCSTATES: Final = frozenset(
    {
        "tosubmit",
        "submitting",
        "submitted",
        "running",
        "holding",
        "finishing",
        "finished",
        "failed",
        "tofetch",
        "done",
        "donefailed",
        "tocancel",
        "cancelling",
        "cancelled",
        "toresubmit",
        "torerun",
        "lost",
        "toclean",
    }
)

#: States a job can be cancelled from (jobs without an arc row can be too);
#: also the ``state`` filters PATCH cancel accepts ('' meaning no filter).
CANCELLABLE: Final = frozenset({"", "submitted", "running", "tosubmit", "submitting"})
#: PATCH fetch: failed jobs are fetched anyway (their outputs may explain why).
FETCHABLE: Final = frozenset({"failed"})
#: PATCH resubmit.
RESUBMITTABLE: Final = frozenset({"failed", "donefailed"})
#: DELETE /jobs (clean): terminal states, also the allowed ``state`` filters.
CLEANABLE: Final = frozenset({"done", "donefailed", "cancelled", "failed", "lost"})

#: States the status checker polls the CE for.
STATUS_CHECKED: Final = frozenset({"submitted", "running", "finishing", "holding", "cancelling"})
#: States of jobs that hold a place on their cluster: being submitted,
#: waiting in the CE's queue, running or finishing there (fair share
#: compares owners by these).
ON_CLUSTER: Final = frozenset({"submitting", "submitted", "running", "holding", "finishing"})
#: States of jobs whose CE may still act with their delegation (stage
#: inputs or outputs, or rerun): their delegation must be kept valid.
USING_DELEGATION: Final = ON_CLUSTER | {"torerun"}
#: States the fetcher downloads outputs for.
FETCH_PENDING: Final = frozenset({"finished", "tofetch"})

#: Arc states a job may be handed over to the engine in.
HANDOVER_STATES: Final = frozenset({"tosubmit", "cancelled"})


def require_known(states: Iterable[str]) -> None:
    """Reject an unknown arcstate early: a typo would otherwise match nothing."""
    unknown = sorted(set(states) - ARCSTATES)
    if unknown:
        raise ValueError(f"unknown arcstate(s): {', '.join(unknown)}")
