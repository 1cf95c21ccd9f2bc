"""X.509 proxies: loading, making, delegating, verifying, VOMS attributes.

Unit tests build their own throwaway PKI with ``cryptography`` (a CA, a user,
proxies, and deliberately broken variants). Tests marked ``arex`` use the
real test CE: its CA, the proxies ``arcproxy`` made, and A-REX itself as a
TLS server and as the source of real delegation CSRs.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier
from fixtures.arex import ArcCE, arc_session
from fixtures.der import der, seq, voms_extension

from actframework.errors import X509Error
from actframework.x509 import (
    PROXY_CERT_INFO_INHERIT_ALL,
    PROXY_CERT_INFO_OID,
    VOMS_AC_OID,
    Proxy,
    create_proxy_csr,
    dn_string,
    load_proxy,
    load_proxy_pem,
    make_proxy,
    sign_proxy_csr,
    verify_chain,
    voms_attributes,
    write_proxy,
)

NOW = datetime.now(UTC)
BASE = [
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "UnitCA"),
]
USER_DN = "/DC=org/DC=example/O=UnitCA/CN=unit user"


# ---------------------------------------------------------------------------
# A throwaway PKI


def name(*cns: str) -> x509.Name:
    """The test CA's namespace plus one CN RDN per argument."""
    rdns = [x509.RelativeDistinguishedName([attribute]) for attribute in BASE]
    rdns += [
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        for cn in cns
    ]
    return x509.Name(rdns)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    proxy: bool = False,
    proxy_critical: bool = True,
    proxy_info: bytes = PROXY_CERT_INFO_INHERIT_ALL,
    start: datetime | None = None,
    end: datetime | None = None,
    digital_signature: bool = True,
    algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
    extra: list[tuple[x509.ExtensionType, bool]] | None = None,
) -> x509.Certificate:
    """A certificate for ``key``; self-signed when ``issuer`` is None."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start or NOW - timedelta(days=1))
        .not_valid_after(end or NOW + timedelta(days=30))
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if proxy:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, proxy_info),
            critical=proxy_critical,
        )
    for extension, critical in extra or []:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, algorithm or hashes.SHA256())


@dataclass
class PKI:
    """CA, CA directory, and a user with certificate and key files."""

    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    ca_dir: Path
    user_key: rsa.RSAPrivateKey
    user: x509.Certificate
    user_cert_path: Path
    user_key_path: Path
    spare_key: rsa.RSAPrivateKey
    """A third key for proxies, CSRs and forgeries (RSA key generation is slow)."""

    def proxy(self, **options: object) -> Proxy:
        """A hand-built proxy of the user (``options`` go to :func:`issue`)."""
        options.setdefault("proxy", True)
        certificate = issue(
            name("unit user", "4242"),
            self.spare_key,
            self.user,
            self.user_key,
            **options,  # type: ignore[arg-type]
        )
        return Proxy(certificate, self.spare_key, (self.user,))


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        encryption,
    )


def write_user(
    directory: Path, certificate: x509.Certificate, key: rsa.RSAPrivateKey, **kw: bytes
) -> tuple[Path, Path]:
    """usercert.pem and userkey.pem (0600) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "usercert.pem", directory / "userkey.pem"
    cert_path.write_bytes(pem(certificate))
    key_path.write_bytes(key_pem(key, kw.get("passphrase")))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    ca_key = new_key()
    ca = issue(
        name("unit CA"), ca_key, None, ca_key, ca=True, end=NOW + timedelta(days=3650)
    )
    ca_dir = base / "certificates"
    ca_dir.mkdir()
    # A hashed CA directory; the hash value itself does not matter to us.
    (ca_dir / "0badcafe.0").write_bytes(pem(ca))
    (ca_dir / "0badcafe.signing_policy").write_text("access_id_CA X509 '/DC=org'\n")
    user_key = new_key()
    user = issue(name("unit user"), user_key, ca, ca_key, end=NOW + timedelta(days=365))
    cert_path, key_path = write_user(base / "user", user, user_key)
    return PKI(ca_key, ca, ca_dir, user_key, user, cert_path, key_path, new_key())


@pytest.fixture(scope="module")
def user_proxy(pki: PKI) -> Proxy:
    """A proxy of the unit user as make_proxy makes it."""
    return make_proxy(pki.user_cert_path, pki.user_key_path)




def split_der(data: bytes) -> list[bytes]:
    """The elements inside the outer SEQUENCE of ``data``, each as whole DER."""

    def header(offset: int) -> tuple[int, int]:
        first = data[offset + 1]
        if first < 0x80:
            return 2, first
        count = first & 0x7F
        return 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")

    head, _ = header(0)
    items, offset = [], head
    while offset < len(data):
        size, length = header(offset)
        items.append(data[offset : offset + size + length])
        offset += size + length
    return items


