"""Building jobs while lark parses: tokens to values, relations and jobs.

Building directly (no parse tree) is the fast way with lark; the builder
also enforces ARC's rules the grammar cannot express (which values may be
joined, which characters a quoted name may hold) and raises the errors
:mod:`actframework.xrsl.reader` reports.
"""

from __future__ import annotations

from typing import Any, cast

from lark import Token, Transformer

from actframework.xrsl.grammar import SIMPLE_HEAD, SIMPLE_PARTS
from actframework.xrsl.job import XRSLJob
from actframework.xrsl.relations import Conjunction, Disjunction, Relation, new_relation
from actframework.xrsl.syntax import bad_name_char
from actframework.xrsl.tokens import span, unquote
from actframework.xrsl.values import Concat, Value, ValueList, VarRef


class UnterminatedComment(Exception):
    """Raised from the lexer when ``(*`` has no ``*)``; turned into an
    XRSLParseError by :func:`~actframework.xrsl.reader.parse`, which knows the source name."""

    def __init__(self, token: Token) -> None:
        self.token = token


def check_comment(token: Token) -> Token:
    """The lexer callback for comments: a comment without its ``*)`` is an error."""
    if not str(token).endswith("*)"):
        raise UnterminatedComment(token)
    return token


class SemanticError(Exception):
    """A construct the grammar lets through but ARC rejects (a list joined to
    a string, a misplaced '#', a forbidden character in a quoted name)."""

    def __init__(self, message: str, token: Token) -> None:
        self.message = message
        self.token = token


def _name(token: Token, what: str) -> str:
    """An attribute or variable name; quoting does not allow ARC's special
    characters in it."""
    name = unquote(token)
    if token.type != "LITERAL":
        bad = bad_name_char(name)
        if bad:
            raise SemanticError(f"{what} {name!r} contains {bad!r}", token)
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
                    raise SemanticError("'#' must follow a string or $(...) reference", item)
                hash_token = item
                continue
            value: Value = unquote(item)
            start, end, is_list = span(item), cast(int, item.end_pos), False
        else:
            value = item.value
            start, end, is_list = item.start, item.end, type(item) is _ListItem
        if hash_token is not None:
            if is_list:
                raise SemanticError("'#' must be followed by a string or $(...) reference", hash_token)
            values[-1] = Concat((values[-1], value))  # type: ignore[arg-type]
            hash_token = None
        elif joinable and last_end == start:
            if is_list:
                raise SemanticError(
                    "a list cannot be joined to the value before it; separate them with a space",
                    item if type(item) is Token else item.token,
                )
            values[-1] = Concat((values[-1], value))  # type: ignore[arg-type]
        else:
            values.append(value)
        joinable = not is_list
        last_end = end
    if hash_token is not None:
        raise SemanticError("'#' must be followed by a string or $(...) reference", hash_token)
    return tuple(values)


class Builder(Transformer[Token, Any]):
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
            raise SemanticError("empty attribute name", children[1])
        return new_relation(attr.lower(), children[2].value, _values(children[3:-1]))

    def simple_relation(self, children: list[Token]) -> Relation:
        text = children[0].value
        head = SIMPLE_HEAD.match(text)
        assert head is not None  # the token matched the fuller pattern
        values: list[Value] = []
        current = values
        for part in SIMPLE_PARTS.findall(text, head.end(), text.rindex(")")):
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
        return new_relation(head.group(1).lower(), head.group(2), tuple(values))

    def seq(self, children: list[Any]) -> _ListItem:
        lpar: Token = children[0]
        return _ListItem(_values(children[1:-1]), span(lpar), children[-1].end_pos, lpar)

    def varref(self, children: list[Any]) -> _VarItem:
        dollar: Token = children[0]
        ref = object.__new__(VarRef)
        object.__setattr__(ref, "name", _name(children[2], "variable name"))
        return _VarItem(ref, span(dollar), children[3].end_pos, dollar)
