"""``act token`` as users run it: a real ``act`` process that finds the
user's bearer token as WLCG discovery says, hands it to a live ``actd
serve`` trusting the real loopback issuer, and stores actd's answer where
``act proxy`` stores its token; then the job commands work as after
``act proxy``."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from fixtures.act_cli import run_act
from fixtures.server import TOKEN_AUDIENCE, LiveServer
from fixtures.token_issuer import TokenIssuer

from actframework.db.schema import proxies

pytestmark = pytest.mark.integration



class TokenUser:
    """A user's home with an ``act`` configuration for the live server."""

    def __init__(self, api: LiveServer, home: Path) -> None:
        self.api = api
        self.home = home
        self.runtime = home / "run"
        self.runtime.mkdir(mode=0o700, parents=True)
        self.token = home / "token"
        self.conf = home / "config.yaml"
        self.conf.write_text(
            f"server: {api.url}\ntoken: {self.token}\nproxy: {home / 'no-proxy'}\n"
            f"clusters:\n  default:\n    - {api.config.clusters[0]}\n"
        )
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }

    def discovered(self, token: str) -> Path:
        """Put ``token`` where discovery finds it first among the files."""
        path = self.runtime / f"bt_u{os.getuid()}"
        path.write_text(token + "\n")
        return path

    def secret_file(self, name: str, text: str, mode: int = 0o600) -> Path:
        path = self.home / name
        path.write_text(text + "\n")
        path.chmod(mode)
        return path

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return run_act(self.conf, *args, home=self.home, env=self.env, expect=expect, timeout=120)

    def proxyid(self) -> int:
        return int(jwt.decode(self.token.read_text(), options={"verify_signature": False})["proxyid"])


def no_credentials(api: LiveServer) -> bool:
    with api.store.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(proxies)).scalar_one() == 0


@pytest.fixture
def user(api: LiveServer, tmp_path: Path) -> TokenUser:
    return TokenUser(api, tmp_path / "home")


def test_act_token_hands_over_the_discovered_token_and_the_job_commands_work(
    user: TokenUser, api: LiveServer, token_issuer: TokenIssuer
) -> None:
    bearer = token_issuer.mint(TOKEN_AUDIENCE, subject="carol")
    where = user.discovered(bearer)
    out = user.run("token").stdout
    assert out == f"Successfully handed over the token from {where}. Access token stored in {user.token}\n"
    assert stat.S_IMODE(user.token.stat().st_mode) == 0o600
    record = api.store.get_proxy(user.proxyid())
    assert record is not None and record.dn == f"{token_issuer.url}#carol" and record.proxy == bearer.encode()

    (user.home / "job.xrsl").write_text('&(executable="/bin/true")(jobname="carols")')
    submitted = user.run("sub", str(user.home / "job.xrsl")).stdout.splitlines()
    assert submitted[-1].startswith("Inserted job carols with ID ")
    job = api.new_job(user.proxyid(), state="running", ce_id="ce-carol")
    done = api.new_job(user.proxyid(), state="done", ce_id="ce-carol-done")
    api.write_results("ce-carol-done", {"out.txt": b"carol's output"})
    listed = user.run("stat", "-a").stdout
    assert all(str(i) in listed for i in (job, done)) and "carols" in listed
    assert user.run("kill", "-i", str(job)).stdout == "Will kill 1 jobs\n"
    user.run("get", "-i", str(done))
    assert [path.read_bytes() for path in user.home.rglob("out.txt")] == [b"carol's output"]


def test_the_token_file_option_and_a_refresh_grant(user: TokenUser, api: LiveServer, token_issuer: TokenIssuer) -> None:
    client_id, secret = token_issuer.register_client()
    refresh = token_issuer.grant_refresh(client_id, TOKEN_AUDIENCE, subject="carol")
    token_file = user.secret_file("my-token", token_issuer.mint(TOKEN_AUDIENCE, subject="carol"), 0o644)
    out = user.run(
        "token",
        "--token-file",
        str(token_file),
        "--refresh-token-file",
        str(user.secret_file("refresh", refresh)),
        "--client-id",
        client_id,
        "--client-secret-file",
        str(user.secret_file("secret", secret)),
    ).stdout
    assert out.startswith(f"Successfully handed over the token from {token_file} with its refresh grant.")
    grant = api.store.get_refresh_grant(user.proxyid())
    assert grant is not None and grant.refreshtoken == refresh.encode() and grant.clientsecret == secret.encode()


@pytest.mark.parametrize("problem", ["readable by others", "half a grant"])
def test_a_bad_refresh_grant_is_one_line_and_nothing_is_handed_over(
    user: TokenUser, api: LiveServer, token_issuer: TokenIssuer, problem: str
) -> None:
    user.discovered(token_issuer.mint(TOKEN_AUDIENCE))
    refresh = user.secret_file("refresh", "a-refresh-token", 0o644 if problem == "readable by others" else 0o600)
    args = ["--refresh-token-file", str(refresh), "--client-id", "c"]
    if problem == "readable by others":
        args += ["--client-secret-file", str(user.secret_file("secret", "s"))]
    done = user.run("token", *args, expect=1)
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
    assert ("chmod 600" if problem == "readable by others" else "missing: --client-secret-file") in done.stderr
    assert not user.token.exists() and no_credentials(api)


def test_without_a_token_act_token_says_where_it_looked(user: TokenUser) -> None:
    done = user.run("token", expect=1)
    assert done.stderr.startswith("no bearer token found (looked at $BEARER_TOKEN, ")
    assert len(done.stderr.splitlines()) == 1 and not user.token.exists()


def test_a_token_actd_refuses_shows_actds_message(user: TokenUser, token_issuer: TokenIssuer) -> None:
    user.token.write_text("an earlier access token")
    expired = token_issuer.bad_token("expired", TOKEN_AUDIENCE)
    user.discovered(expired)
    done = user.run("token", expect=1)
    assert done.stderr == "the token has expired; get a new token and run act token\n"
    assert user.token.read_text() == "an earlier access token"
