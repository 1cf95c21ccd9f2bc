"""Job id lists as users type them (``--id 1,3,5-9``).

The ``act`` client checks an id list before it sends it, and the server
parses the same text again into SQL conditions (:mod:`actframework.db.filters`).
Both must agree on what is valid, so the parser lives here, where the client
can import it without loading the job store and its database libraries.

Ranges stay ranges: ``1-100000`` is one pair, never a list of a hundred
thousand ids (aCT expanded it into one SQL parameter per id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from actframework.errors import InvalidFilterError

#: Largest value an ``Integer`` id column holds on every database. Larger ids
#: in a filter cannot match anything; they must not reach the database as
#: parameters (SQLite's driver raises OverflowError on 64-bit overflow).
MAX_ID: Final = 2**31 - 1

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class IdSelection:
    """A set of job ids given as single ids and inclusive ranges.

    An empty selection selects no job. "All jobs" is expressed by not giving
    an id filter at all (``JobFilter(ids=None)``).
    """

    singles: tuple[int, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()

    def __contains__(self, job_id: object) -> bool:
        if not isinstance(job_id, int):
            return False
        return job_id in self.singles or any(low <= job_id <= high for low, high in self.ranges)

    @property
    def is_empty(self) -> bool:
        return not self.singles and not self.ranges


def parse_id_list(text: str) -> IdSelection:
    """Parse ``1,3,5-9``: comma-separated ids and inclusive ranges.

    Whitespace around items and around the dash is ignored, as are empty items
    (``1,,2,``). Raises :class:`InvalidFilterError` with aCT's messages
    ``Invalid job ID: <x>`` or ``Invalid job range: <x>``; a range whose start
    is above its end is invalid rather than silently empty.
    """
    singles: set[int] = set()
    ranges: list[tuple[int, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if "-" in item:
            parts = [part.strip() for part in item.split("-")]
            if len(parts) != 2 or not all(_DIGITS.fullmatch(part) for part in parts):
                raise InvalidFilterError(f"Invalid job range: {item}")
            low, high = int(parts[0]), int(parts[1])
            if low > high:
                raise InvalidFilterError(f"Invalid job range: {item}")
            if low <= MAX_ID:
                ranges.append((low, min(high, MAX_ID)))
        else:
            if not _DIGITS.fullmatch(item):
                raise InvalidFilterError(f"Invalid job ID: {item}")
            value = int(item)
            if value <= MAX_ID:
                singles.add(value)
    return IdSelection(singles=tuple(sorted(singles)), ranges=tuple(ranges))
