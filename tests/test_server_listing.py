"""GET /jobs streams its JSON array page by page (the store reads a listing
in pages so that the server's memory stays flat); whatever the pages, the
body is the one array act-client 1.0.0 reads."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from actframework.server.routes.jobs import _json_array

ROWS = [{"c_id": n, "c_jobname": f"job{n}", "a_arcstate": None} for n in range(1, 6)]


@pytest.mark.parametrize("sizes", [(), (1,), (5,), (2, 2, 1), (1, 1, 1, 1, 1)])
def test_pages_of_rows_make_one_json_array(sizes: tuple[int, ...]) -> None:
    pages, start = [], 0
    for size in sizes:
        pages.append(ROWS[start:start + size])
        start += size
    first, rest = (pages[0], pages[1:]) if pages else ([], [])
    body = b"".join(_json_array(first, iter(rest)))
    assert json.loads(body) == ROWS[:start]


def test_streamed_rows_render_datetimes_and_bytes_as_act_does() -> None:
    row = {"c_modified": datetime(2026, 1, 2, 3, 4, 5), "c_clusterlist": b"https://ce/q"}
    (decoded,) = json.loads(b"".join(_json_array([row], iter(()))))
    assert decoded == {"c_modified": "Fri, 02 Jan 2026 03:04:05 GMT", "c_clusterlist": "https://ce/q"}
