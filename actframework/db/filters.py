"""User job filters (``--id``, ``--name``, ``--state``) and their SQL.

The REST API passes filters through from the ``act`` command line, so they are
untrusted text. Id lists are parsed by :mod:`actframework.idlist` (the client
checks them with the same parser). Two things aCT got wrong are fixed here:

* id ranges (``1-100000``) become ``BETWEEN`` conditions instead of being
  expanded into an ``IN`` list with one parameter per id;
* the name is a *literal* substring: ``%``, ``_`` and the escape character
  are all escaped (aCT escaped only ``_``, so ``%`` acted as a wildcard).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, false, or_

from actframework.idlist import MAX_ID, IdSelection, parse_id_list

__all__ = ["MAX_ID", "IdSelection", "JobFilter", "id_condition", "like_element_pattern", "parse_id_list"]


def id_condition(selection: IdSelection, column: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL condition: ``column IN (singles) OR column BETWEEN low AND high ...``.

    Ids outside ``0..MAX_ID`` match no row and are left out, so that no
    caller has to keep them from reaching the database itself.
    """
    parts: list[ColumnElement[bool]] = []
    singles = [value for value in selection.singles if 0 <= value <= MAX_ID]
    if singles:
        parts.append(column.in_(singles))
    parts.extend(
        column.between(max(low, 0), min(high, MAX_ID)) for low, high in selection.ranges if low <= MAX_ID and high >= 0
    )
    return or_(*parts) if parts else false()


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
    def from_strings(cls, ids: str | None = None, name: str | None = None, state: str | None = None) -> JobFilter:
        """Build from query-string values, parsing the id list."""
        return cls(ids=parse_id_list(ids) if ids is not None else None, name=name, state=state)

    @property
    def has_state(self) -> bool:
        return bool(self.state)

    def client_conditions(self, clientjobs: Table) -> list[ColumnElement[bool]]:
        """Conditions on ``clientjobs`` for the id and name filters."""
        conditions: list[ColumnElement[bool]] = []
        if self.ids is not None:
            conditions.append(id_condition(self.ids, clientjobs.c.id))
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
