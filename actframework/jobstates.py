"""The ``arcstate`` values users see, and which of them their commands accept.

The server defines its REST semantics as sets of these
states, and the ``act`` client shows and checks the same states (``-s``, the
end of ``stat --watch``). They live here, apart from the job store, so that
the client can use them without loading the store's database libraries; the
engine's own sets are in :mod:`actframework.db.states`.
"""

from __future__ import annotations

import enum
from typing import Final


class ArcState(enum.StrEnum):
    """A value of ``arcjobs.arcstate``: where a job is in aCT's life cycle.

    A :class:`~enum.StrEnum`, so a member is equal to (and hashes like) the
    string stored in the database and sent over the REST API: columns, JSON
    and the states users type stay what they were, while the code names
    states the type checker knows. Members are listed in the order of a
    job's life from creation to its end (how ``actd report`` orders its
    columns).
    """

    TOSUBMIT = "tosubmit"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    HOLDING = "holding"
    FINISHING = "finishing"
    FINISHED = "finished"
    TOFETCH = "tofetch"
    FAILED = "failed"
    DONE = "done"
    DONEFAILED = "donefailed"
    TOCANCEL = "tocancel"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    TORESUBMIT = "toresubmit"
    TORERUN = "torerun"
    LOST = "lost"
    TOCLEAN = "toclean"


#: Every value ``arcjobs.arcstate`` takes, in the order of a job's life
#: from creation to its end (how ``actd report`` orders its columns).
STATES_IN_LIFE_ORDER: Final = tuple(ArcState)
#: Every value ``arcjobs.arcstate`` takes.
ARCSTATES: Final = frozenset(ArcState)

#: States a job can be cancelled from (jobs without an arc row can be too);
#: also the ``state`` filters PATCH cancel accepts ('' meaning no filter).
CANCELLABLE: Final[frozenset[str]] = frozenset(
    {"", ArcState.SUBMITTED, ArcState.RUNNING, ArcState.TOSUBMIT, ArcState.SUBMITTING}
)
#: PATCH fetch: failed jobs are fetched anyway (their outputs may explain why).
FETCHABLE: Final = frozenset({ArcState.FAILED})
#: PATCH resubmit.
RESUBMITTABLE: Final = frozenset({ArcState.FAILED, ArcState.DONEFAILED})
#: DELETE /jobs (clean): terminal states, also the allowed ``state`` filters.
CLEANABLE: Final = frozenset({ArcState.DONE, ArcState.DONEFAILED, ArcState.CANCELLED, ArcState.FAILED, ArcState.LOST})
#: States whose jobs have results to download (``act get``, the server's
#: results routes): fetched, whether they finished well or not. A tuple:
#: ``act get`` asks for them in this order.
RESULT_STATES: Final = (ArcState.DONE, ArcState.DONEFAILED)
