"""A user with no X.509 credential at all, from ``act token`` to ``act get``,
through a real ``actd run`` on the real CEs.

The user's one credential is a bearer token of the test issuer, found by
WLCG discovery, meant for actd, the CE and the user's WebDAV storage. On
A-REX 7 (REST 1.1) the input waits on token-protected WebDAV: ``act sub``
uploads it there with the token, the engine delegates the token to the CE,
and the CE fetches the input with it. On A-REX 6.17 (REST 1.0, no token
delegation) the same user's input goes through actd (the default
storage), and the engine uploads it into the job's session itself.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import jwt
import pytest
import requests

from fixtures.act_cli import run_act
from fixtures.arex import ArcCE
from fixtures.stack import RESTING, Stack, StackFactory
from fixtures.token_issuer import TokenIssuer
from fixtures.webdav import WebDAVServer

pytestmark = [pytest.mark.integration, pytest.mark.arex]

ACTD_AUDIENCE = "https://actd.e2e.example"
JOB = '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))(stdout="out.txt")(jobname="tokenjob")'


class TokenOnlyUser:
    """A home with an ``act`` configuration, the user's token where WLCG
    discovery finds it, and no proxy anywhere."""

    def __init__(self, stack: Stack, home: Path, token: str, ca_dir: Path, storage: dict[str, str] | None) -> None:
        self.stack = stack
        self.home = home
        runtime = home / "run"
        runtime.mkdir(mode=0o700, parents=True)
        discovered = runtime / f"bt_u{os.getuid()}"
        discovered.write_text(token + "\n")
        discovered.chmod(0o600)
        self.conf = home / "config.yaml"
        lines = [
            f"server: {stack.url}",
            f"token: {home / 'actd-token'}",
            f"proxy: {home / 'no-proxy-here'}",
            f"clusters:\n  default:\n    - {stack.cluster}",
        ]
        if storage:
            lines.append("storage: webdav")
            lines.append("storage_options:\n" + "".join(f"  {key}: {value}\n" for key, value in storage.items()))
        self.conf.write_text("\n".join(lines) + "\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_RUNTIME_DIR": str(runtime),
            "X509_CERT_DIR": str(ca_dir),
        }

    def act(self, *args: str) -> str:
        return run_act(self.conf, *args, home=self.home, env=self.env).stdout

    def proxyid(self) -> int:
        token = (self.home / "actd-token").read_text()
        return int(jwt.decode(token, options={"verify_signature": False})["proxyid"])

    def view(self) -> Stack:
        """The stack as this user sees it through the REST API (after ``act token``)."""
        token = (self.home / "actd-token").read_text().strip()
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {token}"
        return dataclasses.replace(self.stack, token=token, proxyid=self.proxyid(), session=session)


def _token_host(make_stack: StackFactory, ce: ArcCE, issuer: TokenIssuer) -> Stack:
    """``actd run`` on SQLite whose one cluster is ``ce``, trusting
    ``issuer``, logging at DEBUG (so the tests can show no token is in it)."""
    trusted = {"issuer": issuer.url, "audience": ACTD_AUDIENCE, "scopes": ["compute.create"]}
    return make_stack("sqlite", run=True, ce=ce, auth_settings={"token_issuers": [trusted]}, log_level="DEBUG")


def _assert_not_logged(stack: Stack, token: str) -> None:
    """Neither the token nor its claims part is in actd's log, at DEBUG."""
    log = "\n".join(path.read_text(errors="replace") for path in stack.home.glob("*.log"))
    assert "DEBUG" in log, "actd did not log at DEBUG"
    assert token not in log and token.split(".")[1] not in log