def csr_with_version(
    version: int,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    break_signature: bool = False,
) -> bytes:
    """A CSR (PEM) whose version field is ``version``, correctly signed over
    that version unless ``break_signature``: what A-REX 6.17 sends, but
    made here."""
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    info, algorithm, _ = split_der(request.public_bytes(serialization.Encoding.DER))
    fields = split_der(info)
    assert fields[0] == b"\x02\x01\x00"
    info = seq(der(0x02, bytes([version])), *fields[1:])
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(info, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    if break_signature:
        signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
    body = base64.b64encode(seq(info, algorithm, der(0x03, b"\x00" + signature)))
    lines = b"".join(body[i : i + 64] + b"\n" for i in range(0, len(body), 64))
    return (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + lines
        + b"-----END CERTIFICATE REQUEST-----\n"
    )


def ext(
    certificate: x509.Certificate, oid_: ObjectIdentifier
) -> x509.Extension[x509.ExtensionType]:
    return certificate.extensions.get_extension_for_oid(oid_)


def assert_delegation_profile(
    certificate: x509.Certificate, issuer: Proxy, public_key: object, before: datetime
) -> None:
    """The fields of a delegated proxy as docs/x509.md lists them."""
    assert certificate.issuer == issuer.certificate.subject
    rdns = certificate.subject.rdns
    assert x509.Name(rdns[:-1]) == issuer.certificate.subject
    (last,) = list(rdns[-1])
    assert last.oid == NameOID.COMMON_NAME
    assert isinstance(last.value, str) and last.value.isdigit()
    assert abs(int(last.value) - before.timestamp()) < 60
    assert certificate.public_key() == public_key
    assert certificate.not_valid_before_utc >= before.replace(microsecond=0)
    assert certificate.not_valid_after_utc <= issuer.certificate.not_valid_after_utc

    constraints = ext(certificate, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical and constraints.value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    usage = ext(certificate, ExtensionOID.KEY_USAGE)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert usage.value.digital_signature and usage.value.key_agreement
    assert not (
        usage.value.key_encipherment
        or usage.value.content_commitment
        or usage.value.data_encipherment
        or usage.value.key_cert_sign
        or usage.value.crl_sign
    )
    aki = ext(certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert not aki.critical
    assert isinstance(aki.value, x509.AuthorityKeyIdentifier)
    assert (
        aki.value.key_identifier
        == x509.SubjectKeyIdentifier.from_public_key(issuer.key.public_key()).digest
    )
    assert aki.value.authority_cert_issuer == [
        x509.DirectoryName(issuer.certificate.issuer)
    ]
    assert aki.value.authority_cert_serial_number == issuer.certificate.serial_number
    info = ext(certificate, PROXY_CERT_INFO_OID)
    assert info.critical
    assert isinstance(info.value, x509.UnrecognizedExtension)
    assert info.value.value == bytes.fromhex("300c300a06082b06010505071501")
    assert len(certificate.extensions) == 4
    assert isinstance(
        certificate.signature_hash_algorithm,
        type(issuer.certificate.signature_hash_algorithm),
    )
    certificate.verify_directly_issued_by(issuer.certificate)


def certs_of(pem_data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem_data)


# ---------------------------------------------------------------------------
# DNs


def test_dn_string_is_the_openssl_slash_form() -> None:
    assert dn_string(name("unit user", "123")) == USER_DN + "/CN=123"


def test_dn_string_escapes_non_ascii_like_openssl_oneline() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Åsa Ö")])
    assert dn_string(subject) == "/CN=\\xC3\\x85sa \\xC3\\x96"


def test_dn_string_joins_multi_valued_rdns_with_plus() -> None:
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                    x509.NameAttribute(NameOID.USER_ID, "u1"),
                ]
            ),
        ]
    )
    assert dn_string(subject) in ("/C=SE/CN=a+UID=u1", "/C=SE/UID=u1+CN=a")


# ---------------------------------------------------------------------------
# Loading and writing proxy files


def test_proxy_file_round_trips_certificate_key_and_chain(user_proxy: Proxy) -> None:
    loaded = load_proxy_pem(user_proxy.to_pem())
    assert loaded.certificate == user_proxy.certificate
    assert loaded.chain == user_proxy.chain
    assert loaded.key.private_numbers() == user_proxy.key.private_numbers()  # type: ignore[union-attr]


def test_proxy_file_has_certificate_then_traditional_key_then_chain(
    user_proxy: Proxy,
) -> None:
    labels = [
        line.decode()
        for line in user_proxy.to_pem().splitlines()
        if line.startswith(b"-----BEGIN")
    ]
    assert labels == [
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----",
    ]


def test_proxy_identity_is_the_user_dn(user_proxy: Proxy) -> None:
    assert user_proxy.dn == USER_DN
    assert user_proxy.subject.startswith(USER_DN + "/CN=")
    assert user_proxy.is_rfc3820
    assert user_proxy.not_after.tzinfo is not None
    assert timedelta(hours=11) < user_proxy.time_left <= timedelta(hours=12)


