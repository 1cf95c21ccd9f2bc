"""Reading and writing xRSL, NorduGrid's job description language.

An xRSL document describes one job, ``&(executable="/bin/sh")(arguments="-c"
"echo hi")``, or several, ``+(&(...))(&(...))``. :func:`parse` turns the text
into a list of :class:`XRSLJob` objects, which keep every relation in document
order so that a job can be changed (an input file source rewritten, a name
set) and written back by :func:`unparse` without losing anything the user
wrote: unknown attributes, ``|`` alternatives, ``$(VAR)`` references and ``#``
concatenations all survive.

The syntax is the one ARC's own parser accepts (``RSLParser.cpp`` in ARC is
the reference, since a CE parses what we send with it), written as a lark
LALR grammar. The few places where we differ are deliberate and listed in
``docs/xrsl.md``.

Values are plain Python data:

* ``str`` for a string, whichever way it was quoted (or not quoted);
* ``tuple`` for a parenthesised list, ``("in.txt" "")`` -> ``("in.txt", "")``;
  lists nest to any depth;
* :class:`VarRef` for ``$(NAME)`` and :class:`Concat` for ``"a" # $(B)``.
  These are kept as written, not evaluated: substituting variables is the CE's
  business, and rewriting them here would change the user's description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, cast

from lark import Lark, Token, Transformer
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)

from actframework.errors import XRSLError, XRSLParseError

__all__ = [
    "OPERATORS",
    "Concat",
    "Conjunction",
    "Disjunction",
    "Node",
    "Relation",
    "Value",
    "ValueList",
    "VarRef",
    "XRSLJob",
    "parse",
    "parse_file",
    "unparse",
]

OPERATORS: frozenset[str] = frozenset({"=", "!=", "<", ">", "<=", ">="})
"""The relation operators of xRSL."""

# Characters that end an unquoted literal in ARC (besides whitespace); an
# attribute or variable name may not contain them even when quoted.
_SPECIAL = "+&|()=<>!\"'^#$"
# ARC's whitespace is ASCII only: other Unicode spaces are ordinary
# characters there, so they are here too.
_WS_RE = r"[ \t\n\v\f\r]"
# An unquoted literal: anything up to whitespace or a special character.
_LIT_RE = r"[^+&|()=<>!\"'^#$ \t\n\v\f\r]+"
_LITERAL = re.compile(_LIT_RE)


# --------------------------------------------------------------------------- values


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
        bad = _bad_name_char(self.name)
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
                raise XRSLError(
                    "only strings and variable references can be concatenated, "
                    f"not {type(part).__name__}"
                )
        if len(flat) < 2:
            raise XRSLError("a concatenation needs at least two parts")
        object.__setattr__(self, "parts", tuple(flat))


ValueList = tuple["Value", ...]
"""A parenthesised list of values, ``("in.txt" "")``."""

Value = str | ValueList | VarRef | Concat
"""One value of a relation."""


def _bad_name_char(name: str) -> str | None:
    """The first character ARC refuses in an attribute or variable name."""
    for ch in name:
        if ch in _SPECIAL:
            return ch
    return None


def _normalize_value(value: Any) -> Value:
    """Check a value given through the API and turn Python lists into tuples,
    so that equality does not depend on which sequence type the caller used."""
    if isinstance(value, (str, VarRef, Concat)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_normalize_value(v) for v in value)
    raise XRSLError(
        f"an xRSL value must be a string, a list, VarRef or Concat, not {type(value).__name__}"
    )


# --------------------------------------------------------------------------- relations


@dataclass(frozen=True, slots=True)
class Relation:
    """One ``(attr op values)`` relation.

    ``attr`` is stored lower-cased, because xRSL attribute names are
    case-insensitive; underscores are kept as written (lookups in
    :class:`XRSLJob` ignore them, as ARC does). ``values`` may be empty: ARC
    accepts ``(arguments=)``. Python lists given as values become tuples.
    """

    attr: str
    op: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "attr", _check_attr(self.attr))
        if self.op not in OPERATORS:
            raise XRSLError(
                f"unknown operator {self.op!r}; xRSL has " + ", ".join(sorted(OPERATORS))
            )
        if not isinstance(self.values, (tuple, list)):
            raise XRSLError("relation values must be a tuple of values")
        object.__setattr__(self, "values", tuple(_normalize_value(v) for v in self.values))


def _check_attr(attr: Any) -> str:
    if not isinstance(attr, str):
        raise XRSLError(f"attribute name must be a string, not {type(attr).__name__}")
    if not attr:
        raise XRSLError("empty attribute name")
    bad = _bad_name_char(attr)
    if bad:
        raise XRSLError(f"attribute name {attr!r} contains {bad!r}")
    return attr.lower()


def _new_relation(attr: str, op: str, values: tuple[Value, ...]) -> Relation:
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


def _key(attr: str) -> str:
    """The form ARC compares attribute names in: lower case, no underscores
    (``rsl_substitution`` and ``RSLSubstitution`` are the same attribute)."""
    return attr.lower().replace("_", "")


# --------------------------------------------------------------------------- jobs


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
        key = _key(attr)
        for index, node in enumerate(self.relations):
            if isinstance(node, Relation) and _key(node.attr) == key:
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
        raise XRSLError(
            f"attribute {attr.lower()!r} uses $(...) or '#', which only the CE evaluates"
        )

    def set(self, attr: str, *values: Value, op: str = "=") -> None:
        """Set ``(attr op values...)``.

        The first relation with the same attribute and operator is replaced
        where it stands, so the document keeps its order; without one, the
        relation is appended. Python lists are accepted for list values.
        """
        new = Relation(attr, op, values)
        key = _key(attr)
        for index, node in enumerate(self.relations):
            if isinstance(node, Relation) and node.op == op and _key(node.attr) == key:
                self.relations[index] = new
                return
        self.relations.append(new)

    def remove(self, attr: str) -> None:
        """Remove every top-level relation of ``attr``, whatever its operator.
        Removing an attribute that is not there is not an error."""
        key = _key(attr)
        self.relations = [
            node
            for node in self.relations
            if not (isinstance(node, Relation) and _key(node.attr) == key)
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
                raise XRSLError(
                    f"{attr} entry {number} must be a list (name source ...), "
                    f"not {_describe_value(entry)}"
                )
            if len(entry) < 2:
                raise XRSLError(
                    f"{attr} entry {number} must have a name and a source, "
                    f"it has {len(entry)} element{'s' if len(entry) != 1 else ''}"
                )
            for item in entry:
                if not isinstance(item, str):
                    raise XRSLError(
                        f"{attr} entry {number} must hold strings only, not {_describe_value(item)}"
                    )
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


def _describe_value(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, VarRef):
        return f"$({value.name})"
    if isinstance(value, Concat):
        return "a '#' concatenation"
    return type(value).__name__


# --------------------------------------------------------------------------- grammar

# Quoted strings, shared by the grammar and the fast path below: a string
# ends at its quote, and a doubled quote inside stands for one.
_DQ_RE = r'"[^"]*(?:""[^"]*)*"'
_SQ_RE = r"'[^']*(?:''[^']*)*'"
# ^ followed by any delimiter character, ended by that character (doubled
# inside): a Globus RSL form that ARC also reads.
_CARET_RE = (
    r"\^(?P<xrsl_delim>[\s\S])"
    r"(?:(?!(?P=xrsl_delim))[\s\S]|(?P=xrsl_delim){2})*(?P=xrsl_delim)"
)

# The fast path. Most relations are an attribute, an operator and plain
# strings or one-level lists of strings, with whitespace between them. One
# SIMPLE_RELATION token matches such a relation whole (with the whitespace
# around it), so the LALR parser sees one token instead of five to twenty;
# this makes parsing two to three and a half times faster. Anything else
# (comments, $(...), '#', values that touch, deeper lists, and every error)
# does not match and goes through the general rules, which accept the same
# language: tests check that both paths agree.
_STR_RE = f"(?:{_DQ_RE}|{_SQ_RE}|{_LIT_RE})"
_STRS_RE = f"(?:{_STR_RE}(?:{_WS_RE}+{_STR_RE})*)?"
_LIST_RE = rf"\((?!\*){_WS_RE}*{_STRS_RE}{_WS_RE}*\)"
_VAL_RE = f"(?:{_STR_RE}|{_LIST_RE})"
# Values are separated by whitespace; only after a list may the next value
# follow directly, ("a" "")("b" ""), since nothing is concatenated to a list.
_SEP_RE = rf"(?:{_WS_RE}+|(?<=\)))"
_OP_RE = "!=|<=|>=|=|<|>"
_SIMPLE_RELATION_RE = (
    rf"{_WS_RE}*\((?!\*){_WS_RE}*{_LIT_RE}{_WS_RE}*(?:{_OP_RE}){_WS_RE}*"
    rf"(?:{_VAL_RE}(?:{_SEP_RE}{_VAL_RE})*)?{_WS_RE}*\){_WS_RE}*"
)
_SIMPLE_HEAD = re.compile(rf"{_WS_RE}*\({_WS_RE}*({_LIT_RE}){_WS_RE}*({_OP_RE})")
_SIMPLE_PARTS = re.compile(rf"{_DQ_RE}|{_SQ_RE}|[()]|{_LIT_RE}")

# Whitespace and comments may stand between any two tokens, so the grammar
# cannot see whether two values touch; ARC concatenates values that touch
# ($(HOME)/bin), so the builder decides that from token positions.
_GRAMMAR = r"""
start: AND group+                       -> and_doc
     | OR group+                        -> or_doc
     | PLUS multi_item+                 -> multi_doc

