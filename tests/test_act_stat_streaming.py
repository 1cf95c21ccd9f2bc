"""``act stat`` reads the server's job listing as it arrives: the array is
decoded element by element (:mod:`actframework.client.jsonstream`), rows
are printed as they come, and a body that breaks off or is not an array is
one clear line and exit code 1, not a traceback or a partial success.
Ten times the jobs take no more memory.

The server side is a real HTTP server on loopback whose answers each test
scripts (chunked, split anywhere, cut short), and a live ``actd serve`` for
a listing longer than the rows ``act stat`` keeps in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from test_act_cli_runner import Runner, one_line, online, sqlite_only  # noqa: F401 (online: a fixture)

from actframework.client.api import ACTClient
from actframework.client.jsonhttp import JSONClient
from actframework.client.jsonstream import BodyError, array_elements
from actframework.client.table import HELD_ROWS, render_table
from actframework.errors import ServerError, TransportError
from actframework.httpbase import RetryPolicy
from fixtures.scripted_http import ScriptedServer, answer
from fixtures.server import LiveServer

FAST = RetryPolicy(attempts=3, backoff=0.01, max_sleep=0.05)
COLUMNS = ["c_id", "c_jobname", "a_JobID", "a_State", "a_arcstate"]


def job(n: int) -> dict[str, Any]:
    return {"c_id": n, "c_jobname": f"jöb {n}" if n % 5 else None, "a_JobID": None, "a_State": "",
            "a_arcstate": "tosubmit"}


def in_pieces(body: bytes, size: int) -> Callable[[], bytes]:
    pieces = iter([body[i:i + size] for i in range(0, len(body), size)])
    return lambda: next(pieces, b"")


def chunked(pieces: Sequence[bytes], *, finish: bool = True) -> Callable[[BaseHTTPRequestHandler, int], None]:
    """A 200 answer sent in these chunks; without ``finish`` the server
    closes the connection where the last chunk ended."""
    def script(handler: BaseHTTPRequestHandler, _n: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for piece in pieces:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.flush()
        if finish:
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.close_connection = True
    return script


def split(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize("size", [1, 3, 64, 65536])
def test_every_element_comes_whole_however_the_body_is_split(size: int) -> None:
    elements = [job(n) for n in range(1, 300)] + [12345, -1.5e3, "a, b]", [1, [2]], {}, [], True, None]
    body = json.dumps(elements, indent=1).encode()
    assert list(array_elements(in_pieces(body, size))) == elements


@pytest.mark.parametrize("size", [1, 4, 4096])
def test_an_element_is_given_out_before_the_rest_of_the_body_has_come(size: int) -> None:
    body = b'[{"c_id": 1}, {"c_id": 2}'
    elements = array_elements(in_pieces(body, size))
    assert next(elements) == {"c_id": 1}
    assert next(elements) == {"c_id": 2}
    with pytest.raises(BodyError, match="^the JSON array broke off after 2 elements$"):
        next(elements)


@pytest.mark.parametrize(("body", "error"), [
    (b"", "expected a JSON array, got an empty body"),
    (b'{"msg": "Invalid column"}', "expected a JSON array, got: '{\"msg\": \"Invalid column\"}'"),
    (b"[", "the JSON array broke off after 0 elements"),
    (b'[{"c_id": 1}, {"c_id": 2', "the JSON array broke off after 1 elements"),
    (b'[{"c_id": 1}, {"c_jobname": "abc', "the JSON array broke off after 1 elements"),
    (b'[{"c_id": 1},', "the JSON array broke off after 1 elements"),
    (b"[1 2]", "not valid JSON after 1 elements: expected ',' or ']'"),
    (b"[1, ]", "not valid JSON after 1 elements: Expecting value"),
    (b"[{c_id: 1}]", "not valid JSON after 0 elements: Expecting property name enclosed in double quotes"),
    (b"[1] [2]", "more than one JSON value: '[2]' after the array"),
])
@pytest.mark.parametrize("size", [1, 5, 4096])
def test_a_body_that_is_not_one_whole_array_is_an_error_that_says_how(body: bytes, error: str, size: int) -> None:
    with pytest.raises(BodyError) as raised:
        list(array_elements(in_pieces(body, size)))
    assert str(raised.value) == error


# --------------------------------------------------------------------------- over HTTP


def test_the_listing_is_read_row_by_row_from_a_chunked_answer(scripted_server: ScriptedServer) -> None:
    rows = [job(n) for n in range(1, 2001)]
    scripted_server.script = chunked(split(json.dumps(rows).encode(), 777))
    with ACTClient(scripted_server.url, token="t") as act:
        streamed = act.iter_jobs(name="x")
        assert next(streamed) == rows[0]
        assert [rows[0], *streamed] == rows
        assert act.jobs() == rows  # the connection was left ready for the next call
    assert [seen.path.split("?")[0] for seen in scripted_server.seen] == ["/base/jobs", "/base/jobs"]


def test_an_answer_cut_short_is_a_transport_error_after_the_rows_that_came(scripted_server: ScriptedServer) -> None:
    rows = [job(n) for n in range(1, 101)]
    body = json.dumps(rows[:45]).encode()[:-1] + b', {"c_id": 46, "c_jobn'
    scripted_server.script = chunked(split(body, 100), finish=False)
    client = JSONClient(scripted_server.url, retry=FAST)
    got: list[Any] = []
    with pytest.raises(TransportError, match=r"^GET .*/base/jobs: the JSON array broke off after 45 elements$"):
        got.extend(client.json_array("jobs"))
    assert got == rows[:45]


def test_an_error_answer_is_the_servers_message_and_a_refused_token_says_what_to_do(
        scripted_server: ScriptedServer) -> None:
    answers = {1: (400, b'{"msg": "Invalid column nope"}'), 2: (401, b'{"msg": "Invalid token"}'),
               3: (503, b""), 4: (200, b"[]")}
    scripted_server.script = lambda h, n: answer(h, *answers[n])
    act = ACTClient(scripted_server.url, token="t")
    act._json.retry = FAST
    with pytest.raises(ServerError, match="^Invalid column nope$"):
        list(act.iter_jobs())
    with pytest.raises(ServerError, match="^Invalid token; run act proxy or act token$"):
        list(act.iter_jobs())
    assert act.jobs() == []  # after one retry of the gateway error
    assert len(scripted_server.seen) == 4


# --------------------------------------------------------------------------- act stat


@pytest.fixture
def stat_runner(tmp_path: Path, scripted_server: ScriptedServer) -> Runner:
    run = Runner(tmp_path, scripted_server.url, tmp_path / "no-proxy")
    run.token.write_text("token")
    return run


@pytest.mark.parametrize("args", [["stat", "-a"], ["stat", "-a", "--json"]])
def test_stat_of_a_body_cut_short_is_one_line_and_exit_1(stat_runner: Runner, scripted_server: ScriptedServer,
                                                         args: list[str]) -> None:
    body = json.dumps([job(n) for n in range(1, 3001)]).encode()
    scripted_server.script = chunked(split(body[:-30], 4000), finish=False)
    line = one_line(stat_runner(*args, expect=1))
    assert line == f"GET {scripted_server.url}/jobs: the JSON array broke off after 2999 elements"


@pytest.mark.parametrize("body", [b'{"jobs": []}', b"<html>busy</html>", b"[1, 2"])
def test_stat_of_a_body_that_is_not_an_array_is_one_line_and_exit_1(stat_runner: Runner,
                                                                   scripted_server: ScriptedServer,
                                                                   body: bytes) -> None:
    scripted_server.script = lambda h, n: answer(h, 200, body)
    result = stat_runner("stat", "-a", expect=1)
    assert result.stdout == ""
    assert one_line(result).startswith(f"GET {scripted_server.url}/jobs: ")


def test_stat_json_prints_what_json_dumps_of_the_whole_list_prints(stat_runner: Runner,
                                                                    scripted_server: ScriptedServer) -> None:
    rows = [job(n) for n in range(1, 2501)] + [{"c_id": 0, "c_jobname": {"nested": [1, 2]}}]
    scripted_server.script = chunked(split(json.dumps(rows).encode(), 5000))
    assert stat_runner("stat", "-a", "--json").stdout == json.dumps(rows, indent=2, sort_keys=True) + "\n"


@sqlite_only
def test_a_table_longer_than_the_rows_kept_in_memory_is_the_same_table(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    jobs = HELD_ROWS + 250
    with ACTClient(api.url, token=run.token.read_text()) as act:
        created = [int(item["id"]) for item in act.create_jobs([[api.config.clusters[0]]] * jobs)]
        act.confirm_jobs([(i, f'&(executable="/bin/true")(jobname="long-{i}")') for i in created])
        rows = act.jobs()
    assert len(rows) == jobs
    table = run("stat", "-a").stdout
    assert table == "".join(line + "\n" for line in render_table(rows, COLUMNS))
    assert len(table.splitlines()) == jobs + 2
    assert json.loads(run("stat", "-a", "--json").stdout) == rows


# --------------------------------------------------------------------------- memory

PEAK_OF_ACT = """
import sys
from actframework.client.cli import cli
try:
    cli(sys.argv[1:], prog_name="act")