def test_identity_of_a_proxy_of_a_proxy_is_still_the_user(
    pki: PKI, user_proxy: Proxy
) -> None:
    csr_pem, key = create_proxy_csr(user_proxy.certificate, pki.spare_key)
    new, *chain = certs_of(sign_proxy_csr(csr_pem, user_proxy))
    second = load_proxy_pem(Proxy(new, key, tuple(chain)).to_pem())
    assert len(second.chain) == 2
    assert second.dn == USER_DN
    assert second.subject.count("/CN=") == 3


def test_identity_without_the_user_certificate_comes_from_the_issuer_name(
    user_proxy: Proxy,
) -> None:
    bare = Proxy(user_proxy.certificate, user_proxy.key)
    assert bare.dn == USER_DN


def test_repr_of_a_proxy_does_not_show_the_key(user_proxy: Proxy) -> None:
    text = repr(user_proxy)
    assert "key=" not in text
    assert "PRIVATE" not in text


def test_time_left_is_zero_once_expired(pki: PKI) -> None:
    expired = pki.proxy(start=NOW - timedelta(days=2), end=NOW - timedelta(days=1))
    assert expired.time_left == timedelta(0)


def test_load_proxy_refuses_a_file_without_a_key(
    tmp_path: Path, user_proxy: Proxy
) -> None:
    path = tmp_path / "proxy.pem"
    path.write_bytes(pem(user_proxy.certificate) + pem(user_proxy.chain[0]))
    with pytest.raises(X509Error, match="no private key"):
        load_proxy(path)


def test_load_proxy_refuses_a_key_of_another_certificate(
    tmp_path: Path, pki: PKI, user_proxy: Proxy
) -> None:
    path = tmp_path / "proxy.pem"
    path.write_bytes(
        pem(user_proxy.certificate) + key_pem(pki.user_key) + pem(pki.user)
    )
    with pytest.raises(
        X509Error, match="private key does not belong to the certificate"
    ):
        load_proxy(path)


def test_load_proxy_refuses_a_file_that_is_not_pem(tmp_path: Path) -> None:
    path = tmp_path / "proxy.pem"
    path.write_bytes(b"\x30\x82\x01\x00 not a proxy")
    with pytest.raises(X509Error, match="no PEM blocks") as caught:
        load_proxy(path)
    assert str(path) in str(caught.value)


def test_load_proxy_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(X509Error, match="cannot read proxy .*No such file"):
        load_proxy(tmp_path / "absent.pem")


def test_load_proxy_refuses_an_encrypted_key(user_proxy: Proxy) -> None:
    data = pem(user_proxy.certificate) + key_pem(user_proxy.key, b"secret")  # type: ignore[arg-type]
    with pytest.raises(X509Error, match="encrypted"):
        load_proxy_pem(data)


def test_load_proxy_error_does_not_quote_key_material(user_proxy: Proxy) -> None:
    key_text = key_pem(user_proxy.key)  # type: ignore[arg-type]
    broken = key_text[:200] + b"!!!" + key_text[203:]
    with pytest.raises(X509Error) as caught:
        load_proxy_pem(pem(user_proxy.certificate) + broken)
    body = key_text.splitlines()[1].decode()
    assert body[:20] not in str(caught.value)


