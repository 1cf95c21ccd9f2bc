"""The local A-REX test CE that scripts/arc-ce/start provides.

These tests pin down what the rest of the suite relies on: a real A-REX that
speaks REST API 1.0, admits exactly the two test users, keeps their jobs
apart, and hands out RFC 3820 proxies that ordinary OpenSSL-based code can
verify once proxy certificates are allowed.
"""

from __future__ import annotations

import re
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier
from fixtures.arex import ArcCE, arc_session

pytestmark = [pytest.mark.integration, pytest.mark.arex]

PROXY_CERT_INFO = ObjectIdentifier("1.3.6.1.5.5.7.1.14")
"""RFC 3820 proxyCertInfo; its presence is what makes a certificate a proxy."""

USERS = ["user", "user2"]


def one_or_many(value: Any) -> list[Any]:
    """A-REX's JSON gives one item as an object and several as a list."""
    return value if isinstance(value, list) else [value]


def credentials(ce: ArcCE, user: str) -> tuple[str, Path, Path]:
    """(DN, certificate, proxy) of test user ``user`` ("user" or "user2")."""
    if user == "user":
        return ce.user_dn, ce.user_cert, ce.proxy
    return ce.user2_dn, ce.user2_cert, ce.proxy2


def slash_dn(name: x509.Name) -> str:
    """A name in the OpenSSL/Globus ``/DC=org/.../CN=x`` form that ARC uses."""
    return "".join(
        f"/{attribute.rfc4514_string()}" for rdn in name.rdns for attribute in rdn
    )


def test_rest_endpoint_lists_version_1_0(arc_ce: ArcCE) -> None:
    with arc_session(arc_ce) as session:
        response = session.get(f"{arc_ce.url}/rest")
    assert response.status_code == 200, response.reason
    assert "1.0" in one_or_many(response.json()["version"])


def test_info_is_a_glue2_document(arc_ce: ArcCE) -> None:
    with arc_session(arc_ce) as session:
        response = session.get(f"{arc_ce.rest_url}/info")
    assert response.status_code == 200, response.reason
    services = response.json()["Domains"]["AdminDomain"]["Services"]
    service = one_or_many(services["ComputingService"])[0]
    assert service["ID"].startswith("urn:ogf:ComputingService:")
    endpoints = one_or_many(service["ComputingEndpoint"])
    rest = [e for e in endpoints if e.get("InterfaceName") == "org.nordugrid.arcrest"]
    assert [e["URL"] for e in rest] == [arc_ce.url]


@pytest.mark.parametrize("user", USERS)
def test_each_test_user_is_accepted(arc_ce: ArcCE, user: str) -> None:
    _, _, proxy = credentials(arc_ce, user)
    with arc_session(arc_ce, proxy) as session:
        info = session.get(f"{arc_ce.rest_url}/info")
        jobs = session.get(f"{arc_ce.rest_url}/jobs")
    assert info.status_code == 200, info.reason
    assert jobs.status_code == 200, jobs.reason


@pytest.mark.parametrize("path", ["/rest", "/rest/1.0/info", "/rest/1.0/jobs"])
def test_client_without_certificate_is_refused(arc_ce: ArcCE, path: str) -> None:
    with arc_session(arc_ce, anonymous=True) as session:
        response = session.get(f"{arc_ce.url}{path}")
    assert response.status_code == 403


def test_second_user_cannot_see_first_users_job(arc_ce: ArcCE) -> None:
    """A-REX keys jobs by the owner's DN even though both users map to one unix account."""
    with arc_session(arc_ce) as owner, arc_session(arc_ce, arc_ce.proxy2) as other:
        created = owner.post(
            f"{arc_ce.rest_url}/jobs?action=new",
            data='&(executable="/bin/true")(jobname="actframework-isolation")',
        )
        assert created.status_code == 201, created.reason
        job = one_or_many(created.json()["job"])[0]
        assert job["status-code"] == "201", job.get("reason")
        ids = {"job": [{"id": job["id"]}]}
        try:
            seen_by_other = one_or_many(
                other.post(f"{arc_ce.rest_url}/jobs?action=status", json=ids).json()[
                    "job"
                ]
            )[0]
            assert seen_by_other["status-code"] == "404"
            listed = other.get(f"{arc_ce.rest_url}/jobs")
            assert job["id"] not in listed.text
        finally:
            # A-REX accepts a clean of an unfinished job and carries it out
            # once the job has ended.
            owner.post(f"{arc_ce.rest_url}/jobs?action=clean", json=ids)


