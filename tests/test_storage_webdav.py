"""The webdav backend against a real WebDAV server (WsgiDAV over HTTPS, the
user's proxy as client certificate): the storage contract, its WebDAV
calls, and a job whose inputs A-REX fetches from WebDAV with the user's
delegated proxy, cleaned up everywhere. The jobs run on A-REX 6.17
(REST 1.0) and A-REX 7.0 (REST 1.1): this module's ``make_stack`` is that
of ``each_ce``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from actframework.errors import StorageError
from actframework.hookspecs import SILENT, Caller, Credentials, InputFile, StorageContext, StorageJob
from actframework.plugins import StorageManager, load_backend
from actframework.testing.storage_contract import StorageContract, write_files
from actframework_webdav import DavClient
from fixtures.server import LiveServer
from fixtures.stack import StackFactory

if TYPE_CHECKING:
    from fixtures.webdav import WebDAVServer

pytestmark = [pytest.mark.integration, pytest.mark.arex]
SQLITE = pytest.mark.parametrize("api", ["sqlite"], indirect=True)


# A-REX 7.0 sends a job's outputs to https storage without the job's delegated
# proxy: its TLS handshakes for the upload carry no client certificate (the
# server sees "peer did not return a certificate"; seen with the delegation
# named in the description and as a query parameter alike), while it fetches
# inputs with it. Storage that knows users by certificate therefore refuses
# the outputs the CE would write there, so these run on A-REX 6.17 only.
CE_UPLOADS_WITH_THE_PROXY = pytest.mark.parametrize("each_ce", ["arex6"], indirect=True)


@pytest.fixture
def make_stack(database_factory: Any, tmp_path: Path, each_ce: Any) -> Iterator[StackFactory]:
    """Stacks whose cluster is ``each_ce``."""
    factory = StackFactory(database_factory, tmp_path, each_ce)
    yield factory
    factory.close()


class WebDAVHarness:
    """Inputs on the WebDAV server; results there too (``outputs``), in
    ``<id>-results``."""

    def __init__(self, webdav: WebDAVServer, api: LiveServer, proxy: Path, name: str = "webdav",
                 **options: Any) -> None:
        self.webdav = webdav
        self.api = api
        self.proxy = proxy
        self.proxyid, _ = api.token_for(proxy)
        self.backend: StorageManager = load_backend(name, {"url": webdav.url, **options})

    def context(self, progress: Any = None) -> StorageContext:
        return StorageContext(caller=Caller.CLIENT,
                              credentials=Credentials(proxy=self.proxy, ca_dir=self.webdav.ca_dir),
                              progress=progress if progress is not None else SILENT)

    def new_job(self) -> int:
        return self.api.new_job(self.proxyid)

    @property
    def directory(self) -> Path:
        """The directory the backend's URL is, on the server's disk."""
        return self.webdav.root

    def stored_input(self, job_id: int, name: str) -> bytes | None:
        path = self.directory / str(job_id) / name
        return path.read_bytes() if path.is_file() else None

    def remove_job(self, job_id: int) -> None:
        """Nothing on the server: the backend's clean-up is the whole of it."""

    def put_results(self, files: Mapping[str, bytes]) -> StorageJob:
        """The files where the CE sends outputs with ``outputs`` on."""
        job = StorageJob(id=self.new_job(), description="")
        write_files(self.directory / f"{job.id}-results", files)
        return job


@SQLITE
class TestWebDAV(StorageContract):
    @pytest.fixture
    def harness(self, webdav: WebDAVServer, api: LiveServer, arc_ce: Any) -> WebDAVHarness:
        return WebDAVHarness(webdav, api, Path(arc_ce.proxy))


# --------------------------------------------------------------------------- the WebDAV calls


@pytest.fixture
def dav(webdav: WebDAVServer, arc_ce: Any) -> DavClient:
    client = DavClient(webdav.url, proxy=arc_ce.proxy, ca_dir=webdav.ca_dir)
    yield client
    client.close()


def test_mkcol_makes_missing_parents_and_accepts_existing_collections(dav: DavClient, webdav: WebDAVServer) -> None:
    dav.mkcol("a/b/c")
    dav.mkcol("a/b/c")
    assert (webdav.root / "a" / "b" / "c").is_dir()
    assert [(e.name, e.is_collection) for e in dav.list("a")] == [("b", True)]


def test_put_list_get_and_delete_a_file(dav: DavClient, webdav: WebDAVServer, tmp_path: Path) -> None:
    source = tmp_path / "in file.bin"
    source.write_bytes(os.urandom(300_000))
    dav.mkcol("job 1")
    assert dav.put(source, "job 1", "in file.bin") == 300_000
    assert [(e.name, e.is_collection, e.size) for e in dav.list("job 1")] == [("in file.bin", False, 300_000)]
    assert dav.get(tmp_path / "back.bin", "job 1", "in file.bin") == 300_000
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    assert dav.delete("job 1") is True
    assert dav.delete("job 1") is False
    assert not (webdav.root / "job 1").exists()