def test_write_proxy_creates_a_0600_file_that_loads_back(
    tmp_path: Path, user_proxy: Proxy
) -> None:
    path = tmp_path / "x509up_u1000"
    write_proxy(user_proxy, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_proxy(path).certificate == user_proxy.certificate
    assert [p.name for p in tmp_path.iterdir()] == ["x509up_u1000"]


def test_write_proxy_is_never_readable_by_others_even_with_umask_0(
    tmp_path: Path, user_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def replace(source: str, target: object) -> None:
        seen.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)  # as actframework.x509 sees it
    old = os.umask(0)
    try:
        write_proxy(user_proxy, tmp_path / "proxy.pem")
    finally:
        os.umask(old)
    assert seen == [0o600]


def test_write_proxy_replaces_an_existing_file(
    tmp_path: Path, user_proxy: Proxy, pki: PKI
) -> None:
    path = tmp_path / "proxy.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_proxy(user_proxy, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_proxy(path).certificate == user_proxy.certificate
    assert len(list(tmp_path.iterdir())) == 1


def test_write_proxy_into_a_missing_directory_is_an_x509_error(
    tmp_path: Path, user_proxy: Proxy
) -> None:
    with pytest.raises(X509Error, match="cannot write proxy"):
        write_proxy(user_proxy, tmp_path / "absent" / "proxy.pem")


# ---------------------------------------------------------------------------
# make_proxy


def test_make_proxy_makes_an_rfc3820_proxy_of_the_user(
    pki: PKI, user_proxy: Proxy
) -> None:
    certificate = user_proxy.certificate
    assert user_proxy.chain == (pki.user,)
    assert certificate.issuer == pki.user.subject
    assert ext(certificate, PROXY_CERT_INFO_OID).critical
    assert isinstance(user_proxy.key, rsa.RSAPrivateKey)
    assert user_proxy.key.key_size == 2048
    certificate.verify_directly_issued_by(pki.user)
    assert verify_chain(certificate, user_proxy.chain, pki.ca_dir) == USER_DN


def test_make_proxy_caps_the_lifetime_at_the_user_certificate_end(
    pki: PKI, tmp_path: Path
) -> None:
    end = NOW + timedelta(hours=3)
    user = issue(name("unit user"), pki.user_key, pki.ca, pki.ca_key, end=end)
    cert_path, key_path = write_user(tmp_path, user, pki.user_key)
    proxy = make_proxy(cert_path, key_path, lifetime=timedelta(days=7), key_bits=1024)
    assert proxy.not_after == end.replace(microsecond=0)


def test_make_proxy_uses_the_requested_lifetime(pki: PKI) -> None:
    before = datetime.now(UTC)
    proxy = make_proxy(
        pki.user_cert_path,
        pki.user_key_path,
        lifetime=timedelta(hours=2),
        key_bits=1024,
    )
    after = datetime.now(UTC)
    # Certificates hold whole seconds: the end is "now" + 2 h, cut to the second.
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= proxy.not_after <= after + timedelta(hours=2)


def test_make_proxy_refuses_an_expired_user_certificate(
    pki: PKI, tmp_path: Path
) -> None:
    user = issue(
        name("unit user"),
        pki.user_key,
        pki.ca,
        pki.ca_key,
        start=NOW - timedelta(days=9),
        end=NOW - timedelta(days=1),
    )
    cert_path, key_path = write_user(tmp_path, user, pki.user_key)
    with pytest.raises(X509Error, match="expired at"):
        make_proxy(cert_path, key_path)


def test_make_proxy_refuses_a_user_certificate_not_yet_valid(
    pki: PKI, tmp_path: Path
) -> None:
    user = issue(
        name("unit user"),
        pki.user_key,
        pki.ca,
        pki.ca_key,
        start=NOW + timedelta(days=1),
    )
    cert_path, key_path = write_user(tmp_path, user, pki.user_key)
    with pytest.raises(X509Error, match="not valid before"):
        make_proxy(cert_path, key_path)


def test_make_proxy_reads_an_encrypted_user_key_with_its_passphrase(
    pki: PKI, tmp_path: Path
) -> None:
    cert_path, key_path = write_user(
        tmp_path, pki.user, pki.user_key, passphrase=b"pass phrase"
    )
    proxy = make_proxy(cert_path, key_path, passphrase=b"pass phrase", key_bits=1024)
    assert proxy.dn == USER_DN


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [(None, "encrypted and no passphrase"), (b"wrong", "wrong passphrase")],
)
def test_make_proxy_refuses_an_encrypted_key_without_the_right_passphrase(
    pki: PKI, tmp_path: Path, passphrase: bytes | None, message: str
) -> None:
    cert_path, key_path = write_user(
        tmp_path, pki.user, pki.user_key, passphrase=b"pass phrase"
    )
    with pytest.raises(X509Error, match=message):
        make_proxy(cert_path, key_path, passphrase=passphrase)


def test_make_proxy_refuses_a_key_that_is_not_the_certificates(
    pki: PKI, tmp_path: Path
) -> None:
    cert_path, key_path = write_user(tmp_path, pki.user, pki.spare_key)
    with pytest.raises(X509Error, match="is not the key of the certificate"):
        make_proxy(cert_path, key_path)


# ---------------------------------------------------------------------------
# create_proxy_csr (the aCT server's side of delegation)


def test_create_proxy_csr_asks_for_a_proxy_of_the_issuer(user_proxy: Proxy) -> None:
    csr_pem, key = create_proxy_csr(user_proxy.certificate)
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert csr.subject == user_proxy.certificate.subject
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    (extension,) = csr.extensions
    assert extension.oid == PROXY_CERT_INFO_OID and extension.critical
    assert extension.value.public_bytes() == PROXY_CERT_INFO_INHERIT_ALL
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048 and key.public_key().public_numbers().e == 65537
    assert csr.public_key() == key.public_key()


def test_create_proxy_csr_uses_a_given_key(pki: PKI, user_proxy: Proxy) -> None:
    csr_pem, key = create_proxy_csr(user_proxy.certificate, pki.spare_key)
    assert key is pki.spare_key
    assert x509.load_pem_x509_csr(csr_pem).public_key() == pki.spare_key.public_key()


def test_create_proxy_csr_refuses_a_legacy_proxy(pki: PKI) -> None:
    legacy = issue(name("unit user", "proxy"), pki.spare_key, pki.user, pki.user_key)
    with pytest.raises(X509Error, match="legacy"):
        create_proxy_csr(legacy, pki.spare_key)


