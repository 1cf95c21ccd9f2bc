"""The ARC CE REST client: the only code in actframework that speaks to a CE.

:class:`ARCRest` maps one-to-one onto the REST calls (versions 1.0 and 1.1,
negotiated); bulk calls return :class:`JobResult` lists aligned with their
input; what the CE says about a job is an :class:`ARCJob`.
"""

from actframework.arc.jobs import ARCJob, CreatedJob, Delegation, JobListing, SessionListing
from actframework.arc.rest import DIAGNOSE_FILES, ARCRest, split_cluster_url
from actframework.arc.results import JobResult
from actframework.arc.states import display_state

__all__ = [
    "DIAGNOSE_FILES",
    "ARCJob",
    "ARCRest",
    "CreatedJob",
    "Delegation",
    "JobListing",
    "JobResult",
    "SessionListing",
    "display_state",
    "split_cluster_url",
]
