"""The values of a relation: strings, lists, ``$(VAR)`` references and
``#`` concatenations.

References and concatenations are kept as written rather than evaluated
(that is the CE's business), so they are types of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actframework.errors import XRSLError
from actframework.xrsl.syntax import bad_name_char


@dataclass(frozen=True, slots=True)
class VarRef:
    """A variable reference ``$(NAME)``.

    Variables are defined with ``rsl_substitution`` and replaced by the CE;
    the name is kept exactly as written (it is case-sensitive).
    """

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise XRSLError(f"variable name must be a string, not {type(self.name).__name__}")
        bad = bad_name_char(self.name)
        if bad:
            raise XRSLError(f"variable name {self.name!r} contains {bad!r}")


@dataclass(frozen=True, slots=True)
class Concat:
    """A concatenation of strings and variable references.

    Written ``"a" # $(B)`` or, equivalently, with the parts touching:
    ``$(HOME)/bin``. ``parts`` holds at least two items, each a ``str`` or a
    :class:`VarRef`; nested concatenations are flattened, since joining
    strings is associative.
    """

    parts: tuple[str | VarRef, ...]

    def __post_init__(self) -> None:
        flat: list[str | VarRef] = []
        for part in self.parts:
            if isinstance(part, Concat):
                flat.extend(part.parts)
            elif isinstance(part, (str, VarRef)):
                flat.append(part)
            else:
                raise XRSLError(f"only strings and variable references can be concatenated, not {type(part).__name__}")
        if len(flat) < 2:
            raise XRSLError("a concatenation needs at least two parts")
        object.__setattr__(self, "parts", tuple(flat))


ValueList = tuple["Value", ...]
"""A parenthesised list of values, ``("in.txt" "")``."""

Value = str | ValueList | VarRef | Concat
"""One value of a relation."""


def normalize_value(value: Any) -> Value:
    """Check a value given through the API and turn Python lists into tuples,
    so that equality does not depend on which sequence type the caller used."""
    if isinstance(value, (str, VarRef, Concat)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(normalize_value(v) for v in value)
    raise XRSLError(f"an xRSL value must be a string, a list, VarRef or Concat, not {type(value).__name__}")


def describe_value(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, VarRef):
        return f"$({value.name})"
    if isinstance(value, Concat):
        return "a '#' concatenation"
    return type(value).__name__