def test_create_proxy_csr_refuses_an_issuer_without_digital_signature(pki: PKI) -> None:
    proxy = pki.proxy(digital_signature=False)
    with pytest.raises(X509Error, match="lacks digitalSignature"):
        create_proxy_csr(proxy.certificate, pki.spare_key)


# ---------------------------------------------------------------------------
# sign_proxy_csr (delegation)


def test_signed_proxy_follows_the_delegation_profile(
    pki: PKI, user_proxy: Proxy
) -> None:
    csr_pem, key = create_proxy_csr(user_proxy.certificate, pki.spare_key)
    before = datetime.now(UTC)
    new, issuer, user = certs_of(sign_proxy_csr(csr_pem, user_proxy))
    assert (issuer, user) == (user_proxy.certificate, pki.user)
    assert_delegation_profile(new, user_proxy, key.public_key(), before)
    assert new.not_valid_after_utc == user_proxy.not_after
    assert new.serial_number != user_proxy.certificate.serial_number
    assert verify_chain(new, [issuer, user], pki.ca_dir) == USER_DN


def test_signed_proxy_never_outlives_its_issuer(pki: PKI, user_proxy: Proxy) -> None:
    csr_pem, _ = create_proxy_csr(user_proxy.certificate, pki.spare_key)
    new = certs_of(sign_proxy_csr(csr_pem, user_proxy, lifetime=timedelta(days=30)))[0]
    assert new.not_valid_after_utc == user_proxy.not_after


def test_signed_proxy_takes_a_shorter_lifetime(pki: PKI, user_proxy: Proxy) -> None:
    csr_pem, _ = create_proxy_csr(user_proxy.certificate, pki.spare_key)
    before = datetime.now(UTC)
    new = certs_of(sign_proxy_csr(csr_pem, user_proxy, lifetime=timedelta(hours=1)))[0]
    assert (
        timedelta(minutes=59) < new.not_valid_after_utc - before <= timedelta(hours=1)
    )


def test_signed_proxy_uses_the_issuers_hash_algorithm(pki: PKI, tmp_path: Path) -> None:
    user = issue(
        name("unit user"), pki.user_key, pki.ca, pki.ca_key, algorithm=hashes.SHA384()
    )
    cert_path, key_path = write_user(tmp_path, user, pki.user_key)
    issuer = make_proxy(cert_path, key_path, key_bits=1024)
    assert isinstance(issuer.certificate.signature_hash_algorithm, hashes.SHA384)
    csr_pem, _ = create_proxy_csr(issuer.certificate, pki.spare_key)
    new = certs_of(sign_proxy_csr(csr_pem, issuer))[0]
    assert isinstance(new.signature_hash_algorithm, hashes.SHA384)


def test_csr_with_version_2_as_arex_sends_is_signed(
    pki: PKI, user_proxy: Proxy
) -> None:
    csr_pem = csr_with_version(2, pki.spare_key)
    with pytest.raises(x509.InvalidVersion):
        x509.load_pem_x509_csr(csr_pem)  # why the repair is needed
    new = certs_of(sign_proxy_csr(csr_pem, user_proxy))[0]
    assert new.public_key() == pki.spare_key.public_key()


@pytest.mark.parametrize("broken", [False, True])
def test_csr_with_version_2_and_an_ec_key_is_checked_the_same_way(
    user_proxy: Proxy, broken: bool
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = csr_with_version(2, key, break_signature=broken)
    if broken:
        with pytest.raises(X509Error, match="signature does not verify"):
            sign_proxy_csr(csr_pem, user_proxy)
    else:
        new = certs_of(sign_proxy_csr(csr_pem, user_proxy))[0]
        assert new.public_key() == key.public_key()


@pytest.mark.parametrize("version", [0, 2])
def test_csr_with_a_broken_signature_is_refused(
    pki: PKI, user_proxy: Proxy, version: int
) -> None:
    csr_pem = csr_with_version(version, pki.spare_key, break_signature=True)
    with pytest.raises(X509Error, match="signature does not verify"):
        sign_proxy_csr(csr_pem, user_proxy)


def test_csr_with_an_unknown_version_is_refused(pki: PKI, user_proxy: Proxy) -> None:
    with pytest.raises(X509Error, match="unsupported version 5"):
        sign_proxy_csr(csr_with_version(5, pki.spare_key), user_proxy)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
    ],
)
def test_something_that_is_not_a_csr_is_refused(user_proxy: Proxy, data: bytes) -> None:
    with pytest.raises(X509Error, match="certificate signing request"):
        sign_proxy_csr(data, user_proxy)


def test_delegating_from_a_plain_user_certificate_is_refused(pki: PKI) -> None:
    user = Proxy(pki.user, pki.user_key)
    csr_pem, _ = create_proxy_csr(pki.user, pki.spare_key)
    with pytest.raises(X509Error, match="not an RFC 3820 proxy"):
        sign_proxy_csr(csr_pem, user)


