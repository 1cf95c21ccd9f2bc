"""The engine acting for token owners on the real CEs: A-REX 6.17 (REST 1.0)
and A-REX 7.0 (REST 1.1), run one cycle at a time in the test process.

A token owner is a ``proxies`` row of kind ``token`` whose ``proxy`` is
the access token (what ``act token`` stores); the engine sends it as a
bearer token, with no client certificate, and on REST 1.1 delegates it
to the CE as a JWT delegation.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from actframework.config import write_private_file
from actframework.db import CredentialKind
from actframework.engine.actions import cancel_cycle
from actframework.engine.cleaner import clean_cycle
from actframework.engine.context import EngineContext
from actframework.engine.credentials import forget_credentials_cycle, renew_delegations_cycle
from actframework.engine.fetcher import fetch_cycle
from actframework.engine.handover import handover_cycle
from actframework.engine.status import status_cycle
from actframework.engine.submitter import submit_cycle
from actframework.server.auth import issue_token

from fixtures.arex import ArcCE
from fixtures.stack import Stack, StackFactory
from fixtures.token_issuer import KID, TokenIssuer
from fixtures.webdav import WebDAVServer
from test_engine_in_process import engine_for, run_until

pytestmark = [pytest.mark.integration, pytest.mark.arex]

JOB = '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))(stdout="out.txt")(jobname="token-job")'
REMOTE_INPUT_JOB = (
    '&(executable="/bin/cat")(arguments="in.txt")'
    '(inputfiles=("in.txt" "https://localhost:9/in.txt"))(stdout="out.txt")(jobname="remote")'
)


def service_url(stack: Stack) -> str:
    """The CE's service URL: the default audience a token must name."""
    return stack.cluster.rsplit("/", 1)[0] + "/arex"


def as_token_owner(stack: Stack, token: str) -> Stack:
    """``stack`` as seen by the owner of ``token``, stored as ``act token`` stores it."""
    claims = jwt.decode(token, options={"verify_signature": False})
    expiry = datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)
    proxyid = stack.store.store_proxy(
        f"{claims['iss']}#{claims['sub']}", "", token.encode(), expiry, proxytype=CredentialKind.TOKEN
    )
    write_private_file(stack.config.proxies_dir / f"proxiesid{proxyid}", token)
    session_token = issue_token(stack.config.jwt_secret, proxyid, expiry)
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {session_token}"
    return dataclasses.replace(stack, token=session_token, proxyid=proxyid, session=session)


@pytest.fixture
def token_stack(make_stack: StackFactory, ce_with_tokens: ArcCE) -> Iterator[Stack]:
    """A server (no engine process) whose only cluster is ``ce_with_tokens``."""
    yield make_stack("sqlite", engines=0, ce=ce_with_tokens)


def submit_one(stack: Stack, context: EngineContext, description: str = JOB) -> int:
    """One job of ``stack``'s user through the server and one submission cycle."""
    [job_id] = stack.submit([description], lambda i, j: {"in.txt": b"token data\n"})
    assert handover_cycle(context) == 1
    submit_cycle(context, stack.cluster)
    return job_id


def token_owner_engine(stack: Stack, issuer: TokenIssuer, subject: str) -> tuple[str, Stack, EngineContext]:
    """A token of ``subject`` for the stack's CE, its owner's view of the
    stack, and an in-process engine."""
    token = issuer.mint(service_url(stack), subject=subject)
    user = as_token_owner(stack, token)
    return token, user, engine_for(user)


def run_to_done(user: Stack, context: EngineContext, job_id: int) -> str:
    """Status checks and fetches until the submitted job rests; it must be
    ``done``. Returns its CE id (the name of its results directory)."""
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "submitted", job["a_Error"]
    resting = {"done", "donefailed", "failed"}
    run_until(
        context,
        user.cluster,
        lambda: user.states([job_id])[job_id] in resting,
        [status_cycle, fetch_cycle],
        timeout=240,
    )
    assert user.states([job_id])[job_id] == "done", user.jobs([job_id])
    return str(job["a_IDFromEndpoint"])


