"""Syntax errors worded for a person editing a job description.

lark reports the terminals it expected where it stopped; this turns that
into what an xRSL author understands (an unclosed parenthesis, an unknown
operator, an unterminated string), at the line and column that matter.
"""

from __future__ import annotations

from typing import cast

from lark import Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from actframework.xrsl.grammar import VALUE_TERMINALS
from actframework.xrsl.parsers import get_lexer
from actframework.xrsl.syntax import OPERATORS
from actframework.xrsl.tokens import span, unquote, where

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
        return list(get_lexer().lex(text[:pos]))
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
    values = expected & VALUE_TERMINALS
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


def explain(exc: UnexpectedInput, text: str) -> tuple[str, int, int]:
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
                message = f"expected ')' to close the '(' at line {opener.line}, column {opener.column}, found {found}"
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
                start = span(prev)
                line, column = where(prev)
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
        after = f" after the attribute name {_show(unquote(prev))}"
    return f"expected {_expected_phrase(expected)}{after}, found {found}", line, column