def test_delegating_from_an_expired_proxy_is_refused(pki: PKI) -> None:
    expired = pki.proxy(start=NOW - timedelta(days=2), end=NOW - timedelta(hours=1))
    csr_pem, _ = create_proxy_csr(expired.certificate, pki.spare_key)
    with pytest.raises(X509Error, match="expired at"):
        sign_proxy_csr(csr_pem, expired)


def test_delegating_from_a_proxy_with_path_length_0_is_refused(pki: PKI) -> None:
    last = pki.proxy(proxy_info=bytes.fromhex("300f020100300a06082b06010505071501"))
    csr_pem, _ = create_proxy_csr(last.certificate, pki.spare_key)
    with pytest.raises(X509Error, match="path length constraint is 0"):
        sign_proxy_csr(csr_pem, last)


# ---------------------------------------------------------------------------
# verify_chain


def test_verify_chain_accepts_a_proxy_and_returns_the_user_dn(
    pki: PKI, user_proxy: Proxy
) -> None:
    assert verify_chain(user_proxy.certificate, user_proxy.chain, pki.ca_dir) == USER_DN


def test_verify_chain_accepts_a_plain_user_certificate(pki: PKI) -> None:
    assert verify_chain(pki.user, [], pki.ca_dir) == USER_DN


def test_verify_chain_accepts_a_chain_that_includes_the_ca(
    pki: PKI, user_proxy: Proxy
) -> None:
    chain = [*user_proxy.chain, pki.ca]
    assert verify_chain(user_proxy.certificate, chain, pki.ca_dir) == USER_DN


def test_verify_chain_refuses_a_self_signed_proxy(pki: PKI) -> None:
    fake = issue(name("unit user", "1"), pki.spare_key, None, pki.spare_key, proxy=True)
    with pytest.raises(X509Error, match="self-signed proxy .*CN=1 is not a trusted CA"):
        verify_chain(fake, [pki.user], pki.ca_dir)


def test_verify_chain_refuses_a_proxy_from_an_unknown_ca(pki: PKI) -> None:
    other_key = new_key()
    other_ca = issue(name("other CA"), other_key, None, other_key, ca=True)
    user = issue(name("unit user"), pki.user_key, other_ca, other_key)
    proxy = issue(name("unit user", "1"), pki.spare_key, user, pki.user_key, proxy=True)
    with pytest.raises(X509Error, match="unknown CA") as caught:
        verify_chain(proxy, [user], pki.ca_dir)
    assert "/CN=other CA" in str(caught.value)
    # Sending the unknown CA along does not make it trusted.
    with pytest.raises(
        X509Error, match="self-signed certificate .*other CA is not a trusted CA"
    ):
        verify_chain(proxy, [user, other_ca], pki.ca_dir)


def test_verify_chain_refuses_an_expired_proxy(pki: PKI) -> None:
    expired = pki.proxy(start=NOW - timedelta(days=2), end=NOW - timedelta(hours=1))
    with pytest.raises(X509Error, match=r"certificate .*CN=4242 expired at"):
        verify_chain(expired.certificate, expired.chain, pki.ca_dir)


def test_verify_chain_refuses_a_proxy_whose_user_certificate_expired(
    pki: PKI, user_proxy: Proxy
) -> None:
    later = datetime.now(UTC) + timedelta(days=400)
    proxy = pki.proxy(end=later + timedelta(days=1))
    with pytest.raises(X509Error, match="CN=unit user expired at"):
        verify_chain(proxy.certificate, proxy.chain, pki.ca_dir, at=later)


def test_verify_chain_refuses_a_proxy_not_yet_valid(
    pki: PKI, user_proxy: Proxy
) -> None:
    earlier = user_proxy.certificate.not_valid_before_utc - timedelta(minutes=5)
    with pytest.raises(X509Error, match="not valid before"):
        verify_chain(user_proxy.certificate, user_proxy.chain, pki.ca_dir, at=earlier)


@pytest.mark.parametrize(
    "subject",
    [
        name("someone else", "1"),  # another user's name
        name("unit user", "1", "2"),  # two CNs added
        name("unit user"),  # nothing added
    ],
)
def test_verify_chain_refuses_a_proxy_whose_subject_does_not_extend_its_issuers(
    pki: PKI, subject: x509.Name
) -> None:
    proxy = issue(subject, pki.spare_key, pki.user, pki.user_key, proxy=True)
    with pytest.raises(X509Error, match="does not extend its issuer's subject"):
        verify_chain(proxy, [pki.user], pki.ca_dir)


def test_verify_chain_refuses_a_proxy_with_a_non_critical_proxy_cert_info(
    pki: PKI,
) -> None:
    proxy = pki.proxy(proxy_critical=False)
    with pytest.raises(X509Error, match="proxyCertInfo must be critical"):
        verify_chain(proxy.certificate, proxy.chain, pki.ca_dir)