multi_item: group
          | LPAR PLUS multi_item+ RPAR  -> nested_multi

group: LPAR _string RELOP _value* RPAR  -> relation
     | LPAR AND group+ RPAR             -> conj
     | LPAR OR group+ RPAR              -> disj
     %(simple_alternative)s

// A value is a string, a $(NAME) reference or a parenthesised list; '#'
// joins the values on either side. Which joins are valid is checked by the
// builder, which reports them the way ARC does.
_value: _string | HASH | varref | seq
seq: LPAR _value* RPAR
varref: DOLLAR LPAR _string RPAR
_string: LITERAL | DQSTRING | SQSTRING | CARETSTRING

AND: "&"
OR: "|"
PLUS: "+"
LPAR: "("
RPAR: ")"
HASH: "#"
DOLLAR: "$"
RELOP: "!=" | "<=" | ">=" | "=" | "<" | ">"
LITERAL: /%(lit)s/
DQSTRING: /%(dq)s/
SQSTRING: /%(sq)s/
CARETSTRING: /%(caret)s/
%(simple_terminal)s

// ARC also reads "(*)" as a complete comment. A comment without its "*)"
// runs to the end of the text and is reported by the lexer callback.
COMMENT.3: /\((?:\*\)|\*[\s\S]*?\*\)|\*[\s\S]*)/
WS: /%(ws)s+/
%%ignore WS
%%ignore COMMENT
"""


def _grammar(fast: bool) -> str:
    return _GRAMMAR % {
        "lit": _LIT_RE,
        "dq": _DQ_RE,
        "sq": _SQ_RE,
        "caret": _CARET_RE,
        "ws": _WS_RE,
        "simple_alternative": "| SIMPLE_RELATION -> simple_relation" if fast else "",
        "simple_terminal": f"SIMPLE_RELATION.2: /{_SIMPLE_RELATION_RE}/" if fast else "",
    }


_VALUE_TERMINALS = frozenset({"LITERAL", "DQSTRING", "SQSTRING", "CARETSTRING"})


class _UnterminatedComment(Exception):
    """Raised from the lexer when ``(*`` has no ``*)``; turned into an
    XRSLParseError by :func:`parse`, which knows the source name."""

    def __init__(self, token: Token) -> None:
        self.token = token


def _check_comment(token: Token) -> Token:
    if not str(token).endswith("*)"):
        raise _UnterminatedComment(token)
    return token


class _SemanticError(Exception):
    """A construct the grammar lets through but ARC rejects (a list joined to
    a string, a misplaced '#', a forbidden character in a quoted name)."""

    def __init__(self, message: str, token: Token) -> None:
        self.message = message
        self.token = token


def _unquote(token: Token) -> str:
    """The string a LITERAL or quoted token stands for: quotes removed and a
    doubled delimiter read as one."""
    text = str(token)
    kind = token.type
    if kind == "LITERAL":
        return text
    if kind == "DQSTRING":
        return text[1:-1].replace('""', '"')
    if kind == "SQSTRING":
        return text[1:-1].replace("''", "'")
    delim = text[1]  # CARETSTRING: ^<delim>...<delim>
    return text[2:-1].replace(delim + delim, delim)


def _span(token: Token) -> int:
    """Where a token starts in the text (lark always sets it; its type
    stubs allow None)."""
    return cast(int, token.start_pos)


def _where(token: Token) -> tuple[int, int]:
    """A token's line and column, both from 1."""
    return cast(int, token.line), cast(int, token.column)


