"""Relations and the ``&``/``|`` groups that hold them: the items of a job.

Built from the API they are checked (names, operators, values); the parser,
which has checked its input already, builds them with
:func:`new_relation` without checking again, for speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from actframework.errors import XRSLError
from actframework.xrsl.syntax import OPERATORS, bad_name_char
from actframework.xrsl.values import Value, normalize_value


@dataclass(frozen=True, slots=True)
class Relation:
    """One ``(attr op values)`` relation.

    ``attr`` is stored lower-cased, because xRSL attribute names are
    case-insensitive; underscores are kept as written (lookups in
    :class:`~actframework.xrsl.job.XRSLJob` ignore them, as ARC does). ``values`` may be empty: ARC
    accepts ``(arguments=)``. Python lists given as values become tuples.
    """

    attr: str
    op: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "attr", _check_attr(self.attr))
        if self.op not in OPERATORS:
            raise XRSLError(f"unknown operator {self.op!r}; xRSL has " + ", ".join(sorted(OPERATORS)))
        if not isinstance(self.values, (tuple, list)):
            raise XRSLError("relation values must be a tuple of values")
        object.__setattr__(self, "values", tuple(normalize_value(v) for v in self.values))


def _check_attr(attr: Any) -> str:
    if not isinstance(attr, str):
        raise XRSLError(f"attribute name must be a string, not {type(attr).__name__}")
    if not attr:
        raise XRSLError("empty attribute name")
    bad = bad_name_char(attr)
    if bad:
        raise XRSLError(f"attribute name {attr!r} contains {bad!r}")
    return attr.lower()


def new_relation(attr: str, op: str, values: tuple[Value, ...]) -> Relation:
    """Build a Relation from parts the parser has already checked. Skipping
    the API-side validation saves about a quarter of the parse time."""
    rel = object.__new__(Relation)
    object.__setattr__(rel, "attr", attr)
    object.__setattr__(rel, "op", op)
    object.__setattr__(rel, "values", values)
    return rel


@dataclass(frozen=True, slots=True)
class Conjunction:
    """A nested ``(&(...)(...))`` group: all of its items apply."""

    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _check_nodes(self.items, "&"))


@dataclass(frozen=True, slots=True)
class Disjunction:
    """A ``(|(...)(...))`` group: alternatives, one of which the CE may pick
    (ARC turns them into alternative job descriptions)."""

    alternatives: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternatives", _check_nodes(self.alternatives, "|"))


Node = Relation | Conjunction | Disjunction
"""An item of a job: a relation or a nested ``&``/``|`` group."""


def _check_nodes(nodes: Iterable[Any], op: str) -> tuple[Node, ...]:
    result = tuple(nodes)
    if not result:
        raise XRSLError(f"a '{op}' group needs at least one item")
    for node in result:
        if not isinstance(node, (Relation, Conjunction, Disjunction)):
            raise XRSLError(f"a '{op}' group holds relations and groups, not {type(node).__name__}")
    return result


def attr_key(attr: str) -> str:
    """The form ARC compares attribute names in: lower case, no underscores
    (``rsl_substitution`` and ``RSLSubstitution`` are the same attribute)."""
    return attr.lower().replace("_", "")
