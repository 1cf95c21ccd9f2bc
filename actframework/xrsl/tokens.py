"""What a token of the grammar stands for and where it stands.

Both the builder (values) and the error messages (positions, names) read
tokens; they read them the same way through these functions.
"""

from __future__ import annotations

from typing import cast

from lark import Token


def unquote(token: Token) -> str:
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


def span(token: Token) -> int:
    """Where a token starts in the text (lark always sets it; its type
    stubs allow None)."""
    return cast(int, token.start_pos)


def where(token: Token) -> tuple[int, int]:
    """A token's line and column, both from 1."""
    return cast(int, token.line), cast(int, token.column)
