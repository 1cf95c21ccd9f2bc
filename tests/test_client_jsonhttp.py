"""JSONClient (the ``act`` client's JSON calls on http.client) against real
servers: a local HTTP server whose answers each test scripts, and over TLS
one with the test CE's host certificate. It must keep HTTPClient's rules."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from actframework.client.jsonhttp import JSONClient
from actframework.errors import TransportError
from actframework.httpbase import USER_AGENT, RetryPolicy

from fixtures.scripted_http import ScriptedServer, answer, drop

FAST = RetryPolicy(attempts=4, backoff=0.01, max_sleep=0.05)


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    return scripted_server


def test_json_in_and_out_with_paths_relative_to_the_base(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 201, b'[{"id": 7}]')
    client = JSONClient(server.url, token="tok-1", retry=FAST)
    status, data = client.json_request("POST", "jobs", params={"id": [1, 2], "name": None},
                                       json=[{"clusterlist": ["https://ce/q"]}])
    assert (status, data) == (201, [{"id": 7}])
    seen = server.seen[0]
    assert seen.path == "/base/jobs?id=1%2C2"
    assert json.loads(seen.body) == [{"clusterlist": ["https://ce/q"]}]
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Authorization"] == "Bearer tok-1"
    assert seen.headers["User-Agent"] == USER_AGENT
    assert "tok-1" not in repr(client)


def test_a_new_token_is_used_from_the_next_request_on(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 200, b"{}")
    client = JSONClient(server.url, retry=FAST)
    client.json_request("GET", "info")
    client.set_token("tok-2")
    client.json_request("GET", "info")
    assert "Authorization" not in server.seen[0].headers
    assert server.seen[1].headers["Authorization"] == "Bearer tok-2"


def test_calls_share_one_connection(server: ScriptedServer) -> None:
    peers: list[tuple[str, int]] = []

    def script(handler: BaseHTTPRequestHandler, n: int) -> None:
        peers.append(handler.client_address)
        answer(handler, 200, b"[]")

    server.script = script
    with JSONClient(server.url, retry=FAST) as client:
        for _ in range(3):
            client.json_request("GET", "jobs")
    assert len(set(peers)) == 1


def test_a_connection_the_server_closed_meanwhile_is_replaced_even_for_a_post(server: ScriptedServer) -> None:
    """A POST is never sent twice, so it must not go out on a connection the
    server has already closed (keep-alive timeout) and fail there."""

    def script(handler: BaseHTTPRequestHandler, n: int) -> None:
        answer(handler, 200, b"[]")
        if n == 1:
            handler.close_connection = True  # closed after the answer, without saying so

    server.script = script
    client = JSONClient(server.url, retry=FAST)
    client.json_request("GET", "jobs")
    time.sleep(0.2)
    assert client.json_request("POST", "jobs", json=[]) == (200, [])
    assert [s.method for s in server.seen] == ["GET", "POST"]


def test_gateway_errors_are_retried_for_safe_requests_only(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 503 if n < 3 else 200, b'{"n": %d}' % n)
    assert JSONClient(server.url, retry=FAST).json_request("GET", "jobs") == (200, {"n": 3})
    server.seen.clear()
    server.script = lambda h, n: answer(h, 503, b'{"msg": "busy"}')
    client = JSONClient(server.url, retry=FAST)
    assert client.json_request("POST", "jobs", json=[]) == (503, {"msg": "busy"})
    assert len(server.seen) == 1
    assert client.json_request("POST", "jobs", json=[], idempotent=True)[0] == 503
    assert len(server.seen) == 1 + FAST.attempts


def test_a_dropped_connection_is_retried_for_a_safe_request(server: ScriptedServer) -> None:
    server.script = lambda h, n: drop(h) if n == 1 else answer(h, 200, b"[1]")
    assert JSONClient(server.url, retry=FAST).json_request("GET", "jobs") == (200, [1])
    assert len(server.seen) == 2


def test_a_dropped_connection_fails_a_request_that_is_not_safe(server: ScriptedServer) -> None:
    server.script = lambda h, n: drop(h)
    with pytest.raises(TransportError, match=r"POST http://127\.0\.0\.1:\d+/base/jobs: connection closed by the server"):
        JSONClient(server.url, retry=FAST).json_request("POST", "jobs", json=[])
    assert len(server.seen) == 1


def test_refused_connection_is_a_transport_error_after_retries() -> None:
    with pytest.raises(TransportError, match=r"^GET http://127\.0\.0\.1:9/x: connection refused$"):
        JSONClient("http://127.0.0.1:9", retry=FAST).json_request("GET", "x")


def test_an_answer_that_does_not_come_in_time_is_a_transport_error(server: ScriptedServer) -> None:
    server.script = lambda h, n: time.sleep(1.0)
    client = JSONClient(server.url, timeout=(5.0, 0.2), retry=RetryPolicy(attempts=1))
    with pytest.raises(TransportError, match="timed out waiting for the answer"):
        client.json_request("GET", "jobs")


def test_answers_that_are_not_json(server: ScriptedServer) -> None:
    answers = {1: (200, b"", "application/json"), 2: (404, b"Job not found", "text/plain"),
               3: (200, b"<html>hello</html>", "text/html")}
    server.script = lambda h, n: answer(h, *answers[n])
    client = JSONClient(server.url, retry=FAST)
    assert client.json_request("GET", "jobs") == (200, None)
    assert client.json_request("GET", "jobs/x") == (404, {"msg": "Job not found"})
    with pytest.raises(TransportError, match="expected JSON, got: '<html>hello</html>'"):
        client.json_request("GET", "jobs")


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(TransportError, match="not an http"):
        JSONClient("ftp://host/x")


# ----------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(arc_ce) -> Iterator[str]:
    """HTTPS on loopback with the test CE's host certificate (for localhost)."""

    class Info(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            answer(self, 200, b'{"clusters": []}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Info)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    host = arc_ce.state_dir / "host"
    context.load_cert_chain(host / "hostcert.pem", host / "hostkey.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.integration
@pytest.mark.arex
def test_the_server_is_verified_against_the_grid_ca_dir(arc_ce, tls_server: str) -> None:
    assert JSONClient(tls_server, ca_dir=arc_ce.ca_dir).json_request("GET", "info") == (200, {"clusters": []})


@pytest.mark.integration
@pytest.mark.arex
def test_x509_cert_dir_is_the_default_trust(arc_ce, tls_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X509_CERT_DIR", str(arc_ce.ca_dir))
    assert JSONClient(tls_server).json_request("GET", "info")[0] == 200


@pytest.mark.integration
@pytest.mark.arex
def test_a_server_certificate_from_an_untrusted_ca_is_refused_at_once(tls_server: str, tmp_path: Path) -> None:
    empty = tmp_path / "no-cas"
    empty.mkdir()
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not verify against the trusted CAs"):
        JSONClient(tls_server, ca_dir=empty, retry=RetryPolicy(backoff=5.0)).json_request("GET", "info")
    assert time.monotonic() - started < 5.0  # not retried
