"""``POST /tokens`` against a live ``actd serve`` on each database that
trusts the real loopback token issuer: a good token makes its user a job
owner with actd's own token; every bad one is a 401 that says what to do,
and leaves the database and the proxies directory as they were."""

from __future__ import annotations

import logging
import stat
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import requests
import sqlalchemy as sa
from fastapi.testclient import TestClient
from fixtures.server import TOKEN_AUDIENCE, LiveServer, free_port
from fixtures.token_issuer import BAD_TOKENS, TokenIssuer

from actframework.db import CredentialKind, JobStore
from actframework.db.schema import proxies, refreshgrants
from actframework.server.app import create_app
from actframework.trusted_issuers import TrustedIssuer

pytestmark = pytest.mark.integration

#: What tells the user what to do, one of which every refusal must hold.
ADVICE = ("run act token", "ask the issuer", "check the clocks")


def hand_over(api: LiveServer, token: str, body: dict[str, str] | None = None) -> requests.Response:
    return api.session(token).post(f"{api.url}/tokens", json=body)


def actd_token(api: LiveServer, token: str, body: dict[str, str] | None = None) -> str:
    response = hand_over(api, token, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token"}
    return str(response.json()["token"])


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def snapshot(api: LiveServer) -> tuple[list[Any], list[Any], list[str]]:
    """Every credential row and file: what a refusal must leave alone."""
    with api.store.engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.select(proxies).order_by(proxies.c.id))]
        grants = [tuple(row) for row in connection.execute(sa.select(refreshgrants))]
    return rows, grants, sorted(path.name for path in api.config.proxies_dir.iterdir())


def test_a_good_token_makes_its_user_a_job_owner_with_an_actd_token(api: LiveServer, token_issuer: TokenIssuer) -> None:
    token = token_issuer.mint(TOKEN_AUDIENCE, subject="alice", lifetime=900)
    answer = claims(actd_token(api, token))
    assert answer["exp"] == claims(token)["exp"]
    record = api.store.get_proxy(answer["proxyid"])
    assert record is not None
    assert (record.dn, record.attribute, record.proxytype) == (f"{token_issuer.url}#alice", "", CredentialKind.TOKEN)
    assert record.proxy == token.encode()
    assert record.expirytime == datetime.fromtimestamp(claims(token)["exp"], UTC).replace(tzinfo=None)
    path = api.config.proxies_dir / f"proxiesid{record.id}"
    assert record.proxypath == str(path)
    assert path.read_text() == token and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_actd_token_opens_the_job_routes(api: LiveServer, token_issuer: TokenIssuer) -> None:
    session = api.session(actd_token(api, token_issuer.mint(TOKEN_AUDIENCE)))
    assert session.get(f"{api.url}/info").status_code == 200
    created = session.post(f"{api.url}/jobs", json=[{"clusterlist": [api.config.clusters[0]]}])
    assert created.status_code == 200 and "id" in created.json()[0], created.text


def test_a_renewed_token_keeps_the_users_id_and_jobs(api: LiveServer, token_issuer: TokenIssuer) -> None:
    first = claims(actd_token(api, token_issuer.mint(TOKEN_AUDIENCE, subject="alice", lifetime=600)))
    job = api.new_job(first["proxyid"])
    renewed_token = token_issuer.mint(TOKEN_AUDIENCE, subject="alice", lifetime=1800)
    renewed = claims(actd_token(api, renewed_token))
    assert renewed["proxyid"] == first["proxyid"] and renewed["exp"] > first["exp"]
    assert (api.config.proxies_dir / f"proxiesid{first['proxyid']}").read_text() == renewed_token
    listed = api.session(actd_token(api, renewed_token)).get(f"{api.url}/jobs", params={"client": "id"})
    assert [row["c_id"] for row in listed.json()] == [job]


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_refused_with_what_to_do_and_nothing_is_stored(
    api: LiveServer, token_issuer: TokenIssuer, case: str
) -> None:
    actd_token(api, token_issuer.mint(TOKEN_AUDIENCE, subject="someone-else"))
    before = snapshot(api)
    token = token_issuer.bad_token(case, TOKEN_AUDIENCE, subject="mallory")
    response = hand_over(api, token, {"refresh_token": "r", "client_id": "c", "client_secret": "s"})
    assert response.status_code == 401, response.text
    message = response.json()["msg"]
    assert any(advice in message for advice in ADVICE), message
    assert token not in message
    assert snapshot(api) == before


def test_a_request_without_a_token_is_refused(api: LiveServer) -> None:
    response = api.session().post(f"{api.url}/tokens")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["msg"]


def test_half_a_refresh_grant_is_refused_and_nothing_is_stored(api: LiveServer, token_issuer: TokenIssuer) -> None:
    before = snapshot(api)
    response = hand_over(api, token_issuer.mint(TOKEN_AUDIENCE), {"refresh_token": "r", "client_id": "c"})
    assert response.status_code == 400
    assert response.json()["msg"].endswith("missing: client_secret")
    assert snapshot(api) == before


