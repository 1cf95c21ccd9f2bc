"""Delegation to the server (``/proxies``), against a live ``actd serve`` on
each database, with the test CE's users as the delegating users.

Every refusal must be a 4xx with a ``msg`` and must leave the database and
the proxies directory exactly as they were.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from fixtures.server import LiveServer
from fixtures.der import voms_extension

from actframework.db import JobStore
from actframework.db.schema import pendingproxies, proxies
from actframework.server.app import create_app
from actframework.x509 import (
    PROXY_CERT_INFO_OID,
    Proxy,
    create_proxy_csr,
    load_proxy,
    load_proxy_pem,
    make_proxy,
    sign_proxy_csr,
)

pytestmark = pytest.mark.integration

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.DOTALL)
INHERIT_ALL = bytes.fromhex("300c300a06082b06010505071501")


# --------------------------------------------------------------------------- client side


def split_pem(text: str) -> tuple[str, str]:
    """(first certificate, the other certificates joined by newlines), as
    act-client sends a proxy file without its key."""
    certificates = PEM_CERT.findall(text)
    return certificates[0], "\n".join(certificates[1:])


def proxy_body(proxy: Proxy) -> dict[str, str]:
    return dict(zip(("cert", "chain"), split_pem(proxy.to_pem().decode()), strict=True))


def start(api: LiveServer, proxy: Proxy) -> dict[str, str]:
    response = api.session().post(f"{api.url}/proxies", json=proxy_body(proxy))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "csr"}
    return body


def finish(api: LiveServer, started: dict[str, str], proxy: Proxy) -> Any:
    signed = sign_proxy_csr(started["csr"].encode(), proxy).decode()
    cert, chain = split_pem(signed)
    return api.session(started["token"]).put(f"{api.url}/proxies", json={"cert": cert, "chain": chain})


def delegate(api: LiveServer, proxy: Proxy) -> str:
    """The whole of ``act proxy``: the final token."""
    response = finish(api, start(api, proxy), proxy)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


# --------------------------------------------------------------------------- certificates


def certificate(subject: x509.Name, public_key: Any, issuer: x509.Name, signer: Any, *, ca: bool = False,
                proxy: bool = False, end: datetime | None = None,
                extra: Sequence[x509.UnrecognizedExtension] = ()) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
        .serial_number(x509.random_serial_number()).public_key(public_key)
        .not_valid_before(now - timedelta(days=2)).not_valid_after(end or now + timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if proxy:
        builder = builder.add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, INHERIT_ALL), critical=True)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signer, hashes.SHA256())


def with_cn(name: x509.Name, cn: str) -> x509.Name:
    return x509.Name([*name.rdns, x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, cn)])])


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def user_of(arc_ce) -> tuple[x509.Certificate, Any]:
    user = x509.load_pem_x509_certificate(Path(arc_ce.user_cert).read_bytes())
    key = serialization.load_pem_private_key(Path(arc_ce.user_key).read_bytes(), password=None)
    return user, key


def proxy_of(user: x509.Certificate, user_key: Any, **options: Any) -> Proxy:
    """A hand-made RFC 3820 proxy of ``user`` (for expired and VOMS proxies)."""
    key = new_key()
    cert = certificate(with_cn(user.subject, "1234"), key.public_key(), user.subject, user_key, proxy=True,
                       **options)
    return Proxy(cert, key, (user,))


@pytest.fixture(scope="module")
def unknown_ca_proxy(tmp_path_factory: pytest.TempPathFactory) -> Proxy:
    """A proxy of a user of a CA the server does not trust."""
    ca_key, user_key = new_key(), new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nowhere"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Unknown CA")])
    ca = certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    user = certificate(with_cn(x509.Name(ca_name.rdns[:1]), "mallory"), user_key.public_key(), ca_name, ca_key)
    home = tmp_path_factory.mktemp("unknown-ca")
    # The unknown CA comes along in the chain: a complete chain is still refused.
    (home / "usercert.pem").write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (user, ca)))
    (home / "userkey.pem").write_bytes(user_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return make_proxy(home / "usercert.pem", home / "userkey.pem")


# --------------------------------------------------------------------------- state


def snapshot(api: LiveServer) -> tuple[Any, ...]:
    """Everything a refusal must leave alone: both tables and the proxy files."""
    with api.store.engine.connect() as connection:
        rows = [sorted(tuple(row) for row in connection.execute(sa.select(table)))
                for table in (proxies, pendingproxies)]
    files = sorted((path.name, path.read_bytes()) for path in api.config.proxies_dir.iterdir())
    return (*rows, files)


def refused(response: Any, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert re.fullmatch(message, response.json()["msg"]), response.json()


# --------------------------------------------------------------------------- delegation


def test_delegation_as_act_client_does_it_gives_a_working_token(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    token = delegate(api, proxy)
    proxyid = claims(token)["proxyid"]
    record = api.store.get_proxy(proxyid)
    assert record is not None and record.dn == arc_ce.user_dn and record.attribute == ""
    assert api.session(token).get(f"{api.url}/info").status_code == 200

    path = api.config.proxies_dir / f"proxiesid{proxyid}"
    assert record.proxypath == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = load_proxy(path)
    assert stored.is_rfc3820 and stored.dn == arc_ce.user_dn
    assert stored.chain[0] == proxy.certificate
    assert record.proxy == path.read_bytes()
    assert claims(token)["exp"] == int(stored.not_after.timestamp())
    with api.store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(pendingproxies)).scalar() == 0


def test_redelegation_keeps_the_proxyid_and_old_tokens(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    first = delegate(api, proxy)
    second = delegate(api, proxy)
    assert claims(first)["proxyid"] == claims(second)["proxyid"]
    for token in (first, second):
        assert api.session(token).get(f"{api.url}/info").status_code == 200
    with api.store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(proxies)).scalar() == 1


def test_another_user_gets_another_proxyid(api: LiveServer, arc_ce) -> None:
    first = claims(delegate(api, load_proxy(arc_ce.proxy)))["proxyid"]
    second = claims(delegate(api, load_proxy(arc_ce.proxy2)))["proxyid"]
    assert first != second
    assert api.store.get_proxy(second).dn == arc_ce.user2_dn  # type: ignore[union-attr]


def test_voms_attribute_is_read_and_keys_its_own_proxy(api: LiveServer, arc_ce) -> None:
    user, user_key = user_of(arc_ce)
    fqan = "/atlas/Role=production/Capability=NULL"
    voms = proxy_of(user, user_key, extra=[voms_extension([fqan], user.subject)])
    plain = claims(delegate(api, load_proxy(arc_ce.proxy)))["proxyid"]
    with_voms = claims(delegate(api, voms))["proxyid"]
    assert with_voms != plain
    assert api.store.get_proxy(with_voms).attribute == fqan  # type: ignore[union-attr]


def test_pending_token_opens_no_job_route(api: LiveServer, arc_ce) -> None:
    started = start(api, load_proxy(arc_ce.proxy))
    assert "proxyid" not in claims(started["token"])
    assert claims(started["token"])["exp"] <= (datetime.now(UTC) + timedelta(minutes=11)).timestamp()
    for method, path in (("GET", "/info"), ("DELETE", "/proxies")):
        response = api.session(started["token"]).request(method, f"{api.url}{path}")
        assert response.status_code == 401 and "msg" in response.json()


def test_proxy_token_cannot_finish_a_delegation(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    token = delegate(api, proxy)
    signed = split_pem(sign_proxy_csr(start(api, proxy)["csr"].encode(), proxy).decode())
    before = snapshot(api)
    response = api.session(token).put(f"{api.url}/proxies", json=dict(zip(("cert", "chain"), signed, strict=True)))
    refused(response, 401, "Auth token is not for a delegation.*")
    assert snapshot(api) == before


def test_a_finished_delegation_request_cannot_be_replayed(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    started = start(api, proxy)
    assert finish(api, started, proxy).status_code == 200
    before = snapshot(api)
    refused(finish(api, started, proxy), 401, "Delegation request does not exist or is expired")
    assert snapshot(api) == before


def test_step_one_leaves_the_working_proxy_alone(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    token = delegate(api, proxy)
    with api.store.engine.connect() as connection:
        working = connection.execute(sa.select(proxies)).all()
    files = {path.name: path.read_bytes() for path in api.config.proxies_dir.iterdir()}

    start(api, proxy)
    start(api, proxy)  # two unfinished requests of the same user

    with api.store.engine.connect() as connection:
        assert connection.execute(sa.select(proxies)).all() == working
        assert connection.execute(sa.select(sa.func.count()).select_from(pendingproxies)).scalar() == 2
    assert {path.name: path.read_bytes() for path in api.config.proxies_dir.iterdir()} == files
    assert api.session(token).get(f"{api.url}/info").status_code == 200


def test_concurrent_requests_of_one_user_each_complete_with_their_own_key(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    first, second = start(api, proxy), start(api, proxy)
    assert first["csr"] != second["csr"]
    later = finish(api, second, proxy)
    earlier = finish(api, first, proxy)
    assert later.status_code == earlier.status_code == 200
    proxyid = claims(earlier.json()["token"])["proxyid"]
    assert claims(later.json()["token"])["proxyid"] == proxyid
    stored = load_proxy(api.config.proxies_dir / f"proxiesid{proxyid}")
    first_key = x509.load_pem_x509_csr(first["csr"].encode()).public_key()
    assert stored.certificate.public_key() == first_key


# --------------------------------------------------------------------------- refusals


def test_step_one_refuses_untrusted_and_invalid_proxies(api: LiveServer, arc_ce, unknown_ca_proxy: Proxy) -> None:
    delegate(api, load_proxy(arc_ce.proxy2))  # something that must stay as it is
    user, user_key = user_of(arc_ce)
    key = new_key()
    forged_name = with_cn(user.subject, "1234")
    self_signed = Proxy(certificate(forged_name, key.public_key(), forged_name, key, proxy=True), key, (user,))
    expired = proxy_of(user, user_key, end=datetime.now(UTC) - timedelta(minutes=1))
    not_proxy_key = new_key()
    not_a_proxy = Proxy(certificate(with_cn(user.subject, "1234"), not_proxy_key.public_key(), user.subject,
                                    user_key), not_proxy_key, (user,))
    cases = [
        (proxy_body(self_signed), "Certificate chain is not trusted: .*"),
        (proxy_body(unknown_ca_proxy), "Certificate chain is not trusted: .*"),
        (proxy_body(expired), "Given certificate is expired"),
        (proxy_body(not_a_proxy), "Issuer cert is not a valid proxy"),
        ({"chain": proxy_body(load_proxy(arc_ce.proxy))["chain"]}, "Missing issuer certificate"),
        ({"cert": proxy_body(load_proxy(arc_ce.proxy))["cert"]}, "Missing certificate chain"),
        ({"cert": "not a certificate", "chain": "nor this"}, "Invalid issuer certificate.*"),
        ([], "No JSON data"),
    ]
    before = snapshot(api)
    for body, message in cases:
        refused(api.session().post(f"{api.url}/proxies", json=body), 400, message)
    refused(api.session().post(f"{api.url}/proxies"), 400, "No JSON data")
    assert snapshot(api) == before


def test_step_two_refuses_a_certificate_for_another_key(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    started = start(api, proxy)
    other_csr, _ = create_proxy_csr(proxy.certificate)
    cert, chain = split_pem(sign_proxy_csr(other_csr, proxy).decode())
    before = snapshot(api)
    response = api.session(started["token"]).put(f"{api.url}/proxies", json={"cert": cert, "chain": chain})
    refused(response, 400, "Signed certificate is not for the key of this delegation request")
    assert snapshot(api) == before


def test_step_two_refuses_a_chain_of_another_user(api: LiveServer, arc_ce) -> None:
    started = start(api, load_proxy(arc_ce.proxy))
    before = snapshot(api)
    response = finish(api, started, load_proxy(arc_ce.proxy2))
    refused(response, 400, "Signed certificate is not for the identity of this delegation request")
    assert snapshot(api) == before


def test_step_two_refuses_missing_fields(api: LiveServer, arc_ce) -> None:
    proxy = load_proxy(arc_ce.proxy)
    started = start(api, proxy)
    cert, chain = split_pem(sign_proxy_csr(started["csr"].encode(), proxy).decode())
    session = api.session(started["token"])
    before = snapshot(api)
    for body, message in (({"chain": chain}, "No signed certificate"), ({"cert": cert}, "No cert chain"),
                          ("text", "No JSON data")):
        refused(session.put(f"{api.url}/proxies", json=body), 400, message)
    refused(api.session().put(f"{api.url}/proxies", json={"cert": cert, "chain": chain}), 401,
            "Auth token is missing")
    assert snapshot(api) == before
    assert session.put(f"{api.url}/proxies", json={"cert": cert, "chain": chain}).status_code == 200


def test_delete_removes_row_and_file(api: LiveServer, arc_ce) -> None:
    token = delegate(api, load_proxy(arc_ce.proxy))
    other = delegate(api, load_proxy(arc_ce.proxy2))
    proxyid = claims(token)["proxyid"]
    path = api.config.proxies_dir / f"proxiesid{proxyid}"
    assert path.exists()
    response = api.session(token).delete(f"{api.url}/proxies")
    assert response.status_code == 204 and response.content == b""
    assert api.store.get_proxy(proxyid) is None and not path.exists()
    refused(api.session(token).get(f"{api.url}/info"), 401, "Proxy from token does not exist .*")
    assert api.session(other).get(f"{api.url}/info").status_code == 200


def test_private_keys_are_not_logged(api: LiveServer, arc_ce) -> None:
    token = delegate(api, load_proxy(arc_ce.proxy))
    stored = load_proxy_pem(api.store.get_proxy(claims(token)["proxyid"]).proxy)  # type: ignore[union-attr,arg-type]
    key_pem = stored.to_pem().decode().split("-----BEGIN RSA PRIVATE KEY-----")[1][:200]
    assert "PRIVATE KEY" not in api.log() and key_pem not in api.log()


# --------------------------------------------------------------------------- require_voms


def test_require_voms_refuses_a_proxy_without_voms(api: LiveServer, arc_ce) -> None:
    """The live server does not require VOMS; the same app built in-process
    with ``require_voms`` on the same database does."""
    user, user_key = user_of(arc_ce)
    store = JobStore(api.store.engine)
    config = replace(api.config, require_voms=True)
    with TestClient(create_app(config, store)) as client:
        before = snapshot(api)
        refused(client.post("/proxies", json=proxy_body(load_proxy(arc_ce.proxy))), 400,
                "Failed to extract DN or VOMS attributes")
        assert snapshot(api) == before

        voms = proxy_of(user, user_key, extra=[voms_extension(["/atlas"], user.subject)])
        started = client.post("/proxies", json=proxy_body(voms)).json()
        cert, chain = split_pem(sign_proxy_csr(started["csr"].encode(), voms).decode())
        response = client.put("/proxies", json={"cert": cert, "chain": chain},
                              headers={"Authorization": f"Bearer {started['token']}"})
        assert response.status_code == 200, response.text
        assert api.store.get_proxy(claims(response.json()["token"])["proxyid"]).attribute == "/atlas"  # type: ignore[union-attr]
