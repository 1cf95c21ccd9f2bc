"""A small DER reader for the few structures ``cryptography`` does not parse.

proxyCertInfo (RFC 3820), VOMS attribute certificates (RFC 3281) and the
version field of A-REX's CSRs need reading below what ``cryptography``
offers; this reads just those: single-byte tags and definite lengths.
:class:`DERError` is internal: callers turn it into an ``X509Error`` that
names what they were parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

# Universal tags of the elements read here (X.690).
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
UTF8_STRING = 0x0C
SEQUENCE = 0x30
SET = 0x31
CONTEXT_0_CONSTRUCTED = 0xA0


class DERError(ValueError):
    """Malformed DER; callers turn it into an X509Error naming what they parsed."""


@dataclass(frozen=True)
class TLV:
    """One DER element: ``data[start:end]`` is all of it, ``data[body:end]`` its contents."""

    tag: int
    start: int
    body: int
    end: int


def _read_tlv(data: bytes, offset: int, limit: int) -> TLV:
    """The DER element at ``offset``, which must end by ``limit``.

    Only what certificates and ACs use: single-byte tags and definite lengths.
    """
    if offset + 2 > limit:
        raise DERError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte tags are not supported")
    first = data[offset + 1]
    position = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DERError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or position + count > limit:
            raise DERError("bad length")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    if position + length > limit:
        raise DERError("element runs past its container")
    return TLV(tag, offset, position, position + length)


def children(data: bytes, parent: TLV) -> list[TLV]:
    """The elements inside a constructed element, in order."""
    if not parent.tag & 0x20:
        raise DERError("primitive element where a constructed one was expected")
    items = []
    offset = parent.body
    while offset < parent.end:
        item = _read_tlv(data, offset, parent.end)
        items.append(item)
        offset = item.end
    return items


def expect(item: TLV, tag: int, what: str) -> TLV:
    """``item``, if it has the tag ``tag``; ``what`` names it in the error."""
    if item.tag != tag:
        raise DERError(f"{what}: expected tag 0x{tag:02x}, found 0x{item.tag:02x}")
    return item


def parse_der(data: bytes, tag: int, what: str) -> TLV:
    """The single top-level element of ``data`` (trailing bytes are an error)."""
    top = _read_tlv(data, 0, len(data))
    if top.end != len(data):
        raise DERError(f"{what}: trailing bytes")
    return expect(top, tag, what)


def der_int(data: bytes, item: TLV) -> int:
    """The value of an INTEGER element."""
    return int.from_bytes(data[item.body : item.end], "big", signed=True)


def der_oid(data: bytes, item: TLV) -> str:
    """Dotted string of an OBJECT IDENTIFIER element."""
    body = data[item.body : item.end]
    if not body or body[-1] & 0x80:
        raise DERError("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])
