"""Job files under faults: the server killed during an upload, and a data
directory whose file system is full (a real tmpfs mounted for the test),
for uploaded inputs and for fetched outputs."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from actframework.client.api import ACTClient

from fixtures.required import unavailable
from fixtures.server import free_port
from fixtures.stack import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

MIB = 1024 * 1024


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, hidden ones included, relative to it."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# --------------------------------------------------------------------------- tmpfs


class SmallDisk:
    """A tmpfs of a few MiB mounted over a directory, to be filled up."""

    def __init__(self, where: Path, size_mib: int) -> None:
        self.where = where
        where.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs",
                                  str(where)], capture_output=True, text=True)
        if mounted.returncode != 0:
            unavailable("a tmpfs mount", mounted.stderr.strip() or "mount failed",
                        "Run the tests as root on a system that allows mounting tmpfs")
        self.filler = where / ".filler"

    def fill(self, leave: int = 0) -> None:
        """Fill the file system up, then free ``leave`` bytes again."""
        with self.filler.open("ab") as out:
            try:
                while True:
                    out.write(b"\0" * MIB)
                    out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        if leave:
            os.truncate(self.filler, max(0, self.filler.stat().st_size - leave))

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if subprocess.run(["umount", str(self.where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(self.where)], check=False)


@pytest.fixture
def small_disk() -> Iterator[list[SmallDisk]]:
    """Mount small tmpfs file systems (``SmallDisk(where, size)``); unmounted after the test."""
    disks: list[SmallDisk] = []
    yield disks
    for disk in disks:
        disk.unmount()


# --------------------------------------------------------------------------- uploads


def test_server_killed_during_an_upload_shows_no_partial_file_and_the_client_retry_completes(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack("sqlite", engines=0)
    source = tmp_path / "big.dat"
    source.write_bytes(os.urandom(64 * MIB))
    job_id = int(stack.session.post(f"{stack.url}/jobs", json=[{"clusterlist": [stack.cluster]}]).json()[0]["id"])
    job_dir = stack.config.inputs_dir / str(job_id)

    halfway = threading.Event()  # the first attempt has sent some MiB
    server_back = threading.Event()  # ... and waits until the server was killed and restarted
    sent = [0]

    def progress(nbytes: int) -> None:
        sent[0] += nbytes
        if sent[0] >= 16 * MIB and not halfway.is_set():
            halfway.set()
            assert server_back.wait(120)

    failures: list[BaseException] = []

    def upload() -> None:
        with ACTClient(stack.url, token=stack.token) as act:
            try:
                act.upload_input(job_id, "big.dat", source, progress=progress)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert halfway.wait(60)
    stack.kill("serve", signal.SIGKILL)

    # Killed mid-stream: the input is not there, only the server's hidden
    # temporary file, named after the dead process.
    left = files_under(job_dir)
    assert "big.dat" not in left
    assert len(left) == 1 and left[0].startswith(".upload-") and left[0].endswith(".part"), left

    stack.start("serve", "serve")
    stack.wait_for_server()
    # The new server removed the dead one's temporary at start.
    assert files_under(job_dir) == []
    server_back.set()
    uploader.join(120)

    assert not failures, failures
    assert files_under(job_dir) == ["big.dat"]
    assert (job_dir / "big.dat").read_bytes() == source.read_bytes()
    assert "removed 1 unfinished upload(s)" in stack.log("serve")


def test_upload_to_a_full_disk_answers_507_and_leaves_nothing(
    make_stack: StackFactory, small_disk: list[SmallDisk]
) -> None:
    stack = make_stack("sqlite", engines=0)
    disk = SmallDisk(stack.config.inputs_dir, 8)
    small_disk.append(disk)
    created = stack.session.post(f"{stack.url}/jobs", json=[{"clusterlist": [stack.cluster]}] * 2).json()
    first, second = (int(item["id"]) for item in created)

    disk.fill(leave=256 * 1024)  # room for a part of the upload: it fails half-way
    answer = stack.session.put(f"{stack.url}/jobs/{first}/data/sub/in.dat", data=os.urandom(2 * MIB))
    assert answer.status_code == 507
    assert answer.json() == {"msg": "No space left on the server for input files; try again later"}
    assert files_under(stack.config.inputs_dir) == [".filler"]  # no file, no temporary, no directories

    disk.fill()  # no room at all
    answer = stack.session.put(f"{stack.url}/jobs/{second}/data/in.dat", data=b"x" * 100_000)
    assert answer.status_code == 507
    assert files_under(stack.config.inputs_dir) == [".filler"]
    assert not (stack.config.inputs_dir / str(second)).exists()

    disk.free()
    data = os.urandom(2 * MIB)
    assert stack.session.put(f"{stack.url}/jobs/{first}/data/sub/in.dat", data=data).status_code == 204
    assert (stack.config.inputs_dir / str(first) / "sub" / "in.dat").read_bytes() == data
    assert "Traceback" not in stack.log("serve")


# --------------------------------------------------------------------------- fetched outputs


def output_job(marker: str) -> str:
    """A job whose output (1 MiB) cannot fit into a full results directory."""
    return (f'&(executable="/bin/sh")(arguments="-c" "head -c 1048576 /dev/zero > out.dat; echo ok > out.txt")'
            f'(outputfiles=("out.dat" "")("out.txt" ""))(stdout="stdout.txt")(jobname="{marker}")')


def disk_full_errors(url: str) -> float:
    """The engine's count of fetches that met a full disk, from its metrics."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in requests.get(url, timeout=10).text.splitlines()
               if line.startswith("actd_engine_ce_errors_total{") and 'kind="disk_full"' in line)


def test_results_disk_full_keeps_the_job_finished_warns_once_and_fetches_when_there_is_room(
    make_stack: StackFactory, small_disk: list[SmallDisk]
) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    stack = make_stack("sqlite", engine_settings={"ce_timeout": 10, "metrics_listen": metrics})
    disk = SmallDisk(stack.config.results_dir, 8)
    small_disk.append(disk)
    disk.fill(leave=128 * 1024)
    marker = f"diskfull-{uuid.uuid4().hex[:8]}"
    [job_id] = stack.submit([output_job(marker)])
    stack.wait_for([job_id], {"finished", "done", "donefailed", "failed"}, timeout=240)
    ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]

    # Wait until five fetch cycles met the full disk (poll_interval is 0.2 s).
    deadline = time.monotonic() + 120
    while disk_full_errors(f"http://{metrics}/metrics") < 5:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.2)
    assert stack.states([job_id]) == {job_id: "finished"}
    warnings = [line for line in stack.log("engine").splitlines() if ce_id in line and "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "no space left" in warnings[0].lower()
    # A fetch may be writing right now; stopped (SIGTERM ends the current
    # step first), the engine must have left no partial result directory.
    stack.kill("engine", signal.SIGTERM)
    assert files_under(stack.config.results_dir) == [".filler"]
    disk.free()
    stack.start_engine()
    stack.wait_for([job_id], {"done"}, timeout=120)
    results = stack.config.results_dir / ce_id
    assert (results / "out.txt").read_text() == "ok\n"
    assert (results / "out.dat").stat().st_size == MIB
    stack.clean([job_id])