def _name(token: Token, what: str) -> str:
    """An attribute or variable name; quoting does not allow ARC's special
    characters in it."""
    name = _unquote(token)
    if token.type != "LITERAL":
        bad = _bad_name_char(name)
        if bad:
            raise _SemanticError(f"{what} {name!r} contains {bad!r}", token)
    return name


class _ListItem:
    """A parsed list with its span and opening parenthesis."""

    __slots__ = ("end", "start", "token", "value")

    def __init__(self, value: ValueList, start: int, end: int, token: Token) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.token = token


class _VarItem:
    """A parsed ``$(NAME)`` with its span."""

    __slots__ = ("end", "start", "token", "value")

    def __init__(self, value: VarRef, start: int, end: int, token: Token) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.token = token


def _values(items: list[Any]) -> tuple[Value, ...]:
    """Turn the tokens and items of a value sequence into values, applying
    ARC's rules for joining.

    A string or reference is joined to the string or reference before it
    when a '#' stands between them, or when nothing at all does. Lists are
    never joined: a list right after a string would be, and ARC then rejects
    it, so we reject it here; after a list, the next value simply starts a
    new one.
    """
    values: list[Value] = []
    joinable = False  # the last value is a string or reference (not a list)
    last_end = -1  # where the last value ended
    hash_token: Token | None = None  # a '#' waiting for its right operand
    for item in items:
        if type(item) is Token:
            if item.type == "HASH":
                if not joinable or hash_token is not None:
                    raise _SemanticError("'#' must follow a string or $(...) reference", item)
                hash_token = item
                continue
            value: Value = _unquote(item)
            start, end, is_list = _span(item), cast(int, item.end_pos), False
        else:
            value = item.value
            start, end, is_list = item.start, item.end, type(item) is _ListItem
        if hash_token is not None:
            if is_list:
                raise _SemanticError(
                    "'#' must be followed by a string or $(...) reference", hash_token
                )
            values[-1] = Concat((values[-1], value))  # type: ignore[arg-type]
            hash_token = None
        elif joinable and last_end == start:
            if is_list:
                raise _SemanticError(
                    "a list cannot be joined to the value before it; separate them with a space",
                    item if type(item) is Token else item.token,
                )
            values[-1] = Concat((values[-1], value))  # type: ignore[arg-type]
        else:
            values.append(value)
        joinable = not is_list
        last_end = end
    if hash_token is not None:
        raise _SemanticError("'#' must be followed by a string or $(...) reference", hash_token)
    return tuple(values)


