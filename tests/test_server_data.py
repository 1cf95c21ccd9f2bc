"""Job files over HTTP: input uploads, result listings and downloads, the
legacy zip; against a live ``actd serve`` on each database.

Jobs are put into their states with the store, result files are written
where the engine's fetcher puts them. Server memory is checked through
``/proc/<pid>/status`` of the live server process.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from actframework.processes import process_owner
from actframework.server.files import remove_stale_uploads
from fixtures.server import LiveServer


pytestmark = pytest.mark.integration

ACTD = Path(sys.executable).with_name("actd")
MIB = 1024 * 1024
LIMIT = 100_000


# --------------------------------------------------------------------------- helpers




def all_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not p.is_dir())


def raw_request(api: LiveServer, method: str, target: str, token: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request whose target is sent exactly as given (``requests`` would
    normalise ``..`` segments away)."""
    host, port = api.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, target, body=body, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --------------------------------------------------------------------------- a server with a small upload limit


class _LimitedServers:
    """A second ``actd serve`` per backend with ``max_upload_bytes`` =
    :data:`LIMIT`, on the same database and data directory as ``api``."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[subprocess.Popen[bytes], str]] = {}

    def url_for(self, api: LiveServer) -> str:
        if api.url not in self.running:
            self.running[api.url] = self._start(api)
        return self.running[api.url][1]

    def _start(self, api: LiveServer) -> tuple[subprocess.Popen[bytes], str]:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        text = api.config.path.read_text()
        assert "max_upload_bytes: 10737418240" in text
        text = text.replace("max_upload_bytes: 10737418240", f"max_upload_bytes: {LIMIT}")
        listen = f"listen: 127.0.0.1:{api.url.rsplit(':', 1)[1]}"
        assert listen in text
        text = text.replace(listen, f"listen: 127.0.0.1:{port}")
        config = api.config.path.with_name("actd-limited.yaml")
        config.write_text(text)
        config.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTD_")}
        log = config.with_suffix(".log").open("wb")
        process = subprocess.Popen([str(ACTD), "serve", "--config", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/info", timeout=2).status_code == 401:
                    return process, url
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"limited actd did not start:\n{config.with_suffix('.log').read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process, _ in self.running.values():
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def _limited_servers() -> Iterator[_LimitedServers]:
    servers = _LimitedServers()
    yield servers
    servers.stop()


@pytest.fixture
def limited_url(api: LiveServer, _limited_servers: _LimitedServers) -> str:
    return _limited_servers.url_for(api)


# --------------------------------------------------------------------------- uploads


def test_chunked_upload_lands_in_the_jobs_input_dir(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    data = os.urandom(3 * MIB + 17)
    response = api.session(token).put(f"{api.url}/jobs/{job}/data/input.bin", data=chunks_of(data))
    assert response.status_code == 204 and response.content == b""
    assert (api.config.inputs_dir / str(job) / "input.bin").read_bytes() == data
    assert all_files(api.config.inputs_dir / str(job)) == ["input.bin"]


def test_upload_with_content_length_to_a_nested_path_replaces_older_content(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    session = api.session(token)
    url = f"{api.url}/jobs/{job}/data/sub/dir/file.txt"
    assert session.put(url, data=b"old content, longer than the new").status_code == 204
    data = os.urandom(2 * MIB)
    response = session.put(url, data=data)
    assert response.status_code == 204
    assert (api.config.inputs_dir / str(job) / "sub" / "dir" / "file.txt").read_bytes() == data
    assert all_files(api.config.inputs_dir / str(job)) == ["sub/dir/file.txt"]


def test_empty_upload_creates_an_empty_file(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    assert api.session(token).put(f"{api.url}/jobs/{job}/data/empty", data=b"").status_code == 204
    assert (api.config.inputs_dir / str(job) / "empty").read_bytes() == b""


def test_upload_to_a_job_of_another_user_or_no_job_is_refused(api: LiveServer, arc_ce) -> None:
    owner, _ = api.token_for(arc_ce.proxy)
    _, other_token = api.token_for(arc_ce.proxy2)
    job = api.new_job(owner)
    session = api.session(other_token)
    for job_id in (job, 999_999, 2**40):
        response = session.put(f"{api.url}/jobs/{job_id}/data/x", data=b"data")
        assert (response.status_code, response.json()) == (400, {"msg": f"Client Job ID {job_id} does not exist"})
    assert not (api.config.inputs_dir / str(job)).exists()


@pytest.mark.parametrize(
    "target",
    [
        "/jobs/{job}/data/../../escape",
        "/jobs/{job}/data/sub/../../../escape",
        "/jobs/{job}/data/%2e%2e/%2E%2E/escape",
        "/jobs/{job}/data/..%2f..%2fescape",
        "/jobs/{job}/data//tmp/escape",
        "/jobs/{job}/data/%2Ftmp%2Fescape",
        "/jobs/{job}/data/./escape",
        "/jobs/{job}/data/a//escape",
        "/jobs/{job}/data/dir/",
        "/jobs/{job}/data/",
        "/jobs/{job}/data/bad%00name",
    ],
)
def test_upload_paths_that_leave_the_job_dir_are_refused(api: LiveServer, arc_ce, target: str) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    status, body = raw_request(api, "PUT", target.format(job=job), token, b"payload")
    assert status == 400 and b"Invalid file path" in body
    assert all_files(api.config.inputs_dir) == []
    assert not list(api.config.data_dir.parent.rglob("escape")) and not Path("/tmp/escape").exists()


def test_upload_through_a_symlink_out_of_the_job_dir_is_refused(api: LiveServer, arc_ce, tmp_path: Path) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    outside = tmp_path / "outside"
    outside.mkdir()
    job_dir = api.config.inputs_dir / str(job)
    job_dir.mkdir(parents=True)
    (job_dir / "link").symlink_to(outside)
    (job_dir / "filelink").symlink_to(outside / "target")
    session = api.session(token)
    for name in ("link/file", "link/deeper/file", "filelink"):
        response = session.put(f"{api.url}/jobs/{job}/data/{name}", data=b"payload")
        assert (response.status_code, response.json()) == (400, {"msg": f"Invalid file path: {name}"})
    assert list(outside.iterdir()) == []


def test_oversized_chunked_upload_gets_413_and_leaves_nothing(api: LiveServer, arc_ce, limited_url: str) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    session = api.session(token)
    response = session.put(f"{limited_url}/jobs/{job}/data/new/dir/big",
                           data=chunks_of(os.urandom(3 * LIMIT), 10_000))
    assert response.status_code == 413
    assert response.json() == {"msg": f"File is larger than the upload limit of {LIMIT} bytes"}
    assert list(api.config.inputs_dir.iterdir()) == []
    assert session.put(f"{limited_url}/jobs/{job}/data/kept", data=b"kept").status_code == 204
    response = session.put(f"{limited_url}/jobs/{job}/data/new/big", data=chunks_of(os.urandom(3 * LIMIT), 10_000))
    assert response.status_code == 413
    assert all_files(api.config.inputs_dir) == [f"{job}/kept"] and not (api.config.inputs_dir / str(job) / "new").exists()
    (api.config.inputs_dir / str(job) / "kept").unlink()
    exact = os.urandom(LIMIT)
    assert session.put(f"{limited_url}/jobs/{job}/data/exact", data=chunks_of(exact, 10_000)).status_code == 204
    assert (api.config.inputs_dir / str(job) / "exact").read_bytes() == exact
    assert all_files(api.config.inputs_dir) == [f"{job}/exact"]


def test_declared_oversized_upload_gets_413_before_the_body_is_sent(
        api: LiveServer, arc_ce, limited_url: str) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    host, port = limited_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("PUT", f"/jobs/{job}/data/big")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Length", str(10**12))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert b"upload limit" in response.read()
    finally:
        connection.close()
    response = api.session(token).put(f"{limited_url}/jobs/{job}/data/big", data=os.urandom(LIMIT + 1))
    assert response.status_code == 413
    assert all_files(api.config.inputs_dir) == []


def test_large_upload_is_written_without_holding_it_in_memory(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid)
    size = 64 * MIB
    block = os.urandom(MIB)
    pid = api.process.pid
    before = rss_kib(pid, "VmRSS")
    reset_peak_rss(pid)
    response = api.session(token).put(f"{api.url}/jobs/{job}/data/large",
                                      data=(block for _ in range(size // MIB)))
    assert response.status_code == 204
    grown = rss_kib(pid, "VmHWM") - before
    assert grown < 24 * 1024, f"server peak RSS grew by {grown} KiB for a {size // MIB} MiB upload"
    target = api.config.inputs_dir / str(job) / "large"
    assert target.stat().st_size == size
    with target.open("rb") as handle:
        assert handle.read(MIB) == block


def test_legacy_upload_takes_id_and_filename_from_the_query(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    _, other_token = api.token_for(arc_ce.proxy2)
    job = api.new_job(proxyid)
    session = api.session(token)
    data = os.urandom(MIB)
    response = session.put(f"{api.url}/data", params={"id": str(job), "filename": "in.dat"}, data=chunks_of(data))
    assert response.status_code == 204
    assert (api.config.inputs_dir / str(job) / "in.dat").read_bytes() == data
    for params, message in (
        ({"filename": "x"}, "No job ID given"),
        ({"id": "", "filename": "x"}, "No job ID given"),
        ({"id": f"{job},{job + 1}", "filename": "x"}, "More than one job ID given"),
        ({"id": f"{job}-{job + 3}", "filename": "x"}, "More than one job ID given"),
        ({"id": str(job)}, "File name not given"),
        ({"id": str(job), "filename": ""}, "File name not given"),
        ({"id": str(job), "filename": "../escape"}, "Invalid file path: ../escape"),
        ({"id": "abc", "filename": "x"}, "Invalid job ID: abc"),
    ):
        response = session.put(f"{api.url}/data", params=params, data=b"x")
        assert (response.status_code, response.json()) == (400, {"msg": message}), params
    response = api.session(other_token).put(f"{api.url}/data", params={"id": str(job), "filename": "y"}, data=b"y")
    assert (response.status_code, response.json()) == (400, {"msg": f"Client Job ID {job} does not exist"})
    assert all_files(api.config.inputs_dir) == [f"{job}/in.dat"]


# --------------------------------------------------------------------------- results


def test_results_listing_files_and_subdirectories(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceJob1")
    api.write_results("ceJob1", {"stdout": b"hello\n", "b.txt": b"b", "sub/inner.dat": b"inner",
                                  "sub/deeper/x": b"x"})
    (api.config.results_dir / "ceJob1" / "emptydir").mkdir()
    session = api.session(token)
    base = f"{api.url}/jobs/{job}/results"
    assert session.get(f"{base}/").json() == {"file": ["b.txt", "stdout"], "dir": ["emptydir", "sub"]}
    assert session.get(f"{base}/sub/").json() == {"file": ["inner.dat"], "dir": ["deeper"]}
    assert session.get(f"{base}/emptydir/").json() == {"file": [], "dir": []}
    response = session.get(f"{base}/stdout")
    assert response.status_code == 200 and response.content == b"hello\n"
    assert session.get(f"{base}/sub/deeper/x").content == b"x"
    for path, message in (("nodir/", "Output directory does not exist"),
                          ("stdout/", "Output directory does not exist"),
                          ("missing", "Output file does not exist"),
                          ("sub", "Output file does not exist")):
        response = session.get(f"{base}/{path}")
        assert (response.status_code, response.json()) == (404, {"msg": message}), path


def test_results_file_supports_range_requests(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "donefailed", "ceJob2")
    data = os.urandom(300_000)
    api.write_results("ceJob2", {"out.bin": data})
    session = api.session(token)
    url = f"{api.url}/jobs/{job}/results/out.bin"
    response = session.get(url, headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert response.content == data[1000:2000]
    response = session.get(url, headers={"Range": "bytes=-500"})
    assert response.status_code == 206 and response.content == data[-500:]
    response = session.get(url, headers={"Range": "bytes=299000-"})
    assert response.status_code == 206 and response.content == data[299000:]
    full = session.get(url)
    assert full.status_code == 200 and full.content == data and full.headers["Accept-Ranges"] == "bytes"


def test_results_need_a_done_job_of_the_caller_with_a_results_dir(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    _, other_token = api.token_for(arc_ce.proxy2)
    running = api.new_job(proxyid, "running", "ceRunning")
    unconfirmed = api.new_job(proxyid)
    done = api.new_job(proxyid, "done", "ceDone")
    no_dir = api.new_job(proxyid, "done", "ceNoDir")
    odd = api.new_job(proxyid, "done", "..")
    no_ce_id = api.new_job(proxyid, "done")
    api.write_results("ceRunning", {"f": b"f"})
    api.write_results("ceDone", {"f": b"f"})
    session = api.session(token)
    for job in (running, unconfirmed, 999_999, 2**40):
        for path in ("", "f"):
            response = session.get(f"{api.url}/jobs/{job}/results/{path}")
            assert (response.status_code, response.json()) == (404, {"msg": "No results in current job state"})
    for job in (no_dir, odd, no_ce_id):
        response = session.get(f"{api.url}/jobs/{job}/results/")
        assert (response.status_code, response.json()) == (404, {"msg": "Job has no results"})
    other = api.session(other_token)
    for path in ("", "f"):
        response = other.get(f"{api.url}/jobs/{done}/results/{path}")
        assert (response.status_code, response.json()) == (404, {"msg": "No results in current job state"})
    assert session.get(f"{api.url}/jobs/{done}/results/f").content == b"f"


def test_results_paths_cannot_leave_the_job_results_dir(api: LiveServer, arc_ce, tmp_path: Path) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceJob3")
    api.new_job(proxyid, "done", "ceNeighbour")
    api.write_results("ceNeighbour", {"secret": b"neighbour"})
    root = api.write_results("ceJob3", {"f": b"f", "sub/g": b"g"})
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    (root / "outlink").symlink_to(secret)
    (root / "outdir").symlink_to(tmp_path, target_is_directory=True)
    (root / "inlink").symlink_to(root / "sub" / "g")
    for target in ("../ceNeighbour/secret", "%2e%2e/ceNeighbour/secret", "sub/../../ceNeighbour/secret",
                   "..%2fceNeighbour%2fsecret", "/etc/passwd", "%2Fetc%2Fpasswd", "../", "./f", "sub//g"):
        status, body = raw_request(api, "GET", f"/jobs/{job}/results/{target}", token)
        assert status == 400 and b"Invalid file path" in body, target
    session = api.session(token)
    base = f"{api.url}/jobs/{job}/results"
    for path, message in (("outlink", "Output file does not exist"), ("outdir/secret", "Output file does not exist"),
                          ("outdir/", "Output directory does not exist")):
        response = session.get(f"{base}/{path}")
        assert (response.status_code, response.json()) == (404, {"msg": message}), path
    assert session.get(f"{base}/").json() == {"file": ["f", "inlink"], "dir": ["sub"]}
    assert session.get(f"{base}/inlink").content == b"g"


def test_large_result_file_is_streamed(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceLarge")
    root = api.config.results_dir / "ceLarge"
    root.mkdir(parents=True)
    size = 64 * MIB
    block = os.urandom(MIB)
    with (root / "large").open("wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)
    pid = api.process.pid
    before = rss_kib(pid, "VmRSS")
    reset_peak_rss(pid)
    digest = hashlib.sha256()
    received = 0
    with api.session(token).get(f"{api.url}/jobs/{job}/results/large", stream=True) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(MIB):
            digest.update(chunk)
            received += len(chunk)
    grown = rss_kib(pid, "VmHWM") - before
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(block * (size // MIB)).hexdigest()
    assert grown < 24 * 1024, f"server peak RSS grew by {grown} KiB for a {size // MIB} MiB file"

    reset_peak_rss(pid)
    before = rss_kib(pid, "VmRSS")
    with api.session(token).get(f"{api.url}/results", params={"id": str(job)}, stream=True) as response:
        assert response.status_code == 200
        zipped = sum(len(chunk) for chunk in response.iter_content(MIB))
    grown = rss_kib(pid, "VmHWM") - before
    assert zipped > size  # random data does not compress
    assert grown < 24 * 1024, f"server peak RSS grew by {grown} KiB zipping a {size // MIB} MiB file"


# --------------------------------------------------------------------------- legacy zip


def test_legacy_results_zip_holds_the_results_dir(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    job = api.new_job(proxyid, "done", "ceZip")
    files = {"stdout": b"out\n", "sub/data.bin": os.urandom(3 * MIB), "sub/deeper/x.txt": b"x" * 5000}
    root = api.write_results("ceZip", files)
    (root / "emptydir").mkdir()
    response = api.session(token).get(f"{api.url}/results", params={"id": str(job)})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment; filename=ceZip.zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert {name: archive.read(name) for name in names if not name.endswith("/")} == files
        assert {"emptydir/", "sub/", "sub/deeper/"} <= set(names)


def test_legacy_results_statuses(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    _, other_token = api.token_for(arc_ce.proxy2)
    done = api.new_job(proxyid, "donefailed", "ceLegacy")
    no_dir = api.new_job(proxyid, "done", "ceLegacyNoDir")
    running = api.new_job(proxyid, "running", "ceLegacyRunning")
    api.write_results("ceLegacy", {"f": b"f"})
    api.write_results("ceLegacyRunning", {"f": b"f"})
    session = api.session(token)
    url = f"{api.url}/results"
    response = session.get(url, params={"id": str(no_dir)})
    assert response.status_code == 204 and response.content == b""
    for job in (running, 999_999):
        response = session.get(url, params={"id": str(job)})
        assert (response.status_code, response.json()) == (404, {"msg": "Results for job not found"})
    response = api.session(other_token).get(url, params={"id": str(done)})
    assert (response.status_code, response.json()) == (404, {"msg": "Results for job not found"})
    for params, message in (({}, "No job ID given"), ({"id": ""}, "No job ID given"),
                            ({"id": f"{done},{no_dir}"}, "Cannot fetch results of more than one job")):
        response = session.get(url, params=params)
        assert (response.status_code, response.json()) == (400, {"msg": message}), params
    response = session.get(url, params={"id": str(done)})
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("f") == b"f"


def test_a_starting_server_removes_only_upload_temporaries_of_dead_processes_of_its_host(tmp_path: Path) -> None:
    host = process_owner().rpartition(":")[0]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = tmp_path / "7" / "sub"
    job.mkdir(parents=True)
    names = {
        "dead": f".upload-{host}:{dead.pid}-abc123.part",
        "alive": f".upload-{process_owner()}-def456.part",
        "elsewhere": f".upload-other.example.org:{dead.pid}-ghi789.part",
        "input": "in.part",
    }
    for name in names.values():
        (job / name).write_bytes(b"x")
    assert remove_stale_uploads(tmp_path) == 1
    assert sorted(p.name for p in job.iterdir()) == sorted(n for k, n in names.items() if k != "dead")