def test_paths_cannot_climb_out_of_the_base(dav: DavClient) -> None:
    with pytest.raises(StorageError, match="refusing the path segment '..'"):
        dav.delete("..", "other-user")


def test_a_missing_collection_is_a_storage_error(dav: DavClient) -> None:
    with pytest.raises(StorageError, match="no such collection"):
        dav.list("nowhere")


def test_a_token_file_authenticates_instead_of_the_proxy(webdav_token: WebDAVServer, arc_ce: Any,
                                                         tmp_path: Path) -> None:
    token_file = tmp_path / "dav-token"
    token_file.write_text(webdav_token.token + "\n")
    token_file.chmod(0o600)
    source = tmp_path / "in.txt"
    source.write_text("by token\n")
    backend = load_backend("webdav", {"url": webdav_token.url, "token_file": str(token_file)})
    context = StorageContext(caller=Caller.CLIENT, credentials=Credentials(proxy=Path(arc_ce.proxy),
                                                                            ca_dir=webdav_token.ca_dir))
    job = StorageJob(id=41, description="", inputs=(InputFile("in.txt", str(source)),))
    backend.stage_inputs(context, job)
    assert (webdav_token.root / "41" / "in.txt").read_text() == "by token\n"
    assert backend.clean_up(context, job) is True
    token_file.chmod(0o644)
    with pytest.raises(StorageError, match="readable by others: chmod 600 it"):
        backend.clean_up(context, job)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o644


def test_another_users_directory_is_refused_with_the_servers_answer(webdav_servers: Any, arc_ce: Any,
                                                                    tmp_path: Path) -> None:
    only_first = webdav_servers.get("x509", allowed_dns=[arc_ce.user_dn])
    only_first.reset()
    source = tmp_path / "in.txt"
    source.write_text("x\n")
    backend = load_backend("webdav", {"url": only_first.url})
    context = StorageContext(caller=Caller.CLIENT, credentials=Credentials(proxy=Path(arc_ce.proxy2),
                                                                            ca_dir=only_first.ca_dir))
    with pytest.raises(StorageError, match=r"MKCOL .*/7: HTTP 403"):
        backend.stage_inputs(context, StorageJob(id=7, description="", inputs=(InputFile("in.txt", str(source)),)))
    assert list(only_first.root.iterdir()) == []


# --------------------------------------------------------------------------- through A-REX


def test_a_job_with_inputs_on_webdav_runs_and_every_copy_is_removed(make_stack: Any, arc_ce: Any,
                                                                    webdav: WebDAVServer, tmp_path: Path) -> None:
    import time

    from test_act_cli import ACT, Act, wait_for_state

    stack = make_stack("sqlite", run=True)
    act = Act(ACT, stack, tmp_path / "user", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.run("proxy")
    (act.workdir / "in.txt").write_text("fetched by A-REX from WebDAV\n")
    (act.workdir / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024))
    (act.workdir / "job.xrsl").write_text(
        '&(executable="/bin/sh")(arguments="-c" "cat in.txt; wc -c < big.bin")'
        '(inputfiles=("in.txt" "")("big.bin" ""))(stdout="out.txt")(jobname="dav")\n')
    out = act.run("sub", "job.xrsl", "--webdav", webdav.url).stdout.splitlines()
    job_id = int(out[-1].rsplit(" ", 1)[1])
    assert (webdav.root / str(job_id) / "big.bin").read_bytes() == (act.workdir / "big.bin").read_bytes()
    assert not (stack.config.inputs_dir / str(job_id)).exists()  # nothing went through the aCT server
    wait_for_state(act, job_id, "done")
    fetched = [r for r in webdav.access_log() if r.method == "GET" and r.path.startswith(f"/{job_id}/")]
    assert sorted(r.path for r in fetched) == [f"/{job_id}/big.bin", f"/{job_id}/in.txt"]
    assert all(r.user == arc_ce.user_dn for r in fetched)  # A-REX came with the user's delegation
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    # A clean that knows nothing of WebDAV: the engine removes the files all the same.
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job dav stored in {ce_id}\n"
    assert (act.workdir / ce_id / "out.txt").read_text() == f"fetched by A-REX from WebDAV\n{5 * 1024 * 1024}\n"
    from sqlalchemy import func, select

    from actframework.db.schema import stagings

    def stagings_left() -> int:
        with stack.store.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(stagings)).scalar_one())

    # The engine removes the directory, then forgets the staging: wait for both.
    deadline = time.monotonic() + 60
    while (webdav.root / str(job_id)).exists() or stagings_left():
        assert time.monotonic() < deadline, (
            f"the engine never removed the job's WebDAV directory and its record ({stagings_left()} left)")
        time.sleep(0.5)