class _Builder(Transformer[Token, Any]):
    """Builds our objects directly while lark parses (no parse tree)."""

    def and_doc(self, children: list[Any]) -> list[XRSLJob]:
        return [XRSLJob(children[1:])]

    def or_doc(self, children: list[Any]) -> list[XRSLJob]:
        return [XRSLJob([Disjunction(tuple(children[1:]))])]

    def multi_doc(self, children: list[Any]) -> list[XRSLJob]:
        jobs: list[XRSLJob] = []
        for item in children[1:]:
            jobs.extend(item)
        return jobs

    def multi_item(self, children: list[Any]) -> list[XRSLJob]:
        node = children[0]
        if isinstance(node, Conjunction):
            return [XRSLJob(node.items)]
        return [XRSLJob([node])]

    def nested_multi(self, children: list[Any]) -> list[XRSLJob]:
        # ARC reads +(...)(+(...)) as one flat list of jobs.
        jobs: list[XRSLJob] = []
        for item in children[2:-1]:
            jobs.extend(item)
        return jobs

    def conj(self, children: list[Any]) -> Conjunction:
        return Conjunction(tuple(children[2:-1]))

    def disj(self, children: list[Any]) -> Disjunction:
        return Disjunction(tuple(children[2:-1]))

    def relation(self, children: list[Any]) -> Relation:
        attr = _name(children[1], "attribute name")
        if not attr:
            raise _SemanticError("empty attribute name", children[1])
        return _new_relation(attr.lower(), children[2].value, _values(children[3:-1]))

    def simple_relation(self, children: list[Token]) -> Relation:
        text = children[0].value
        head = _SIMPLE_HEAD.match(text)
        assert head is not None  # the token matched the fuller pattern
        values: list[Value] = []
        current = values
        for part in _SIMPLE_PARTS.findall(text, head.end(), text.rindex(")")):
            first = part[0]
            if first == '"':
                current.append(part[1:-1].replace('""', '"'))
            elif first == "'":
                current.append(part[1:-1].replace("''", "'"))
            elif first == "(":
                current = []
            elif first == ")":
                values.append(tuple(current))
                current = values
            else:
                current.append(part)
        return _new_relation(head.group(1).lower(), head.group(2), tuple(values))

    def seq(self, children: list[Any]) -> _ListItem:
        lpar: Token = children[0]
        return _ListItem(_values(children[1:-1]), _span(lpar), children[-1].end_pos, lpar)

    def varref(self, children: list[Any]) -> _VarItem:
        dollar: Token = children[0]
        ref = object.__new__(VarRef)
        object.__setattr__(ref, "name", _name(children[2], "variable name"))
        return _VarItem(ref, _span(dollar), children[3].end_pos, dollar)


