"""The xRSL grammar, as lark LALR text, and the fast path for plain relations.

The grammar follows ARC's own parser (``RSLParser.cpp``), since a CE parses
what we send with it. It is Python text rather than a ``.lark`` file: its
terminals are built from the regular expressions of
:mod:`actframework.xrsl.syntax`, which the fast path shares.
"""

from __future__ import annotations

import re

from actframework.xrsl.syntax import LIT_RE, WS_RE

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
_STR_RE = f"(?:{_DQ_RE}|{_SQ_RE}|{LIT_RE})"
_STRS_RE = f"(?:{_STR_RE}(?:{WS_RE}+{_STR_RE})*)?"
_LIST_RE = rf"\((?!\*){WS_RE}*{_STRS_RE}{WS_RE}*\)"
_VAL_RE = f"(?:{_STR_RE}|{_LIST_RE})"
# Values are separated by whitespace; only after a list may the next value
# follow directly, ("a" "")("b" ""), since nothing is concatenated to a list.
_SEP_RE = rf"(?:{WS_RE}+|(?<=\)))"
_OP_RE = "!=|<=|>=|=|<|>"
_SIMPLE_RELATION_RE = (
    rf"{WS_RE}*\((?!\*){WS_RE}*{LIT_RE}{WS_RE}*(?:{_OP_RE}){WS_RE}*"
    rf"(?:{_VAL_RE}(?:{_SEP_RE}{_VAL_RE})*)?{WS_RE}*\){WS_RE}*"
)
SIMPLE_HEAD = re.compile(rf"{WS_RE}*\({WS_RE}*({LIT_RE}){WS_RE}*({_OP_RE})")
SIMPLE_PARTS = re.compile(rf"{_DQ_RE}|{_SQ_RE}|[()]|{LIT_RE}")

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


def grammar_text(fast: bool) -> str:
    """The grammar, with the SIMPLE_RELATION fast path or (``fast=False``) without it."""
    return _GRAMMAR % {
        "lit": LIT_RE,
        "dq": _DQ_RE,
        "sq": _SQ_RE,
        "caret": _CARET_RE,
        "ws": WS_RE,
        "simple_alternative": "| SIMPLE_RELATION -> simple_relation" if fast else "",
        "simple_terminal": f"SIMPLE_RELATION.2: /{_SIMPLE_RELATION_RE}/" if fast else "",
    }


VALUE_TERMINALS = frozenset({"LITERAL", "DQSTRING", "SQSTRING", "CARETSTRING"})
