""":class:`XRSLJob`: one job's relations in document order, with the lookups
and edits actframework makes (names, input and output files).

Keeping every relation where it stands lets a job be changed and written
back without losing anything the user wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import cast

from actframework.errors import XRSLError
from actframework.xrsl.relations import Conjunction, Disjunction, Node, Relation, attr_key
from actframework.xrsl.values import Value, describe_value


class XRSLJob:
    """One job: its relations (and ``|``/``&`` groups) in document order.

    The accessors below look at top-level relations only; relations inside a
    ``|`` group are alternatives and have no single value. Attribute names
    are matched as ARC matches them: ignoring case and underscores.
    """

    __slots__ = ("relations",)
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    relations: list[Node]

    def __init__(self, relations: Iterable[Node] = ()) -> None:
        self.relations = list(relations)
        for node in self.relations:
            if not isinstance(node, (Relation, Conjunction, Disjunction)):
                raise XRSLError(f"a job holds relations and groups, not {type(node).__name__}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XRSLJob):
            return NotImplemented
        return self.relations == other.relations

    def __repr__(self) -> str:
        return f"XRSLJob({self.relations!r})"

    def _relations(self, attr: str) -> Iterator[tuple[int, Relation]]:
        key = attr_key(attr)
        for index, node in enumerate(self.relations):
            if isinstance(node, Relation) and attr_key(node.attr) == key:
                yield index, node

    def get(self, attr: str) -> tuple[Value, ...] | None:
        """The values of the first ``attr = ...`` relation, or None if there
        is none. Relations with another operator (``queue != "x"``) are
        constraints, not values, so they are not returned here."""
        for _, rel in self._relations(attr):
            if rel.op == "=":
                return rel.values
        return None

    def get_string(self, attr: str) -> str | None:
        """The value of ``attr`` when it must be one string (``executable``,
        ``jobname``, ``stdout``...), or None if it is not set.

        Raises XRSLError when the attribute holds no value, several values, a
        list, or a ``$(VAR)``/``#`` expression, which only the CE can
        evaluate.
        """
        values = self.get(attr)
        if values is None:
            return None
        if len(values) != 1:
            raise XRSLError(f"attribute {attr.lower()!r} must have one value, it has {len(values)}")
        value = values[0]
        if isinstance(value, str):
            return value
        if isinstance(value, tuple):
            raise XRSLError(f"attribute {attr.lower()!r} must be a string, not a list")
        raise XRSLError(f"attribute {attr.lower()!r} uses $(...) or '#', which only the CE evaluates")

    def set(self, attr: str, *values: Value, op: str = "=") -> None:
        """Set ``(attr op values...)``.

        The first relation with the same attribute and operator is replaced
        where it stands, so the document keeps its order; without one, the
        relation is appended. Python lists are accepted for list values.
        """
        new = Relation(attr, op, values)
        key = attr_key(attr)
        for index, node in enumerate(self.relations):
            if isinstance(node, Relation) and node.op == op and attr_key(node.attr) == key:
                self.relations[index] = new
                return
        self.relations.append(new)

    def remove(self, attr: str) -> None:
        """Remove every top-level relation of ``attr``, whatever its operator.
        Removing an attribute that is not there is not an error."""
        key = attr_key(attr)
        self.relations = [
            node for node in self.relations if not (isinstance(node, Relation) and attr_key(node.attr) == key)
        ]

    def __contains__(self, attr: object) -> bool:
        """``attr in job`` is true when :meth:`get` would return values."""
        return isinstance(attr, str) and self.get(attr) is not None

    @property
    def inputfiles(self) -> list[tuple[str, str]]:
        """``(name, source)`` of each ``inputfiles`` entry, in order.

        ``source`` is the second element as written: ``""`` for a file taken
        from the submission directory under its own name, a URL, a local
        path, or ARC's ``size.checksum`` form. Per-file options (the third
        and later elements, e.g. ``"cache=no"``) are left out here; they
        survive :meth:`set_inputfiles`.
        """
        return [(entry[0], entry[1]) for entry in self._file_entries("inputfiles")]

    @property
    def outputfiles(self) -> list[tuple[str, str]]:
        """``(name, destination)`` of each ``outputfiles`` entry; ``""``
        means the file is kept on the CE for the user to download."""
        return [(entry[0], entry[1]) for entry in self._file_entries("outputfiles")]

    def set_inputfiles(self, entries: Iterable[Sequence[str]]) -> None:
        """Replace the ``inputfiles`` list, where it stands in the job.

        Each entry is ``(name, source)`` or ``(name, source, option, ...)``.
        A two-element entry keeps the options the current entry of the same
        name has, so rewriting sources (to a staging URL, say) does not drop
        ``"cache=no"`` and the like; to drop options, write the list with
        :meth:`set`. An empty list removes the attribute.
        """
        self._set_file_entries("inputfiles", entries)

    def set_outputfiles(self, entries: Iterable[Sequence[str]]) -> None:
        """Replace the ``outputfiles`` list, like :meth:`set_inputfiles`."""
        self._set_file_entries("outputfiles", entries)

    def _file_entries(self, attr: str) -> list[tuple[str, ...]]:
        """The entries of a file list attribute, checked the way ARC checks
        them: each a list of at least two strings (name, URL, options...)."""
        values = self.get(attr)
        if values is None:
            return []
        entries = []
        for number, entry in enumerate(values, start=1):
            if not isinstance(entry, tuple):
                raise XRSLError(f"{attr} entry {number} must be a list (name source ...), not {describe_value(entry)}")
            if len(entry) < 2:
                raise XRSLError(
                    f"{attr} entry {number} must have a name and a source, "
                    f"it has {len(entry)} element{'s' if len(entry) != 1 else ''}"
                )
            for item in entry:
                if not isinstance(item, str):
                    raise XRSLError(f"{attr} entry {number} must hold strings only, not {describe_value(item)}")
            entries.append(cast(tuple[str, ...], entry))
        return entries

    def _set_file_entries(self, attr: str, entries: Iterable[Sequence[str]]) -> None:
        try:
            old = {entry[0]: entry[2:] for entry in self._file_entries(attr)}
        except XRSLError:  # a malformed list being replaced has no options to keep
            old = {}
        new: list[tuple[str, ...]] = []
        for number, entry in enumerate(entries, start=1):
            if isinstance(entry, str) or len(entry) < 2:
                raise XRSLError(f"{attr} entry {number} must be (name, source[, option...])")
            items = tuple(entry)
            for item in items:
                if not isinstance(item, str):
                    raise XRSLError(f"{attr} entry {number} must hold strings only")
            if len(items) == 2:
                items += old.get(items[0], ())
            new.append(items)
        if new:
            self.set(attr, *new)
        else:
            self.remove(attr)

    def copy(self) -> XRSLJob:
        """An independent copy (relations are immutable, so sharing them is
        safe; the list is not shared)."""
        return XRSLJob(self.relations)