_parsers: dict[bool, Lark] = {}
_lexer: Lark | None = None


def _get_parser(fast: bool = True) -> Lark:
    """The LALR parser, built on first use and then shared: lark parsers
    keep no state between parses. ``fast=False`` is the parser without the
    SIMPLE_RELATION shortcut, kept so tests can compare the two."""
    parser = _parsers.get(fast)
    if parser is None:
        parser = _parsers[fast] = Lark(
            _grammar(fast),
            parser="lalr",
            lexer="contextual",
            transformer=_Builder(),
            lexer_callbacks={"COMMENT": _check_comment},
            maybe_placeholders=False,
        )
    return parser


def _get_lexer() -> Lark:
    """A plain lexer for the general grammar, used only to explain errors."""
    global _lexer
    if _lexer is None:
        _lexer = Lark(_grammar(False), parser="lalr", lexer="basic")
    return _lexer


# --------------------------------------------------------------------------- parsing


def parse(text: str, source: str | None = None) -> list[XRSLJob]:
    """Parse an xRSL document into its jobs: one for ``&``, one per element
    for ``+``.

    ``source`` (a file name) is only used in error messages. Every syntax
    error is an XRSLParseError giving the line and column (from 1) where the
    document stops making sense and what was expected there.
    """
    return _parse(text, source, _get_parser())


def _parse(text: str, source: str | None, parser: Lark) -> list[XRSLJob]:
    if not isinstance(text, str):
        raise XRSLError(f"xRSL text must be a str, not {type(text).__name__}")
    try:
        return cast(list[XRSLJob], parser.parse(text))
    except _UnterminatedComment as exc:
        line, column = _where(exc.token)
        raise XRSLParseError(
            "unterminated comment: '(*' without a closing '*)'", line, column, source
        ) from None
    except _SemanticError as exc:
        line, column = _where(exc.token)
        raise XRSLParseError(exc.message, line, column, source) from None
    except UnexpectedInput as exc:
        message, line, column = _explain(exc, text)
        raise XRSLParseError(message, line, column, source) from None
    except LarkError as exc:  # pragma: no cover - a lark failure we did not foresee
        raise XRSLParseError(f"cannot parse: {exc}", 1, 1, source) from None


