"""The WebDAV test server (``fixtures.webdav``) that the WebDAV backend's tests use.

These tests pin down what later tests rely on: a real WsgiDAV over HTTPS that
admits the test users by their RFC 3820 proxies (or certificates) as TLS
client certificates and nobody else, or by a bearer token; that speaks the
WebDAV the backend needs (MKCOL, streamed PUT of large files, PROPFIND
Depth 1, GET, recursive DELETE) with RFC 4918 status codes; that curl can
upload to it as the benchmark will; and whose access log shows what reached it.
"""

from __future__ import annotations

import datetime
import filecmp
import hashlib
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fixtures.arex import ArcCE
from fixtures.required import unavailable

if TYPE_CHECKING:  # the fixtures come from conftest's pytest_plugins
    from fixtures.webdav import WebDAVServer, WebDAVServers

pytestmark = [pytest.mark.integration, pytest.mark.arex]

MiB = 1024 * 1024
DAV = "{DAV:}"
PROPFIND_BODY = (b'<?xml version="1.0" encoding="utf-8"?>'
                 b'<propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/></prop></propfind>')


def random_file(path: Path, size: int) -> Path:
    """A file of ``size`` random bytes, written in 1 MiB pieces."""
    with path.open("wb") as stream:
        left = size
        while left:
            piece = min(left, MiB)
            stream.write(os.urandom(piece))
            left -= piece
    return path


