"""The elements of a JSON array, decoded as its bytes arrive.

``GET /jobs`` of 100,000 jobs is a body of several megabytes that the server
streams page by page. Reading it whole and decoding it at once would hold
the body and every row in memory before the first row could be printed;
decoding element by element holds one read's worth of text and the element
being decoded.

Each element is decoded by the standard library's C scanner (what
:meth:`json.JSONDecoder.raw_decode` and :func:`json.loads` use), so 100,000
rows take well under twice what one ``loads`` of the whole body takes. An
incremental parser library (ijson) would add a dependency to a client that
must stay light to import, and is slower than the C scanner unless its own
compiled backend is installed; the array's top level, walked here, is all
that the scanner does not do.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Final

#: White space as JSON has it.
_SPACE: Final = re.compile(r"[ \t\n\r]*")
#: The C scanner of :meth:`json.JSONDecoder.raw_decode`, called without the
#: method around it: (value, end) or StopIteration where no value starts.
#: (An instance attribute the decoder sets up, which the type stubs omit.)
_scan: Final[Callable[[str, int], tuple[Any, int]]] = vars(json.JSONDecoder())["scan_once"]


class BodyError(ValueError):
    """The body is not one whole JSON array; the message says how (one line).
    :class:`~actframework.client.jsonhttp.JSONClient` raises it on as a
    :class:`~actframework.errors.TransportError` naming the request."""


class _Text:
    """The body as text, read on demand; ``text[pos:]`` is what is not consumed yet."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.pos = 0
        self.ended = False

    def more(self, at_least: int = 1) -> bool:
        """Read until ``at_least`` more characters came or the body ended;
        False when nothing more came. What was consumed is dropped."""
        pending = self.text[self.pos :]
        wanted = len(pending) + at_least
        while len(pending) < wanted and not self.ended:
            chunk = self._read()
            if chunk:
                pending += self._utf8.decode(chunk)
            else:
                self.ended = True
                pending += self._utf8.decode(b"", final=True)
        grew = len(pending) > len(self.text) - self.pos
        self.text, self.pos = pending, 0
        return grew

    def peek(self) -> str:
        """The next character that is not white space, '' at the end of the body."""
        if self.pos < len(self.text) and self.text[self.pos] not in " \t\n\r":
            return self.text[self.pos]  # the usual case, without a regular expression
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def value(self, count: int) -> Any:
        """The JSON value that starts here (``count`` elements came before it)."""
        while True:
            try:
                value, end = _scan(self.text, self.pos)
            except StopIteration as stop:  # raw_decode's "Expecting value"
                where, why = int(stop.value), "Expecting value"
            except json.JSONDecodeError as exc:
                where, why = exc.pos, exc.msg
            else:
                if end == len(self.text) and type(value) in (int, float) and self.more():
                    continue  # a number at the end of what came may go on
                self.pos = end
                return value
            at_end = where >= len(self.text)
            # Not complete yet, or not JSON: read on, at least as much again
            # as the element has so far, so that a long element is decoded
            # a few times rather than once per read.
            if self.more(max(len(self.text) - self.pos, 1)):
                continue
            if at_end or why.startswith("Unterminated"):
                raise BodyError(f"the JSON array broke off after {count} elements")
            raise BodyError(f"not valid JSON after {count} elements: {why}")

    def excerpt(self) -> str:
        """The start of what follows, for an error message."""
        self.more(60)
        return repr(self.text[self.pos : self.pos + 60])


def array_elements(read: Callable[[], bytes]) -> Iterator[Any]:
    """The elements of the JSON array that ``read`` returns in pieces
    (``b""`` at its end), each as soon as it has come whole.

    Raises :class:`BodyError` when the body is not a JSON array, breaks off,
    or has more than white space after it; the elements before the fault
    have been yielded by then."""
    body = _Text(read)
    if body.peek() != "[":
        raise BodyError(
            f"expected a JSON array, got: {body.excerpt()}"
            if body.peek()
            else "expected a JSON array, got an empty body"
        )
    body.pos += 1
    count = 0
    if body.peek() == "]":
        body.pos += 1
    else:
        while True:
            if not body.peek():
                raise BodyError(f"the JSON array broke off after {count} elements")
            yield body.value(count)
            count += 1
            following = body.peek()
            body.pos += 1
            if following == "]":
                break
            if following != ",":
                raise (
                    BodyError(f"the JSON array broke off after {count} elements")
                    if not following
                    else BodyError(f"not valid JSON after {count} elements: expected ',' or ']'")
                )
    if body.peek():
        raise BodyError(f"more than one JSON value: {body.excerpt()} after the array")
