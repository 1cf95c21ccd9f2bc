"""The dcache backend against the test dCache door (``fixtures.dcache_door``):
the storage contract, and the door's and pool's byte counters showing that
every byte goes once, straight to the pool, through a real
``Expect: 100-continue`` that waits for the door's 307."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_storage_webdav import WebDAVHarness

from actframework.errors import StorageError, TransportError
from actframework.hookspecs import Caller, Credentials, InputFile, StorageContext, StorageJob
from actframework.plugins import load_backend
from actframework.testing.storage_contract import Recorder, StorageContract
from actframework_dcache import ExpectClient
from fixtures.server import LiveServer

if TYPE_CHECKING:
    from fixtures.dcache_door import DCacheDoor

pytestmark = [pytest.mark.integration, pytest.mark.arex]
SQLITE = pytest.mark.parametrize("api", ["sqlite"], indirect=True)
MIB = 1024 * 1024


class DCacheHarness(WebDAVHarness):
    """Inputs behind the door (files under its user directory), results there too."""

    def __init__(self, door: DCacheDoor, api: LiveServer, proxy: Path, **options: Any) -> None:
        self.door = door
        super().__init__(door, api, proxy, "dcache", **options)  # type: ignore[arg-type]

    @property
    def directory(self) -> Path:
        return self.door.user_dir


@SQLITE
class TestDCache(StorageContract):
    @pytest.fixture
    def harness(self, dcache_door: DCacheDoor, api: LiveServer, arc_ce: Any) -> DCacheHarness:
        return DCacheHarness(dcache_door, api, Path(arc_ce.proxy))


def client_context(door: DCacheDoor, proxy: Path, progress: Any = None) -> StorageContext:
    context = StorageContext(caller=Caller.CLIENT, credentials=Credentials(proxy=proxy, ca_dir=door.ca_dir))
    return context if progress is None else StorageContext(caller=Caller.CLIENT, credentials=context.credentials,
                                                           progress=progress)


def inputs(tmp_path: Path, sizes: dict[str, int]) -> tuple[InputFile, ...]:
    entries = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
        entries.append(InputFile(name, str(tmp_path / name)))
    return tuple(entries)


def test_every_byte_goes_once_straight_to_the_pool(dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path) -> None:
    sizes = {"a.bin": 5 * MIB, "b.bin": 3 * MIB + 11, "c.txt": 17, "empty": 0, "d.bin": MIB, "e.bin": 2 * MIB}
    backend = load_backend("dcache", {"url": dcache_door.url, "max_parallel_uploads": 3})
    progress = Recorder()
    staged = backend.stage_inputs(client_context(dcache_door, Path(arc_ce.proxy), progress),
                                  StorageJob(id=5, description="", inputs=inputs(tmp_path, sizes)))
    assert sorted((s.name, s.size) for s in staged) == sorted(sizes.items())
    stats = dcache_door.stats()
    assert stats.door_bytes == 0
    assert stats.pool_bytes == sum(sizes.values())
    assert stats.redirects == stats.expect_requests == stats.pool_puts == len(sizes)
    assert stats.relayed_puts == stats.fallback_relays == stats.tokens_rejected == 0
    assert all(not r.client_cert for r in stats.at("pool"))  # no credentials go to the pool
    assert all(r.client_cert for r in stats.at("door"))
    for name in sizes:
        assert (dcache_door.user_dir / "5" / name).read_bytes() == (tmp_path / name).read_bytes()
    assert progress.moved == sum(sizes.values()) and progress.files_done == len(sizes)


def test_the_backend_waits_for_a_slow_pool_selection(dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path) -> None:
    dcache_door.set_selection_delay(1.5)
    backend = load_backend("dcache", {"url": dcache_door.url, "continue_timeout": 10})
    backend.stage_inputs(client_context(dcache_door, Path(arc_ce.proxy)),
                         StorageJob(id=6, description="", inputs=inputs(tmp_path, {"x.bin": 2 * MIB})))
    stats = dcache_door.stats()
    assert (stats.door_bytes, stats.pool_bytes, stats.redirects) == (0, 2 * MIB, 1)


def test_after_the_continue_timeout_the_body_goes_to_the_door_as_curl_sends_it(
    dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path
) -> None:
    dcache_door.set_selection_delay(3)
    backend = load_backend("dcache", {"url": dcache_door.url, "continue_timeout": 0.5})
    backend.stage_inputs(client_context(dcache_door, Path(arc_ce.proxy)),
                         StorageJob(id=7, description="", inputs=inputs(tmp_path, {"y.bin": MIB})))
    stats = dcache_door.stats()
    assert (stats.door_bytes, stats.pool_bytes, stats.fallback_relays) == (MIB, 0, 1)
    assert (dcache_door.user_dir / "7" / "y.bin").read_bytes() == (tmp_path / "y.bin").read_bytes()


def test_a_refusal_before_the_body_sends_no_body(dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path) -> None:
    source = tmp_path / "z.bin"
    source.write_bytes(os.urandom(MIB))
    client = ExpectClient(proxy=arc_ce.proxy, ca_dir=dcache_door.ca_dir)
    answer = client.put(dcache_door.url + "no-such-dir/z.bin", source)
    assert answer.status == 409 and answer.redirected_to is None and not answer.continued
    assert dcache_door.stats().door_bytes == 0


def test_the_door_is_verified_and_needs_the_proxy(dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path) -> None:
    source = tmp_path / "z.bin"
    source.write_bytes(b"z")
    with pytest.raises(TransportError, match="TLS"):
        ExpectClient(proxy=arc_ce.proxy, ca_dir=tmp_path).put(dcache_door.url + "z.bin", source)
    with pytest.raises(TransportError):
        ExpectClient(proxy=None, ca_dir=dcache_door.ca_dir).put(dcache_door.url + "z.bin", source)


def test_a_failed_upload_names_the_file_and_the_answer(dcache_door: DCacheDoor, arc_ce: Any, tmp_path: Path) -> None:
    backend = load_backend("dcache", {"url": dcache_door.url + "missing/parent/"})
    context = client_context(dcache_door, Path(arc_ce.proxy))
    with pytest.raises(StorageError, match=r"MKCOL .*: HTTP 409|PUT .*: HTTP 409"):
        backend.stage_inputs(context, StorageJob(id=8, description="", inputs=inputs(tmp_path, {"q": 3})))
