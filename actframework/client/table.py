"""``act stat``'s table, exactly as act-client prints it (act-spec §B.5), so
that scripts written against act-client's output keep working."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actframework.db.states import CLEANABLE


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """Each column as wide as its name (without the ``c_``/``a_`` prefix) or
    its widest value, each cell followed by a space; empty values as ``''``.
    No rows: no lines at all (act-client prints nothing)."""
    if not rows:
        return []

    def text(value: Any) -> str:
        return "''" if value in (None, "") else str(value)

    widths = [max([len(column[2:])] + [len(text(row.get(column))) for row in rows]) for column in columns]
    lines = [" ".join(column[2:].ljust(width) for column, width in zip(columns, widths)) + " ",
             "-" * (sum(widths) + len(columns) - 1)]
    for row in rows:
        lines.append(" ".join(text(row.get(column)).ljust(width) for column, width in zip(columns, widths)) + " ")
    return lines


def all_settled(rows: Sequence[dict[str, Any]]) -> bool:
    """True when no shown job will change state on its own any more (each
    is done, donefailed, failed, cancelled or lost): ``stat --watch`` stops."""
    return all(row.get("a_arcstate") in CLEANABLE for row in rows)
