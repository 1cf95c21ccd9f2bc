"""``act`` through click's CliRunner: options, usage and error paths, JSON
output, completion and ``proxy --create``, against a live ``actd serve``
(SQLite) where a server is needed. The full job cycle through real
processes and the real A-REX is in ``test_act_cli.py``."""

from __future__ import annotations

import contextlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from test_server_proxies import proxy_of, user_of

from actframework import __version__, x509
from actframework.client.cli import cli
from actframework.db.schema import arcjobs, clientjobs
from fixtures.server import LiveServer, free_port

JOB = '&(executable="/bin/echo")(arguments="hi")(jobname="{name}")\n'


class Runner:
    """``act`` in-process with its own configuration and a clean environment."""

    def __init__(self, home: Path, server: str, proxy: Path, cluster: str = "https://ce.example.org/batch") -> None:
        self.home = home
        self.work = home / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.token = home / "token"
        self.proxy = proxy
        self.conf = home / "config.yaml"
        self.conf.write_text(f"server: {server}\ntoken: {self.token}\nproxy: {proxy}\n"
                             f"clusters:\n  default:\n    - {cluster}\n")
        self.env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_DATA_HOME": str(home / "data"), "X509_USER_PROXY": None,
                    "X509_USER_CERT": None, "X509_USER_KEY": None}

    def __call__(self, *args: str, expect: int = 0, conf: bool = True, input: str | None = None) -> Result:
        runner = CliRunner()
        with contextlib.chdir(self.work):
            result = runner.invoke(cli, [*(["--conf", str(self.conf)] if conf else []), *args],
                                   env=self.env, input=input, catch_exceptions=False)
        assert result.exit_code == expect, f"act {' '.join(args)}: {result.exit_code}\n{result.output}"
        return result