@CE_UPLOADS_WITH_THE_PROXY
def test_an_adl_job_reads_its_input_from_and_writes_its_output_to_webdav_with_the_delegation(
    make_stack: Any, arc_ce: Any, webdav: WebDAVServer, tmp_path: Path
) -> None:
    """The ADL on the CE names the delegation once, in DataStaging (REST
    1.0): A-REX uses it for the input it fetches and the output it sends."""
    from test_act_cli import ACT, Act, wait_for_state

    stack = make_stack("sqlite", run=True)
    act = Act(ACT, stack, tmp_path / "user", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.conf.write_text(act.conf.read_text() + f"webdav: {webdav.url}\nstorage: webdav\n"
                        "storage_options:\n  outputs: true\n")
    act.run("proxy")
    (act.workdir / "in.txt").write_text("from webdav\n")
    (act.workdir / "job.adl").write_text(
        '<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl"><ActivityIdentification>'
        "<Name>davadl</Name></ActivityIdentification><Application><Executable><Path>/bin/sh</Path>"
        "<Argument>-c</Argument><Argument>tr a-z A-Z &lt; in.txt &gt; result.txt</Argument></Executable>"
        "</Application><DataStaging><InputFile><Name>in.txt</Name></InputFile><OutputFile><Name>result.txt</Name>"
        "</OutputFile></DataStaging></ActivityDescription>\n")
    out = act.run("sub", "job.adl").stdout.splitlines()
    job_id = int(out[-1].rsplit(" ", 1)[1])
    [stored] = stack.session.get(f"{stack.url}/jobs", params={"id": str(job_id), "client": "jobdesc"}).json()
    base = webdav.url.rstrip("/")
    assert f"<URI>{base}/{job_id}/in.txt</URI>" in stored["c_jobdesc"], "still ADL, pointing at WebDAV"
    assert f"<URI>{base}/{job_id}-results/result.txt</URI>" in stored["c_jobdesc"]
    wait_for_state(act, job_id, "done")
    log = webdav.access_log()
    [fetched] = [r for r in log if r.method == "GET" and r.path == f"/{job_id}/in.txt"]
    [sent] = [r for r in log if r.method == "PUT" and r.path == f"/{job_id}-results/result.txt"]
    assert fetched.user == sent.user == arc_ce.user_dn, "A-REX came with the user's delegation both ways"
    assert (webdav.root / f"{job_id}-results" / "result.txt").read_text() == "FROM WEBDAV\n"
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job davadl stored in {ce_id}\n"
    assert (act.workdir / ce_id / "result.txt").read_text() == "FROM WEBDAV\n"


def test_storage_webdav_from_the_configuration_and_act_clean_removes_the_directory(
    make_stack: Any, arc_ce: Any, webdav: WebDAVServer, tmp_path: Path
) -> None:
    from test_act_cli import ACT, Act, wait_for_state

    stack = make_stack("sqlite", run=True)
    act = Act(ACT, stack, tmp_path / "user", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.conf.write_text(act.conf.read_text() + f"webdav: {webdav.url}\n")
    act.run("proxy")
    (act.workdir / "in.txt").write_text("configured\n")
    (act.workdir / "job.xrsl").write_text('&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))'
                                          '(stdout="out.txt")(jobname="conf")\n')
    out = act.run("--storage", "webdav", "sub", "job.xrsl").stdout.splitlines()
    job_id = int(out[-1].rsplit(" ", 1)[1])
    assert (webdav.root / str(job_id) / "in.txt").read_text() == "configured\n"
    wait_for_state(act, job_id, "done")
    assert act.run("--storage", "webdav", "clean", "-i", str(job_id)).stdout == "Cleaned 1 jobs\n"
    assert not (webdav.root / str(job_id)).exists()  # at once, by the client
    assert [r.status for r in webdav.access_log() if r.method == "DELETE"][:1] == [204]


@CE_UPLOADS_WITH_THE_PROXY
def test_outputs_written_by_the_ce_to_webdav_are_what_act_get_downloads(
    make_stack: Any, arc_ce: Any, webdav: WebDAVServer, tmp_path: Path
) -> None:
    from test_act_cli import ACT, Act, wait_for_state

    stack = make_stack("sqlite", run=True)
    act = Act(ACT, stack, tmp_path / "user", arc_ce.proxy, ca_dir=arc_ce.ca_dir)
    act.conf.write_text(act.conf.read_text() + f"webdav: {webdav.url}\nstorage: webdav\n"
                        "storage_options:\n  outputs: true\n")
    act.run("proxy")
    (act.workdir / "job.xrsl").write_text(
        '&(executable="/bin/sh")(arguments="-c" "echo on webdav > result.txt; echo kept > kept.txt")'
        '(outputfiles=("result.txt" "")("kept.txt" ""))(jobname="outs")\n')
    out = act.run("sub", "job.xrsl").stdout.splitlines()
    job_id = int(out[-1].rsplit(" ", 1)[1])
    wait_for_state(act, job_id, "done")
    written = webdav.root / f"{job_id}-results"
    assert (written / "result.txt").read_text() == "on webdav\n"  # the CE put it there
    puts = [r for r in webdav.access_log() if r.method == "PUT" and r.path.startswith(f"/{job_id}-results/")]
    assert puts and all(r.user == arc_ce.user_dn for r in puts)
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job outs stored in {ce_id}\n"
    assert (act.workdir / ce_id / "result.txt").read_text() == "on webdav\n"
    assert (act.workdir / ce_id / "kept.txt").read_text() == "kept\n"
    assert (written / "result.txt").exists()  # results on the user's storage stay theirs