except SystemExit as exit:
    assert not exit.code, exit.code
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0], file=sys.stderr)
"""


def peak_kib_of_stat(stat_runner: Runner, args: list[str]) -> int:
    """``act`` run in a fresh process; its peak RSS (VmHWM: of this process
    alone, which the rusage of a child forked from pytest would not be)."""
    done = subprocess.run([sys.executable, "-c", PEAK_OF_ACT, "--conf", str(stat_runner.conf), *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                          cwd=stat_runner.work, env={**os.environ, "HOME": str(stat_runner.home)})
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split()[-1])


@pytest.mark.parametrize("args", [["stat", "-a"], ["stat", "-a", "--json"]])
def test_stat_needs_no_more_memory_for_ten_times_the_jobs(stat_runner: Runner, scripted_server: ScriptedServer,
                                                          args: list[str]) -> None:
    peaks = {}
    for jobs in (20_000, 200_000):
        pages = [json.dumps([job(n) for n in range(start, min(start + 5000, jobs + 1))]).encode()
                 for start in range(1, jobs + 1, 5000)]
        body = b"[" + b",".join(page[1:-1] for page in pages) + b"]"
        scripted_server.script = chunked(split(body, 64 * 1024))
        peaks[jobs] = peak_kib_of_stat(stat_runner, args)
    # The body grows by about 19 MB; decoded whole, the rows would take several times that.
    assert peaks[200_000] - peaks[20_000] < 6 * 1024, peaks