def parse_file(path: str | PathLike[str]) -> list[XRSLJob]:
    """Parse an xRSL file (UTF-8, with or without a byte order mark).

    Errors name the file; a file that cannot be read is an XRSLError.
    """
    name = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise XRSLError(f"cannot read job description {name}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        line_start = data.rfind(b"\n", 0, offset) + 1
        column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
        raise XRSLParseError("the file is not UTF-8 text", line, column, name) from None
    return parse(text, source=name)


# --------------------------------------------------------------------------- errors

_OPERATOR_CHARS = "=<>!"
_RELOP_TEXT = "a relation operator (=, !=, <, >, <=, >=)"


def _expected_terminals(exc: UnexpectedInput) -> set[str]:
    """What the parser could have accepted where it stopped, taken from the
    LALR table (the lexer's own set misses 'end of document')."""
    state = getattr(exc, "state", None)
    try:
        table = state.parse_conf.states[state.position]  # type: ignore[union-attr]
    except (AttributeError, KeyError, IndexError, TypeError):
        return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    names = {name for name in table if name.isupper()}
    if "SIMPLE_RELATION" in names:  # the fast path is an opening '(' to a reader
        names.discard("SIMPLE_RELATION")
        names.add("LPAR")
    return names


def _tokens_before(text: str, pos: int) -> list[Token]:
    """The tokens of ``text`` that end at or before ``pos``."""
    try:
        return list(_get_lexer().lex(text[:pos]))
    except LarkError:  # pragma: no cover - the prefix lexed fine while parsing
        return []


def _unclosed_paren(tokens: list[Token]) -> Token | None:
    stack: list[Token] = []
    for token in tokens:
        if token.type == "LPAR":
            stack.append(token)
        elif token.type == "RPAR" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _show(text: str) -> str:
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _expected_phrase(expected: set[str]) -> str:
    values = expected & _VALUE_TERMINALS
    if expected == {"RELOP"}:
        return _RELOP_TEXT
    if values and "AND" in expected and "OR" in expected:
        return "an attribute name, '&' or '|'"
    if "AND" in expected and "PLUS" in expected:
        return "'&' (one job) or '+' (several jobs) at the start of the document"
    if values and "RPAR" in expected:
        return "a value or ')'"
    if values and "DOLLAR" in expected:
        return "a string or $(...)"
    if values:  # only inside $( )
        return "a variable name"
    if expected == {"LPAR", "$END"}:
        return "'(' or the end of the document"
    names = {"LPAR": "'('", "RPAR": "')'", "HASH": "'#'", "$END": "the end of the document"}
    return " or ".join(sorted(names.get(name, name) for name in expected)) or "nothing"


def _explain(exc: UnexpectedInput, text: str) -> tuple[str, int, int]:
    """A message and 1-based line and column for a lark error, worded for a
    person editing a job description."""
    expected = _expected_terminals(exc)
    at_end = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    pos = len(text) if at_end else cast(int, exc.pos_in_stream)
    tokens = _tokens_before(text, pos)
    prev = tokens[-1] if tokens else None

    if at_end:
        if prev is None:
            line = text.count("\n") + 1
            column = pos - text.rfind("\n")
            return "empty document: expected '&' (one job) or '+' (several jobs)", line, column
        # Report the end as the place right after the last token, not after
        # trailing blank lines and comments.
        line, column = cast(int, prev.end_line), cast(int, prev.end_column)
        found = "the end of the document"
        if "RPAR" in expected:
            opener = _unclosed_paren(tokens)
            if opener is not None:
                message = (
                    f"expected ')' to close the '(' at line {opener.line}, "
                    f"column {opener.column}, found {found}"
                )
                return message, line, column
    else:
        line, column = exc.line, exc.column
        char = text[pos]
        found = _show(str(exc.token).strip() if isinstance(exc, UnexpectedToken) else char)

        # A quote or ^ that no string token matched is never closed.
        if isinstance(exc, UnexpectedCharacters) and char in "\"'^":
            if char == "^":
                return (
                    "unterminated string: '^' quoting without its closing delimiter",
                    line,
                    column,
                )
            return f"unterminated string: no closing {char}", line, column

        # "==", "=>", "!" and the like: read the whole run of operator
        # characters, including a valid operator just before it.
        if char in _OPERATOR_CHARS:
            start = pos
            if prev is not None and prev.type == "RELOP" and prev.end_pos == pos:
                start = _span(prev)
                line, column = _where(prev)
            end = pos
            while end < len(text) and text[end] in _OPERATOR_CHARS:
                end += 1
            operator = text[start:end]
            if start != pos or operator not in OPERATORS:
                message = f"unknown operator {operator!r}: xRSL has =, !=, <, >, <= and >="
                return message, line, column

        if "$END" in expected:
            return f"unexpected {found} after the end of the job description", line, column
        if char == "+" and {"AND", "OR"} <= expected:
            return "'+' (several jobs) is only allowed at the top of the document", line, column

    after = ""
    if prev is not None and prev.type in {"AND", "OR", "PLUS", "DOLLAR"}:
        after = f" after '{prev}'"
    elif prev is not None and expected == {"RELOP"}:
        after = f" after the attribute name {_show(_unquote(prev))}"
    return f"expected {_expected_phrase(expected)}{after}, found {found}", line, column


# --------------------------------------------------------------------------- unparsing


def _format_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _format_name(name: str) -> str:
    """An attribute or variable name: bare when it reads back as one
    literal, else double-quoted. A leading '*' would turn '(' into a comment."""
    if name and _LITERAL.fullmatch(name) and not name.startswith("*"):
        return name
    return _format_string(name)


def _format_value(value: Value) -> str:
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, tuple):
        return "(" + _format_values(value) + ")"
    if isinstance(value, VarRef):
        return "$(" + _format_name(value.name) + ")"
    if isinstance(value, Concat):
        return "#".join(_format_value(part) for part in value.parts)
    raise XRSLError(f"cannot write {type(value).__name__} as an xRSL value")


