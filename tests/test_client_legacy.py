"""Job files with servers that only have the older API forms
(:mod:`actframework.client.legacy`).

An old aCT server is our own app with the new-style data and results routes
taken out, served by uvicorn in a thread on the live server's database and
data directory; the full ``actd serve`` shows what an existing route's
errors look like. Answers no real server gives on demand (a hostile or
broken zip, a gateway error, a dropped connection) come from the scripted
HTTP server. SQLite is enough: the database is not what is tested here.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any, cast

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from fixtures.scripted_http import ScriptedServer, answer, drop
from fixtures.server import LiveServer, free_port

from actframework.client import legacy
from actframework.client.legacy import (
    answer_body,
    download_results_zip,
    extract_zip,
    route_missing,
    upload_input_legacy,
)
from actframework.errors import (
    ServerError,
    StorageError,
    TransferCancelled,
    TransportError,
)
from actframework.http import HTTPClient, RetryPolicy
from actframework.server import app as server_app
from actframework.server.app import create_app

MIB = 1024 * 1024
#: Requests that an existing route answers with an error: (method, path, query).
ROUTE_ERRORS: list[tuple[str, str, dict[str, str | int] | None]] = [
    ("GET", "results", {"id": 999999}),
    ("PUT", "data", {"id": 999999, "filename": "in.txt"}),
]
FAST = RetryPolicy(attempts=3, backoff=0.01, max_sleep=0.05)
SQLITE = pytest.mark.parametrize("api", ["sqlite"], indirect=True)
NEW_ROUTES = frozenset({"/jobs/{job_id}/data/{path:path}", "/jobs/{job_id}/results/{path:path}"})
LEGACY_ROUTES = frozenset({"/data", "/results"})


# --------------------------------------------------------------------------- helpers




def all_files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir())


def zip_bytes(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """A zip holding ``members`` under exactly the names given (hostile ones too)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free port; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start the reduced server")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def server_without(api: LiveServer, routes: frozenset[str]) -> Iterator[str]:
    """Our app on ``api``'s database and data directory, minus ``routes``:
    an older server that never had them. Each route group is included as a
    copy without those routes (the groups' own routers are shared by every
    app in this process and stay as they are)."""
    removed: list[str] = []
    register_all = server_app.register_routes

    class Filtering:
        def __init__(self, app: FastAPI) -> None:
            self.app = app

        def include_router(self, router: APIRouter, **options: Any) -> None:
            kept = [route for route in router.routes if getattr(route, "path", None) not in routes]
            removed.extend(getattr(route, "path", "") for route in router.routes if route not in kept)
            self.app.include_router(APIRouter(routes=kept), **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server_app, "register_routes", lambda app: register_all(cast(FastAPI, Filtering(app))))
        app = create_app(api.config, store=api.store)
    assert sorted(removed) == sorted(routes)
    with serving(app) as url:
        yield url


