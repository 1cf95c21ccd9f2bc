"""``actd run`` when one of its children dies: it stops the other and exits
non-zero, so that a service manager (systemd ``Restart=on-failure``)
restarts the pair. Real processes throughout: the children are found in
``/proc`` and killed the way the kernel or an operator would."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from actframework.actd import child_failure_status

from fixtures.stack import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]

#: Generously more than `actd run` takes to stop its children with the
#: stack's settings (ce_timeout 60: 65 s + 25 s).
CHILD_STOP_S = 150

#: What the engine logs once its signal handlers are in place.
ENGINE_STARTED = re.compile(r"engine \S+ started")


def children(pid: int) -> dict[str, int]:
    """``serve`` / ``engine`` → pid of the child of ``pid`` running it."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            for name in ("serve", "engine"):
                if name.encode() in argv:
                    found[name] = int(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("victim", "sig", "expected"), [
    ("serve", signal.SIGKILL, 128 + signal.SIGKILL),  # a crash
    ("engine", signal.SIGTERM, 1),  # stopped cleanly (status 0): still gone, still a failure
])
def test_actd_run_stops_the_other_child_and_exits_non_zero_when_one_dies(
    make_stack: StackFactory, victim: str, sig: signal.Signals, expected: int
) -> None:
    stack = make_stack("sqlite", run=True)
    run = stack.processes["run"]
    deadline = time.monotonic() + 30
    while len(found := children(run.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(found) == {"serve", "engine"}, found
    # A child killed before it has set up its own signal handling dies of
    # the signal itself; the engine says "started" once it has.
    while not ENGINE_STARTED.search(stack.log("run")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ENGINE_STARTED.search(stack.log("run")), stack.log("run")
    survivor = found["engine" if victim == "serve" else "serve"]

    subprocess.run(["kill", f"-{sig.value}", str(found[victim])], check=True)
    status = run.wait(CHILD_STOP_S)
    stack.processes.pop("run")

    assert status == expected
    assert not alive(survivor)
    assert f"actd: {victim} " in stack.log("run")
    assert f"exiting with status {expected}" in stack.log("run")


def test_actd_run_exits_zero_when_asked_to_stop(make_stack: StackFactory) -> None:
    stack = make_stack("sqlite", run=True)
    run = stack.processes.pop("run")
    time.sleep(1)  # both children up (the server already answers)
    run.send_signal(signal.SIGTERM)
    assert run.wait(CHILD_STOP_S) == 0


def test_child_failure_status_is_never_zero() -> None:
    assert child_failure_status(0) == 1
    assert child_failure_status(3) == 3
    assert child_failure_status(-signal.SIGKILL) == 137
