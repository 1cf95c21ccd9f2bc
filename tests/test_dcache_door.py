"""The test dCache door (``fixtures/dcache_door.py``) behaves as dCache's documentation says.

These tests pin down what the ``dcache`` backend's tests rely on: an upload
with ``Expect: 100-continue`` is redirected (307, no 100) to the pool with a
one-time token and its connection closed; one without is relayed by the door;
a client that does not wait for pool selection falls back to relaying; the
door requires a client certificate (RFC 3820 proxies accepted) and the pool
none; MKCOL, PROPFIND, DELETE and GET follow RFC 4918. curl is the reference
client, as in dCache's User Guide.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests

from fixtures.arex import ArcCE
from fixtures.dcache_door import DCacheDoor
from fixtures.required import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.arex]

MIB = 1024 * 1024
DAV = "{DAV:}"


# ---------------------------------------------------------------------- helpers


#: curl's environment: no proxy settings (``--noproxy`` as well).
CURL_ENV = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}


def curl_command(ce: ArcCE, *args: str, cert: bool = True, timeout: float = 60) -> list[str]:
    """A curl command line as the test user (proxy as client certificate unless ``cert=False``)."""
    if shutil.which("curl") is None:
        unavailable("curl", "it is not on PATH", "install Debian's curl package")
    command = ["curl", "-sS", "--noproxy", "*", "--max-time", str(int(timeout)), "--cacert", str(ce.ca_file)]
    if cert:
        command += ["--cert", str(ce.proxy), "--key", str(ce.proxy)]
    return [*command, *args]


def curl(ce: ArcCE, *args: str, cert: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run curl; its stdout is what ``-w`` asks for."""
    return subprocess.run(curl_command(ce, *args, cert=cert, timeout=timeout), capture_output=True, text=True,
                          timeout=timeout + 10, env=CURL_ENV, check=False)