def run_job_with_input_from(user: Stack, context: EngineContext, url: str, content: bytes) -> int:
    """A job whose input the CE fetches from ``url``, run to ``done``; its
    output (the input, by ``cat``) must be ``content``. Returns its id."""
    description = (
        f'&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" "{url}"))'
        '(stdout="out.txt")(jobname="staged")'
    )
    job_id = submit_one(user, context, description)
    ce_id = run_to_done(user, context, job_id)
    assert (user.config.results_dir / ce_id / "out.txt").read_bytes() == content
    return job_id


def test_a_token_owners_job_runs_to_done_with_its_output_fetched(
    token_stack: Stack, token_issuer: TokenIssuer, ce_with_tokens: ArcCE
) -> None:
    token, user, context = token_owner_engine(token_stack, token_issuer, "engine-token-user")
    job_id = submit_one(user, context)
    ce_id = run_to_done(user, context, job_id)
    assert (user.config.results_dir / ce_id / "out.txt").read_bytes() == b"token data\n"

    rest = context.ce.client(user.cluster, user.proxyid)
    assert rest.http.proxy is None, "a token owner's client must present no certificate"
    storage = context.storage_context(user.proxyid).credentials
    assert storage.proxy is None and storage.token == token, "storage backends get the token, not a proxy"
    # The CE knew the job's owner by the token (issuer/subject), not by a certificate's DN.
    [info] = rest.get_jobs_info([ce_id])
    assert info.value is not None and info.value.owner == f"{token_issuer.url}/engine-token-user"

    [row] = user.session.get(f"{user.url}/jobs", params={"id": str(job_id), "arc": "DelegationID"}).json()
    if ce_with_tokens.release == "6.17":
        # REST 1.0 has no token delegation: the job went without one, and a
        # job whose inputs are all uploaded needs none.
        assert row["a_DelegationID"] is None
    else:
        # REST 1.1: the job names the owner's JWT delegation, which holds the token.
        delegation_id = row["a_DelegationID"]
        assert delegation_id
        assert {d.id: d.type for d in rest.list_delegations()}[delegation_id] == "jwt"
        assert rest.get_delegation(delegation_id) == token.encode()
        record = user.store.get_delegation(user.cluster, user.proxyid)
        assert record is not None and record.delegationid == delegation_id
    user.clean([job_id])
    clean_cycle(context, user.cluster)


@pytest.mark.parametrize("each_ce", ["arex7"], indirect=True)
def test_a_fresher_token_replaces_the_jwt_delegation_and_clean_up_deletes_it(
    token_stack: Stack, token_issuer: TokenIssuer, ce_with_tokens: ArcCE
) -> None:
    """A-REX 7.0 cannot renew a token delegation (``renew`` answers an X.509
    CSR and drops the token): a fresher token makes a new one."""
    user = as_token_owner(
        token_stack, token_issuer.mint(service_url(token_stack), subject="renewing-user", lifetime=1800)
    )
    context = engine_for(user)
    first = context.ce.delegation(user.cluster, user.proxyid)
    assert first is not None
    assert context.ce.delegation(user.cluster, user.proxyid) == first, "a second batch got a new delegation"

    fresher = token_issuer.mint(service_url(token_stack), subject="renewing-user", lifetime=7200)
    assert as_token_owner(token_stack, fresher).proxyid == user.proxyid  # the row was updated in place
    second = context.ce.delegation(user.cluster, user.proxyid)
    assert second is not None and second != first
    rest = context.ce.client(user.cluster, user.proxyid)
    assert rest.http._token == fresher, "the client did not pick up the fresher token"
    on_ce = {d.id for d in rest.list_delegations()}
    assert second in on_ce and first not in on_ce, "the replaced delegation (no job named it) is still there"
    assert rest.get_delegation(second) == fresher.encode()

    # The owner has no jobs: the clean-up removes the delegation from the CE and the table.
    assert forget_credentials_cycle(context) == 1
    assert user.store.get_delegation(user.cluster, user.proxyid) is None
    assert second not in {d.id for d in rest.list_delegations()}


