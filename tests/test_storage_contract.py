"""The storage contract (``actframework.testing.storage_contract``) run
against our backends on their real storage: actstore on a live ``actd
serve``; webdav and dcache in their own modules, next to their servers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from actframework.client.api import ACTClient
from actframework.hookspecs import SILENT, Caller, Credentials, StorageContext, StorageJob, TransferProgress
from actframework.plugins import StorageManager, load_backend
from actframework.testing.storage_contract import StorageContract
from fixtures.server import LiveServer

pytestmark = pytest.mark.integration


class ActStoreHarness:
    """actstore's files live in the server's data directory."""

    def __init__(self, api: LiveServer, proxy: Path) -> None:
        self.api = api
        self.proxyid, self.token = api.token_for(proxy)
        self.backend: StorageManager = load_backend("actstore")
        self._done = 0

    def context(self, progress: Any = None) -> StorageContext:
        return StorageContext(caller=Caller.CLIENT, server_url=self.api.url,
                              credentials=Credentials(token=self.token),
                              progress=progress if progress is not None else SILENT)

    def new_job(self) -> int:
        return self.api.new_job(self.proxyid)

    def stored_input(self, job_id: int, name: str) -> bytes | None:
        path = self.api.config.inputs_dir / str(job_id) / name
        return path.read_bytes() if path.is_file() else None

    def remove_job(self, job_id: int) -> None:
        with ACTClient(self.api.url, token=self.token) as act:  # as act kill does
            act.kill([job_id])

    def put_results(self, files: Mapping[str, bytes]) -> StorageJob:
        self._done += 1
        ce_id = f"contract{self._done}"
        job_id = self.api.new_job(self.proxyid, "done", ce_id)
        self.api.write_results(ce_id, dict(files))
        return StorageJob(id=job_id, description="", ce_id=ce_id)


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
class TestActStore(StorageContract):
    @pytest.fixture
    def harness(self, api: LiveServer, arc_ce: Any) -> ActStoreHarness:
        return ActStoreHarness(api, Path(arc_ce.proxy))


def test_the_recorder_is_a_transfer_progress() -> None:
    from actframework.testing.storage_contract import Recorder

    progress: TransferProgress = Recorder()
    progress.expect(files=1, nbytes=3)
    progress.advance(3)
    progress.file_done()


# --------------------------------------------------------------------------- a third party's backend


class LocalDirHarness:
    """The example third-party backend (tests/plugin_dists/localdir), as its
    author would run the contract: files in a directory."""

    def __init__(self, root: Path) -> None:
        import sys

        sys.path.insert(0, str(Path(__file__).parent / "plugin_dists" / "localdir"))
        from actframework_localdir import LocalDirBackend

        self.root = root
        self.backend = StorageManager("localdir", LocalDirBackend({"root": str(root)}))
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
        for name, content in files.items():
            path = self.root / str(job.id) / "results" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return job


class TestLocalDirExample(StorageContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> LocalDirHarness:
        return LocalDirHarness(tmp_path / "store")