def session(ce: ArcCE, *, cert: bool = True) -> requests.Session:
    """A requests session as the test user (or without a client certificate)."""
    client = requests.Session()
    client.trust_env = False
    client.verify = str(ce.ca_file)
    if cert:
        client.cert = str(ce.proxy)
    return client


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def tls_socket(ce: ArcCE, port: int, *, cert: bool = True) -> ssl.SSLSocket:
    """A TLS connection to ``localhost:port`` that verifies the server."""
    context = ssl.create_default_context(cafile=str(ce.ca_file))
    if cert:
        context.load_cert_chain(str(ce.proxy))
    raw = socket.create_connection(("localhost", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and what followed them, of one answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        block = sock.recv(65536)
        if not block:
            raise AssertionError(f"connection closed in the middle of an answer: {data!r}")
        data += block
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers, rest


def expect_put(ce: ArcCE, door: DCacheDoor, path: str, size: int) -> tuple[int, dict[str, str], ssl.SSLSocket]:
    """Send only the headers of a PUT with ``Expect: 100-continue``; the door's first answer."""
    sock = tls_socket(ce, door.door_port)
    sock.sendall((f"PUT {quote(path)} HTTP/1.1\r\nHost: localhost:{door.door_port}\r\n"
                  f"Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n").encode())
    status, headers, _ = read_head(sock)
    return status, headers, sock


def redirect_location(ce: ArcCE, door: DCacheDoor, path: str, size: int) -> str:
    status, headers, sock = expect_put(ce, door, path, size)
    sock.close()
    assert status == 307
    return headers["location"]


# ---------------------------------------------------------------------- uploads


def test_curl_upload_with_expect_is_redirected_to_the_pool(dcache_door: DCacheDoor, arc_ce: ArcCE,
                                                           tmp_path: Path) -> None:
    source = random_file(tmp_path / "five", 5 * MIB)
    dump = tmp_path / "headers"
    done = curl(arc_ce, "-T", str(source), "--location", "-D", str(dump), "-o", "/dev/null",
                "-w", "%{http_code} %{num_redirects}", dcache_door.url + "five")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "201 1"
    # The door's first (and only) answer is the 307: no 100 Continue from it.
    first_status = dump.read_text().splitlines()[0]
    assert first_status.startswith("HTTP/1.1 307"), dump.read_text()

    stats = dcache_door.stats()
    assert (stats.redirects, stats.door_bytes, stats.relayed_puts) == (1, 0, 0)
    assert (stats.pool_bytes, stats.pool_puts) == (5 * MIB, 1)
    assert (stats.expect_requests, stats.pool_expect_requests) == (1, 1)
    door_request, = stats.at("door")
    assert (door_request.method, door_request.path, door_request.expect, door_request.status,
            door_request.client_cert) == ("PUT", "/data/user/five", True, 307, True)
    pool_request, = stats.at("pool")
    assert (pool_request.method, pool_request.path, pool_request.status) == ("PUT", "/data/user/five", 201)
    assert pool_request.query.startswith("dcache-http-uuid=")
    assert pool_request.client_cert is False  # curl sends its certificate only when asked
    assert (dcache_door.user_dir / "five").read_bytes() == source.read_bytes()


def test_curl_upload_without_expect_is_relayed(dcache_door: DCacheDoor, arc_ce: ArcCE, tmp_path: Path) -> None:
    source = random_file(tmp_path / "five", 5 * MIB)
    done = curl(arc_ce, "-T", str(source), "--location", "-H", "Expect:", "-o", "/dev/null",
                "-w", "%{http_code} %{num_redirects}", dcache_door.url + "five")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "201 0"
    stats = dcache_door.stats()
    assert (stats.redirects, stats.relayed_puts, stats.door_bytes, stats.pool_bytes) == (0, 1, 5 * MIB, 0)
    assert stats.expect_requests == 0
    assert [(r.server, r.expect, r.status) for r in stats.requests] == [("door", False, 201)]
    assert (dcache_door.user_dir / "five").read_bytes() == source.read_bytes()


def test_requests_put_is_relayed_and_may_replace(dcache_door: DCacheDoor, arc_ce: ArcCE, tmp_path: Path) -> None:
    source = random_file(tmp_path / "two", 2 * MIB)
    with session(arc_ce) as client, source.open("rb") as body:
        response = client.put(dcache_door.url + "two", data=body, timeout=30)
        assert response.status_code == 201, response.text
        again = client.put(dcache_door.url + "two", data=b"short", timeout=30)
        assert again.status_code == 204, again.text
    stats = dcache_door.stats()
    assert (stats.redirects, stats.relayed_puts, stats.expect_requests) == (0, 2, 0)
    assert stats.door_bytes == 2 * MIB + len(b"short")
    assert (dcache_door.user_dir / "two").read_bytes() == b"short"


def test_a_client_that_does_not_wait_for_pool_selection_is_relayed(dcache_door: DCacheDoor, arc_ce: ArcCE,
                                                                    tmp_path: Path) -> None:
    source = random_file(tmp_path / "five", 5 * MIB)
    dcache_door.set_selection_delay(2.5)
    # curl waits 1 s for an answer to Expect, then sends the body anyway:
    # the door takes it and relays (dCache's fallback), no redirect.
    impatient = curl(arc_ce, "-T", str(source), "--location", "-o", "/dev/null",
                     "-w", "%{http_code} %{num_redirects}", dcache_door.url + "impatient")
    assert impatient.returncode == 0, impatient.stderr
    assert impatient.stdout == "201 0"
    # With enough patience the same upload is redirected once the pool is "selected".
    started = time.monotonic()
    patient = curl(arc_ce, "-T", str(source), "--location", "--expect100-timeout", "20", "-o", "/dev/null",
                   "-w", "%{http_code} %{num_redirects}", dcache_door.url + "patient")
    assert patient.returncode == 0, patient.stderr
    assert patient.stdout == "201 1"
    assert time.monotonic() - started >= 2.5
    stats = dcache_door.stats()
    assert (stats.fallback_relays, stats.relayed_puts, stats.redirects) == (1, 1, 1)
    assert (stats.door_bytes, stats.pool_bytes) == (5 * MIB, 5 * MIB)
    assert stats.selection_delay == 2.5
    for name in ("impatient", "patient"):
        assert (dcache_door.user_dir / name).read_bytes() == source.read_bytes()


def test_parallel_redirected_uploads(dcache_door: DCacheDoor, arc_ce: ArcCE, tmp_path: Path) -> None:
    sources = [random_file(tmp_path / f"file{index}", 2 * MIB + index) for index in range(8)]
    dcache_door.set_selection_delay(0.3)
    uploads = [subprocess.Popen(
        curl_command(arc_ce, "--expect100-timeout", "20", "--location", "-T", str(source), "-o", "/dev/null",
                     "-w", "%{http_code} %{num_redirects}", dcache_door.url + source.name),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CURL_ENV) for source in sources]
    for upload in uploads:
        out, err = upload.communicate(timeout=90)
        assert (upload.returncode, out) == (0, "201 1"), err
    stats = dcache_door.stats()
    assert (stats.redirects, stats.pool_puts, stats.door_bytes) == (8, 8, 0)
    assert stats.pool_bytes == sum(source.stat().st_size for source in sources)
    for source in sources:
        assert (dcache_door.user_dir / source.name).read_bytes() == source.read_bytes()


def test_the_door_is_silent_while_selecting_a_pool(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    dcache_door.set_selection_delay(1.0)
    sock = tls_socket(arc_ce, dcache_door.door_port)
    with sock:
        sock.sendall(f"PUT /data/user/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n"
                     f"Expect: 100-continue\r\n\r\n".encode())
        sock.settimeout(0.6)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # no 100 Continue, nothing at all yet
        sock.settimeout(10)
        status, headers, _ = read_head(sock)
    assert status == 307 and headers["location"].startswith(f"https://localhost:{dcache_door.pool_port}/")


def test_the_door_closes_the_connection_after_an_expect_request(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    status, headers, sock = expect_put(arc_ce, dcache_door, "/data/user/file", 1000)
    with sock:
        assert status == 307
        assert headers["connection"].lower() == "close"
        assert headers["content-length"] == "0"
        location = urlsplit(headers["location"])
        assert (location.scheme, location.hostname, location.port) == ("https", "localhost", dcache_door.pool_port)
        assert location.path == "/data/user/file"
        assert location.query.startswith("dcache-http-uuid=")
        uuid.UUID(location.query.split("=", 1)[1])
        sock.settimeout(5)
        assert sock.recv(1) == b""  # closed by the door (dCache #5604)


def test_the_door_keeps_connections_without_expect(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with tls_socket(arc_ce, dcache_door.door_port) as sock:
        for name in ("a", "b"):
            sock.sendall(f"PUT /data/user/{name} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc"
                         .encode())
            status, headers, _ = read_head(sock)
            assert status == 201 and headers.get("connection", "").lower() != "close"
    assert (dcache_door.user_dir / "b").read_bytes() == b"abc"
    assert dcache_door.stats().door_bytes == 6


def test_an_expect_put_that_cannot_succeed_gets_its_error_at_once(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    status, headers, sock = expect_put(arc_ce, dcache_door, "/data/user/missing/file", 1000)
    sock.close()
    assert status == 409 and headers["connection"].lower() == "close"
    stats = dcache_door.stats()
    assert (stats.redirects, stats.tokens_issued) == (0, 0)


# ---------------------------------------------------------------------- the pool's tokens


def test_the_pool_token_is_one_time_and_bound_to_its_path(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    location = redirect_location(arc_ce, dcache_door, "/data/user/once", 4)
    with session(arc_ce, cert=False) as pool:  # the pool wants no client certificate
        first = pool.put(location, data=b"data", timeout=30)
        assert first.status_code == 201, first.text
        replay = pool.put(location, data=b"evil", timeout=30)
        assert replay.status_code == 403
        forged = pool.put(f"{dcache_door.pool_url}data/user/once?dcache-http-uuid={uuid.uuid4()}",
                          data=b"evil", timeout=30)
        assert forged.status_code == 403
        no_token = pool.put(f"{dcache_door.pool_url}data/user/once", data=b"evil", timeout=30)
        assert no_token.status_code == 403
        other = redirect_location(arc_ce, dcache_door, "/data/user/other", 4)
        moved = pool.put(other.replace("/data/user/other", "/data/user/once"), data=b"evil", timeout=30)
        assert moved.status_code == 403
        assert pool.put(other, data=b"fine", timeout=30).status_code == 201  # still unused
    assert (dcache_door.user_dir / "once").read_bytes() == b"data"
    assert (dcache_door.user_dir / "other").read_bytes() == b"fine"
    stats = dcache_door.stats()
    assert (stats.tokens_issued, stats.tokens_rejected, stats.pool_puts) == (2, 4, 2)
    assert stats.pool_bytes == 8
    assert all(not entry.client_cert for entry in stats.at("pool"))


def test_the_pool_checks_the_token_before_continuing(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with tls_socket(arc_ce, dcache_door.pool_port, cert=False) as sock:
        sock.sendall(f"PUT /data/user/x?dcache-http-uuid={uuid.uuid4()} HTTP/1.1\r\nHost: localhost\r\n"
                     f"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n".encode())
        status, _, _ = read_head(sock)
    assert status == 403
    location = urlsplit(redirect_location(arc_ce, dcache_door, "/data/user/x", 3))
    with tls_socket(arc_ce, dcache_door.pool_port, cert=False) as sock:
        sock.sendall(f"PUT {location.path}?{location.query} HTTP/1.1\r\nHost: localhost\r\n"
                     f"Content-Length: 3\r\nExpect: 100-continue\r\n\r\n".encode())
        status, _, rest = read_head(sock)
        assert status == 100 and rest == b""
        sock.sendall(b"xyz")
        status, _, _ = read_head(sock)
    assert status == 201
    assert (dcache_door.user_dir / "x").read_bytes() == b"xyz"


# ---------------------------------------------------------------------- authentication


def test_the_door_refuses_clients_without_a_certificate(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with session(arc_ce, cert=False) as client, pytest.raises(requests.exceptions.ConnectionError):
        client.request("PROPFIND", dcache_door.url, headers={"Depth": "1"}, timeout=10)
    done = curl(arc_ce, "-X", "PROPFIND", "-H", "Depth: 1", dcache_door.url, cert=False)
    assert done.returncode != 0
    deadline = time.monotonic() + 5
    while dcache_door.stats().door_tls_failures < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = dcache_door.stats()
    assert stats.door_tls_failures == 2 and stats.requests == []


def test_the_door_accepts_the_user_certificate_too(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with requests.Session() as client:
        client.trust_env = False
        response = client.request("PROPFIND", dcache_door.url, headers={"Depth": "0"}, verify=str(arc_ce.ca_file),
                                  cert=(str(arc_ce.user_cert), str(arc_ce.user_key)), timeout=10)
    assert response.status_code == 207


# ---------------------------------------------------------------------- the namespace


def test_mkcol(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with session(arc_ce) as client:
        assert client.request("MKCOL", dcache_door.url + "job/", timeout=10).status_code == 201
        assert (dcache_door.user_dir / "job").is_dir()
        assert client.request("MKCOL", dcache_door.url + "job/", timeout=10).status_code == 405
        assert client.request("MKCOL", dcache_door.url + "a/b/", timeout=10).status_code == 409
        assert client.put(dcache_door.url + "job/f", data=b"1", timeout=10).status_code == 201
        assert client.request("MKCOL", dcache_door.url + "job/f", timeout=10).status_code == 405
        assert client.put(dcache_door.url + "a/f", data=b"1", timeout=10).status_code == 409


def propfind(client: requests.Session, url: str, depth: str) -> requests.Response:
    body = ('<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype/>'
            "<getcontentlength/></prop></propfind>")
    return client.request("PROPFIND", url, data=body, timeout=10,
                          headers={"Depth": depth, "Content-Type": "application/xml"})


def entries(response: requests.Response) -> dict[str, tuple[bool, int | None]]:
    """href -> (is a collection, content length) of a 207 answer."""
    assert response.status_code == 207, response.text
    result = {}
    for item in ElementTree.fromstring(response.content).iter(f"{DAV}response"):
        href = item.findtext(f"{DAV}href")
        assert href is not None
        assert item.findtext(f".//{DAV}status") == "HTTP/1.1 200 OK"
        is_collection = item.find(f".//{DAV}resourcetype/{DAV}collection") is not None
        length = item.findtext(f".//{DAV}getcontentlength")
        result[href] = (is_collection, int(length) if length is not None else None)
    return result


def test_propfind(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    odd = "a b%ü.txt"
    with session(arc_ce) as client:
        assert client.request("MKCOL", dcache_door.url + "job/", timeout=10).status_code == 201
        assert client.request("MKCOL", dcache_door.url + "job/sub/", timeout=10).status_code == 201
        assert client.put(dcache_door.url + "job/" + quote(odd), data=b"12345", timeout=10).status_code == 201
        listed = entries(propfind(client, dcache_door.url + "job/", "1"))
        assert listed == {
            "/data/user/job/": (True, None),
            "/data/user/job/sub/": (True, None),
            "/data/user/job/" + quote(odd): (False, 5),
        }
        assert entries(propfind(client, dcache_door.url + "job", "0")) == {"/data/user/job/": (True, None)}
        assert entries(propfind(client, dcache_door.url + "job/" + quote(odd), "1")) == {
            "/data/user/job/" + quote(odd): (False, 5)}
        assert propfind(client, dcache_door.url + "job/", "infinity").status_code == 403
        assert propfind(client, dcache_door.url + "nothing/", "1").status_code == 404
        assert client.request("PROPFIND", dcache_door.url, data=b"<not-xml", headers={"Depth": "1"},
                              timeout=10).status_code == 400


def test_propfind_suits_our_webdav_client(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    from actframework_webdav.dav import DavClient, DavEntry

    with DavClient(dcache_door.url, proxy=arc_ce.proxy, ca_file=arc_ce.ca_file, timeout=30) as dav:
        dav.mkcol("job", "deep")  # 409, then the parent, then again
        (dcache_door.user_dir / "job" / "deep" / "f").write_bytes(b"abc")
        assert dav.list("job") == [DavEntry("deep", True, None)]
        assert dav.list("job", "deep") == [DavEntry("f", False, 3)]
        assert dav.delete("job") is True
        assert dav.delete("job") is False


def test_get_and_delete(dcache_door: DCacheDoor, arc_ce: ArcCE, tmp_path: Path) -> None:
    source = random_file(tmp_path / "three", 3 * MIB)
    (dcache_door.user_dir / "job").mkdir()
    shutil.copyfile(source, dcache_door.user_dir / "job" / "three")
    with session(arc_ce) as client:
        with client.get(dcache_door.url + "job/three", stream=True, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(3 * MIB)
            assert b"".join(response.iter_content(MIB)) == source.read_bytes()
        assert client.get(dcache_door.url + "job/none", timeout=10).status_code == 404
        assert client.delete(dcache_door.url + "job/three", timeout=10).status_code == 204
        assert not (dcache_door.user_dir / "job" / "three").exists()
        (dcache_door.user_dir / "job" / "sub").mkdir()
        (dcache_door.user_dir / "job" / "sub" / "f").write_bytes(b"x")
        assert client.delete(dcache_door.url + "job/", timeout=10).status_code == 204  # recursive
        assert not (dcache_door.user_dir / "job").exists()
        assert client.delete(dcache_door.url + "job/", timeout=10).status_code == 404
        assert client.get(dcache_door.door_url + "elsewhere/f", timeout=10).status_code == 404
    done = curl(arc_ce, "-o", str(tmp_path / "got"), "-w", "%{http_code}", dcache_door.url + "three")
    assert done.stdout == "404"


def test_reset_empties_the_namespace_and_counters(dcache_door: DCacheDoor, arc_ce: ArcCE) -> None:
    with session(arc_ce) as client:
        assert client.put(dcache_door.url + "f", data=b"abc", timeout=10).status_code == 201
    dcache_door.set_selection_delay(3)
    assert dcache_door.stats().door_bytes == 3
    dcache_door.reset()
    stats = dcache_door.stats()
    assert (stats.door_bytes, stats.relayed_puts, stats.selection_delay, stats.requests) == (0, 0, 0.0, [])
    assert list(dcache_door.root.iterdir()) == [dcache_door.user_dir]
    assert list(dcache_door.user_dir.iterdir()) == []
