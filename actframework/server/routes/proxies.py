"""``/proxies``: delegation of a user's proxy to the server, and its removal.

Delegation takes two requests, as act-client makes them:

1. ``POST /proxies`` (no token) presents the user's proxy certificate and
   chain. The server checks them, generates a key pair and answers with a CSR
   for it and a short-lived *delegation token*.
2. ``PUT /proxies`` (delegation token) brings the CSR signed by the user's
   proxy, with the chain. The server stores the new proxy (certificate, the
   key of step 1, chain), writes its file and answers with the real token,
   valid as long as the proxy.

Where aCT trusts what it is given, both steps here verify the chain up to a
CA of ``config.ca_dir``; otherwise anybody could make up a "proxy" for any
DN. And where aCT parks the step-1 key in the user's ``proxies`` row, here it
waits in ``pendingproxies`` (with its own token that opens no job route), so
an unfinished delegation never breaks the working proxy that jobs use
(aCT overwrote it with a bare key until the second step). Every refusal happens before anything is written.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from fastapi import APIRouter, Body, Depends, Request, Response

from actframework import x509 as gridx509
from actframework.db import JobStore
from actframework.errors import X509Error
from actframework.server.auth import (
    bearer_token,
    decode_pending_token,
    issue_pending_token,
    issue_token,
)
from actframework.server.deps import Caller, current_caller, get_config, get_store
from actframework.server.errors import APIError
from actframework.server_config import ServerConfig
from actframework.token_users import credential_path

log = logging.getLogger(__name__)

router = APIRouter()

PENDING_LIFETIME = timedelta(minutes=10)
"""How long step 2 may follow step 1. act-client signs the CSR at once, so
this only bounds how long an abandoned key is kept."""

VOMS_MISSING = "Failed to extract DN or VOMS attributes"

#: OpenAPI description of both delegation bodies (the route checks them itself).
_DELEGATION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "cert": {"type": "string", "description": "PEM certificate"},
                        "chain": {"type": "string", "description": "PEM certificate chain"},
                    },
                    "required": ["cert", "chain"],
                }
            }
        },
    }
}


def proxy_path(config: ServerConfig, proxyid: int) -> Path:
    """Where the proxy of ``proxyid`` is written (aCT's ``proxiesid<id>``)."""
    return credential_path(config.proxies_dir, proxyid)


# --------------------------------------------------------------------------- checks


def _json_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise APIError(400, "No JSON data")
    return payload


def _field(payload: dict[str, Any], name: str, missing: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise APIError(400, missing)
    return value


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    """The PEM certificates in ``pem`` (at least one), in order."""
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError:
        raise APIError(400, f"Invalid {what}: no readable PEM certificate") from None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_current(certificate: x509.Certificate, now: datetime) -> None:
    if certificate.not_valid_after_utc <= now:
        raise APIError(400, "Given certificate is expired")


def _identity(
    certificate: x509.Certificate, chain: list[x509.Certificate], config: ServerConfig, now: datetime
) -> tuple[str, str]:
    """(user DN, VOMS attribute or "") of a proxy whose chain leads to a CA
    of ``config.ca_dir``; 400 if it does not, or if a required VOMS
    attribute is missing.

    The attribute is the proxy's first FQAN, as aCT takes the first AC
    attribute (its ``hostname=`` entries are not FQANs). It is read, not
    verified against a vomsdir, like aCT with ``.*`` trusted.
    """
    try:
        dn = gridx509.verify_chain(certificate, chain, config.ca_dir, at=now)
    except X509Error as error:
        raise APIError(400, f"Certificate chain is not trusted: {error}") from None
    try:
        fqans = gridx509.voms_attributes([certificate, *chain])
    except X509Error:
        raise APIError(400, VOMS_MISSING) from None
    if not dn or (config.require_voms and not fqans):
        raise APIError(400, VOMS_MISSING)
    return dn, fqans[0] if fqans else ""


def _public_key_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------- routes


@router.post("/proxies", openapi_extra=_DELEGATION_BODY)
def start_delegation(
    payload: Any = Body(None), store: JobStore = Depends(get_store), config: ServerConfig = Depends(get_config)
) -> dict[str, str]:
    """Step 1: check the presented proxy, keep a new key as a pending
    delegation and answer with its CSR and a delegation token.

    The presented certificates are public, so whoever calls this proves
    nothing yet; the delegation token therefore opens nothing but step 2,
    and only a certificate signed by the user's proxy completes it.
    """
    body = _json_object(payload)
    cert_pem = _field(body, "cert", "Missing issuer certificate")
    chain_pem = _field(body, "chain", "Missing certificate chain")
    certificate = _certificates(cert_pem, "issuer certificate")[0]
    chain = _certificates(chain_pem, "certificate chain")
    now = _utc(store.now())
    _check_current(certificate, now)
    if not any(ext.oid == gridx509.PROXY_CERT_INFO_OID for ext in certificate.extensions):
        raise APIError(400, "Issuer cert is not a valid proxy")
    dn, attribute = _identity(certificate, chain, config, now)
    try:
        csr, key = gridx509.create_proxy_csr(certificate)
    except X509Error:
        raise APIError(400, "Issuer cert is not a valid proxy") from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    expires = min(now + PENDING_LIFETIME, certificate.not_valid_after_utc)
    pendingid = store.add_pending_proxy(dn, attribute, key_pem, expires)
    log.info("Delegation started: DN: %s, attr: %s", dn, attribute)
    return {"token": issue_pending_token(config.jwt_secret, pendingid, expires), "csr": csr.decode("ascii")}


@router.put("/proxies", openapi_extra=_DELEGATION_BODY)
def finish_delegation(
    request: Request,
    payload: Any = Body(None),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> dict[str, str]:
    """Step 2: store the signed proxy with the pending key and answer with
    the token of the proxy.

    The proxy row is keyed by (DN, attribute), so re-delegation keeps the
    proxyid: tokens issued before stay valid and jobs get the new proxy.
    """
    pendingid = decode_pending_token(config.jwt_secret, bearer_token(request))
    pending = store.get_pending_proxy(pendingid)
    if pending is None:
        raise APIError(401, "Delegation request does not exist or is expired")
    body = _json_object(payload)
    cert_pem = _field(body, "cert", "No signed certificate")
    chain_pem = _field(body, "chain", "No cert chain")
    certificate = _certificates(cert_pem, "signed certificate")[0]
    chain = _certificates(chain_pem, "cert chain")
    key = serialization.load_pem_private_key(bytes(pending.privatekey), password=None)
    if _public_key_der(certificate.public_key()) != _public_key_der(key.public_key()):
        raise APIError(400, "Signed certificate is not for the key of this delegation request")
    now = _utc(store.now())
    _check_current(certificate, now)
    if not any(ext.oid == gridx509.PROXY_CERT_INFO_OID for ext in certificate.extensions):
        raise APIError(400, "cert is not a valid proxy")
    dn, attribute = _identity(certificate, chain, config, now)
    if (dn, attribute) != (pending.dn, pending.attribute):
        raise APIError(400, "Signed certificate is not for the identity of this delegation request")
    proxy = gridx509.Proxy(certificate, key, tuple(chain))  # type: ignore[arg-type]
    expiry = certificate.not_valid_after_utc
    proxyid = store.store_proxy(dn, attribute, proxy.to_pem(), expiry)
    path = proxy_path(config, proxyid)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a data dir made by hand may lack it
    gridx509.write_proxy(proxy, path)
    store.set_proxy_path(proxyid, str(path))
    store.delete_pending_proxy(pendingid)
    request.state.dn = dn
    log.info("Proxy submitted: DN: %s, attr: %s, expiration: %s", dn, attribute, expiry)
    return {"token": issue_token(config.jwt_secret, proxyid, expiry)}


@router.delete("/proxies", status_code=204)
def delete_proxy(
    caller: Caller = Depends(current_caller),
    store: JobStore = Depends(get_store),
    config: ServerConfig = Depends(get_config),
) -> Response:
    """Forget the caller's credential (a proxy, or a token with its refresh
    grant): its row and its file, so the server can no longer act for the
    user. Jobs are not touched, as in aCT."""
    record = store.get_proxy(caller.proxyid)
    store.delete_proxy(caller.proxyid)
    paths = {proxy_path(config, caller.proxyid)}
    if record is not None and record.proxypath:
        recorded = Path(record.proxypath)
        if recorded.parent == config.proxies_dir:
            paths.add(recorded)
    for path in paths:
        path.unlink(missing_ok=True)
    return Response(status_code=204)