def test_verify_chain_refuses_a_forged_proxy_signature(pki: PKI) -> None:
    forged = issue(
        name("unit user", "1"), pki.spare_key, pki.user, pki.spare_key, proxy=True
    )
    with pytest.raises(X509Error, match="does not verify with the key of its issuer"):
        verify_chain(forged, [pki.user], pki.ca_dir)


def test_verify_chain_refuses_a_proxy_below_a_proxy_with_path_length_0(
    pki: PKI,
) -> None:
    first = pki.proxy(proxy_info=bytes.fromhex("300f020100300a06082b06010505071501"))
    second_key = new_key()
    second = issue(
        name("unit user", "4242", "1"),
        second_key,
        first.certificate,
        pki.spare_key,
        proxy=True,
    )
    with pytest.raises(X509Error, match="allows 0 further proxies"):
        verify_chain(second, [first.certificate, pki.user], pki.ca_dir)


def test_verify_chain_refuses_a_proxy_issued_by_the_ca(pki: PKI) -> None:
    proxy = issue(name("unit CA", "1"), pki.spare_key, pki.ca, pki.ca_key, proxy=True)
    with pytest.raises(X509Error, match="issued by the CA"):
        verify_chain(proxy, [], pki.ca_dir)


def test_verify_chain_refuses_the_ca_itself(pki: PKI) -> None:
    with pytest.raises(X509Error, match="is a CA, not a user certificate or proxy"):
        verify_chain(pki.ca, [], pki.ca_dir)


def test_verify_chain_refuses_an_unknown_critical_extension(pki: PKI) -> None:
    odd = x509.UnrecognizedExtension(
        ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"
    )
    proxy = pki.proxy(extra=[(odd, True)])
    with pytest.raises(
        X509Error, match="unsupported critical extension 1.3.6.1.4.1.99999.1"
    ):
        verify_chain(proxy.certificate, proxy.chain, pki.ca_dir)


def test_verify_chain_refuses_a_user_certificate_that_signs_as_a_ca(pki: PKI) -> None:
    # A "user" certificate posing as a CA for another user.
    victim = issue(name("victim"), pki.spare_key, pki.user, pki.user_key)
    with pytest.raises(X509Error, match="issues certificates but is not a CA"):
        verify_chain(victim, [pki.user], pki.ca_dir)


def test_verify_chain_needs_a_ca_directory_with_certificates(
    tmp_path: Path, user_proxy: Proxy
) -> None:
    with pytest.raises(X509Error, match="cannot read CA directory"):
        verify_chain(user_proxy.certificate, user_proxy.chain, tmp_path / "absent")
    with pytest.raises(X509Error, match="no CA certificates"):
        verify_chain(user_proxy.certificate, user_proxy.chain, tmp_path)


# ---------------------------------------------------------------------------
# VOMS attributes


def test_voms_attributes_of_a_plain_proxy_are_empty(user_proxy: Proxy) -> None:
    assert voms_attributes(user_proxy) == []
    assert voms_attributes(user_proxy.certificate) == []


FQANS = [
    "/atlas/Role=NULL/Capability=NULL",
    "/atlas/Role=production/Capability=NULL",
    "/atlas/lcg1",
]


@pytest.fixture(scope="module")
def voms_proxy(pki: PKI) -> Proxy:
    return pki.proxy(extra=[(voms_extension(FQANS, pki.user.subject), False)])


def test_voms_attributes_are_read_from_the_ac_extension(voms_proxy: Proxy) -> None:
    assert voms_attributes(voms_proxy) == FQANS
    assert voms_attributes(voms_proxy.certificate) == FQANS


def test_voms_attributes_are_found_one_level_up_in_a_delegated_proxy(
    pki: PKI, voms_proxy: Proxy
) -> None:
    csr_pem, _ = create_proxy_csr(voms_proxy.certificate, pki.spare_key)
    delegated = certs_of(sign_proxy_csr(csr_pem, voms_proxy))
    assert voms_attributes(delegated[0]) == []
    assert voms_attributes(delegated) == FQANS


def test_a_voms_proxy_still_verifies(pki: PKI, voms_proxy: Proxy) -> None:
    assert verify_chain(voms_proxy.certificate, voms_proxy.chain, pki.ca_dir) == USER_DN


def test_a_malformed_voms_extension_is_an_x509_error(pki: PKI) -> None:
    broken = x509.UnrecognizedExtension(VOMS_AC_OID, seq(seq(seq(der(0x02, b"\x01")))))
    proxy = pki.proxy(extra=[(broken, False)])
    with pytest.raises(X509Error, match="malformed VOMS extension"):
        voms_attributes(proxy)


# ---------------------------------------------------------------------------
# Against the real test CE


