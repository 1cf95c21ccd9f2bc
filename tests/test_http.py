"""HTTPClient against real servers: a local HTTP server whose behaviour each
test scripts (failures, dropped connections), and the real A-REX for TLS."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from actframework.errors import TransportError
from actframework.http import HTTPClient, RetryPolicy, encode_params

from fixtures.scripted_http import ScriptedServer, answer, drop

FAST = RetryPolicy(attempts=4, backoff=0.01, max_sleep=0.05)


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    return scripted_server


def test_params_join_lists_with_commas_and_skip_none() -> None:
    assert encode_params({"id": [1, 2, 3], "state": "FINISHED", "x": None}) == {
        "id": "1,2,3", "state": "FINISHED"}


def test_json_in_and_out_with_paths_relative_to_the_base(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 201, b'{"ok": true}')
    client = HTTPClient(server.url, retry=FAST)
    status, data = client.json_request("POST", "jobs", params={"action": "status"}, json={"job": [{"id": "a"}]})
    assert (status, data) == (201, {"ok": True})
    seen = server.seen[0]
    assert seen.path == "/base/jobs?action=status"
    assert json.loads(seen.body) == {"job": [{"id": "a"}]}
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"


def test_bearer_token_is_sent_and_headers_never_leak_between_requests(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 200, b"{}")
    client = HTTPClient(server.url, token="tok-1", retry=FAST)
    client.request("GET", "a", headers={"X-One": "1"})
    client.request("GET", "b")
    assert server.seen[0].headers["Authorization"] == "Bearer tok-1"
    assert "X-One" in server.seen[0].headers and "X-One" not in server.seen[1].headers
    assert "tok-1" not in repr(client)


def test_gateway_errors_are_retried_for_safe_requests(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 503 if n < 3 else 200, b'{"n": %d}' % n)
    status, data = HTTPClient(server.url, retry=FAST).json_request("GET", "x")
    assert (status, data) == (200, {"n": 3})


def test_gateway_errors_are_not_retried_for_requests_that_are_not_safe(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 503, b"{}")
    client = HTTPClient(server.url, retry=FAST)
    assert client.request("POST", "jobs", data=b"&(executable=x)").status_code == 503
    assert len(server.seen) == 1
    assert client.request("POST", "jobs", json={}, idempotent=True).status_code == 503
    assert len(server.seen) == 1 + FAST.attempts


def test_dropped_connection_is_retried_and_the_file_body_replayed_from_its_start(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.script = lambda h, n: drop(h) if n == 1 else answer(h, 200)
    source = tmp_path / "in.dat"
    source.write_bytes(b"0123456789" * 1000)
    with source.open("rb") as handle:
        handle.seek(10)  # a body that starts part-way is replayed from there, not from 0
        response = HTTPClient(server.url, retry=FAST).request("PUT", "f", data=handle)
    assert response.status_code == 200
    assert [s.body for s in server.seen] == [source.read_bytes()[10:]] * 2


def test_path_bodies_are_reopened_for_each_attempt(server: ScriptedServer, tmp_path: Path) -> None:
    server.script = lambda h, n: drop(h) if n == 1 else answer(h, 201)
    source = tmp_path / "in.dat"
    source.write_bytes(b"payload")
    assert HTTPClient(server.url, retry=FAST).request("PUT", "f", data=source).status_code == 201
    assert [s.body for s in server.seen] == [b"payload", b"payload"]


def test_a_stream_that_cannot_be_rewound_is_never_sent_twice(server: ScriptedServer) -> None:
    server.script = lambda h, n: drop(h)

    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    with pytest.raises(TransportError, match="PUT .*/base/f: connection closed by the server"):
        HTTPClient(server.url, retry=FAST).request("PUT", "f", data=chunks())
    assert len(server.seen) == 1


def test_unseekable_file_is_not_retried(server: ScriptedServer) -> None:
    server.script = lambda h, n: drop(h)

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            return 0

    with pytest.raises(TransportError):
        HTTPClient(server.url, retry=FAST).request("PUT", "f", data=io.BufferedReader(Pipe()))
    assert len(server.seen) == 1


def test_refused_connection_is_a_transport_error_after_retries() -> None:
    with pytest.raises(TransportError, match=r"GET http://127\.0\.0\.1:9/x: connection refused"):
        HTTPClient("http://127.0.0.1:9", retry=FAST).request("GET", "x")


def test_non_json_answer_to_a_json_request_is_a_transport_error(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 200, b"<html>hello</html>", "text/html")
    with pytest.raises(TransportError, match="expected JSON, got: '<html>hello</html>'"):
        HTTPClient(server.url, retry=FAST).json_request("GET", "x")


def test_empty_json_body_is_none_and_error_text_becomes_a_msg(server: ScriptedServer) -> None:
    server.script = lambda h, n: answer(h, 200) if n == 1 else answer(h, 404, b"Job not found", "text/plain")
    client = HTTPClient(server.url, retry=FAST)
    assert client.json_request("GET", "jobs") == (200, None)
    assert client.json_request("GET", "jobs/x") == (404, {"msg": "Job not found"})


def test_only_http_urls_and_one_credential_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="not an http"):
        HTTPClient("ftp://host/x")
    with pytest.raises(ValueError):
        HTTPClient("https://host", proxy=tmp_path / "p", token="t")


# ----------------------------------------------------------------- TLS against the real CE


@pytest.mark.integration
@pytest.mark.arex
def test_ce_is_verified_against_the_grid_ca_dir_with_the_proxy_as_client_cert(arc_ce) -> None:
    client = HTTPClient(arc_ce.url, proxy=arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    assert client.json_request("GET", "rest") == (200, {"version": "1.0"})


@pytest.mark.integration
@pytest.mark.arex
def test_x509_cert_dir_is_the_default_trust_and_requests_ca_bundle_is_ignored(
    arc_ce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X509_CERT_DIR", str(arc_ce.ca_dir))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = HTTPClient(arc_ce.url, proxy=arc_ce.proxy)
    assert client.json_request("GET", "rest")[0] == 200


@pytest.mark.integration
@pytest.mark.arex
def test_ce_with_a_certificate_from_an_untrusted_ca_is_refused(arc_ce, tmp_path: Path) -> None:
    empty = tmp_path / "no-cas"
    empty.mkdir()
    client = HTTPClient(arc_ce.url, proxy=arc_ce.proxy, ca_dir=empty, retry=FAST)
    with pytest.raises(TransportError, match="did not verify against the trusted CAs"):
        client.request("GET", "rest")


@pytest.mark.integration
@pytest.mark.arex
def test_one_client_serves_many_threads(arc_ce) -> None:
    client = HTTPClient(arc_ce.url, proxy=arc_ce.proxy, ca_dir=arc_ce.ca_dir, pool_size=8)
    results: list[int] = []

    def work() -> None:
        for _ in range(5):
            results.append(client.request("GET", "rest", headers={"Accept": "application/json"}).status_code)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40


def test_a_policy_may_retry_500_and_the_progress_nets_to_the_body_size(server: ScriptedServer, tmp_path: Path) -> None:
    """WebDAV servers report a busy backend as 500: the webdav backend's
    policy retries it, replaying the file; the abandoned attempt's bytes are
    taken back from the progress."""
    server.script = lambda h, n: answer(h, 500 if n == 1 else 201)
    source = tmp_path / "in.dat"
    source.write_bytes(b"x" * 300_000)
    counts: list[int] = []
    policy = RetryPolicy(attempts=3, backoff=0.01, max_sleep=0.05, statuses=frozenset({500, 502, 503, 504}))
    response = HTTPClient(server.url, retry=policy).request("PUT", "f", data=source, progress=counts.append)
    assert response.status_code == 201
    assert [s.body for s in server.seen] == [source.read_bytes()] * 2
    assert sum(counts) == 300_000 and min(counts) < 0
    assert HTTPClient(server.url, retry=FAST).request("PUT", "g", data=b"y").status_code == 201
    server.script = lambda h, n: answer(h, 500)
    assert HTTPClient(server.url, retry=FAST).request("PUT", "h", data=b"z").status_code == 500
    assert len([s for s in server.seen if s.path.endswith("/h")]) == 1  # 500 is not retried by default
