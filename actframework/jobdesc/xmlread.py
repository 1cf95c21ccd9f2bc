"""Reading untrusted XML safely, with the line and column of every element.

Job descriptions come from users, so the reader refuses what XML attacks
are made of: a document type declaration (``<!DOCTYPE``) is refused where
it starts, before expat reads a single entity declaration from it. Without
one, a document can hold no entity but the five predefined ones and
character references, so nothing can expand into gigabytes (billion
laughs, quadratic blow-up) and nothing is read from files or the network
(external entities, external DTDs).

expat (Python's own, and the parser defusedxml builds on) reads the text
and reports positions; the elements go into an lxml tree, which keeps
namespace prefixes as the author wrote them when the document is written
back. Comments and processing instructions are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, cast
from xml.parsers import expat

from lxml import etree

from actframework.errors import ADLParseError

__all__ = ["Document", "read"]

# Between a namespace URI, a local name and a prefix in expat's names: a
# character XML 1.0 does not allow anywhere in a document, so it cannot be
# part of either.
_SEP = "\x01"
_CODES = expat.errors.codes


@dataclass
class Document:
    """A document read by :func:`read`."""

    root: etree._Element
    positions: dict[etree._Element, tuple[int, int]] = field(default_factory=dict)
    """Line and column (from 1) where each element's start tag begins; the
    elements are kept alive by this mapping, so lxml keeps their identity."""
    source: str | None = None
    """The file name for messages, if any."""

    def error(self, message: str, element: etree._Element) -> ADLParseError:
        """An error about ``element``, placed at its start tag."""
        line, column = self.positions.get(element, (1, 1))
        return ADLParseError(message, line, column, self.source)


class _TreeBuilder(Protocol):
    """lxml's ``TreeBuilder`` as lxml documents it: ``start`` takes the new
    element's namespace map and returns the element (types-lxml leaves both
    out)."""

    def start(
        self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None, /
    ) -> etree._Element: ...

    def end(self, tag: str, /) -> etree._Element: ...

    def data(self, data: str, /) -> None: ...

    def close(self) -> etree._Element: ...


class _Reader:
    """One pass of expat over one document, building the lxml tree."""

    def __init__(self, encoding: str | None, source: str | None) -> None:
        self.source = source
        self.builder = cast(_TreeBuilder, etree.TreeBuilder())
        self.positions: dict[etree._Element, tuple[int, int]] = {}
        self.declared: dict[str | None, str] = {}
        self.open: list[tuple[str, int, int]] = []  # name as written, line, column
        parser = expat.ParserCreate(encoding, namespace_separator=_SEP)
        parser.namespace_prefixes = True
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.StartNamespaceDeclHandler = self._namespace
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self.builder.data
        self.parser = parser

    def read(self, data: bytes) -> Document:
        try:
            self.parser.Parse(data, True)
        except expat.ExpatError as exc:
            column = exc.offset + 1
            if exc.code == _CODES[expat.errors.XML_ERROR_TAG_MISMATCH]:
                column -= len("</")  # expat points at the name; the reader looks for the tag
            raise ADLParseError(self._explain(exc), exc.lineno, column, self.source) from None
        return Document(self.builder.close(), self.positions, self.source)

    def _here(self) -> tuple[int, int]:
        return self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber + 1

    def _refuse(self, message: str) -> ADLParseError:
        return ADLParseError(message, *self._here(), self.source)

    def _doctype(self, name: str, *_: object) -> None:
        raise self._refuse(
            f"a document type declaration (<!DOCTYPE {name}>) is not allowed in a job "
            "description: it is how entity attacks are made, and ADL needs none"
        )

    def _entity(self, name: str, *_: object) -> None:  # unreachable without a DOCTYPE; kept as a second wall
        raise self._refuse(f"entity declarations are not allowed in a job description (entity {name!r})")

    def _namespace(self, prefix: str | None, uri: str) -> None:
        self.declared[prefix] = uri

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        line, column = self._here()
        element = self.builder.start(
            _tag(name), {_tag(key): value for key, value in attributes.items()}, self.declared or None
        )
        self.declared = {}
        self.positions[element] = (line, column)
        self.open.append((_written(name), line, column))

    def _end(self, name: str) -> None:
        self.builder.end(_tag(name))
        self.open.pop()

    def _explain(self, exc: expat.ExpatError) -> str:
        """expat's message, worded for a person editing a description."""
        code = exc.code
        if code == _CODES[expat.errors.XML_ERROR_TAG_MISMATCH] and self.open:
            name, line, column = self.open[-1]
            return f"expected </{name}> to close the <{name}> at line {line}, column {column}"
        if code == _CODES[expat.errors.XML_ERROR_NO_ELEMENTS]:
            if self.open:
                name, line, column = self.open[-1]
                return f"the document ends before the <{name}> at line {line}, column {column} is closed"
            return "empty document: expected an <ActivityDescription>"
        if code == _CODES[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            return (
                "undefined entity: a job description may only use &lt; &gt; &amp; &quot; &apos; "
                "and character references such as &#233;"
            )
        if code == _CODES[expat.errors.XML_ERROR_UNBOUND_PREFIX]:
            return "a namespace prefix is used without its xmlns: declaration"
        if code == _CODES[expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
            return "more after the end of the root element; several jobs go into one <ActivityDescriptions> element"
        return expat.errors.messages[code]


def _tag(name: str) -> str:
    """lxml's ``{uri}local`` for one of expat's ``uri<SEP>local[<SEP>prefix]`` names."""
    parts = name.split(_SEP)
    return parts[0] if len(parts) == 1 else f"{{{parts[0]}}}{parts[1]}"


def _written(name: str) -> str:
    """A name as the document wrote it, ``prefix:local`` or ``local``."""
    parts = name.split(_SEP)
    local = parts[1] if len(parts) > 1 else parts[0]
    return f"{parts[2]}:{local}" if len(parts) == 3 else local


def read(data: str | bytes, source: str | None = None) -> Document:
    """Read one XML document. A ``str`` is read as it is (an encoding its
    declaration names is ignored: the text is already decoded); ``bytes``
    are decoded as the declaration or byte order mark says, UTF-8 if
    neither does. Raises :class:`ADLParseError` with the line and column of
    what is wrong, and for any document type declaration."""
    if isinstance(data, str):
        return _Reader("UTF-8", source).read(data.encode("utf-8"))
    return _Reader(None, source).read(data)
