"""Token users: how a verified bearer token becomes a job owner.

A user who hands actd a token (``POST /tokens``, ``act token``) is a
``proxies`` row like a proxy user: ``dn`` is the token identity
``<issuer>#<subject>``, ``attribute`` is empty, ``proxytype`` is
:attr:`~actframework.db.CredentialKind.TOKEN`, ``proxy`` holds the access
token and ``expirytime`` its ``exp``. Its file ``proxiesid<id>`` (mode
0600) in the proxies directory holds the token, where the engine reads
credentials. The row id owns the user's jobs, so every isolation rule of
proxies holds as it is, and storing a renewed token of the same identity
(the user's next ``act token``, or the engine's refresh) keeps the id and
with it the user's jobs.

Shared by the REST server (which takes tokens) and the engine (which
refreshes them), so both write the row and the file the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from actframework.config import write_private_file
from actframework.db import CredentialKind, JobStore
from actframework.errors import TokenError
from actframework.tokens import TokenIdentity

#: Longest ``<issuer>#<subject>`` a ``proxies.dn`` holds. A longer one is
#: refused rather than cut, which could make two users one.
OWNER_MAX_LENGTH: Final = 255


def credential_path(proxies_dir: Path, proxyid: int) -> Path:
    """The file of the credential of ``proxyid`` (aCT's ``proxiesid<id>``)."""
    return proxies_dir / f"proxiesid{proxyid}"


def owner_of(identity: TokenIdentity) -> str:
    """The ``dn`` of the user ``identity`` names; TokenError if it is too long to keep."""
    if len(identity.owner) > OWNER_MAX_LENGTH:
        raise TokenError(
            f"the token's issuer and subject together are longer than the {OWNER_MAX_LENGTH} characters "
            "this server can keep; ask the site to use another identity claim"
        )
    return identity.owner


def store_token_user(store: JobStore, proxies_dir: Path, identity: TokenIdentity, token: str) -> int:
    """Store ``token`` (verified as ``identity``) as its user's credential,
    row and 0600 file; returns the user's id (the same for the same identity)."""
    owner = owner_of(identity)
    proxyid = store.store_proxy(owner, "", token.encode("utf-8"), identity.expires, CredentialKind.TOKEN)
    path = credential_path(proxies_dir, proxyid)
    proxies_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_file(path, token)
    store.set_proxy_path(proxyid, str(path))
    return proxyid