def _format_values(values: Sequence[Value]) -> str:
    # Values are separated by one space, except between two lists: the
    # usual ("a" "")("b" "") style. Two strings must not touch (that would
    # be a doubled quote), nor a string and a list (a concatenation).
    out: list[str] = []
    prev_list = False
    for index, value in enumerate(values):
        is_list = isinstance(value, tuple)
        if index and not (prev_list and is_list):
            out.append(" ")
        out.append(_format_value(value))
        prev_list = is_list
    return "".join(out)


def _format_node(node: Node) -> str:
    if isinstance(node, Relation):
        return "(" + _format_name(node.attr) + node.op + _format_values(node.values) + ")"
    if isinstance(node, Conjunction):
        return "(&" + "".join(_format_node(item) for item in node.items) + ")"
    if isinstance(node, Disjunction):
        return "(|" + "".join(_format_node(item) for item in node.alternatives) + ")"
    raise XRSLError(f"cannot write {type(node).__name__} as xRSL")


def _format_job(job: XRSLJob) -> str:
    if not isinstance(job, XRSLJob):
        raise XRSLError(f"expected an XRSLJob, not {type(job).__name__}")
    if not job.relations:
        raise XRSLError("cannot write a job without relations")
    return "&" + "".join(_format_node(node) for node in job.relations)


def unparse(jobs: XRSLJob | Sequence[XRSLJob]) -> str:
    """Write jobs as xRSL text on one line: ``&(...)(...)`` for one job,
    ``+(&...)(&...)`` for several.

    Strings are always double-quoted (a ``"`` inside is doubled) and names
    are bare, so the output is the same whatever quoting the input used:
    ``parse(unparse(jobs)) == jobs``.
    """
    if isinstance(jobs, XRSLJob):
        return _format_job(jobs)
    jobs = list(jobs)
    if not jobs:
        raise XRSLError("no jobs to write")
    if len(jobs) == 1:
        return _format_job(jobs[0])
    return "+" + "".join("(" + _format_job(job) + ")" for job in jobs)
