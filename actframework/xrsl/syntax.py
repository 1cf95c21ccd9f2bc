"""The characters and operators of xRSL.

The value model refuses names the parser would refuse, the grammar reads
literals and the writer decides when a name may go unquoted: all three
must agree on what is special, so it is said once, here.
"""

from __future__ import annotations

import re

OPERATORS: frozenset[str] = frozenset({"=", "!=", "<", ">", "<=", ">="})
"""The relation operators of xRSL."""

# Characters that end an unquoted literal in ARC (besides whitespace); an
# attribute or variable name may not contain them even when quoted.
SPECIAL = "+&|()=<>!\"'^#$"
# ARC's whitespace is ASCII only: other Unicode spaces are ordinary
# characters there, so they are here too.
WS_RE = r"[ \t\n\v\f\r]"
# An unquoted literal: anything up to whitespace or a special character.
LIT_RE = r"[^+&|()=<>!\"'^#$ \t\n\v\f\r]+"
LITERAL = re.compile(LIT_RE)


def bad_name_char(name: str) -> str | None:
    """The first character ARC refuses in an attribute or variable name."""
    for ch in name:
        if ch in SPECIAL:
            return ch
    return None
