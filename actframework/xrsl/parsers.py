"""The lark parsers built from the grammar, each built once and then shared.

Building an LALR parser takes far longer than a parse, and lark parsers keep
no state between parses, so one of each serves the whole process.
"""

from __future__ import annotations

from lark import Lark

from actframework.xrsl.builder import Builder, check_comment
from actframework.xrsl.grammar import grammar_text

_parsers: dict[bool, Lark] = {}
_lexer: Lark | None = None


def get_parser(fast: bool = True) -> Lark:
    """The LALR parser, built on first use and then shared: lark parsers
    keep no state between parses. ``fast=False`` is the parser without the
    SIMPLE_RELATION shortcut, kept so tests can compare the two."""
    parser = _parsers.get(fast)
    if parser is None:
        parser = _parsers[fast] = Lark(
            grammar_text(fast),
            parser="lalr",
            lexer="contextual",
            transformer=Builder(),
            lexer_callbacks={"COMMENT": check_comment},
            maybe_placeholders=False,
        )
    return parser


def get_lexer() -> Lark:
    """A plain lexer for the general grammar, used only to explain errors."""
    global _lexer
    if _lexer is None:
        _lexer = Lark(grammar_text(False), parser="lalr", lexer="basic")
    return _lexer
