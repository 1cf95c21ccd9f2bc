"""The library flows under ``act sub`` and ``act get`` (``client.submit``,
``client.results``) and their Ctrl-C handling, with real SIGINTs and a live
server on SQLite."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from actframework.client.api import ACTClient
from actframework.client.interrupts import deferred_interrupt, ignored_interrupt
from actframework.client.results import download_results, finished_jobs, free_directory
from actframework.client.submit import read_descriptions, submit_batch
from actframework.client.server_files import client_storage_context
from actframework.hookspecs import SILENT
from actframework.plugins import load_backend
from fixtures.server import LiveServer

SQLITE = pytest.mark.parametrize("api", ["sqlite"], indirect=True)


def interrupt_me() -> None:
    os.kill(os.getpid(), signal.SIGINT)


# --------------------------------------------------------------------------- interrupts


def test_a_deferred_interrupt_lets_the_step_finish_then_raises(capsys: pytest.CaptureFixture[str]) -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            interrupt_me()
            interrupt_me()
            finished.append(True)
    assert finished == [True]
    assert capsys.readouterr().err == "Interrupt received: finishing this step first ...\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_interrupt_is_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    with ignored_interrupt():
        interrupt_me()
    assert "Interrupt ignored" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_interrupt_sections_change_nothing() -> None:
    seen: list[Any] = []

    def work() -> None:
        with deferred_interrupt(), ignored_interrupt():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


# --------------------------------------------------------------------------- submission


class InterruptingProgress:
    """Ctrl-C arriving while the first input file is being sent."""

    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        interrupt_me()

    def file_done(self) -> None:
        pass


def user_client(api: LiveServer, arc_ce: Any) -> ACTClient:
    _, token = api.token_for(Path(arc_ce.proxy))
    return ACTClient(api.url, token=token)


@SQLITE
def test_ctrl_c_during_uploads_kills_every_created_job(api: LiveServer, arc_ce: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in.txt").write_bytes(b"x" * 200_000)
    for n in range(3):
        Path(f"job{n}.xrsl").write_text(f'&(executable="/bin/cat")(inputfiles=("in.txt" ""))(jobname="j{n}")')
    jobs, failures = read_descriptions([Path(f"job{n}.xrsl") for n in range(3)])
    assert len(jobs) == 3 and failures == []
    announced: list[str] = []
    with user_client(api, arc_ce) as act:
        context = client_storage_context(act, progress=InterruptingProgress())
        with pytest.raises(KeyboardInterrupt):
            submit_batch(act, load_backend("actstore"), context, list(api.config.clusters[:1]), jobs,
                         announce=announced.append)
        assert act.jobs(None) == []  # nothing half-made is left on the server
    assert announced == ["Cleaning up failed or cancelled jobs ..."]


@SQLITE
def test_a_batch_reports_each_job_in_order_and_kills_only_the_failed(api: LiveServer, arc_ce: Any,
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in.txt").write_text("in\n")
    Path("good.xrsl").write_text('&(executable="/bin/cat")(inputfiles=("in.txt" ""))(jobname="good")')
    Path("two.xrsl").write_text('+(&(executable="/bin/true")(jobname="a"))'
                                '(&(executable="/bin/cat")(inputfiles=("missing.txt" ""))(jobname="b"))')
    jobs, failures = read_descriptions([Path("good.xrsl"), Path("two.xrsl")])
    reported: list[Any] = []
    with user_client(api, arc_ce) as act:
        context = client_storage_context(act)
        results = submit_batch(act, load_backend("actstore"), context, list(api.config.clusters[:1]), jobs,
                               report=reported.append)
        assert [(r.name, r.ok) for r in results] == [("good", True), ("a", True), ("b", False)]
        assert results[2].error == "Given path missing.txt is not a file"
        assert reported == [results]
        assert sorted(row["c_jobname"] for row in act.jobs(None)) == ["a", "good"]


# --------------------------------------------------------------------------- downloads


@SQLITE
def test_an_interrupted_download_keeps_complete_jobs_and_removes_the_rest(
    api: LiveServer, arc_ce: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    proxyid, token = api.token_for(Path(arc_ce.proxy))
    ids = []
    for n in range(3):
        ids.append(api.new_job(proxyid, "done", f"ce{n}"))
        api.write_results(f"ce{n}", {"small.txt": b"small\n",
                                     "big.bin": os.urandom(3 * 1024 * 1024) if n else b"done quickly"})

    class CtrlCOnSecondJob:
        """Ctrl-C once the first job is complete and the second is moving."""

        def __init__(self) -> None:
            self.done: list[Any] = []

        def expect(self, files: int = 0, nbytes: int = 0) -> None:
            pass

        def advance(self, nbytes: int) -> None:
            if self.done and nbytes:
                interrupt_me()

        def file_done(self) -> None:
            pass

    progress = CtrlCOnSecondJob()
    with ACTClient(api.url, token=token) as act:
        rows, missing = finished_jobs(act, ids, None, None)
        assert missing == []
        context = client_storage_context(act, progress=progress)
        with pytest.raises(KeyboardInterrupt):
            download_results(act, load_backend("actstore"), context, rows, workers=1, on_done=progress.done.append)
        assert [result.id for result in progress.done] == [ids[0]]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ce0"]  # the others are gone
        assert sorted(p.name for p in (tmp_path / "ce0").iterdir()) == ["big.bin", "small.txt"]
        # Nothing was cleaned: all three can still be downloaded.
        assert len(finished_jobs(act, ids, None, None)[0]) == 3
        quiet = dataclasses.replace(context, progress=SILENT)
        results = download_results(act, load_backend("actstore"), quiet, rows)
        assert [r.directory.name for r in results] == ["ce0_1", "ce1", "ce2"]


def test_free_directory_never_reuses_an_existing_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("job").mkdir()
    (Path("job") / "keep").write_text("mine")
    assert [free_directory("job"), free_directory("job")] == [Path("job_1"), Path("job_2")]
    assert (Path("job") / "keep").read_text() == "mine"


def test_descriptions_that_cannot_be_read_are_failures_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xrsl"
    bad.write_text("&(executable=")
    jobs, failures = read_descriptions([bad, tmp_path / "absent.xrsl"])
    assert jobs == []
    assert [f.path for f in failures] == [str(bad), str(tmp_path / "absent.xrsl")]
    assert all(f.error and f.path in f.error for f in failures)