@pytest.fixture
def made_proxy(arc_ce: ArcCE, tmp_path: Path) -> Path:
    """A proxy of the first test user made by make_proxy, written to a file."""
    path = tmp_path / "proxy.pem"
    write_proxy(
        make_proxy(arc_ce.user_cert, arc_ce.user_key, lifetime=timedelta(hours=1)), path
    )
    return path


def openssl_verify(
    ca_dir: Path, certificate: Path, untrusted: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CApath",
            str(ca_dir),
            "-untrusted",
            str(untrusted),
            "-allow_proxy_certs",
            str(certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("user", ["user", "user2"])
@pytest.mark.integration
@pytest.mark.arex
def test_launcher_proxies_load_and_verify_as_their_user(
    arc_ce: ArcCE, user: str
) -> None:
    path, dn = (
        (arc_ce.proxy, arc_ce.user_dn)
        if user == "user"
        else (arc_ce.proxy2, arc_ce.user2_dn)
    )
    proxy = load_proxy(path)
    assert proxy.is_rfc3820
    assert proxy.dn == dn
    assert proxy.time_left > timedelta(0)
    assert voms_attributes(proxy) == []
    assert verify_chain(proxy.certificate, proxy.chain, arc_ce.ca_dir) == dn


@pytest.mark.integration
@pytest.mark.arex
def test_made_proxy_verifies_with_openssl_and_verify_chain(
    arc_ce: ArcCE, made_proxy: Path
) -> None:
    proxy = load_proxy(made_proxy)
    assert verify_chain(proxy.certificate, proxy.chain, arc_ce.ca_dir) == arc_ce.user_dn
    result = openssl_verify(arc_ce.ca_dir, made_proxy, arc_ce.user_cert)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.integration
@pytest.mark.arex
def test_made_proxy_authenticates_at_arex(arc_ce: ArcCE, made_proxy: Path) -> None:
    with arc_session(arc_ce, proxy=made_proxy) as session:
        response = session.get(f"{arc_ce.url}/rest")
    assert response.status_code == 200, response.reason


@pytest.fixture
def arex_delegation(arc_ce: ArcCE) -> Iterator[tuple[str, bytes]]:
    """(id, CSR PEM) of a new delegation on the CE; deleted afterwards so
    delegations do not pile up on the CE."""
    with arc_session(arc_ce) as session:
        response = session.post(
            f"{arc_ce.rest_url}/delegations", params={"action": "new"}
        )
        assert response.status_code == 201, response.text
        delegation_id = response.headers["Location"].rsplit("/", 1)[-1]
        try:
            yield delegation_id, response.content
        finally:
            deleted = session.post(
                f"{arc_ce.rest_url}/delegations/{delegation_id}",
                params={"action": "delete"},
            )
            assert deleted.status_code == 202, deleted.text


@pytest.mark.integration
@pytest.mark.arex
def test_arex_delegation_csr_carries_the_invalid_version_2(
    arex_delegation: tuple[str, bytes],
) -> None:
    _, csr_pem = arex_delegation
    with pytest.raises(x509.InvalidVersion):
        x509.load_pem_x509_csr(csr_pem)


@pytest.mark.integration
@pytest.mark.arex
def test_arex_delegation_is_signed_accepted_and_read_back(
    arc_ce: ArcCE, arex_delegation: tuple[str, bytes], tmp_path: Path
) -> None:
    delegation_id, csr_pem = arex_delegation
    issuer = load_proxy(arc_ce.proxy)
    before = datetime.now(UTC)
    signed = sign_proxy_csr(csr_pem, issuer, lifetime=timedelta(hours=6))
    new, *chain = certs_of(signed)
    assert chain == [issuer.certificate, *issuer.chain]

    with arc_session(arc_ce) as session:
        uploaded = session.put(
            f"{arc_ce.rest_url}/delegations/{delegation_id}",
            data=signed,
            headers={"Content-Type": "application/x-pem-file"},
        )
        assert uploaded.status_code == 200, uploaded.text
        stored = session.post(
            f"{arc_ce.rest_url}/delegations/{delegation_id}", params={"action": "get"}
        )
        assert stored.status_code == 200, stored.text
    assert certs_of(stored.content)[0] == new

    # The CSR's key is A-REX's: only the profile and the signature are ours.
    public_key = x509.load_pem_x509_certificate(pem(new)).public_key()
    assert_delegation_profile(new, issuer, public_key, before)
    assert (
        timedelta(hours=5, minutes=59)
        < new.not_valid_after_utc - before
        <= timedelta(hours=6)
    )
    assert verify_chain(new, chain, arc_ce.ca_dir) == arc_ce.user_dn
    (tmp_path / "new.pem").write_bytes(pem(new))
    (tmp_path / "chain.pem").write_bytes(b"".join(pem(c) for c in chain))
    result = openssl_verify(arc_ce.ca_dir, tmp_path / "new.pem", tmp_path / "chain.pem")
    assert result.returncode == 0, result.stdout + result.stderr