@pytest.fixture
def old_server(api: LiveServer) -> Iterator[str]:
    """An aCT "master"-like server: only ``PUT /data`` and ``GET /results``."""
    with server_without(api, NEW_ROUTES) as url:
        yield url


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory the code under test writes into and nothing else does."""
    path = tmp_path / "work"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- route_missing


def test_route_missing_means_a_framework_404_or_405_without_a_msg() -> None:
    assert route_missing(404, {"detail": "Not Found"})
    assert route_missing(405, {"detail": "Method Not Allowed"})
    assert route_missing(404, "<!doctype html><title>404 Not Found</title>")
    assert route_missing(404, None)
    assert route_missing(404, {"msg": "No such endpoint"}) and route_missing(405, {"msg": "Method not allowed"})
    assert not route_missing(404, {"msg": "Results for job not found"})
    assert not route_missing(405, {"msg": "No such endpoint"})
    assert not route_missing(400, {"detail": "Not Found"})
    assert not route_missing(500, "<html>")
    assert not route_missing(200, None)


@SQLITE
def test_errors_of_the_full_server_on_its_routes_are_not_missing_routes(api: LiveServer, arc_ce) -> None:
    _, token = api.token_for(arc_ce.proxy)
    with HTTPClient(api.url, token=token) as http:
        for method, path, params in [("GET", "jobs/999999/results/", None),
                                     ("GET", "jobs/999999/results/stdout", None),
                                     ("PUT", "jobs/999999/data/in.txt", None), *ROUTE_ERRORS]:
            response = http.request(method, path, params=params, data=b"x" if method == "PUT" else None)
            body = answer_body(response)
            assert response.status_code in (400, 404) and isinstance(body, dict) and body["msg"], path
            assert not route_missing(response.status_code, body), path
        for method, path in (("GET", "no/such/route"), ("DELETE", "info")):
            response = http.request(method, path)
            assert route_missing(response.status_code, answer_body(response)), path


@SQLITE
def test_an_old_server_lacks_the_new_routes_but_not_the_legacy_ones(
    api: LiveServer, arc_ce, old_server: str
) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceOld")
    api.write_results("ceOld", {"stdout": b"out"})
    with HTTPClient(old_server, token=token) as http:
        for method, path in (("GET", f"jobs/{job}/results/"), ("GET", f"jobs/{job}/results/stdout"),
                             ("PUT", f"jobs/{job}/data/in.txt")):
            response = http.request(method, path, data=b"x" if method == "PUT" else None)
            assert route_missing(response.status_code, answer_body(response)), path
        for method, path, params in ROUTE_ERRORS:
            response = http.request(method, path, params=params, data=b"x" if method == "PUT" else None)
            assert not route_missing(response.status_code, answer_body(response)), path


# --------------------------------------------------------------------------- uploads


@SQLITE
def test_legacy_upload_stores_the_file_and_reports_progress_up_to_its_size(
    api: LiveServer, arc_ce, old_server: str, tmp_path: Path
) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    data = os.urandom(3 * MIB + 17)
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    counts: list[int] = []
    with HTTPClient(old_server, token=token) as http:
        upload_input_legacy(http, job, "input.bin", source, progress=counts.append)
        upload_input_legacy(http, job, "empty", empty)
    inputs = api.config.inputs_dir / str(job)
    assert (inputs / "input.bin").read_bytes() == data
    assert (inputs / "empty").read_bytes() == b""
    assert all_files(inputs) == ["empty", "input.bin"]
    assert sum(counts) == len(data) and all(count > 0 for count in counts) and len(counts) > 1


@SQLITE
def test_legacy_upload_errors_carry_the_servers_msg(api: LiveServer, arc_ce, old_server: str,
                                                     tmp_path: Path) -> None:
    owner, owner_token = api.token_for(arc_ce.proxy)
    _, other_token = api.token_for(arc_ce.proxy2)
    job = api.new_job(owner)
    source = tmp_path / "in.txt"
    source.write_bytes(b"input")
    with HTTPClient(old_server, token=other_token) as http:
        with pytest.raises(ServerError) as refused:
            upload_input_legacy(http, job, "in.txt", source, progress=lambda _: None)
        assert (refused.value.status, refused.value.msg) == (400, f"Client Job ID {job} does not exist")
        with pytest.raises(StorageError, match="cannot read"):
            upload_input_legacy(http, job, "in.txt", tmp_path / "missing")
    with (HTTPClient(old_server, token=owner_token) as http,
          pytest.raises(ServerError, match=r"^Invalid file path: \.\./escape$")):
        upload_input_legacy(http, job, "../escape", source)
    assert all_files(api.config.inputs_dir) == []


def test_legacy_upload_progress_nets_to_the_file_size_when_the_upload_is_retried(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    data = os.urandom(MIB)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    scripted_server.script = lambda h, n: answer(h, 503 if n == 1 else 204)
    counts: list[int] = []
    upload_input_legacy(HTTPClient(scripted_server.url, retry=FAST), 7, "in.bin", source, progress=counts.append)
    assert [seen.body for seen in scripted_server.seen] == [data, data]
    assert scripted_server.seen[1].path == "/base/data?id=7&filename=in.bin"
    assert sum(counts) == len(data)


# --------------------------------------------------------------------------- results zip


@SQLITE
def test_results_zip_is_unpacked_byte_for_byte_with_its_subdirectories(
    api: LiveServer, arc_ce, old_server: str, work: Path
) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceZipped")
    files = {"stdout": b"hello\n", "sub/data.bin": os.urandom(9 * MIB + 5), "sub/deeper/x.txt": b"x" * 5000}
    root = api.write_results("ceZipped", files)
    (root / "emptydir").mkdir()
    counts: list[int] = []
    with HTTPClient(old_server, token=token) as http:
        got = download_results_zip(http, job, work / "out", progress=counts.append)
        (work / "existing").mkdir()
        assert download_results_zip(http, job, work / "existing") == sorted(files)
    assert got == sorted(files)
    for destination in (work / "out", work / "existing"):
        assert all_files(destination) == sorted(files)
        assert {name: (destination / name).read_bytes() for name in files} == files
        assert (destination / "emptydir").is_dir()
    assert sorted(p.name for p in work.iterdir()) == ["existing", "out"]  # the zips are gone
    zipped = api.session(token).get(f"{old_server}/results", params={"id": str(job)}).content
    assert sum(counts) == len(zipped)


@SQLITE
def test_no_results_is_an_empty_list_and_creates_nothing(api: LiveServer, arc_ce, old_server: str,
                                                         work: Path) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    no_dir = api.new_job(proxyid, "done", "ceNoDir")  # 204
    running = api.new_job(proxyid, "running", "ceRunning")  # 404 with a msg
    api.write_results("ceRunning", {"f": b"f"})
    with HTTPClient(old_server, token=token) as http:
        for job in (no_dir, running, 999_999):
            assert download_results_zip(http, job, work / "out") == []
    assert list(work.iterdir()) == []


@SQLITE
def test_a_server_without_the_legacy_routes_is_a_server_error(api: LiveServer, arc_ce, work: Path,
                                                               tmp_path: Path) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceGone")
    api.write_results("ceGone", {"f": b"f"})
    source = tmp_path / "in.txt"
    source.write_bytes(b"in")
    with server_without(api, NEW_ROUTES | LEGACY_ROUTES) as url, HTTPClient(url, token=token) as http:
        with pytest.raises(ServerError) as download:
            download_results_zip(http, job, work / "out")
        with pytest.raises(ServerError) as upload:
            upload_input_legacy(http, job, "in.txt", source)
    assert download.value.status in (404, 405) and upload.value.status in (404, 405)
    assert list(work.iterdir()) == []
    assert all_files(api.config.inputs_dir) == []


@SQLITE
@pytest.mark.parametrize("stop", [KeyboardInterrupt, TransferCancelled])
def test_interrupted_download_removes_what_it_wrote_and_lets_the_interrupt_through(
    api: LiveServer, arc_ce, old_server: str, work: Path, stop: type[BaseException]
) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceBreak")
    api.write_results("ceBreak", {"a": os.urandom(MIB), "sub/b": b"b"})

    def interrupt(_: int) -> None:
        raise stop("stopped")

    with HTTPClient(old_server, token=token) as http, pytest.raises(stop) as stopped:
        download_results_zip(http, job, work / "out", progress=interrupt)
    assert type(stopped.value) is stop
    assert list(work.iterdir()) == []


def test_a_hostile_zip_from_a_server_is_refused_and_leaves_nothing(
    scripted_server: ScriptedServer, work: Path
) -> None:
    payload = zip_bytes({"good.txt": b"good", "../evil": b"evil"})
    scripted_server.script = lambda h, n: answer(h, 200, payload, "application/zip")
    with pytest.raises(StorageError, match=r"^results of job 5: zip member '\.\./evil' leads outside"):
        download_results_zip(HTTPClient(scripted_server.url), 5, work / "out")
    assert scripted_server.seen[0].path == "/base/results?id=5"
    assert list(work.iterdir()) == [] and not (work.parent / "evil").exists()


@pytest.mark.parametrize("payload", [b"<html>not a zip</html>", zip_bytes({"a": b"a" * 1000})[:500]],
                         ids=["html", "truncated"])
def test_a_body_that_is_not_a_zip_is_a_storage_error_and_leaves_nothing(
    scripted_server: ScriptedServer, work: Path, payload: bytes
) -> None:
    scripted_server.script = lambda h, n: answer(h, 200, payload, "application/zip")
    with pytest.raises(StorageError, match="not a valid zip"):
        download_results_zip(HTTPClient(scripted_server.url), 5, work / "out")
    assert list(work.iterdir()) == []


def test_a_download_that_breaks_off_is_a_transport_error_and_leaves_nothing(
    scripted_server: ScriptedServer, work: Path
) -> None:
    def half_then_drop(handler: BaseHTTPRequestHandler, n: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(4 * MIB))
        handler.end_headers()
        handler.wfile.write(b"PK" + b"\0" * MIB)
        drop(handler)

    scripted_server.script = half_then_drop
    with pytest.raises(TransportError):
        download_results_zip(HTTPClient(scripted_server.url), 5, work / "out")
    assert list(work.iterdir()) == []


# --------------------------------------------------------------------------- extract_zip


@pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "sub/../../evil", "./../evil"])
def test_members_that_leave_the_destination_are_refused_before_anything_is_written(
    tmp_path: Path, work: Path, name: str
) -> None:
    archive = tmp_path / "hostile.zip"
    archive.write_bytes(zip_bytes({"good.txt": b"good", name: b"evil"}))
    with pytest.raises(StorageError, match="leads outside"):
        extract_zip(archive, work / "out")
    (work / "existing").mkdir()
    with pytest.raises(StorageError, match="leads outside"):
        extract_zip(archive, work / "existing")
    assert list(work.iterdir()) == [work / "existing"] and list((work / "existing").iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_symlink_members_are_not_created(tmp_path: Path, work: Path) -> None:
    archive = tmp_path / "links.zip"
    archive.write_bytes(zip_bytes({"f": b"f", "sub/g": b"g"}, symlinks={"link": "/etc/passwd", "sub/up": ".."}))
    assert extract_zip(archive, work / "out") == ["f", "sub/g"]
    assert not any(p.is_symlink() for p in (work / "out").rglob("*"))
    assert all_files(work / "out") == ["f", "sub/g"]


def test_a_damaged_member_removes_the_files_already_unpacked(tmp_path: Path, work: Path) -> None:
    good, bad = b"first member " * 100, b"second member " * 100
    payload = zip_bytes({"a": good, "sub/b": bad})
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(payload.replace(bad, bad[:-1] + b"?"))  # stored: a CRC error on reading sub/b
    with pytest.raises(StorageError, match="not a valid zip"):
        extract_zip(archive, work / "out")
    (work / "existing").mkdir()
    with pytest.raises(StorageError, match="not a valid zip"):
        extract_zip(archive, work / "existing")
    assert list(work.iterdir()) == [work / "existing"] and list((work / "existing").iterdir()) == []


def test_an_interrupt_while_unpacking_removes_the_files_already_unpacked(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "r.zip"
    archive.write_bytes(zip_bytes({"a": b"a", "sub/b": b"b", "c": b"c"}))
    copied: list[object] = []
    real_copy = legacy.shutil.copyfileobj

    def copy_then_interrupt(source: IO[bytes], target: IO[bytes], length: int = 0) -> None:
        if copied:
            raise KeyboardInterrupt
        copied.append(source)
        real_copy(source, target, length)

    monkeypatch.setattr(legacy.shutil, "copyfileobj", copy_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        extract_zip(archive, work / "out")
    assert copied and list(work.iterdir()) == []


def test_a_destination_that_is_not_empty_is_refused_untouched(
    scripted_server: ScriptedServer, tmp_path: Path, work: Path
) -> None:
    payload = zip_bytes({"mine": b"theirs"})
    archive = tmp_path / "r.zip"
    archive.write_bytes(payload)
    scripted_server.script = lambda h, n: answer(h, 200, payload, "application/zip")
    (work / "mine").write_bytes(b"mine")
    with pytest.raises(StorageError, match="not an empty directory"):
        extract_zip(archive, work)
    with pytest.raises(StorageError, match="not an empty directory"):
        download_results_zip(HTTPClient(scripted_server.url), 5, work)
    assert scripted_server.seen == []  # refused before downloading
    assert (work / "mine").read_bytes() == b"mine" and all_files(work) == ["mine"]


def test_an_empty_zip_gives_an_empty_directory(tmp_path: Path, work: Path) -> None:
    archive = tmp_path / "empty.zip"
    archive.write_bytes(zip_bytes({}))
    assert extract_zip(archive, work / "out") == []
    assert (work / "out").is_dir() and list((work / "out").iterdir()) == []


def test_answer_body_is_json_when_it_can_be_and_text_otherwise(scripted_server: ScriptedServer) -> None:
    bodies = {1: (b'{"msg": "m"}', "application/json"), 2: (b"<html>404</html>", "text/html"), 3: (b"", "text/plain")}
    scripted_server.script = lambda h, n: answer(h, 404, *bodies[n])
    http = HTTPClient(scripted_server.url)
    assert [answer_body(http.request("GET", "x")) for _ in bodies] == [{"msg": "m"}, "<html>404</html>", ""]


# --------------------------------------------------------------------------- the actstore backend on either server


@SQLITE
@pytest.mark.parametrize("server", ["old", "new"])
def test_the_actstore_backend_uploads_and_act_get_downloads_on_old_and_new_servers(
    api: LiveServer, arc_ce, old_server: str, tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actframework.client.api import ACTClient
    from actframework.client.results import download_results
    from actframework.client.server_files import client_storage_context
    from actframework.hookspecs import InputFile, StorageJob
    from actframework.plugins import load_backend

    url = old_server if server == "old" else api.url
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    first, second = tmp_path / "first.bin", tmp_path / "second.txt"
    first.write_bytes(os.urandom(MIB + 3))
    second.write_text("second\n")
    storage = load_backend("actstore")
    with ACTClient(url, token=token) as act:
        context = client_storage_context(act)
        inputs = (InputFile("first.bin", str(first)), InputFile("second.txt", str(second)))
        staged = storage.stage_inputs(context, StorageJob(id=job, description="", inputs=inputs))
        assert [(s.name, s.size) for s in staged] == [("first.bin", MIB + 3), ("second.txt", 7)]
        stored = api.config.inputs_dir / str(job)
        assert (stored / "first.bin").read_bytes() == first.read_bytes()
        assert (stored / "second.txt").read_text() == "second\n"

        done = api.new_job(proxyid, "done", f"ce{server}")
        files = {"out.txt": b"out\n", "dir/nested.bin": os.urandom(70000)}
        api.write_results(f"ce{server}", files)
        monkeypatch.chdir(tmp_path)
        [result] = download_results(act, storage, context, [{"c_id": done, "c_jobname": "j",
                                                             "a_IDFromEndpoint": f"ce{server}"}])
    assert sorted(result.files) == sorted(files) and result.error is None
    assert {name: (tmp_path / f"ce{server}" / name).read_bytes() for name in files} == files