@pytest.mark.parametrize("each_ce", ["arex7"], indirect=True)
def test_the_renewal_cycle_gives_new_jobs_a_delegation_of_the_fresher_token(
    make_stack: StackFactory, ce_with_tokens: ArcCE, token_issuer: TokenIssuer
) -> None:
    """Jobs on the CE keep the delegation they name (A-REX has no way to
    point them at another); jobs submitted after the owner's new token
    name the new delegation, and the old one goes once no job names it."""
    stack = make_stack("sqlite", engines=0, ce=ce_with_tokens, engine_settings={"credential_check_interval": 0})
    audience = service_url(stack)
    user = as_token_owner(stack, token_issuer.mint(audience, subject="cycling-user", lifetime=1800))
    context = engine_for(user)
    first_job = submit_one(user, context)
    rows = user.session.get(f"{user.url}/jobs", params={"id": str(first_job), "arc": "DelegationID"}).json()
    first = rows[0]["a_DelegationID"]
    rest = context.ce.client(user.cluster, user.proxyid)

    fresher = token_issuer.mint(audience, subject="cycling-user", lifetime=7200)
    as_token_owner(stack, fresher)
    assert renew_delegations_cycle(context, user.cluster) == 1
    record = user.store.get_delegation(user.cluster, user.proxyid)
    assert record is not None and record.delegationid != first
    rest = context.ce.client(user.cluster, user.proxyid)
    assert rest.get_delegation(record.delegationid) == fresher.encode()
    assert first in {d.id for d in rest.list_delegations()}, "the delegation a live job names was deleted"

    [second_job] = user.submit([JOB], lambda i, j: {"in.txt": b"again\n"})
    assert handover_cycle(context) == 1
    submit_cycle(context, user.cluster)
    rows = user.session.get(
        f"{user.url}/jobs", params={"id": f"{first_job},{second_job}", "client": "id", "arc": "DelegationID"}
    )
    assert {row["c_id"]: row["a_DelegationID"] for row in rows.json()} == {
        first_job: first,
        second_job: record.delegationid,
    }
    ids = [first_job, second_job]
    run_until(
        context,
        user.cluster,
        lambda: set(user.states(ids).values()) <= {"done", "donefailed", "failed"},
        [status_cycle, fetch_cycle],
        timeout=240,
    )
    assert set(user.states(ids).values()) == {"done"}
    # A-REX refuses to delete a delegation its jobs hold (500 "Failed
    # deleting delegation") until they are cleaned from the CE.
    user.clean(ids)
    clean_cycle(context, user.cluster)
    renew_delegations_cycle(context, user.cluster)
    assert first not in {d.id for d in rest.list_delegations()}, "the replaced delegation was left on the CE"
    assert forget_credentials_cycle(context) == 1
    assert record.delegationid not in {d.id for d in rest.list_delegations()}


@pytest.mark.parametrize("each_ce", ["arex7"], indirect=True)
def test_on_rest_1_1_the_ce_fetches_a_token_jobs_https_input_with_the_delegated_token(
    token_stack: Stack, token_issuer: TokenIssuer, webdav_jwt: WebDAVServer
) -> None:
    # The token is meant for the CE and for the storage the input is on.
    token = token_issuer.mint([service_url(token_stack), webdav_jwt.url.rstrip("/")], subject="staging-user")
    user = as_token_owner(token_stack, token)
    context = engine_for(user)
    with webdav_jwt.session(token=token) as dav:
        assert dav.put(webdav_jwt.url_for("in.txt"), data=b"fetched by the CE\n").status_code == 201
    job_id = run_job_with_input_from(user, context, webdav_jwt.url_for("in.txt"), b"fetched by the CE\n")
    fetched = [r for r in webdav_jwt.access_log() if r.method == "GET" and r.path == "/in.txt"]
    assert fetched and all(r.status == 200 for r in fetched), "the CE did not fetch the input with the token"
    assert {r.subject for r in fetched} == {f"{token_issuer.url}#staging-user"}
    user.clean([job_id])
    clean_cycle(context, user.cluster)


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
def test_rest_1_0_refuses_a_token_job_whose_inputs_the_ce_fetches(
    token_stack: Stack, token_issuer: TokenIssuer
) -> None:
    # A subject of its own: the CE lists a token user's jobs to that user
    # alone, so other tests running meanwhile cannot change the listing.
    user = as_token_owner(token_stack, token_issuer.mint(service_url(token_stack), subject="rest-1-0-remote-input"))
    context = engine_for(user)
    as_user = context.ce.client(user.cluster, user.proxyid)
    before = {job.id for job in as_user.get_jobs_list()}
    job_id = submit_one(user, context, REMOTE_INPUT_JOB)
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tosubmit"
    assert job["a_Error"] == (
        f"cluster {user.cluster} speaks REST 1.0, which cannot take a token delegation: inputs the CE fetches "
        "need an X.509 proxy (act proxy) or a REST 1.1 CE (this job's: https://localhost:9/in.txt)"
    )
    assert {job.id for job in as_user.get_jobs_list()} == before, "the job went to the CE"