def _run_one_job(user: TokenOnlyUser, tmp: Path) -> tuple[int, str]:
    """``act token``, ``act sub`` of the job with its input, wait, ``act get``;
    the job id and what ``act get`` brought of out.txt."""
    assert "Successfully handed over the token" in user.act("token")
    (user.home / "in.txt").write_text("an input of a token-only user\n")
    (user.home / "job.xrsl").write_text(JOB)
    inserted = user.act("sub", str(user.home / "job.xrsl")).splitlines()[-1]
    assert inserted.startswith("Inserted job tokenjob with ID "), inserted
    job_id = int(inserted.rsplit(" ", 1)[-1])
    mine = user.view()
    deadline = time.monotonic() + 300
    while (state := mine.states([job_id])[job_id]) not in RESTING:
        assert time.monotonic() < deadline, f"job {job_id} still {state}:\n{mine.logs()}"
        time.sleep(1)
    assert state == "done", f"{mine.jobs([job_id])}\n{mine.logs()}"
    assert "tokenjob" in user.act("stat", "-a")
    user.act("get", "-i", str(job_id))
    outputs = [path.read_text() for path in user.home.rglob("out.txt")]
    assert len(outputs) == 1, outputs
    return job_id, outputs[0]


@pytest.mark.parametrize("each_ce", ["arex7"], indirect=True)
def test_on_a_rest_1_1_ce_the_input_comes_from_token_webdav_through_the_delegated_token(
    make_stack: StackFactory,
    ce_with_tokens: ArcCE,
    token_issuer: TokenIssuer,
    webdav_jwt: WebDAVServer,
    tmp_path: Path,
) -> None:
    stack = _token_host(make_stack, ce_with_tokens, token_issuer)
    ce_audience = stack.cluster.rsplit("/", 1)[0] + "/arex"
    token = token_issuer.mint([ACTD_AUDIENCE, ce_audience, webdav_jwt.url.rstrip("/")], subject="dana")
    user = TokenOnlyUser(stack, tmp_path / "dana", token, ce_with_tokens.ca_dir, {"url": webdav_jwt.url.rstrip("/")})

    job_id, output = _run_one_job(user, tmp_path)

    assert output == "an input of a token-only user\n"
    who = f"{token_issuer.url}#dana"
    log = webdav_jwt.access_log()
    assert [(r.method, r.status, r.subject) for r in log if r.path == f"/{job_id}/in.txt" and r.method == "PUT"] == [
        ("PUT", 201, who)
    ], "act sub did not upload the input to WebDAV with the user's token"
    fetched = [r for r in log if r.path == f"/{job_id}/in.txt" and r.method == "GET"]
    assert fetched and {(r.status, r.subject) for r in fetched} == {(200, who)}, "the CE did not fetch it with the token"
    assert not (stack.config.inputs_dir / str(job_id)).exists(), "the input went through actd, not WebDAV"
    # The job is gone after act get: its WebDAV collection goes too, removed as the user.
    deadline = time.monotonic() + 120
    while webdav_jwt.local(str(job_id)).exists():
        assert time.monotonic() < deadline, f"the job's collection is still on WebDAV:\n{stack.logs()}"
        time.sleep(1)
    assert {(r.status, r.subject) for r in webdav_jwt.access_log() if r.method == "DELETE"} <= {(204, who), (404, who)}
    record = stack.store.get_proxy(user.proxyid())
    assert record is not None and record.dn == who and record.proxytype == "token"
    _assert_not_logged(stack, token)


@pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)
def test_on_a_rest_1_0_ce_the_same_user_runs_with_inputs_the_engine_uploads(
    make_stack: StackFactory, ce_with_tokens: ArcCE, token_issuer: TokenIssuer, tmp_path: Path
) -> None:
    stack = _token_host(make_stack, ce_with_tokens, token_issuer)
    ce_audience = stack.cluster.rsplit("/", 1)[0] + "/arex"
    token = token_issuer.mint([ACTD_AUDIENCE, ce_audience], subject="dana")
    user = TokenOnlyUser(stack, tmp_path / "dana", token, ce_with_tokens.ca_dir, None)

    job_id, output = _run_one_job(user, tmp_path)

    assert output == "an input of a token-only user\n"
    record = stack.store.get_proxy(user.proxyid())
    assert record is not None and record.dn == f"{token_issuer.url}#dana" and record.proxytype == "token"
    _assert_not_logged(stack, token)
