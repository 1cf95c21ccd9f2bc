"""CE clients and delegations, per job owner and cluster.

The engine acts on a CE as the job's owner: each owner (``proxies`` row)
gets its own :class:`~actframework.arc.ARCRest` client per cluster,
authenticated with the owner's credential, which is one of two kinds
(:class:`~actframework.db.CredentialKind`):

- an X.509 proxy, presented as the TLS client certificate;
- a bearer token, sent as ``Authorization: Bearer`` on every request, with
  no client certificate.

A new credential (``act proxy``, ``act token``, or the refresh the server
does) gives a fresh client, with new connections: a new proxy is only
presented in a new TLS handshake, and A-REX 7.0 authorises a kept-alive
connection once, by the first token sent on it (a connection on which a
token was refused stays refused when a valid token follows on it).

Before any request the owner's credential is checked against the cluster
(:meth:`CEClients.credential_for`): the cluster's ``auth`` mode must admit
its kind, a token must name the cluster's audience (``sites.<name>.
token_audience``, by default the CE's service URL) in its ``aud``, and
neither may have expired. The token's signature is not checked again:
actd verified it when the user handed it over.

Each owner has one delegation per CE, shared by every engine process
through the ``delegations`` table. A proxy delegation is renewed in place
before it expires or as soon as the user delegated a longer-lived proxy,
and jobs always reference that one delegation, so renewing it renews
theirs. A token delegation (REST 1.1 only, ``type=jwt``) cannot be renewed:
A-REX 7.0 answers ``renew`` with an X.509 CSR and drops the stored token,
and refuses a token ``PUT``. A fresher token therefore makes a new token
delegation, which the record then names and new jobs use; the old one is
deleted at once if the owner has no live jobs on the CE, else once none
names it any more (:meth:`CEClients.sweep_replaced`). REST 1.0 has no token
delegation at all: token owners' jobs go without one there, and jobs
whose files the CE itself must transfer are refused (see
:func:`check_rest_1_0_job`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import jwt

from actframework import x509
from actframework.arc import ARCRest, split_cluster_url
from actframework.arc.submit import PreparedJob
from actframework.config import write_private_file
from actframework.db import CredentialKind, JobStore
from actframework.engine_settings import ClusterAuth
from actframework.errors import (
    ActError,
    ARCAuthError,
    ARCError,
    ARCHTTPError,
    ClusterCredentialError,
    ProxyUnavailableError,
    TokenUnavailableError,
    X509Error,
)
from actframework.server_config import ServerConfig

log = logging.getLogger(__name__)

#: Seconds a CE's refusal of a credential is believed without asking again.
REFUSAL_PAUSE_S = 300.0

#: The audience of a token meant for any service (WLCG token profile).
ANY_AUDIENCE = "https://wlcg.cern.ch/jwt/v1/any"


@dataclass(frozen=True)
class Credential:
    """An owner's credential as the engine uses it: the file that holds it
    (mode 0600), what it is, a fingerprint of its content (a new one means
    the owner handed over a new credential), and its expiry."""

    kind: CredentialKind
    path: Path
    fingerprint: str
    expiry: datetime
    token: str | None = field(default=None, repr=False)
    """The bearer token itself (token owners only); never logged."""


@dataclass(frozen=True)
class _Refusal:
    """A CE's refusal of one credential (by fingerprint), and since when."""

    fingerprint: str
    since: float
    message: str


@dataclass(frozen=True)
class _Client:
    rest: ARCRest
    fingerprint: str


