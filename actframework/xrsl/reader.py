"""Reading xRSL: text, bytes or a file to jobs, with errors that say where."""

from __future__ import annotations

from os import PathLike
from typing import cast

from lark import Lark
from lark.exceptions import LarkError, UnexpectedInput

from actframework.errors import XRSLError, XRSLParseError
from actframework.xrsl.builder import SemanticError, UnterminatedComment
from actframework.xrsl.explain import explain
from actframework.xrsl.job import XRSLJob
from actframework.xrsl.parsers import get_parser
from actframework.xrsl.tokens import where


def parse(text: str, source: str | None = None) -> list[XRSLJob]:
    """Parse an xRSL document into its jobs: one for ``&``, one per element
    for ``+``.

    ``source`` (a file name) is only used in error messages. Every syntax
    error is an XRSLParseError giving the line and column (from 1) where the
    document stops making sense and what was expected there.
    """
    return parse_with(text, source, get_parser())


def parse_with(text: str, source: str | None, parser: Lark) -> list[XRSLJob]:
    """:func:`parse` with the given parser (tests compare the parser without the fast path)."""
    if not isinstance(text, str):
        raise XRSLError(f"xRSL text must be a str, not {type(text).__name__}")
    try:
        return cast(list[XRSLJob], parser.parse(text))
    except UnterminatedComment as exc:
        line, column = where(exc.token)
        raise XRSLParseError("unterminated comment: '(*' without a closing '*)'", line, column, source) from None
    except SemanticError as exc:
        line, column = where(exc.token)
        raise XRSLParseError(exc.message, line, column, source) from None
    except UnexpectedInput as exc:
        message, line, column = explain(exc, text)
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
    return parse_bytes(data, name)


def parse_bytes(data: bytes, source: str | None = None) -> list[XRSLJob]:
    """Parse xRSL given as bytes (UTF-8, with or without a byte order mark),
    as read from a file named ``source``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        line_start = data.rfind(b"\n", 0, offset) + 1
        column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
        raise XRSLParseError("the file is not UTF-8 text", line, column, source) from None
    return parse(text, source=source)
