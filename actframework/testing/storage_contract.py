"""Contract tests that every storage backend must pass, ours and third parties'.

A backend author subclasses :class:`StorageContract` in a pytest module and
says how to reach their storage; pytest then runs every ``test_`` method
below against the real thing::

    from actframework.testing.storage_contract import StorageContract

    class TestMyBackend(StorageContract):
        @pytest.fixture
        def harness(self, my_server, tmp_path):
            return MyHarness(my_server, tmp_path)   # a StorageHarness

The harness gives the backend (loaded by name, as ``act`` and the engine
load it), a client-side context, fresh job ids, and two ways to look behind
the backend's back: what it stored for an input file, and a way to put
result files on the backend's storage, where
:func:`~actframework.hookspecs.act_retrieve_results` will find them (or
None, for a backend whose storage keeps no results: then the contract
checks that it adds none). The contract checks what ``act sub``, ``act get`` and
``act clean`` rely on: inputs arrive byte for byte and are announced to the
progress, a missing input is refused before anything is stored, rewritten
descriptions (xRSL and ADL) still parse, in their own language, and point
every local input at its staged copy,
results on the backend's storage arrive complete (or not at all when the
user stops the download),
clean-up (with the server's part of ``act clean``) removes everything and
may be repeated, and every failure is an
:class:`~actframework.errors.ActError`.

It needs pytest (``pip install actframework[test]``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Protocol

import pytest

from actframework import jobdesc
from actframework.errors import ActError, StorageError, TransferCancelled
from actframework.hookspecs import InputFile, StorageContext, StorageJob
from actframework.jobdesc import Language
from actframework.jobdesc.adl import ADL_NS
from actframework.plugins import StorageManager


class StorageHarness(Protocol):
    """What a backend's test module provides for the contract."""

    backend: StorageManager
    """The backend under test, loaded by name with its options."""

    def context(self, progress: object | None = None) -> StorageContext:
        """A client-side context (``Caller.CLIENT``) with the user's
        credentials, and the server's files (``server``) for a backend that
        stores there; with ``progress`` (a
        :class:`~actframework.hookspecs.TransferProgress`) set."""

    def new_job(self) -> int:
        """A fresh job id the backend may store under (created on the aCT
        server first if the backend needs that)."""

    def stored_input(self, job_id: int, name: str) -> bytes | None:
        """The bytes the backend stored for input ``name`` of job ``job_id``,
        None if there is none."""

    def remove_job(self, job_id: int) -> None:
        """What the aCT server does when the user kills or cleans the job
        (it removes files it keeps itself; nothing for other storage)."""

    def put_results(self, files: Mapping[str, bytes]) -> StorageJob | None:
        """A finished job whose results on the backend's storage are
        ``files`` (relative paths), put where the job would have put them;
        the job as ``act get`` hands it to retrieve_results. None when the
        backend's storage keeps no results (the server's are the core's)."""


class Recorder:
    """A :class:`~actframework.hookspecs.TransferProgress` that keeps count
    (thread-safe) and can stop a transfer after ``stop_after`` bytes."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.files_expected = 0
        self.bytes_expected = 0
        self.moved = 0
        self.files_done = 0
        self.stop_after = stop_after
        self._lock = threading.Lock()

    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.files_expected += files
            self.bytes_expected += nbytes

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.moved += nbytes
            if self.stop_after is not None and self.moved >= self.stop_after:
                raise TransferCancelled("stopped by the contract test")

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1


def write_files(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path → bytes) under ``directory``: what
    ``put_results`` does for storage that a harness can reach on disk."""
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _inputs(directory: Path, sizes: Mapping[str, int]) -> tuple[InputFile, ...]:
    entries = []
    for name, size in sizes.items():
        path = directory / name.replace("/", "_")
        path.write_bytes(os.urandom(size))
        entries.append(InputFile(name, str(path)))
    return tuple(entries)


REMOTE = InputFile("remote.dat", "https://data.example.org/remote.dat")


def _description(inputs: tuple[InputFile, ...], language: Language = Language.XRSL) -> str:
    """A job with ``inputs`` and a remote input, in ``language``."""
    if language is Language.ADL:
        files = "".join(
            f"<InputFile><Name>{entry.name}</Name><Source><URI>{entry.source}</URI></Source></InputFile>"
            for entry in (*inputs, REMOTE)
        )
        return (
            f'<ActivityDescription xmlns="{ADL_NS}"><ActivityIdentification><Name>contract</Name>'
            "</ActivityIdentification><Application><Executable><Path>/bin/sh</Path><Argument>run.sh</Argument>"
            f"</Executable></Application><DataStaging>{files}</DataStaging></ActivityDescription>"
        )
    files = "".join(f'("{entry.name}" "{entry.source}")' for entry in (*inputs, REMOTE))
    return f'&(executable="/bin/sh")(arguments="run.sh")(jobname="contract")(inputfiles={files})'


def _adds_no_results(harness: StorageHarness, tmp_path: Path) -> None:
    """A backend whose storage keeps no results adds none, and leaves what
    the core downloaded before it as it was."""
    destination = tmp_path / "results"
    destination.mkdir()
    (destination / "from-the-server.txt").write_bytes(b"the core's\n")
    progress = Recorder()
    job = StorageJob(id=harness.new_job(), description="")
    location = harness.backend.retrieve_results(harness.context(progress), job, destination)
    assert location.files == ()
    assert [p.name for p in destination.rglob("*")] == ["from-the-server.txt"]
    assert (progress.files_done, progress.moved) == (0, 0)


