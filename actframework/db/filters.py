"""User job filters (``--id``, ``--name``, ``--state``) and their SQL.

The REST API passes filters through from the ``act`` command line, so they are
untrusted text. Two things aCT got wrong are fixed here:

* id ranges (``1-100000``) become ``BETWEEN`` conditions instead of being
  expanded into an ``IN`` list with one parameter per id;
* the name is a *literal* substring: ``%``, ``_`` and the escape character
  are all escaped (aCT escaped only ``_``, so ``%`` acted as a wildcard).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, Table, false, or_

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

    def condition(self, column: ColumnElement[int]) -> ColumnElement[bool]:
        """SQL condition: ``column IN (singles) OR column BETWEEN low AND high ...``.

        Ids outside ``0..MAX_ID`` match no row and are left out, so that no
        caller has to keep them from reaching the database itself.
        """
        parts: list[ColumnElement[bool]] = []
        singles = [value for value in self.singles if 0 <= value <= MAX_ID]
        if singles:
            parts.append(column.in_(singles))
        parts.extend(
            column.between(max(low, 0), min(high, MAX_ID))
            for low, high in self.ranges
            if low <= MAX_ID and high >= 0
        )
        return or_(*parts) if parts else false()


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


@dataclass(frozen=True)
class JobFilter:
    """The filters of one user request; they combine with AND.

    * ``ids``: None means any id;
    * ``name``: case-sensitive literal substring of the job name; None or ''
      means any name;
    * ``state``: exact ``arcstate``; None or '' means no state filter (as in
      aCT, where ``state=`` is the same as no ``state``). Each operation
      decides which states it accepts.
    """

    ids: IdSelection | None = None
    name: str | None = None
    state: str | None = None

    @classmethod
    def from_strings(
        cls, ids: str | None = None, name: str | None = None, state: str | None = None
    ) -> JobFilter:
        """Build from query-string values, parsing the id list."""
        return cls(ids=parse_id_list(ids) if ids is not None else None, name=name, state=state)

    @property
    def has_state(self) -> bool:
        return bool(self.state)

    def client_conditions(self, clientjobs: Table) -> list[ColumnElement[bool]]:
        """Conditions on ``clientjobs`` for the id and name filters."""
        conditions: list[ColumnElement[bool]] = []
        if self.ids is not None:
            conditions.append(self.ids.condition(clientjobs.c.id))
        if self.name:
            # autoescape escapes %, _ and the escape character itself.
            conditions.append(clientjobs.c.jobname.contains(self.name, autoescape=True))
        return conditions


def like_element_pattern(element: str) -> str:
    """``LIKE`` pattern (escape character ``/``) matching ``,<element>,``
    anywhere, with the element's own ``%``, ``_`` and ``/`` taken literally.

    Used against ``',' || clusterlist || ','`` so that a cluster matches only
    a whole list element, never a prefix or suffix of another cluster URL.
    """
    escaped = element.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%,{escaped},%"
