"""The engine's refresh of token users' access tokens, against the real
loopback issuer's token endpoint and a live server's database: a token that
nears its end is replaced for the same user (same id, row and 0600 file);
a failure is logged once, without secrets, and tried again."""

from __future__ import annotations

import logging
import stat
from dataclasses import replace
from typing import Any

import jwt
import pytest
from fixtures.server import TOKEN_AUDIENCE, LiveServer
from fixtures.token_issuer import TokenIssuer

from actframework.engine.ce import CEClients
from actframework.engine.context import EngineContext, Schedule
from actframework.engine.metrics import EngineMetrics
from actframework.engine.token_refresh import refresh_tokens_cycle
from actframework.plugins import load_backend

# The issuer counts the refreshes it granted in one log for every test run
# (token_issuer.refreshes()); only this module's engine cycles refresh, so
# its tests run one after another on one worker to keep that count theirs.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("token-refresh")]

LOGGER = "actframework.engine.token_refresh"


@pytest.fixture
def context(api: LiveServer) -> EngineContext:
    config = replace(api.config, engine=replace(api.config.engine, token_refresh_before=600))
    return EngineContext(
        config=config,
        store=api.store,
        storage=load_backend("actstore"),
        ce=CEClients(config, api.store),
        metrics=EngineMetrics(api.store),
        owner="test-host:1",
    )


def cycle(context: EngineContext) -> int:
    """One look, due now whatever ran before (the interval is not under test)."""
    context.schedule = Schedule()
    return refresh_tokens_cycle(context)


def claims(token: str | bytes) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


class GrantUser:
    """A token user who handed over a refresh grant and has a job."""

    def __init__(
        self,
        api: LiveServer,
        issuer: TokenIssuer,
        *,
        subject: str = "dave",
        lifetime: int = 300,
        rotate: bool = False,
        granted_subject: str | None = None,
        job: bool = True,
    ) -> None:
        self.client_id, self.secret = issuer.register_client()
        self.refresh = issuer.grant_refresh(
            self.client_id, TOKEN_AUDIENCE, subject=granted_subject or subject, lifetime=1800, rotate=rotate
        )
        self.token = issuer.mint(TOKEN_AUDIENCE, subject=subject, lifetime=lifetime)
        body = {"refresh_token": self.refresh, "client_id": self.client_id, "client_secret": self.secret}
        response = api.session(self.token).post(f"{api.url}/tokens", json=body)
        assert response.status_code == 200, response.text
        self.proxyid = int(claims(response.json()["token"])["proxyid"])
        if job:
            api.new_job(self.proxyid)

    def stored(self, api: LiveServer) -> bytes:
        record = api.store.get_proxy(self.proxyid)
        assert record is not None and record.proxy is not None
        return record.proxy


def test_a_token_nearing_its_end_is_refreshed_for_the_same_user(
    api: LiveServer, token_issuer: TokenIssuer, context: EngineContext
) -> None:
    user = GrantUser(api, token_issuer)
    before = token_issuer.refreshes()
    assert cycle(context) == 1
    assert token_issuer.refreshes() == before + 1
    fresh = user.stored(api)
    assert fresh != user.token.encode()
    assert claims(fresh)["sub"] == "dave" and claims(fresh)["exp"] > claims(user.token)["exp"]
    record = api.store.get_proxy(user.proxyid)
    assert record is not None and record.dn == f"{token_issuer.url}#dave"
    path = api.config.proxies_dir / f"proxiesid{user.proxyid}"
    assert path.read_bytes() == fresh and stat.S_IMODE(path.stat().st_mode) == 0o600
    grant = api.store.get_refresh_grant(user.proxyid)
    assert grant is not None and grant.refreshtoken == user.refresh.encode() and grant.failedsince is None
    assert cycle(context) == 0  # fresh for 30 minutes, more than the margin


def test_a_rotated_refresh_token_replaces_the_old_one(
    api: LiveServer, token_issuer: TokenIssuer, context: EngineContext
) -> None:
    user = GrantUser(api, token_issuer, rotate=True)
    assert cycle(context) == 1
    grant = api.store.get_refresh_grant(user.proxyid)
    assert grant is not None and grant.refreshtoken != user.refresh.encode()
    expiring = replace(context.config.engine, token_refresh_before=3600)
    context.config = replace(context.config, engine=expiring)
    assert cycle(context) == 1  # with the rotated one: the old one is void at the issuer now


def test_tokens_far_from_their_end_and_users_without_work_are_left_alone(
    api: LiveServer, token_issuer: TokenIssuer, context: EngineContext
) -> None:
    far = GrantUser(api, token_issuer, subject="far", lifetime=3600)
    idle = GrantUser(api, token_issuer, subject="idle", job=False)
    before = token_issuer.refreshes()
    assert cycle(context) == 0
    assert token_issuer.refreshes() == before
    assert far.stored(api) == far.token.encode() and idle.stored(api) == idle.token.encode()


def test_a_failed_refresh_is_logged_once_without_secrets_and_tried_again(
    api: LiveServer, token_issuer: TokenIssuer, context: EngineContext, caplog: pytest.LogCaptureFixture
) -> None:
    user = GrantUser(api, token_issuer)
    token_issuer.register_client(user.client_id, "the-client-secret-was-changed")
    caplog.set_level(logging.DEBUG)
    assert cycle(context) == 0
    assert cycle(context) == 0
    warnings = [record for record in caplog.records if record.name == LOGGER and record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert f"user {user.proxyid} could not be refreshed" in warnings[0].getMessage()
    assert "invalid_client" in warnings[0].getMessage()
    grant = api.store.get_refresh_grant(user.proxyid)
    assert grant is not None and grant.failedsince is not None
    assert user.stored(api) == user.token.encode()

    token_issuer.register_client(user.client_id, user.secret)
    assert cycle(context) == 1
    grant = api.store.get_refresh_grant(user.proxyid)
    assert grant is not None and grant.failedsince is None
    for secret in (user.refresh, user.secret, user.token, user.stored(api).decode()):
        assert secret not in caplog.text


def test_a_refresh_that_answers_another_users_token_is_refused(
    api: LiveServer, token_issuer: TokenIssuer, context: EngineContext, caplog: pytest.LogCaptureFixture
) -> None:
    user = GrantUser(api, token_issuer, subject="dave", granted_subject="mallory")
    caplog.set_level(logging.WARNING, LOGGER)
    assert cycle(context) == 0
    assert "a token of another user" in caplog.text
    assert user.stored(api) == user.token.encode()
    assert (api.config.proxies_dir / f"proxiesid{user.proxyid}").read_text() == user.token
