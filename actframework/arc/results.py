"""Per-job results of bulk operations, aligned with the caller's input.

A bulk call to a CE succeeds or fails per job: one job of fifty may be
unknown (404) or refuse a restart (505) while the others succeed. Bulk
methods therefore return one :class:`JobResult` per input id, in input
order, each holding a value or an :class:`~actframework.errors.ActError`
(usually an :class:`~actframework.errors.ARCError`);
they raise only when the whole request failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from actframework.errors import ActError

T = TypeVar("T")


@dataclass(frozen=True)
class JobResult(Generic[T]):
    """The outcome of one job in a bulk operation."""

    job_id: str
    value: T | None = None
    error: ActError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value, or the job's error raised."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]
