"""The ``arcstate`` sets of the job store and the engine.

Kept in one place because the engine's claims are all defined as sets of
these states, and a typo in a state literal would silently select nothing.
The states themselves and the sets of the users' operations (REST
semantics) are in :mod:`actframework.jobstates`, which
the client shares; they are importable from here as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from actframework.jobstates import ARCSTATES, CANCELLABLE, CLEANABLE, FETCHABLE, RESUBMITTABLE, ArcState

__all__ = [
    "ARCSTATES",
    "CANCELLABLE",
    "CLEANABLE",
    "FETCHABLE",
    "FETCH_PENDING",
    "HANDOVER_STATES",
    "OCCUPYING",
    "ON_CLUSTER",
    "RESUBMITTABLE",
    "STATUS_CHECKED",
    "USING_DELEGATION",
    "require_known",
]

#: States the status checker polls the CE for.
STATUS_CHECKED: Final = frozenset(
    {ArcState.SUBMITTED, ArcState.RUNNING, ArcState.FINISHING, ArcState.HOLDING, ArcState.CANCELLING}
)
#: States of jobs that hold a place on their cluster: being submitted,
#: waiting in the CE's queue, running or finishing there (fair share
#: compares owners by these).
ON_CLUSTER: Final = frozenset(
    {ArcState.SUBMITTING, ArcState.SUBMITTED, ArcState.RUNNING, ArcState.HOLDING, ArcState.FINISHING}
)
#: States of jobs that count against a site's ``maxjobs``: on the cluster
#: and not finished there, or being killed there. Finished jobs whose
#: outputs wait for their users do not count (aCT counts every job with a
#: cluster): one user who leaves outputs unfetched for days must not hold
#: the site's slots for everyone.
OCCUPYING: Final = ON_CLUSTER | {ArcState.TOCANCEL, ArcState.CANCELLING, ArcState.TORERUN}
#: States of jobs whose CE may still act with their delegation (stage
#: inputs or outputs, or rerun): their delegation must be kept valid.
USING_DELEGATION: Final = ON_CLUSTER | {ArcState.TORERUN}
#: States the fetcher downloads outputs for.
FETCH_PENDING: Final = frozenset({ArcState.FINISHED, ArcState.TOFETCH})

#: Arc states a job may be handed over to the engine in.
HANDOVER_STATES: Final = frozenset({ArcState.TOSUBMIT, ArcState.CANCELLED})


def require_known(states: Iterable[str]) -> None:
    """Reject an unknown arcstate early: a typo would otherwise match nothing."""
    unknown = sorted(set(states) - ARCSTATES)
    if unknown:
        raise ValueError(f"unknown arcstate(s): {', '.join(unknown)}")