class AbsoluteFormHandler(SimpleHTTPRequestHandler):
    """Serves files, also to a client that names the whole URL in the
    request line (``GET http://host:port/in.txt``), as A-REX's data staging does."""

    def translate_path(self, path: str) -> str:
        return super().translate_path(urlsplit(path).path if "://" in path else path)


@pytest.fixture
def plain_http(tmp_path: Path) -> Iterator[str]:
    """A plain-HTTP file server on loopback for ``tmp_path / "www"``; its URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(AbsoluteFormHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
def test_rest_1_0_runs_a_token_job_whose_input_the_ce_fetches_over_plain_http(
    token_stack: Stack, token_issuer: TokenIssuer, plain_http: str, tmp_path: Path
) -> None:
    """Plain http needs no credentials, so no delegation either."""
    (tmp_path / "www" / "in.txt").write_bytes(b"anyone may read this\n")
    token, user, context = token_owner_engine(token_stack, token_issuer, "rest-1-0-http-input")
    job_id = run_job_with_input_from(user, context, f"{plain_http}/in.txt", b"anyone may read this\n")
    user.clean([job_id])
    clean_cycle(context, user.cluster)


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
@pytest.mark.parametrize(
    ("site", "audience", "error"),
    [
        (
            {"auth": "x509"},
            None,
            "cluster {cluster} takes X.509 proxies only (auth: x509), and the job's owner has a token: "
            "submit it with a proxy (act proxy) or to a cluster that takes tokens",
        ),
        (
            {},
            "https://elsewhere.example.org/arex",
            "the token's audience does not include {service}: get a token for it and run act token",
        ),
        (
            {"token_audience": "https://ce.example.org"},
            None,
            "the token's audience does not include https://ce.example.org: get a token for it and run act token",
        ),
    ],
    ids=["x509-cluster", "token-for-another-ce", "configured-audience"],
)
def test_a_cluster_that_cannot_take_the_owners_token_gives_the_job_an_error(
    make_stack: StackFactory,
    ce_with_tokens: ArcCE,
    token_issuer: TokenIssuer,
    site: dict[str, str],
    audience: str | None,
    error: str,
) -> None:
    cluster = f"https://localhost:{ce_with_tokens.port}/fork"
    settings = {"sites": {"ce": {"endpoint": cluster, **site}}}
    stack = make_stack("sqlite", engines=0, ce=ce_with_tokens, engine_settings=settings)
    user = as_token_owner(stack, token_issuer.mint(audience or service_url(stack)))
    job_id = submit_one(user, engine_for(user))
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tosubmit", "the job is refused there, not cancelled"
    assert job["a_Error"] == error.format(cluster=cluster, service=service_url(stack))
    assert job["a_IDFromEndpoint"] is None


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
def test_a_cluster_in_token_mode_refuses_a_proxy_owners_job(make_stack: StackFactory, ce_with_tokens: ArcCE) -> None:
    cluster = f"https://localhost:{ce_with_tokens.port}/fork"
    settings = {"sites": {"ce": {"endpoint": cluster, "auth": "token"}}}
    stack = make_stack("sqlite", engines=0, ce=ce_with_tokens, engine_settings=settings)
    job_id = submit_one(stack, engine_for(stack))
    job = stack.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tosubmit"
    assert job["a_Error"].startswith(f"cluster {cluster} takes bearer tokens only (auth: token)")


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
def test_an_expired_token_makes_the_job_wait(
    make_stack: StackFactory, ce_with_tokens: ArcCE, token_issuer: TokenIssuer
) -> None:
    stack = make_stack("sqlite", engines=0, ce=ce_with_tokens)
    user = as_token_owner(stack, token_issuer.mint(service_url(stack), lifetime=3600))
    [job_id] = user.submit([JOB], lambda i, j: {"in.txt": b"x\n"})
    context = engine_for(user)
    assert handover_cycle(context) == 1
    # Expired since it was handed over (the server took it while valid).
    expired = token_issuer.mint(service_url(stack), lifetime=-60)
    assert as_token_owner(stack, expired).proxyid == user.proxyid
    submit_cycle(context, user.cluster)
    # A fresh token (act token) lets the owner read the job (the server refuses expired ones).
    assert as_token_owner(stack, token_issuer.mint(service_url(stack))).proxyid == user.proxyid
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tosubmit"
    assert job["a_Error"].startswith("token expired: run act token")


def test_a_token_the_ce_refuses_is_the_owners_error_not_a_ce_outage(
    token_stack: Stack, token_issuer: TokenIssuer, ce_with_tokens: ArcCE
) -> None:
    """6.17 refuses with 403, 7.0 with 500: both are the owner's problem;
    the submission cycle does not raise (which would make the engine back
    off from the CE for everyone)."""
    genuine = jwt.decode(
        token_issuer.mint(service_url(token_stack), subject="forged-user"), options={"verify_signature": False}
    )
    forged = jwt.encode(
        genuine,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": KID, "typ": "JWT"},
    )
    user = as_token_owner(token_stack, forged)
    context = engine_for(user)
    job_id = submit_one(user, context)  # raises nothing
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "tosubmit"
    # 6.17 refuses already the version query (403), 7.0 answers that
    # unauthenticated and refuses the delegation (500, in A-REX's words).
    refusal = (
        "403 the CE does not accept our credentials"
        if ce_with_tokens.release == "6.17"
        else "500 User can't be assigned configuration"
    )
    assert job["a_Error"].startswith(f"cluster {user.cluster} refused the token ({refusal})"), job["a_Error"]
    assert job["a_Error"].endswith("run act token")

    # The refusal is believed for a while: the next cycle does not ask the
    # CE again (the CE's refusals are counted as such, the remembered one as
    # a credential the cluster cannot take).
    def errors(kind: str) -> float:
        sample = {"cluster": user.cluster, "kind": kind}
        return context.metrics.registry.get_sample_value("actd_engine_ce_errors_total", sample) or 0.0

    refused_by_ce = f"http_{403 if ce_with_tokens.release == '6.17' else 500}"
    assert (errors(refused_by_ce), errors("credential")) == (1, 0)
    assert submit_cycle(context, user.cluster) == 0
    assert user.jobs([job_id])[job_id]["a_Error"] == job["a_Error"]
    assert (errors(refused_by_ce), errors("credential")) == (1, 1)

    # A new token (act token) is tried at once, on new connections: A-REX
    # 7.0 would keep refusing it on the connection that refused the old one.
    genuine_token = token_issuer.mint(service_url(token_stack), subject="forged-user")
    assert as_token_owner(token_stack, genuine_token).proxyid == user.proxyid
    submit_cycle(context, user.cluster)
    job = user.jobs([job_id])[job_id]
    assert job["a_arcstate"] == "submitted", job["a_Error"]
    user.action("cancel", [job_id])
    run_until(context, user.cluster, lambda: user.states([job_id])[job_id] == "cancelled", [cancel_cycle, status_cycle])
    user.clean([job_id])
    clean_cycle(context, user.cluster)
