"""``act stat``'s output: the table exactly as act-client prints it, so that
scripts written against act-client's output keep working, and the same jobs
as JSON.

Both are written as the rows arrive, so that a listing of 100,000 jobs is
never held whole. JSON goes out row by row. A table's columns are as wide
as their widest value, which is known only after the last row: a listing of
up to :data:`HELD_ROWS` rows is kept in memory; a longer one is spooled to
a temporary file (the cells of a row as one JSON line) while the widths are
measured, and printed from there. That costs a second pass over the cells
but keeps act-client's output to the byte, where widths guessed from the
first rows would misalign every row once the ids grow a digit.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from actframework.jobstates import CLEANABLE

#: Rows a table keeps in memory before it spools to a file.
HELD_ROWS: Final = 1000
#: Lines written at a time (one write per batch rather than per line).
BATCH: Final = 1000
#: The types of row values that JSON writes on one line.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
#: The C encoder (no ``indent``) writing rows of scalars as ``indent=2``
#: writes them, but for their braces.
_ROW_ENCODER: Final = json.JSONEncoder(sort_keys=True, separators=(",\n    ", ": "))

Write = Callable[[str], None]


def _cells(row: dict[str, Any], columns: Sequence[str]) -> list[str]:
    """The row's values as printed, empty ones as ``''``."""
    return [str(value) if (value := row.get(column)) not in (None, "") else "''" for column in columns]


def _widths(cells: Sequence[Sequence[str]], columns: Sequence[str], widths: Sequence[int] = ()) -> list[int]:
    """Each column as wide as its name (without the ``c_``/``a_`` prefix) or
    its widest value in ``cells`` (or its width in ``widths``, if wider)."""
    widths = list(widths) or [len(column[2:]) for column in columns]
    if cells:
        widths = [max(width, *map(len, column)) for width, column in zip(widths, zip(*cells, strict=True), strict=True)]
    return widths


def _lines(cells: Iterable[Sequence[str]], columns: Sequence[str], widths: Sequence[int]) -> Iterator[str]:
    """Header, rule and rows, each cell followed by a space."""
    line = " ".join(f"{{:<{width}}}" for width in widths) + " "
    yield line.format(*(column[2:] for column in columns))
    yield "-" * (sum(widths) + len(columns) - 1)
    yield from itertools.starmap(line.format, cells)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """The table's lines, empty values as ``''``. No rows: no lines at all
    (act-client prints nothing)."""
    if not rows:
        return []
    cells = [_cells(row, columns) for row in rows]
    return list(_lines(cells, columns, _widths(cells, columns)))


def write_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], write: Write) -> int:
    """:func:`render_table` of ``rows`` as they come, through ``write`` (text
    ending in a newline); returns the number of rows."""
    rows = iter(rows)
    held = [_cells(row, columns) for row in itertools.islice(rows, HELD_ROWS)]
    if len(held) < HELD_ROWS:
        _write_lines(_lines(held, columns, _widths(held, columns)) if held else iter(()), write)
        return len(held)
    import tempfile  # only here: a few ms of start-up that short listings need not pay

    widths = _widths(held, columns)
    count = len(held)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:  # a batch of rows' cells per line
        spool.write(json.dumps(held) + "\n")
        del held
        for batch in _batches(rows):
            cells = [_cells(row, columns) for row in batch]
            widths = _widths(cells, columns, widths)
            spool.write(json.dumps(cells) + "\n")
            count += len(cells)
        spool.seek(0)
        spooled = itertools.chain.from_iterable(map(json.loads, spool))
        _write_lines(_lines(spooled, columns, widths), write)
    return count


def write_json(rows: Iterable[dict[str, Any]], write: Write) -> int:
    """``json.dumps(list(rows), indent=2, sort_keys=True)`` and a newline,
    written as the rows come; returns the number of rows."""
    count = 0
    for batch in _batches(iter(rows)):
        write(("[\n" if count == 0 else ",\n") + _json_rows(batch))
        count += len(batch)
    write("\n]\n" if count else "[]\n")
    return count


def _json_rows(batch: list[dict[str, Any]]) -> str:
    """The rows as elements of an array that ``indent=2`` writes. Rows of
    scalars (all of them, from the server) go through the C encoder in one
    call, several times faster than the indenting encoder: its separators
    put each key on a line of its own, and a row's braces, the only braces
    outside strings, get their lines by replacing ``},<newline>{``, which a
    JSON string cannot hold."""
    values = itertools.chain.from_iterable(row.values() for row in batch)
    if all(batch) and set(map(type, values)) <= _SCALARS:
        text = _ROW_ENCODER.encode(batch)[2:-2].replace("},\n    {", "\n  },\n  {\n    ")
        return "  {\n    " + text + "\n  }"
    return ",\n".join(
        "\n".join("  " + line for line in json.dumps(row, indent=2, sort_keys=True).splitlines()) for row in batch
    )


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while batch := list(itertools.islice(rows, BATCH)):
        yield batch


def _write_lines(lines: Iterator[str], write: Write) -> None:
    while batch := list(itertools.islice(lines, BATCH)):
        write("\n".join(batch) + "\n")


def all_settled(rows: Sequence[dict[str, Any]]) -> bool:
    """True when no shown job will change state on its own any more (each
    is done, donefailed, failed, cancelled or lost): ``stat --watch`` stops."""
    return all(row.get("a_arcstate") in CLEANABLE for row in rows)