def test_a_refresh_grant_is_kept_with_the_issuers_token_endpoint(api: LiveServer, token_issuer: TokenIssuer) -> None:
    client_id, secret = token_issuer.register_client()
    refresh = token_issuer.grant_refresh(client_id, TOKEN_AUDIENCE)
    body = {"refresh_token": refresh, "client_id": client_id, "client_secret": secret}
    proxyid = claims(actd_token(api, token_issuer.mint(TOKEN_AUDIENCE), body))["proxyid"]
    grant = api.store.get_refresh_grant(proxyid)
    assert grant is not None
    assert (grant.refreshtoken, grant.clientid, grant.clientsecret) == (refresh.encode(), client_id, secret.encode())
    assert grant.tokenendpoint == f"{token_issuer.url}/token" and grant.failedsince is None
    assert refresh not in repr(grant) and secret not in repr(grant)


def test_delete_forgets_a_token_user_its_file_and_its_refresh_grant(api: LiveServer, token_issuer: TokenIssuer) -> None:
    client_id, secret = token_issuer.register_client()
    body = {
        "refresh_token": token_issuer.grant_refresh(client_id, TOKEN_AUDIENCE),
        "client_id": client_id,
        "client_secret": secret,
    }
    mine = actd_token(api, token_issuer.mint(TOKEN_AUDIENCE, subject="alice"), body)
    other = actd_token(api, token_issuer.mint(TOKEN_AUDIENCE, subject="bob"))
    proxyid = claims(mine)["proxyid"]
    assert api.session(mine).delete(f"{api.url}/proxies").status_code == 204
    assert api.store.get_proxy(proxyid) is None and api.store.get_refresh_grant(proxyid) is None
    assert not (api.config.proxies_dir / f"proxiesid{proxyid}").exists()
    assert api.session(mine).get(f"{api.url}/info").status_code == 401
    assert api.session(other).get(f"{api.url}/info").status_code == 200


def test_tokens_and_grant_secrets_are_not_in_the_servers_log(api: LiveServer, token_issuer: TokenIssuer) -> None:
    client_id, secret = token_issuer.register_client()
    refresh = token_issuer.grant_refresh(client_id, TOKEN_AUDIENCE)
    token = token_issuer.mint(TOKEN_AUDIENCE)
    actd_token(api, token, {"refresh_token": refresh, "client_id": client_id, "client_secret": secret})
    bad = token_issuer.bad_token("expired", TOKEN_AUDIENCE)
    assert hand_over(api, bad).status_code == 401
    log = api.log()
    assert "Token submitted" in log
    for text in (token, bad, refresh, secret, token.split(".")[2]):
        assert text not in log


# --------------------------------------------------------------------------- in-process apps


def test_an_actd_without_trusted_issuers_takes_no_tokens(api: LiveServer, token_issuer: TokenIssuer) -> None:
    before = snapshot(api)
    with TestClient(create_app(replace(api.config, token_issuers=()), JobStore(api.store.engine))) as client:
        response = client.post("/tokens", headers={"Authorization": f"Bearer {token_issuer.mint(TOKEN_AUDIENCE)}"})
    assert response.status_code == 403
    assert response.json()["msg"].startswith("this actd takes no tokens")
    assert snapshot(api) == before


def test_an_issuer_that_cannot_be_reached_is_a_502_and_nothing_is_stored(
    api: LiveServer, token_issuer: TokenIssuer
) -> None:
    away = f"https://localhost:{free_port()}"
    config = replace(api.config, token_issuers=(TrustedIssuer(away, TOKEN_AUDIENCE),))
    token = token_issuer.mint(TOKEN_AUDIENCE, claims={"iss": away})
    before = snapshot(api)
    with TestClient(create_app(config, JobStore(api.store.engine))) as client:
        response = client.post("/tokens", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 502
    assert "cannot check the token with its issuer now" in response.json()["msg"]
    assert "try again later" in response.json()["msg"]
    assert snapshot(api) == before


def test_no_token_text_is_logged_at_any_level(
    api: LiveServer, token_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client_id, secret = token_issuer.register_client()
    refresh = token_issuer.grant_refresh(client_id, TOKEN_AUDIENCE)
    good = token_issuer.mint(TOKEN_AUDIENCE)
    bad = [token_issuer.bad_token(case, TOKEN_AUDIENCE) for case in BAD_TOKENS]
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(api.config, JobStore(api.store.engine))) as client:
        answer = client.post(
            "/tokens",
            headers={"Authorization": f"Bearer {good}"},
            json={"refresh_token": refresh, "client_id": client_id, "client_secret": secret},
        )
        assert answer.status_code == 200
        for token in bad:
            assert client.post("/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "Token submitted" in caplog.text
    for text in (good, refresh, secret, answer.json()["token"], *bad):
        assert text not in caplog.text
    for text in (good, *bad):
        assert text.split(".")[1] not in caplog.text  # not even the claims part


def test_a_subject_too_long_to_keep_is_refused_not_cut(api: LiveServer, token_issuer: TokenIssuer) -> None:
    before = snapshot(api)
    response = hand_over(api, token_issuer.mint(TOKEN_AUDIENCE, subject="x" * 255))
    assert response.status_code == 401
    assert "longer than the 255 characters" in response.json()["msg"]
    assert snapshot(api) == before
