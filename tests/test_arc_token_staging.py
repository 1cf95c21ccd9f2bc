"""A-REX 7 stages a job's input from token-protected storage with the
user's delegated token: the whole path of a user who has no X.509
credential at all, at the CE's level.

The user's token is meant for the CE and for the storage (``aud`` holds
both). The client uploads the input to WebDAV with it, authenticates to
the CE with it (no client certificate), hands it to the CE as a JWT
delegation (REST 1.1) and submits the job naming that delegation; A-REX
then fetches the input presenting the delegated token, which the storage
verifies against the issuer's key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from actframework import jobdesc
from actframework.arc import ARCRest
from actframework.arc.submit import post_jobs, prepare_job

from fixtures.arc_client import wait_for_states
from fixtures.arex import ArcCE, arc_session
from fixtures.token_issuer import TokenIssuer
from fixtures.webdav import WebDAVServer

pytestmark = [pytest.mark.integration, pytest.mark.arex]


@pytest.fixture
def token_rest(arc7_ce: ArcCE, token_issuer: TokenIssuer, webdav_jwt: WebDAVServer) -> Iterator[tuple[ARCRest, str]]:
    """A token-only client on A-REX 7 (REST 1.1) and its token, meant for
    the CE and the WebDAV server; the client's jobs are cleaned at the end."""
    assert arc7_ce.token_issuer == token_issuer.url
    token = token_issuer.mint([arc7_ce.url, webdav_jwt.url.rstrip("/")], subject="no-x509-user")
    with ARCRest.connect(arc7_ce.url, token=token, ca_dir=arc7_ce.ca_dir) as rest:
        assert rest.version == "1.1"
        created: list[str] = []
        rest.created = created  # type: ignore[attr-defined]
        try:
            yield rest, token
        finally:
            if created:
                rest.kill_jobs(created)
                rest.clean_jobs(created)


def _jwt_delegation(ce: ArcCE, token: str) -> str:
    """A JWT delegation of ``token``, made with the token alone."""
    with arc_session(ce, anonymous=True) as session:
        answer = session.post(
            f"{ce.rest_url}/delegations",
            params={"action": "new", "type": "jwt"},
            headers={"Authorization": f"Bearer {token}", "X-Token-Delegation": token},
        )
    assert answer.status_code == 201, answer.text
    return answer.headers["Location"].rsplit("/", 1)[-1]


def test_a_rest_1_1_ce_stages_an_input_from_token_storage_with_the_delegated_token(
    arc7_ce: ArcCE, token_issuer: TokenIssuer, token_rest: tuple[ARCRest, str], webdav_jwt: WebDAVServer
) -> None:
    rest, token = token_rest
    with webdav_jwt.session(token=token) as dav:
        assert dav.put(webdav_jwt.url_for("in.txt"), data=b"staged with a token\n").status_code == 201
    source = webdav_jwt.url_for("in.txt")
    delegation_id = _jwt_delegation(arc7_ce, token)
    job = jobdesc.parse_one(
        '&(executable="/bin/sh")(arguments="-c" "cat in.txt > out.txt")(jobname="token-staged")'
        f'(inputfiles=("in.txt" "{source}"))(outputfiles=("out.txt" ""))'
    )
    prepared = prepare_job(job, input_dir=Path.cwd(), delegation_id=delegation_id, into_description=False)
    assert prepared.uploads == ()
    [created] = post_jobs(rest, [prepared], delegation_id=delegation_id)
    job_id = created.unwrap().id
    rest.created.append(job_id)  # type: ignore[attr-defined]

    assert wait_for_states(rest, [job_id], {"FINISHED", "FAILED"}, timeout=180) == {job_id: "FINISHED"}
    assert b"".join(rest.read_file(job_id, "out.txt")) == b"staged with a token\n"
    fetched = [r for r in webdav_jwt.access_log() if r.method == "GET" and r.path == "/in.txt"]
    assert fetched and all(r.status == 200 for r in fetched)
    assert {r.subject for r in fetched} == {f"{token_issuer.url}#no-x509-user"}


def test_the_storage_refuses_a_token_that_is_not_meant_for_it(
    token_issuer: TokenIssuer, webdav_jwt: WebDAVServer
) -> None:
    elsewhere = token_issuer.mint("https://other.example.org")
    expired = token_issuer.mint(webdav_jwt.url.rstrip("/"), lifetime=-120)
    for token in (elsewhere, expired):
        with webdav_jwt.session(token=token) as dav:
            assert dav.put(webdav_jwt.url_for("x.txt"), data=b"x").status_code == 401
    with webdav_jwt.session(token=token_issuer.mint(webdav_jwt.url.rstrip("/"))) as dav:
        assert dav.put(webdav_jwt.url_for("x.txt"), data=b"x").status_code == 201
    assert requests.put(webdav_jwt.url_for("y.txt"), data=b"y", verify=str(webdav_jwt.ca_file), timeout=30).status_code == 401
    assert not webdav_jwt.local("x.txt").exists() or webdav_jwt.local("x.txt").read_bytes() == b"x"
    assert not webdav_jwt.local("y.txt").exists()