@pytest.mark.parametrize("user", USERS)
def test_user_certificate_carries_the_exported_dn(arc_ce: ArcCE, user: str) -> None:
    dn, cert_path, _ = credentials(arc_ce, user)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(arc_ce.ca_file.read_bytes())
    assert slash_dn(cert.subject) == dn
    cert.verify_directly_issued_by(ca)


@pytest.mark.parametrize("user", USERS)
def test_proxy_is_an_rfc3820_proxy_of_its_user(arc_ce: ArcCE, user: str) -> None:
    dn, cert_path, proxy_path = credentials(arc_ce, user)
    pem = proxy_path.read_bytes()
    proxy, *chain = x509.load_pem_x509_certificates(pem)
    user_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())

    proxy_cert_info = proxy.extensions.get_extension_for_oid(PROXY_CERT_INFO)
    assert proxy_cert_info.critical
    # RFC 3820 3.4: the issuer is the user's end-entity certificate and the
    # subject is the issuer's name plus exactly one CN.
    assert proxy.issuer == user_cert.subject
    assert slash_dn(proxy.issuer) == dn
    assert list(proxy.subject.rdns)[:-1] == list(user_cert.subject.rdns)
    assert list(proxy.subject.rdns)[-1].get_attributes_for_oid(NameOID.COMMON_NAME)
    proxy.verify_directly_issued_by(user_cert)
    assert chain == [user_cert]
    # The key in the file belongs to the proxy certificate, not to the user.
    key_pem = re.search(
        rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
        pem,
        re.DOTALL,
    )
    assert key_pem is not None
    key = serialization.load_pem_private_key(key_pem.group(0), password=None)
    assert key.public_key() == proxy.public_key()


@pytest.mark.parametrize("user", USERS)
def test_openssl_verifies_proxy_only_with_allow_proxy_certs(
    arc_ce: ArcCE, user: str
) -> None:
    _, cert_path, proxy_path = credentials(arc_ce, user)
    verify = [
        "openssl",
        "verify",
        "-CApath",
        str(arc_ce.ca_dir),
        "-untrusted",
        str(cert_path),
    ]

    allowed = subprocess.run(
        [*verify, "-allow_proxy_certs", str(proxy_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr

    refused = subprocess.run(
        [*verify, str(proxy_path)], capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert "proxy certificates not allowed" in refused.stdout + refused.stderr


def _tls_handshake_with_proxy(
    ce: ArcCE, proxy: Path, allow_proxy_certs: bool
) -> dict[str, Any]:
    """Run a TLS server that demands a client certificate and connect with ``proxy``.

    Returns the client certificate as the server saw it; raises the server's
    ``ssl.SSLError`` when it refuses the proxy. The server side is what a
    service of ours would do to accept ARC proxies.
    """
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(
        ce.state_dir / "host" / "hostcert.pem", ce.state_dir / "host" / "hostkey.pem"
    )
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(capath=str(ce.ca_dir))
    if allow_proxy_certs:
        server_ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cafile=str(ce.ca_file))
    client_ctx.load_cert_chain(str(proxy))

    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(10)
    client_sock.settimeout(10)
    outcome: dict[str, Any] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(server_sock, server_side=True) as tls:
                outcome["peer"] = tls.getpeercert()
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as error:
            outcome["error"] = error

    server = threading.Thread(target=serve)
    server.start()
    try:
        with client_ctx.wrap_socket(client_sock, server_hostname="localhost") as tls:
            tls.recv(2)
    except (ssl.SSLError, OSError):
        pass  # with TLS 1.3 the client learns of a refusal late or not at all; the server knows
    finally:
        server.join(timeout=15)
    if "error" in outcome:
        raise outcome["error"]
    peer: dict[str, Any] = outcome["peer"]
    return peer


@pytest.mark.parametrize("user", USERS)
def test_python_ssl_accepts_proxy_only_with_allow_proxy_certs(
    arc_ce: ArcCE, user: str
) -> None:
    _, _, proxy = credentials(arc_ce, user)
    peer = _tls_handshake_with_proxy(arc_ce, proxy, allow_proxy_certs=True)
    common_names = [
        value for rdn in peer["subject"] for key, value in rdn if key == "commonName"
    ]
    assert common_names[0] == (
        "arc-ce-test-user" if user == "user" else "arc-ce-test-user2"
    )
    assert len(common_names) == 2, "a proxy subject is the user's plus one CN"

    with pytest.raises(ssl.SSLError, match="certificate verify failed"):
        _tls_handshake_with_proxy(arc_ce, proxy, allow_proxy_certs=False)


def test_keys_and_proxies_are_private(arc_ce: ArcCE) -> None:
    for secret in (arc_ce.user_key, arc_ce.proxy, arc_ce.user2_key, arc_ce.proxy2):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
