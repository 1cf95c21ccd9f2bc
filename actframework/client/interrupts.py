"""Ctrl-C safety: steps of ``act`` that must not stop half-way.

A user who presses Ctrl-C while ``act sub`` is creating jobs on the server
must not be left with jobs that exist there but that the client has lost
track of (and so never confirms or kills). aCT's client therefore defers
SIGINT while it talks to the server in ``sub``, and ignores it in ``kill``,
``clean``, ``proxy`` and the final cleanup of ``sub`` and ``get``; file
transfers stay interruptible. The two context managers here do the same:

* :func:`deferred_interrupt`: a Ctrl-C is remembered and raised as
  :class:`KeyboardInterrupt` when the section ends;
* :func:`ignored_interrupt`: a Ctrl-C is dropped (a note is printed, so the
  user knows it was seen) until the section ends.

Both are no-ops outside the main thread, where Python cannot set handlers.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C until the section ends, then raise it."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        if not received:
            print("Interrupt received: finishing this step first ...", file=sys.stderr, flush=True)
        received.append(signum)

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


@contextmanager
def ignored_interrupt() -> Iterator[None]:
    """Drop Ctrl-C for the rest of a step that has to run to its end."""
    if not _in_main_thread():
        yield
        return

    def drop(_signum: int, _frame: FrameType | None) -> None:
        print("Interrupt ignored: this step cannot be stopped half-way", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, drop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