def sha256_of(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(MiB):
            yield chunk


def propfind(session: requests.Session, url: str) -> dict[str, tuple[bool, int | None]]:
    """PROPFIND Depth 1 of ``url``: {decoded href path: (is collection, length)}."""
    response = session.request("PROPFIND", url, data=PROPFIND_BODY,
                               headers={"Depth": "1", "Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    listing = {}
    for entry in ElementTree.fromstring(response.content).iter(f"{DAV}response"):
        href = unquote(urlsplit(entry.findtext(f"{DAV}href")).path)
        is_collection = entry.find(f".//{DAV}resourcetype/{DAV}collection") is not None
        length = entry.findtext(f".//{DAV}getcontentlength")
        listing[href] = (is_collection, int(length) if length else None)
    return listing


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_collection_and_large_file_round_trip(webdav: WebDAVServer, arc_ce: ArcCE, tmp_path: Path) -> None:
    source = random_file(tmp_path / "big.bin", 50 * MiB)
    with webdav.session(arc_ce.proxy) as dav:
        options = dav.options(webdav.url)
        assert options.status_code == 200
        assert "1" in options.headers.get("DAV", "")

        assert dav.request("MKCOL", webdav.url_for("dir")).status_code == 201
        assert webdav.local("dir").is_dir()
        assert dav.request("MKCOL", webdav.url_for("dir")).status_code == 405
        assert dav.request("MKCOL", webdav.url_for("missing/child")).status_code == 409
        assert not webdav.local("missing").exists()

        peak_before = webdav.peak_rss_bytes()
        with source.open("rb") as body:  # requests streams a file object from disk
            put = dav.put(webdav.url_for("dir/big.bin"), data=body)
        assert put.status_code == 201, put.text
        assert filecmp.cmp(source, webdav.local("dir/big.bin"), shallow=False)

        listing = propfind(dav, webdav.url_for("dir/"))
        assert listing == {"/dir/": (True, None), "/dir/big.bin": (False, 50 * MiB)}

        with dav.get(webdav.url_for("dir/big.bin"), stream=True) as got:
            assert got.status_code == 200
            assert int(got.headers["Content-Length"]) == 50 * MiB
            assert sha256_of(got.iter_content(MiB)) == sha256_of(file_chunks(source))
        # The 50 MiB went through the server in blocks, not into its memory.
        assert webdav.peak_rss_bytes() - peak_before < 32 * MiB

        assert dav.delete(webdav.url_for("dir/")).status_code == 204
        assert not webdav.local("dir").exists()
        assert dav.delete(webdav.url_for("dir/")).status_code == 404

    [put_seen] = [entry for entry in webdav.access_log() if entry.method == "PUT"]
    assert (put_seen.path, put_seen.status, put_seen.length) == ("/dir/big.bin", 201, 50 * MiB)
    assert put_seen.user == arc_ce.user_dn
    assert put_seen.subject.startswith(arc_ce.user_dn + "/CN=")  # the proxy's own subject
    assert webdav.requests_counted("MKCOL") == 3
    assert webdav.requests_counted("DELETE", "dir") == 2
    assert webdav.requests_counted("PROPFIND", "dir", 207) == 1


def test_chunked_put_is_streamed_to_disk(webdav: WebDAVServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "chunked.bin", 5 * MiB + 17)
    with webdav.session() as dav:
        response = dav.put(webdav.url_for("chunked.bin"), data=file_chunks(source))  # a generator: chunked
    assert response.status_code == 201, response.text
    assert filecmp.cmp(source, webdav.local("chunked.bin"), shallow=False)
    [seen] = webdav.access_log()
    assert seen.chunked and seen.length is None


def test_overwriting_put_answers_204(webdav: WebDAVServer) -> None:
    with webdav.session() as dav:
        assert dav.put(webdav.url_for("f.txt"), data=b"one").status_code == 201
        assert dav.put(webdav.url_for("f.txt"), data=b"two!").status_code == 204
        assert dav.put(webdav.url_for("no/parent.txt"), data=b"x").status_code == 409
    assert webdav.local("f.txt").read_bytes() == b"two!"


@pytest.mark.parametrize("credential", ["proxy", "proxy2", "user certificate"])
def test_test_users_are_admitted_as_themselves(webdav: WebDAVServer, arc_ce: ArcCE, credential: str) -> None:
    cert, dn = {
        "proxy": (arc_ce.proxy, arc_ce.user_dn),
        "proxy2": (arc_ce.proxy2, arc_ce.user2_dn),
        "user certificate": ((arc_ce.user_cert, arc_ce.user_key), arc_ce.user_dn),
    }[credential]
    with webdav.session(cert) as dav:
        assert dav.put(webdav.url_for("mine.txt"), data=b"hello").status_code == 201
    assert webdav.local("mine.txt").read_bytes() == b"hello"
    [seen] = webdav.access_log()
    assert seen.user == dn


def test_no_client_certificate_is_refused(webdav: WebDAVServer) -> None:
    with webdav.session(anonymous=True) as dav, pytest.raises(requests.exceptions.ConnectionError):
        dav.put(webdav.url_for("anonymous.txt"), data=b"x")
    assert webdav.requests_counted() == 0
    assert not webdav.local("anonymous.txt").exists()
    assert eventually(lambda: "PEER_DID_NOT_RETURN_A_CERTIFICATE" in webdav.log())


def unknown_ca_credential(tmp_path: Path, subject_dn: str) -> Path:
    """A CA nobody trusts and a client certificate (with key) it signed, in one PEM."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unknown Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    # The same DN as a real test user: only the issuer differs.
    name = x509.Name([
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "nordugrid"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "ARC"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TestCA"),
        x509.NameAttribute(NameOID.COMMON_NAME, subject_dn.rsplit("/CN=", 1)[1]),
    ])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    path = tmp_path / "unknown-ca-user.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    path.chmod(0o600)
    return path


def test_certificate_from_unknown_ca_is_refused(webdav: WebDAVServer, arc_ce: ArcCE, tmp_path: Path) -> None:
    credential = unknown_ca_credential(tmp_path, arc_ce.user_dn)
    with webdav.session(credential) as dav, pytest.raises(requests.exceptions.ConnectionError):
        dav.put(webdav.url_for("intruder.txt"), data=b"x")
    assert webdav.requests_counted() == 0
    assert not webdav.local("intruder.txt").exists()
    assert eventually(lambda: "CERTIFICATE_VERIFY_FAILED" in webdav.log())


def test_other_certificates_of_the_test_ca_are_forbidden(webdav: WebDAVServer, arc_ce: ArcCE) -> None:
    # The CE's host certificate passes TLS (test CA, clientAuth) but is no test user.
    with webdav.session((webdav.host_cert, webdav.host_key)) as dav:
        assert dav.put(webdav.url_for("host.txt"), data=b"x").status_code == 403
        assert dav.request("PROPFIND", webdav.url_for(""), headers={"Depth": "1"}).status_code == 403
    assert not webdav.local("host.txt").exists()
    assert [(e.method, e.status, e.user) for e in webdav.access_log()] == [("PUT", 403, ""), ("PROPFIND", 403, "")]
    assert webdav.access_log()[0].subject.endswith("/CN=localhost")


def test_a_server_can_admit_only_some_users(webdav_servers: WebDAVServers, arc_ce: ArcCE) -> None:
    server = webdav_servers.get("x509", allowed_dns=[arc_ce.user_dn])
    server.reset()
    with server.session(arc_ce.proxy2) as dav:
        assert dav.put(server.url_for("u2.txt"), data=b"x").status_code == 403
    with server.session(arc_ce.proxy) as dav:
        assert dav.put(server.url_for("u1.txt"), data=b"x").status_code == 201
    assert sorted(p.name for p in server.root.iterdir()) == ["u1.txt"]


def test_curl_uploads_with_the_proxy(webdav: WebDAVServer, arc_ce: ArcCE, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl", "it is not on PATH", "Install it (apt-get install curl)")
    source = random_file(tmp_path / "curl.bin", 8 * MiB)
    command = [curl, "--silent", "--show-error", "--fail", "--noproxy", "*", "--max-time", "60",
               "--cacert", str(webdav.ca_file), "--cert", str(arc_ce.proxy), "--key", str(arc_ce.proxy),
               "--output", "/dev/null", "--write-out", "%{http_code}"]
    done = subprocess.run([*command, "-T", str(source), webdav.url_for("curl.bin")],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "201"
    assert filecmp.cmp(source, webdav.local("curl.bin"), shallow=False)
    again = subprocess.run([*command, "-T", str(source), webdav.url_for("curl.bin")],
                           capture_output=True, text=True, timeout=90, check=False)
    assert (again.returncode, again.stdout) == (0, "204"), again.stderr
    assert [(e.method, e.status, e.length, e.user) for e in webdav.access_log()] == [
        ("PUT", 201, 8 * MiB, arc_ce.user_dn), ("PUT", 204, 8 * MiB, arc_ce.user_dn)]


def test_reset_empties_the_root_and_the_access_log(webdav: WebDAVServer) -> None:
    with webdav.session() as dav:
        assert dav.request("MKCOL", webdav.url_for("a")).status_code == 201
        assert dav.put(webdav.url_for("a/b.txt"), data=b"x").status_code == 201
    assert webdav.requests_counted() == 2
    webdav.reset()
    assert list(webdav.root.iterdir()) == []
    assert webdav.access_log() == []


def test_bearer_token_server(webdav_token: WebDAVServer) -> None:
    server = webdav_token
    assert server.token
    with server.session(anonymous=True) as dav:  # no client certificate, no token
        assert dav.request("MKCOL", server.url_for("t")).status_code == 401
    with server.session(token="wrong") as dav:
        response = dav.request("MKCOL", server.url_for("t"))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not server.local("t").exists()
    with server.session() as dav:
        assert dav.request("MKCOL", server.url_for("t")).status_code == 201
        assert dav.put(server.url_for("t/x.txt"), data=b"token!").status_code == 201
        assert dav.get(server.url_for("t/x.txt")).content == b"token!"
        assert propfind(dav, server.url_for("t/")) == {"/t/": (True, None), "/t/x.txt": (False, 6)}
        assert dav.delete(server.url_for("t/")).status_code == 204
    assert [(e.status, e.user) for e in server.access_log()][:2] == [(401, ""), (401, "")]
    assert server.requests_counted(status=401) == 2
    assert {e.user for e in server.access_log()[2:]} == {"token"}
