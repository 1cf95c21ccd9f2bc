"""Progress of ``act sub`` uploads and ``act get`` downloads: files and bytes.

Storage backends report through :class:`~actframework.hookspecs.TransferProgress`
(``StorageContext.progress``); this module gives the two implementations the
CLI uses: :class:`ProgressBar` draws a rich bar on stderr, and
:data:`~actframework.hookspecs.SILENT` shows nothing, for pipes, scripts and
``--no-progress``, where act-client's plain line output is what users parse.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from actframework.hookspecs import SILENT, TransferProgress


class ProgressBar:
    """One bar for a whole command: bytes moved of bytes expected, files
    done of files expected. Totals may grow while it runs (``act get``
    learns sizes only as downloads start). Safe to report from threads."""

    def __init__(self, verb: str, console: Console | None = None) -> None:
        self._verb = verb
        self._lock = threading.Lock()
        self._files_total = 0
        self._files_done = 0
        self._bytes_total = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=True,
        )
        self._task: TaskID = self._progress.add_task(self._describe(), total=None)

    def _describe(self) -> str:
        return f"{self._verb} {self._files_done}/{self._files_total} files"

    def expect(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self._files_total += files
            self._bytes_total += nbytes
            self._progress.update(self._task, total=self._bytes_total or None, description=self._describe())

    def advance(self, nbytes: int) -> None:
        self._progress.update(self._task, advance=nbytes)

    def file_done(self) -> None:
        with self._lock:
            self._files_done += 1
            self._progress.update(self._task, description=self._describe())

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


@contextmanager
def progress_for(verb: str, wanted: bool | None) -> Iterator[TransferProgress]:
    """A bar while the block runs when asked for (``--progress``), or by
    default when stderr is a terminal; nothing for ``--no-progress`` or
    output into a pipe or file."""
    show = sys.stderr.isatty() if wanted is None else wanted
    if not show:
        yield SILENT
        return
    # Asked for explicitly: drawn even when stderr is not a terminal.
    with ProgressBar(verb, Console(stderr=True, force_terminal=True) if wanted else None) as bar:
        yield bar
