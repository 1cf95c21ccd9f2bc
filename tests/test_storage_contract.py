"""The storage contract (``actframework.testing.storage_contract``) run
against our backends on their real storage: actstore on a live ``actd
serve``; webdav and dcache in their own modules, next to their servers;
the example third-party backend (``tests/plugin_dists/localdir``) on a
directory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from actframework.client.api import ACTClient
from actframework.client.server_files import client_storage_context
from actframework.hookspecs import SILENT, Caller, StorageContext, StorageJob, TransferProgress
from actframework.plugins import StorageManager, load_backend
from actframework.testing.storage_contract import StorageContract, write_files
from fixtures.server import LiveServer

pytestmark = pytest.mark.integration


class ActStoreHarness:
    """actstore's files live in the server's data directory, where the
    backend puts them through the server's files (``context.server``)."""

    def __init__(self, api: LiveServer, proxy: Path) -> None:
        self.api = api
        self.proxyid, self.token = api.token_for(proxy)
        self.act = ACTClient(api.url, token=self.token)
        self.backend: StorageManager = load_backend("actstore")

    def context(self, progress: Any = None) -> StorageContext:
        return client_storage_context(self.act, progress=progress if progress is not None else SILENT)

    def new_job(self) -> int:
        return self.api.new_job(self.proxyid)

    def stored_input(self, job_id: int, name: str) -> bytes | None:
        path = self.api.config.inputs_dir / str(job_id) / name
        return path.read_bytes() if path.is_file() else None

    def remove_job(self, job_id: int) -> None:
        with ACTClient(self.api.url, token=self.token) as act:  # as act kill does
            act.kill([job_id])

    def put_results(self, files: Mapping[str, bytes]) -> StorageJob | None:
        """None: results on the server are the core's (``act get`` downloads them)."""
        return None


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
class TestActStore(StorageContract):
    @pytest.fixture
    def harness(self, api: LiveServer, arc_ce: Any) -> Iterator[ActStoreHarness]:
        harness = ActStoreHarness(api, Path(arc_ce.proxy))
        with harness.act:
            yield harness


def test_the_recorder_is_a_transfer_progress() -> None:
    from actframework.testing.storage_contract import Recorder

    progress: TransferProgress = Recorder()
    progress.expect(files=1, nbytes=3)
    progress.advance(3)
    progress.file_done()


# --------------------------------------------------------------------------- a third party's backend


class LocalDirHarness:
    """The example third-party backend (tests/plugin_dists/localdir), as its
    author would run the contract: files in a directory, no aCT server."""

    def __init__(self, root: Path) -> None:
        import sys

        sys.path.insert(0, str(Path(__file__).parent / "plugin_dists" / "localdir"))
        from actframework_localdir import LocalDirBackend

        self.root = root
        self.backend = StorageManager(
            "localdir", LocalDirBackend({"root": str(root), "root_url": "https://files.example.org/act"})
        )
        self._next = 0

    def context(self, progress: Any = None) -> StorageContext:
        return StorageContext(caller=Caller.CLIENT, progress=progress if progress is not None else SILENT)

    def new_job(self) -> int:
        self._next += 1
        return self._next

    def stored_input(self, job_id: int, name: str) -> bytes | None:
        path = self.root / str(job_id) / name
        return path.read_bytes() if path.is_file() else None

    def remove_job(self, job_id: int) -> None:
        """No server involved."""

    def put_results(self, files: Mapping[str, bytes]) -> StorageJob:
        job = StorageJob(id=self.new_job(), description="")
        write_files(self.root / f"{job.id}-results", files)
        return job


class TestLocalDirExample(StorageContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> LocalDirHarness:
        return LocalDirHarness(tmp_path / "store")