class StorageContract:
    """The tests; subclass it and provide a ``harness`` fixture."""

    SIZES: ClassVar[dict[str, int]] = {"run.sh": 120, "data.bin": 3 * 1024 * 1024 + 7, "empty.txt": 0}

    # ------------------------------------------------------------------ staging

    def test_inputs_are_stored_byte_for_byte_and_reported(self, harness: StorageHarness, tmp_path: Path) -> None:
        inputs = _inputs(tmp_path, self.SIZES)
        job = StorageJob(id=harness.new_job(), description=_description(inputs), inputs=(*inputs, REMOTE))
        progress = Recorder()
        staged = harness.backend.stage_inputs(harness.context(progress), job)
        assert sorted((s.name, s.size) for s in staged) == sorted(self.SIZES.items())
        for entry in inputs:
            assert harness.stored_input(job.id, entry.name) == entry.local_path.read_bytes(), entry.name
        total = sum(self.SIZES.values())
        assert (progress.files_expected, progress.bytes_expected) == (len(inputs), total)
        assert (progress.files_done, progress.moved) == (len(inputs), total)

    def test_a_missing_input_is_refused_before_anything_is_stored(
        self, harness: StorageHarness, tmp_path: Path
    ) -> None:
        inputs = _inputs(tmp_path, {"first.txt": 10})
        missing = InputFile("second.txt", str(tmp_path / "not-there.txt"))
        job = StorageJob(id=harness.new_job(), description="", inputs=(*inputs, missing))
        with pytest.raises(StorageError, match=re.escape("not-there.txt")):
            harness.backend.stage_inputs(harness.context(), job)
        assert harness.stored_input(job.id, "first.txt") is None

    @pytest.mark.parametrize("language", list(Language))
    def test_rewritten_descriptions_parse_and_point_at_the_staged_inputs(
        self, harness: StorageHarness, tmp_path: Path, language: Language
    ) -> None:
        inputs = _inputs(tmp_path, {"run.sh": 5, "in.txt": 9})
        job = StorageJob(id=harness.new_job(), description=_description(inputs, language), inputs=(*inputs, REMOTE))
        context = harness.context()
        staged = harness.backend.stage_inputs(context, job)
        [parsed] = jobdesc.parse(harness.backend.rewrite_description(context, job, staged))
        assert parsed.language is language, "the description comes back in the language it came in"
        assert parsed.name == "contract" and parsed.arguments == ["run.sh"]
        sources = {entry.name: entry.source for entry in parsed.inputs}
        assert set(sources) == {"run.sh", "in.txt", "remote.dat"}
        assert sources["remote.dat"] == REMOTE.source
        for entry in staged:
            # Either the staged location, or the description as it was (the
            # server or engine moves such files, as actstore does).
            assert sources[entry.name] in (entry.location, {i.name: i.source for i in inputs}[entry.name])

    # ------------------------------------------------------------------ results

    def test_results_arrive_complete(self, harness: StorageHarness, tmp_path: Path) -> None:
        files = {"stdout": b"hello\n", "out/data.bin": os.urandom(2 * 1024 * 1024 + 1), "out/deep/x": b"x"}
        job = harness.put_results(files)
        if job is None:
            _adds_no_results(harness, tmp_path)
            return
        progress = Recorder()
        (tmp_path / "results").mkdir()
        location = harness.backend.retrieve_results(harness.context(progress), job, tmp_path / "results")
        assert sorted(location.files) == sorted(files)
        assert {name: (tmp_path / "results" / name).read_bytes() for name in files} == files
        assert progress.files_done == len(files) and progress.moved >= sum(map(len, files.values()))

    def test_a_stopped_download_leaves_nothing(self, harness: StorageHarness, tmp_path: Path) -> None:
        job = harness.put_results({"big.bin": os.urandom(4 * 1024 * 1024)})
        if job is None:
            _adds_no_results(harness, tmp_path)
            return
        destination = tmp_path / "results"
        destination.mkdir()
        before = {p for p in tmp_path.rglob("*") if p.is_file()}  # the harness may keep files here too
        with pytest.raises(TransferCancelled):
            harness.backend.retrieve_results(harness.context(Recorder(stop_after=1)), job, destination)
        leftovers = {p for p in tmp_path.rglob("*") if p.is_file()} - before
        assert leftovers == set()

    # ------------------------------------------------------------------ cleanup

    def test_clean_up_removes_the_inputs_and_may_be_repeated(self, harness: StorageHarness, tmp_path: Path) -> None:
        inputs = _inputs(tmp_path, {"in.txt": 100})
        job = StorageJob(id=harness.new_job(), description=_description(inputs), inputs=inputs)
        context = harness.context()
        harness.backend.stage_inputs(context, job)
        harness.remove_job(job.id)
        harness.backend.clean_up(context, job)
        assert harness.stored_input(job.id, "in.txt") is None
        harness.backend.clean_up(context, job)  # already gone is not an error

    def test_failures_are_act_errors(self, harness: StorageHarness, tmp_path: Path) -> None:
        job = StorageJob(id=harness.new_job(), description="", inputs=(InputFile("x", str(tmp_path / "nope")),))
        with pytest.raises(ActError):
            harness.backend.stage_inputs(harness.context(), job)
