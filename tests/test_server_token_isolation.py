"""Proxy users and token users on one live ``actd serve``: each sees, kills,
fetches and cleans only their own jobs. A token user is known by issuer and
subject, so another subject of the same issuer, and the same subject at
another issuer, are other users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
from fixtures.server import TOKEN_AUDIENCE, LiveServer
from fixtures.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration


@dataclass
class Owner:
    """One user of the server, with one job in each interesting state."""

    name: str
    proxyid: int
    http: requests.Session
    running: int = 0
    done: int = 0

    def jobs(self, api: LiveServer, **params: str) -> requests.Response:
        return self.http.get(f"{api.url}/jobs", params={"client": "id", **params})

    def ids(self, api: LiveServer) -> set[int]:
        response = self.jobs(api)
        assert response.status_code == 200, response.text
        return {row["c_id"] for row in response.json()}

    def act(self, api: LiveServer, method: str, ids: list[int], **params: str) -> Any:
        response = self.http.request(method, f"{api.url}/jobs", params={"id": ",".join(map(str, ids)), **params})
        assert response.status_code == 200, response.text
        return response.json()


def token_owner(api: LiveServer, issuer: TokenIssuer, subject: str) -> Owner:
    token = issuer.mint(TOKEN_AUDIENCE, subject=subject)
    response = api.session(token).post(f"{api.url}/tokens")
    assert response.status_code == 200, response.text
    actd_token = response.json()["token"]
    proxyid = int(jwt.decode(actd_token, options={"verify_signature": False})["proxyid"])
    return Owner(f"{subject}@{issuer.url}", proxyid, api.session(actd_token))


@pytest.fixture
def owners(api: LiveServer, arc_ce, token_issuer: TokenIssuer) -> list[Owner]:
    proxyid, token = api.token_for(arc_ce.proxy)
    everyone = [
        Owner("proxy user", proxyid, api.session(token)),
        token_owner(api, token_issuer, "alice"),
        token_owner(api, token_issuer, "bob"),
        token_owner(api, token_issuer.tenant(), "alice"),  # the same sub at another issuer
    ]
    for owner in everyone:
        owner.running = api.new_job(owner.proxyid, "running", ce_id=f"ce-running-{owner.proxyid}")
        owner.done = api.new_job(owner.proxyid, "done", ce_id=f"ce-done-{owner.proxyid}")
        api.write_results(f"ce-done-{owner.proxyid}", {"out.txt": owner.name.encode()})
    return everyone


def test_every_user_is_a_user_of_their_own(owners: list[Owner]) -> None:
    assert len({owner.proxyid for owner in owners}) == len(owners)


def test_each_user_sees_only_their_own_jobs(api: LiveServer, owners: list[Owner]) -> None:
    for owner in owners:
        assert owner.ids(api) == {owner.running, owner.done}


def test_nobody_kills_fetches_or_cleans_anothers_jobs(api: LiveServer, owners: list[Owner]) -> None:
    for owner in owners:
        others = [job for other in owners if other is not owner for job in (other.running, other.done)]
        assert owner.act(api, "PATCH", others, action="cancel") == []
        assert owner.act(api, "PATCH", others, action="fetch") == []
        assert owner.act(api, "DELETE", others) == []
        for job in others:
            response = owner.http.get(f"{api.url}/jobs/{job}/results/out.txt")
            assert response.status_code == 404
    for owner in owners:
        assert owner.ids(api) == {owner.running, owner.done}
        answer = owner.http.get(f"{api.url}/jobs/{owner.done}/results/out.txt")
        assert answer.status_code == 200 and answer.content == owner.name.encode()


def test_each_user_kills_and_cleans_their_own(api: LiveServer, owners: list[Owner]) -> None:
    for owner in owners:
        assert [row["c_id"] for row in owner.act(api, "PATCH", [owner.running], action="cancel")] == [owner.running]
        assert owner.act(api, "DELETE", [owner.done]) == [owner.done]
    for owner in owners:
        assert owner.ids(api) == {owner.running}
