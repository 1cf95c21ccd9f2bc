"""Private keys: which types can sign proxies, loading them, writing them.

Keys are secrets: every message here describes the key's role (``proxy``,
``user``), never its content, whatever ``cryptography`` says about it.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes

from actframework.errors import X509Error

PrivateKey = CertificateIssuerPrivateKeyTypes
"""The private key types that can sign certificates (RSA, EC, DSA, Ed25519, Ed448)."""


def same_key(public: CertificatePublicKeyTypes, private: PrivateKey) -> bool:
    """Whether ``private`` is the key of the certificate public key ``public``."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(*spki) == private.public_key().public_bytes(*spki)


def private_key_pem(key: PrivateKey) -> bytes:
    """The key unencrypted, in the traditional OpenSSL form grid tools write
    (``BEGIN RSA PRIVATE KEY``); keys without such a form (Ed25519) as PKCS#8."""
    try:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    except ValueError:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_private_key(block: bytes, passphrase: bytes | None, what: str) -> PrivateKey:
    """Load a PEM private key with messages that never quote key material."""
    try:
        key = serialization.load_pem_private_key(block, password=passphrase)
    except TypeError:
        # cryptography: "Password was not given but private key is encrypted",
        # or a passphrase was given for an unencrypted key, which is fine.
        if passphrase is None:
            raise X509Error(f"{what} private key is encrypted and no passphrase was given") from None
        return load_private_key(block, None, what)
    except ValueError:
        if passphrase is not None:
            raise X509Error(f"cannot decrypt the {what} private key: wrong passphrase?") from None
        raise X509Error(f"{what} private key is unreadable") from None
    except UnsupportedAlgorithm:
        raise X509Error(f"{what} private key is of an unsupported type") from None
    if not isinstance(
        key,
        (
            rsa.RSAPrivateKey,
            ec.EllipticCurvePrivateKey,
            dsa.DSAPrivateKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PrivateKey,
        ),
    ):
        raise X509Error(f"{what} private key cannot sign certificates")
    return key