class CEClients:
    """Thread-safe cache of CE clients keyed by (cluster, proxyid)."""

    def __init__(self, config: ServerConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self._clients: dict[tuple[str, int], _Client] = {}
        self._lock = threading.Lock()
        self._connect_locks: dict[tuple[str, int], threading.Lock] = {}
        self._refused: dict[tuple[str, int], _Refusal] = {}
        self._seen: dict[int, Credential] = {}
        self._replaced: dict[tuple[str, int], set[str]] = {}

    # ------------------------------------------------------------------ credentials

    def credential(self, proxyid: int) -> Credential:
        """The owner's credential, written to its file when missing there or
        different (mode 0600). Raises
        :class:`~actframework.errors.CredentialUnavailableError` (the
        owner's jobs wait) when it is gone, expired or unreadable."""
        record = self.store.get_proxy(proxyid)
        token_owner = record is not None and record.proxytype == CredentialKind.TOKEN
        name, command = ("token", "act token") if token_owner else ("proxy", "act proxy")
        unavailable = TokenUnavailableError if token_owner else ProxyUnavailableError
        if record is None or not record.proxy:
            raise unavailable(f"{name} {proxyid} no longer exists: run {command}")
        expiry = (record.expirytime or datetime.min).replace(tzinfo=UTC)
        if expiry <= datetime.now(UTC):
            raise unavailable(
                f"{name} expired: run {command} ({name} {proxyid} expired at {expiry:%Y-%m-%d %H:%M} UTC)"
            )
        path = self.config.proxies_dir / f"proxiesid{proxyid}"
        content = bytes(record.proxy)
        try:
            current = path.read_bytes()
        except OSError:
            current = b""
        fingerprint = hashlib.sha256(content).hexdigest()
        if token_owner:
            token = content.decode("utf-8", "replace").strip()
            if current != content:
                write_private_file(path, content.decode("utf-8", "replace"))
            credential = Credential(CredentialKind.TOKEN, path, fingerprint, expiry, token)
        else:
            if current != content:
                try:
                    x509.write_proxy(x509.load_proxy_pem(content), path)
                except X509Error as exc:
                    raise ProxyUnavailableError(f"proxy {proxyid} cannot be used: {exc}") from exc
            credential = Credential(CredentialKind.PROXY, path, fingerprint, expiry)
        with self._lock:
            self._seen[proxyid] = credential
        return credential

    def last_seen(self, proxyid: int) -> Credential | None:
        """The owner's credential as :meth:`credential` last read it (no
        database read: for work that follows a check of the credential)."""
        with self._lock:
            return self._seen.get(proxyid)

    def proxy_file(self, proxyid: int) -> tuple[Path, str, datetime]:
        """The owner's credential file (written from the store when missing
        or different), its content fingerprint and its expiry."""
        credential = self.credential(proxyid)
        return credential.path, credential.fingerprint, credential.expiry

    def credential_for(self, cluster: str, proxyid: int) -> Credential:
        """The owner's credential, if ``cluster`` can be acted on with it:
        the cluster's ``auth`` mode admits its kind
        (:class:`~actframework.errors.ClusterCredentialError` if not) and a
        token names the cluster's audience
        (:class:`~actframework.errors.TokenUnavailableError` if not)."""
        credential = self.credential(proxyid)
        with self._lock:
            refused = self._refused.get((cluster, proxyid))
        fresh = refused is not None and time.monotonic() - refused.since < REFUSAL_PAUSE_S
        if refused is not None and fresh and refused.fingerprint == credential.fingerprint:
            raise ClusterCredentialError(refused.message)
        mode = self.config.engine.site(cluster).auth
        if credential.kind is CredentialKind.TOKEN:
            if mode is ClusterAuth.X509:
                raise ClusterCredentialError(
                    f"cluster {cluster} takes X.509 proxies only (auth: x509), and the job's owner has a token: "
                    "submit it with a proxy (act proxy) or to a cluster that takes tokens"
                )
            audience = self.token_audience(cluster)
            if not token_names_audience(credential.token or "", audience):
                raise TokenUnavailableError(
                    f"the token's audience does not include {audience}: get a token for it and run act token"
                )
        elif mode is ClusterAuth.TOKEN:
            raise ClusterCredentialError(
                f"cluster {cluster} takes bearer tokens only (auth: token), and the job's owner has an X.509 "
                "proxy: submit it with a token (act token) or to a cluster that takes proxies"
            )
        return credential

    def refusal(self, cluster: str, proxyid: int, error: ARCAuthError) -> str:
        """What a job's ``Error`` says when ``cluster`` refused its owner's
        credential (A-REX 6 answers 403, 7 answers 500 "User can't be
        assigned configuration"): which credential, and what to do.

        The refusal is remembered: for :data:`REFUSAL_PAUSE_S`, or until the
        owner hands over another credential, :meth:`credential_for` raises
        it again without asking the CE, which would only refuse again (and
        A-REX 6 asks the token's issuer for its keys on every request)."""
        record = self.store.get_proxy(proxyid)
        if record is not None and record.proxytype == CredentialKind.TOKEN:
            message = (
                f"cluster {cluster} refused the token ({error.status} {error.reason}): the CE must trust its "
                "issuer and accept its subject and scopes; get a token it accepts and run act token"
            )
        else:
            message = (
                f"cluster {cluster} refused the proxy ({error.status} {error.reason}): the CE does not admit its "
                "identity or VO; run act proxy with a proxy it accepts"
            )
        fingerprint = hashlib.sha256(bytes(record.proxy or b"")).hexdigest() if record is not None else ""
        with self._lock:
            self._refused[(cluster, proxyid)] = _Refusal(fingerprint, time.monotonic(), message)
        return message

    def token_audience(self, cluster: str) -> str:
        """What a token must name in ``aud`` to be used on ``cluster``."""
        return self.config.engine.site(cluster).token_audience or split_cluster_url(cluster)[0]

    # ------------------------------------------------------------------ clients

    def client(self, cluster: str, proxyid: int) -> ARCRest:
        """A connected client for ``cluster`` acting with ``proxyid``'s
        credential (see :meth:`credential_for` for what is checked first)."""
        return self._client(cluster, proxyid, self.credential_for(cluster, proxyid))

    def _client(self, cluster: str, proxyid: int, credential: Credential) -> ARCRest:
        key = (cluster, proxyid)
        with self._lock:
            cached = self._clients.get(key)
            connect_lock = self._connect_locks.setdefault(key, threading.Lock())
        if cached is not None and cached.fingerprint == credential.fingerprint:
            return cached.rest
        with connect_lock:
            with self._lock:
                cached = self._clients.get(key)
            if cached is not None and cached.fingerprint == credential.fingerprint:
                return cached.rest
            timeout = self.config.engine.ce_timeout
            token = credential.kind is CredentialKind.TOKEN
            rest = ARCRest.connect(
                cluster,
                proxy=None if token else credential.path,
                token=credential.token if token else None,
                ca_dir=self.config.ca_dir,
                timeout=(min(15.0, timeout), timeout),
                pool_size=max(16, 4 * self.config.engine.transfer_workers + 4),
            )
            with self._lock:
                old = self._clients.get(key)
                self._clients[key] = _Client(rest, credential.fingerprint)
            if old is not None:
                old.rest.close()
            return rest

    def forget(self, cluster: str, proxyid: int) -> None:
        """Drop a client (after transport trouble, reconnect next time)."""
        with self._lock:
            old = self._clients.pop((cluster, proxyid), None)
        if old is not None:
            old.rest.close()

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.rest.close()

    # ------------------------------------------------------------------ delegations

    def delegation(self, cluster: str, proxyid: int) -> str | None:
        """The delegation id jobs of ``proxyid`` on ``cluster`` use: the
        shared one, renewed (or, for a token, replaced) first if due;
        created if there is none yet. None for a token owner on a REST 1.0
        CE, which has no token delegation."""
        credential = self.credential_for(cluster, proxyid)
        rest = self._client(cluster, proxyid, credential)
        token = credential.kind is CredentialKind.TOKEN
        if token and rest.version == "1.0":
            return None
        record = self.store.get_delegation(cluster, proxyid)
        if record is None:
            delegation_id = self._delegate(rest, credential)
            record = self.store.add_delegation(cluster, proxyid, delegation_id, credential.expiry)
            if record.delegationid != delegation_id:  # another process won the race
                _delete_quietly(rest, delegation_id)
            else:
                what = "token" if token else "proxy"
                log.info("delegated %s %s to %s as %s", what, proxyid, cluster, delegation_id)
            return record.delegationid
        if self.renewal_due(record.expirytime.replace(tzinfo=UTC), credential.expiry):
            return self.renew(cluster, proxyid, record.delegationid)
        return record.delegationid

    def renew(self, cluster: str, proxyid: int, delegation_id: str) -> str:
        """Renew ``delegation_id`` with the owner's current credential.
        Returns the delegation id to use from now on.

        A proxy delegation is renewed in place; if the CE no longer has it
        and it is the shared one, a new shared delegation replaces it. A
        token delegation cannot be renewed (see the module doc): the shared
        one is replaced by a new one; another (an older one jobs still
        name) is left as it is, and its id returned."""
        credential = self.credential_for(cluster, proxyid)
        rest = self._client(cluster, proxyid, credential)
        record = self.store.get_delegation(cluster, proxyid)
        shared = record is not None and record.delegationid == delegation_id
        if credential.kind is CredentialKind.TOKEN:
            if not shared:
                return delegation_id
            return self._replace_token_delegation(cluster, proxyid, rest, credential, delegation_id)
        try:
            rest.renew_delegation(delegation_id, credential.path)
        except ARCHTTPError as exc:
            if exc.status not in (404, 400) or not shared:
                raise
            log.info("delegation %s on %s is gone (%s); delegating anew", delegation_id, cluster, exc)
            new_id = rest.create_delegation(credential.path)
            self.store.update_delegation(cluster, proxyid, new_id, credential.expiry)
            return new_id
        if shared:
            self.store.update_delegation(cluster, proxyid, delegation_id, credential.expiry)
        log.info("renewed delegation %s of proxy %s on %s", delegation_id, proxyid, cluster)
        return delegation_id

    def _delegate(self, rest: ARCRest, credential: Credential) -> str:
        if credential.kind is CredentialKind.TOKEN:
            return rest.create_jwt_delegation(credential.token or "")
        return rest.create_delegation(credential.path)

    def _replace_token_delegation(
        self, cluster: str, proxyid: int, rest: ARCRest, credential: Credential, old_id: str
    ) -> str:
        """A new token delegation with the owner's current token becomes the
        shared one; the old one goes from the CE unless live jobs name it."""
        new_id = rest.create_jwt_delegation(credential.token or "")
        self.store.update_delegation(cluster, proxyid, new_id, credential.expiry)
        log.info("replaced token delegation %s of %s on %s by %s", old_id, proxyid, cluster, new_id)
        # Jobs on the CE may name it, or be on their way there with it (a
        # submission that read the record a moment ago); and A-REX refuses
        # to delete a delegation that jobs it still holds use (500 "Failed
        # deleting delegation"). Then sweep_replaced deletes it later.
        if proxyid in self.store.delegation_ids_in_use(cluster) or not _deleted(rest, old_id):
            with self._lock:
                self._replaced.setdefault((cluster, proxyid), set()).add(old_id)
        return new_id

    def sweep_replaced(self, cluster: str, in_use: dict[int, set[str]]) -> int:
        """Delete the token delegations on ``cluster`` that were replaced
        while jobs used them (or the CE would not delete them yet) and that
        no live job names any more
        (``in_use``: :meth:`JobStore.delegation_ids_in_use`); returns how
        many went. Kept in memory only: after a restart, such a delegation
        stays on the CE until A-REX drops it."""
        with self._lock:
            pending = {key: set(ids) for key, ids in self._replaced.items() if key[0] == cluster}
        swept = 0
        for (_, proxyid), ids in pending.items():
            idle = ids - in_use.get(proxyid, set())
            if not idle:
                continue
            try:
                rest = self.client(cluster, proxyid)
            except ActError as exc:  # tried again at the next look
                log.info("%s: replaced token delegations of %s not deleted yet: %s", cluster, proxyid, exc)
                continue
            gone = {delegation_id for delegation_id in sorted(idle) if _deleted(rest, delegation_id)}
            swept += len(gone)
            with self._lock:
                left = self._replaced.get((cluster, proxyid), set()) - gone
                if left:
                    self._replaced[(cluster, proxyid)] = left
                else:
                    self._replaced.pop((cluster, proxyid), None)
        return swept

    def renewal_due(self, delegated_until: datetime, proxy_expiry: datetime) -> bool:
        """True when a delegation made until ``delegated_until`` should be
        renewed with a credential valid until ``proxy_expiry``: the user
        handed over a longer-lived one, or the delegation nears its end and
        the credential outlives it."""
        renew_before = timedelta(seconds=self.config.engine.delegation_renew_before)
        if proxy_expiry > delegated_until + timedelta(minutes=1):
            return True  # the user delegated a longer-lived proxy (or token) to the server
        return delegated_until - datetime.now(UTC) < renew_before and proxy_expiry > delegated_until


def token_names_audience(token: str, audience: str) -> bool:
    """Whether a token's ``aud`` (a string or a list) holds ``audience``
    or the WLCG "any" audience. Read without checking the signature:
    actd verified the token when the user handed it over."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    aud = claims.get("aud")
    names = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return audience in names or ANY_AUDIENCE in names


#: URL schemes A-REX transfers without the job owner's credentials.
ANONYMOUS_SCHEMES = frozenset({"http"})


def _needs_credentials(url: str) -> bool:
    return urlsplit(url).scheme.lower() not in ANONYMOUS_SCHEMES


def check_rest_1_0_job(cluster: str, job: PreparedJob) -> None:
    """Refuse a token owner's job for a REST 1.0 CE when the CE must
    transfer some of its files with the owner's credentials: REST 1.0
    takes no token delegation, and A-REX 6 stages ``https://`` files with a
    delegated X.509 proxy only (``Can not load certificate file ...
    job.<id>.proxy``). Jobs whose inputs are all uploaded or on plain
    ``http://``, and whose outputs stay on the CE, run with the bearer
    token alone."""
    description = job.description
    sources = [
        entry.source
        for entry in description.inputs
        if entry.source and not entry.is_local and _needs_credentials(entry.source)
    ]
    targets = [entry.target for entry in description.outputs if entry.target and _needs_credentials(entry.target)]
    if sources or targets:
        what = "inputs the CE fetches" if sources else "outputs the CE sends"
        raise ClusterCredentialError(
            f"cluster {cluster} speaks REST 1.0, which cannot take a token delegation: {what} need an X.509 "
            f"proxy (act proxy) or a REST 1.1 CE (this job's: {(sources or targets)[0]})"
        )


def _deleted(rest: ARCRest, delegation_id: str) -> bool:
    """Delete a delegation from the CE; False if it is still there."""
    try:
        rest.delete_delegation(delegation_id)
    except ARCHTTPError as exc:
        if exc.status == 404:
            return True
        log.info("delegation %s not deleted yet: %s", delegation_id, exc)
        return False
    except ARCError as exc:
        log.info("delegation %s not deleted yet: %s", delegation_id, exc)
        return False
    return True


def _delete_quietly(rest: ARCRest, delegation_id: str) -> None:
    try:
        rest.delete_delegation(delegation_id)
    except ARCError as exc:
        log.warning("could not delete surplus delegation %s: %s", delegation_id, exc)