def one_line(result: Result) -> str:
    """The single line an error gives (stderr), with no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def offline(tmp_path: Path) -> Runner:
    """``act`` configured for a server that is not there."""
    return Runner(tmp_path, f"http://127.0.0.1:{free_port()}", tmp_path / "no-proxy")


@pytest.fixture
def online(tmp_path: Path, arc_ce: Any) -> Any:
    """``act`` against a live server on SQLite, with a delegated token."""
    return lambda api: _online(tmp_path, api, arc_ce)


def _online(tmp_path: Path, api: LiveServer, arc_ce: Any) -> Runner:
    run = Runner(tmp_path, api.url, Path(arc_ce.proxy), api.config.clusters[0])
    _, token = api.token_for(Path(arc_ce.proxy))
    run.token.write_text(token)
    return run


sqlite_only = pytest.mark.parametrize("api", ["sqlite"], indirect=True)


# --------------------------------------------------------------------------- no server needed


def test_help_and_version_need_no_configuration(offline: Runner) -> None:
    assert "Submit and manage grid jobs" in offline(conf=False).output
    assert "Show your jobs." in offline("stat", "--help", conf=False).output
    assert offline("--version", conf=False).output == f"act, version {__version__}\n"


def test_a_missing_configuration_file_is_one_line_and_exit_1(offline: Runner, tmp_path: Path) -> None:
    result = offline("--conf", str(tmp_path / "nope.yaml"), "stat", expect=1, conf=False)
    assert one_line(result) == f"config file {tmp_path / 'nope.yaml'} does not exist"
    result = offline("stat", expect=1, conf=False)
    assert "act-client/config.yaml does not exist" in one_line(result)


def test_a_configuration_without_server_says_which_key(offline: Runner) -> None:
    offline.conf.write_text(f"token: {offline.token}\n")
    assert one_line(offline("info", expect=1)) == "Config key server not configured"


def test_without_a_token_act_says_to_run_act_proxy(offline: Runner) -> None:
    assert one_line(offline("stat", expect=1)) == f"Error reading token file {offline.token}. Run act proxy."


def test_a_server_that_is_down_is_one_line_and_exit_1(offline: Runner) -> None:
    offline.token.write_text("x.y.z")
    line = one_line(offline("stat", expect=1))
    assert line.startswith("GET http://127.0.0.1:") and "refused" in line.lower()


@pytest.mark.parametrize("command", ["kill", "clean", "fetch", "resub", "get"])
def test_commands_that_change_jobs_refuse_without_a_selection(offline: Runner, command: str) -> None:
    offline.token.write_text("x.y.z")
    result = offline(command, expect=2)
    options = "--id, --name" if command in ("fetch", "resub") else "--id, --name, --state"
    assert f"say which jobs: {options}, or -a/--all for all of them" in result.stderr


@pytest.mark.parametrize("command", ["stat", "kill", "clean", "get", "cat"])
def test_a_state_name_with_a_typo_is_a_usage_error(offline: Runner, command: str) -> None:
    offline.token.write_text("x.y.z")
    result = offline(command, "-s", "runing", expect=2)
    assert "unknown state 'runing'; the states are cancelled, cancelling, done" in result.stderr


def test_a_malformed_id_list_is_a_usage_error(offline: Runner) -> None:
    offline.token.write_text("x.y.z")
    result = offline("kill", "-i", "3-x", expect=2)
    assert "Invalid value for --id" in result.stderr


def test_get_only_takes_done_or_donefailed(offline: Runner) -> None:
    offline.token.write_text("x.y.z")
    result = offline("get", "-s", "running", expect=2)
    assert 'State parameter not "done" or "donefailed"' in result.stderr


def test_an_unknown_cluster_group_names_the_configured_groups(offline: Runner) -> None:
    offline.token.write_text("x.y.z")
    (offline.work / "job.xrsl").write_text(JOB.format(name="x"))
    result = offline("sub", "--clusterlist", "atlas", str(offline.work / "job.xrsl"), expect=1)
    assert one_line(result) == (f"cluster group 'atlas' is not in {offline.conf} (groups: default), "
                                "and it is not a cluster URL")


def test_bare_webdav_without_a_configured_url_is_an_error(offline: Runner) -> None:
    offline.token.write_text("x.y.z")
    (offline.work / "job.xrsl").write_text(JOB.format(name="x"))
    # As with act-client, a bare --webdav goes after the files (else it takes the next word as its URL).
    result = offline("sub", str(offline.work / "job.xrsl"), "--webdav", expect=1)
    assert one_line(result) == "WebDAV location not configured"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_drive_clicks_completion(offline: Runner, shell: str) -> None:
    script = offline("completion", shell, conf=False).output
    assert "_ACT_COMPLETE" in script


def test_completion_completes_commands_and_options(offline: Runner) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, [], prog_name="act", env={"_ACT_COMPLETE": "bash_complete",
                                                            "COMP_WORDS": "act st", "COMP_CWORD": "1"})
    assert "plain,stat" in result.output
    result = runner.invoke(cli, [], prog_name="act", env={"_ACT_COMPLETE": "bash_complete",
                                                            "COMP_WORDS": "act stat --wa", "COMP_CWORD": "2"})
    assert "plain,--watch" in result.output


# --------------------------------------------------------------------------- proxies


def test_proxy_without_a_proxy_file_says_how_to_make_one(offline: Runner) -> None:
    line = one_line(offline("proxy", expect=1))
    assert line.startswith(f"proxy file {offline.proxy} does not exist; make one with `act proxy --create`")


@sqlite_only
def test_an_expired_proxy_is_refused_before_anything_is_sent(online: Any, api: LiveServer, arc_ce: Any) -> None:
    run: Runner = online(api)
    user, key = user_of(arc_ce)
    expired = proxy_of(user, key, end=datetime.now(UTC) - timedelta(hours=1))
    x509.write_proxy(expired, run.home / "expired.pem")
    run.conf.write_text(run.conf.read_text().replace(str(run.proxy), str(run.home / "expired.pem")))
    run.token.unlink()
    line = one_line(run("proxy", expect=1))
    assert line.startswith(f"proxy {run.home / 'expired.pem'} expired at ")
    assert not run.token.exists()


@sqlite_only
def test_proxy_create_makes_an_rfc3820_proxy_and_delegates_it(online: Any, api: LiveServer, arc_ce: Any) -> None:
    run: Runner = online(api)
    new_proxy = run.home / "made" / "x509up"
    new_proxy.parent.mkdir()
    run.conf.write_text(run.conf.read_text().replace(str(run.proxy), str(new_proxy)))
    run.token.unlink()
    result = run("proxy", "--create", "--cert", str(arc_ce.user_cert), "--key", str(arc_ce.user_key),
                 "--hours", "2")
    made = x509.load_proxy(new_proxy)
    assert made.is_rfc3820 and made.dn == arc_ce.user_dn
    assert timedelta(hours=1, minutes=58) < made.time_left <= timedelta(hours=2)
    assert stat.S_IMODE(new_proxy.stat().st_mode) == 0o600
    assert stat.S_IMODE(run.token.stat().st_mode) == 0o600
    assert result.output.splitlines() == [
        f"Created proxy {new_proxy} for {arc_ce.user_dn}, valid until "
        f"{made.not_after:%Y-%m-%d %H:%M:%S} UTC",
        f"Successfully inserted proxy. Access token stored in {run.token}",
    ]
    # The token works, and a second --create keeps the valid proxy.
    assert run("stat").output == ""
    before = new_proxy.read_bytes()
    assert "Created proxy" not in run("proxy", "--create").output
    assert new_proxy.read_bytes() == before


@sqlite_only
def test_proxy_create_asks_for_the_passphrase_of_an_encrypted_key(online: Any, api: LiveServer,
                                                                  arc_ce: Any) -> None:
    run: Runner = online(api)
    key = serialization.load_pem_private_key(Path(arc_ce.user_key).read_bytes(), password=None)
    encrypted = run.home / "userkey.pem"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"sesame")))
    encrypted.chmod(0o600)
    new_proxy = run.home / "x509up"
    run.conf.write_text(run.conf.read_text().replace(str(run.proxy), str(new_proxy)))
    args = ("proxy", "--create", "--cert", str(arc_ce.user_cert), "--key", str(encrypted))
    # Not a terminal: the passphrase is the first line of stdin, read without a prompt.
    refused = run(*args, expect=1, input="wrong\n").stderr.splitlines()
    assert refused == [f"{encrypted}: cannot decrypt the user private key: wrong passphrase?"]
    assert not new_proxy.exists()
    refused = run(*args, expect=1).stderr.splitlines()
    assert refused == [f"{encrypted} is encrypted and no passphrase was given"]
    run(*args, input="sesame\n")
    assert x509.load_proxy(new_proxy).dn == arc_ce.user_dn


# --------------------------------------------------------------------------- with a server


@sqlite_only
def test_info_and_stat_print_json(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    info = json.loads(run("info", "--json").output)
    assert info["server"] == api.url and info["clusters"] == list(api.config.clusters)
    assert "arcstate" in info["arc"] and "jobname" in info["client"]
    cols = json.loads(run("stat", "--get-cols", "--json").output)
    assert cols == {"arc": info["arc"], "client": info["client"]}

    (run.work / "a.xrsl").write_text(JOB.format(name="json-a"))
    (run.work / "b.xrsl").write_text(JOB.format(name="json-b"))
    out = run("sub", str(run.work / "a.xrsl"), str(run.work / "b.xrsl")).output.splitlines()
    ids = [int(line.rsplit(" ", 1)[1]) for line in out if line.startswith("Inserted job")]
    rows = json.loads(run("stat", "-n", "json-", "--arc", "arcstate", "--json").output)
    assert sorted(rows, key=lambda r: r["c_id"]) == [
        {"c_id": ids[0], "c_jobname": "json-a", "a_arcstate": None},  # no engine runs here
        {"c_id": ids[1], "c_jobname": "json-b", "a_arcstate": None},
    ]
    assert json.loads(run("stat", "-n", "nothing-like-this", "--json").output) == []


@sqlite_only
def test_get_cols_lists_both_column_sets(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    lines = run("stat", "--get-cols").output.splitlines()
    assert lines[0] == "arc columns:" and "arcstate" in lines[1].split(",")
    assert lines[2:4] == ["", "client columns:"] and "jobname" in lines[4].split(",")


@sqlite_only
def test_stat_watch_stops_once_every_job_has_settled(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    (run.work / "a.xrsl").write_text(JOB.format(name="watched"))
    job_id = int(run("sub", str(run.work / "a.xrsl")).output.splitlines()[1].rsplit(" ", 1)[1])
    # What the engine does: hand the job over, then (here, at once) finish it.
    api.store.handover()
    with api.store.engine.begin() as connection:
        arc_id = connection.execute(sa.select(clientjobs.c.arcjobid).where(clientjobs.c.id == job_id)).scalar_one()
        connection.execute(sa.update(arcjobs).where(arcjobs.c.id == arc_id).values(arcstate="done"))
    lines = run("stat", "--watch", "0.5", "-i", str(job_id)).output.splitlines()
    assert lines[0] == "" and "1 jobs  (every 0.5 s; Ctrl-C to stop)" in lines[1]
    assert lines[2].split() == ["id", "jobname", "JobID", "State", "arcstate"]
    assert lines[4].split() == [str(job_id), "watched", "''", "''", "done"]
    assert len(lines) == 5


@sqlite_only
def test_a_malformed_description_names_file_line_and_column(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    bad = run.work / "bad.xrsl"
    bad.write_text('&(executable="/bin/echo")\n(arguments="hi"\n')
    out = run("sub", str(bad), expect=1).output.splitlines()
    assert out[0] == "Submitting batch of 1 jobs ..."
    assert out[1] == (f"Job description {bad} not submitted: line 2, column 16: "
                      "expected ')' to close the '(' at line 2, column 1, found the end of the document")
    assert json.loads(run("stat", "-a", "--json").output) == []


@sqlite_only
def test_a_cluster_the_server_does_not_serve_is_refused_per_job(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    (run.work / "a.xrsl").write_text(JOB.format(name="elsewhere"))
    out = run("sub", "--clusterlist", "https://ce.nowhere.example.org/arex", str(run.work / "a.xrsl"), expect=1)
    assert out.output.splitlines()[1:] == [
        f"Job description {run.work / 'a.xrsl'} not submitted: Unknown cluster https://ce.nowhere.example.org/arex"]
    assert json.loads(run("stat", "-a", "--json").output) == []


@sqlite_only
def test_a_missing_input_file_kills_the_created_job(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    (run.work / "a.xrsl").write_text('&(executable="/bin/cat")(inputfiles=("gone.txt" ""))(jobname="noinput")\n')
    out = run("sub", str(run.work / "a.xrsl"), expect=1).output.splitlines()
    # act-client's lines, but exit code 1: nothing was submitted.
    assert out[1:] == [f"Job description {run.work / 'a.xrsl'} not submitted: Given path gone.txt is not a file",
                       "Cleaning up failed or cancelled jobs ..."]
    assert json.loads(run("stat", "-a", "--json").output) == []


@sqlite_only
def test_fetch_and_resub_act_on_failed_jobs(online: Any, api: LiveServer, arc_ce: Any) -> None:
    run: Runner = online(api)
    proxyid, token = api.token_for(Path(arc_ce.proxy))
    run.token.write_text(token)
    failed = api.new_job(proxyid, "failed", "ceFailed")
    other = api.new_job(proxyid, "failed", "ceOther")
    assert run("fetch", "-i", str(failed)).output == "Will fetch 1 jobs\n"
    assert run("resub", "-i", str(other)).output == "Will resubmit 1 jobs\n"
    states = {row["c_id"]: row["a_arcstate"] for row in json.loads(run("stat", "-a", "--json").output)}
    assert states == {failed: "tofetch", other: "toresubmit"}
    assert run("fetch", "-n", "no-such-name").output == "Will fetch 0 jobs\n"


@sqlite_only
def test_verbose_logs_requests_but_never_the_token(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    token = run.token.read_text()
    result = run("-v", "stat", "-a")
    assert f"GET {api.url}/jobs" in result.stderr
    assert token not in result.output and token.split(".")[2] not in result.stderr


@sqlite_only
def test_progress_when_asked_goes_to_stderr_and_leaves_stdout_as_act_client_prints_it(online: Any,
                                                                                      api: LiveServer) -> None:
    run: Runner = online(api)
    (run.work / "in.txt").write_bytes(b"x" * 300_000)
    (run.work / "a.xrsl").write_text('&(executable="/bin/cat")(inputfiles=("in.txt" ""))(jobname="shown")\n')
    with contextlib.chdir(run.work):
        result = run("sub", "--progress", str(run.work / "a.xrsl"))
    assert result.stdout.splitlines()[0] == "Submitting batch of 1 jobs ..."
    assert result.stdout.splitlines()[1].startswith("Inserted job shown with ID ")
    assert "uploading" in result.stderr and "1/1 files" in result.stderr


@sqlite_only
def test_watch_with_json_prints_one_object_per_line(online: Any, api: LiveServer) -> None:
    run: Runner = online(api)
    lines = run("stat", "--watch", "1", "--json", "-n", "none-at-all").output.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["jobs"] == []


def test_with_storage_dcache_webdav_url_keeps_dcache(offline: Runner, tmp_path: Path) -> None:
    from actframework.client.cli import Session

    session = Session(offline.conf, None, None, "dcache")
    session.use_webdav("https://door.example.org:2880/user")
    assert session.storage_name == "dcache"
    assert session.storage_record() == {"backend": "dcache", "url": "https://door.example.org:2880/user"}
    plain = Session(offline.conf, None, None, None)
    plain.use_webdav("https://dav.example.org/user")
    assert plain.storage_name == "webdav"
