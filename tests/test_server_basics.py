"""The REST server's common behaviour, against a live ``actd serve`` on each database."""

from __future__ import annotations

import jwt
import pytest

from fixtures.server import EXTRA_CLUSTER, LiveServer

pytestmark = pytest.mark.integration


def test_info_lists_clusters_and_both_tables_columns(api: LiveServer, arc_ce) -> None:
    _, token = api.token_for(arc_ce.proxy)
    response = api.session(token).get(f"{api.url}/info")
    assert response.status_code == 200
    body = response.json()
    assert body["clusters"] == [f"https://localhost:{arc_ce.port}/fork", EXTRA_CLUSTER]
    assert body["client"][:3] == ["id", "modified", "created"]
    assert body["arc"][:4] == ["id", "modified", "created", "arcstate"]
    assert "IDFromEndpoint" in body["arc"] and "WorkingAreaEraseTime" in body["arc"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Auth token is missing"),
        ("Bearer", "Auth token is missing"),
        ("Bearer not.a.jwt", "Invalid auth token"),
        ("Bearer garbage", "Invalid auth token"),
    ],
)
def test_requests_without_a_valid_token_get_401_with_a_msg(api: LiveServer, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.session().get(f"{api.url}/info", headers=headers)
    assert response.status_code == 401 and response.json() == {"msg": message}


def test_forged_expired_and_orphan_tokens_are_refused(api: LiveServer, arc_ce) -> None:
    proxyid, token = api.token_for(arc_ce.proxy)
    forged = jwt.encode({"proxyid": proxyid, "exp": 4102444800}, "not-the-secret-" * 3, algorithm="HS256")
    expired = jwt.encode({"proxyid": proxyid, "exp": 1000}, api.config.jwt_secret, algorithm="HS256")
    orphan = jwt.encode({"proxyid": proxyid + 1000, "exp": 4102444800}, api.config.jwt_secret, algorithm="HS256")
    no_proxyid = jwt.encode({"exp": 4102444800}, api.config.jwt_secret, algorithm="HS256")
    for bad, message in ((forged, "Invalid token signature"), (expired, "Auth token is expired"),
                         (orphan, "Proxy from token does not exist in database or is expired"),
                         (no_proxyid, "Invalid auth token")):
        response = api.session(bad).get(f"{api.url}/info")
        assert (response.status_code, response.json()) == (401, {"msg": message})
    assert api.session(token).get(f"{api.url}/info").status_code == 200


def test_unknown_routes_answer_a_msg(api: LiveServer) -> None:
    response = api.session().get(f"{api.url}/no/such/route")
    assert response.status_code == 404 and response.json() == {"msg": "No such endpoint"}


def test_openapi_document_is_published(api: LiveServer) -> None:
    document = api.session().get(f"{api.url}/openapi.json").json()
    assert "/info" in document["paths"]


def test_requests_are_logged_with_id_route_status_and_no_token(api: LiveServer, arc_ce) -> None:
    _, token = api.token_for(arc_ce.proxy)
    response = api.session(token).get(f"{api.url}/info", headers={"X-Request-ID": "req-4711"})
    assert response.headers["X-Request-ID"] == "req-4711"
    import time

    deadline = time.monotonic() + 5
    while "req-4711" not in api.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(line for line in api.log().splitlines() if "request_id=req-4711" in line)
    assert "route=/info" in line and "status=200" in line and "dn=" in line and "duration_ms=" in line
    assert token not in api.log()
