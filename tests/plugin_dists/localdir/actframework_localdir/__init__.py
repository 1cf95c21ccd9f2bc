"""A third-party storage backend: job inputs in a directory that a web server exports.

Written from ``docs/plugins.md`` alone, importing only
:mod:`actframework.storage`. ``act sub`` copies job N's local inputs to
``<root>/N/<name>`` (a shared or local directory) and points the
description at ``<root_url>/N/<name>``, where the CE fetches them itself
(``root_url`` is how the CE reaches ``root``: a web server, WebDAV or
other, exporting that directory). Results that something put in
``<root>/N-results/`` are added by ``act get``; ``act clean`` removes both.

Options: ``root`` (the directory) and ``root_url`` (its URL as the CE sees
it). There is no ``url`` option, so the aCT server records no staging for
it: the client alone cleans up.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from actframework.storage import (
    ConfigError,
    InputFile,
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageError,
    StorageJob,
    TransferProgress,
    hookimpl,
    inside,
    parse,
    unparse,
)

NAME = "localdir"
OPTIONS = frozenset({"root", "root_url"})
BLOCK = 1024 * 1024


def _copy(source: Path, target: Path, progress: TransferProgress) -> int:
    """Copy in blocks, telling ``progress``; the copy appears whole or not at
    all (a failure, or a stop raised by ``progress``, removes the partial file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    size = 0
    try:
        with source.open("rb") as reader, partial.open("wb") as writer:
            while block := reader.read(BLOCK):
                writer.write(block)
                size += len(block)
                progress.advance(len(block))
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"copying {source} to {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    progress.file_done()
    return size


class LocalDirBackend:
    """Inputs of job N in ``<root>/N/``, its results in ``<root>/N-results/``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - OPTIONS
        if unknown:
            raise ConfigError(f"storage backend {NAME}: unknown option {min(unknown)!r}")
        missing = sorted(OPTIONS - set(options))
        if missing:
            raise ConfigError(f"storage backend {NAME} needs the option {missing[0]}")
        self.root = Path(str(options["root"])).expanduser()
        self.root_url = str(options["root_url"]).rstrip("/")
        url = urlparse(self.root_url)
        if not url.scheme or not url.hostname:
            # A source without a host is a local file to aCT and to the CE: it would wait for an upload.
            raise ConfigError(f"storage backend {NAME}: root_url must be a URL with a host, got {self.root_url!r}")

    def _inputs_dir(self, job: StorageJob) -> Path:
        return self.root / str(job.id)

    def _results_dir(self, job: StorageJob) -> Path:
        return self.root / f"{job.id}-results"

    def _target(self, job: StorageJob, name: str) -> Path:
        target = inside(self._inputs_dir(job), name)
        if target is None or target == self._inputs_dir(job).resolve():
            raise StorageError(f"job {job.id}: refusing the input name {name!r}")
        return target

    def _url(self, job: StorageJob, name: str) -> str:
        return f"{self.root_url}/{job.id}/" + "/".join(quote(part, safe="") for part in name.split("/") if part)

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        local = [entry for entry in job.inputs if entry.is_local]  # URLs stay: the CE fetches them
        for entry in local:  # check all before storing any
            if not entry.local_path.is_file():
                raise StorageError(f"input file {entry.local_path} does not exist")
        targets = [self._target(job, entry.name) for entry in local]
        context.progress.expect(files=len(local), nbytes=sum(entry.local_path.stat().st_size for entry in local))
        staged: list[StagedFile] = []
        for entry, target in zip(local, targets, strict=True):
            size = _copy(entry.local_path, target, context.progress)
            staged.append(StagedFile(entry.name, self._url(job, entry.name), size))
        return staged

    @hookimpl
    def act_rewrite_description(self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]) -> str:
        where = {item.name: item.location for item in staged}
        jobs = parse(job.description)  # xRSL or ADL, written back in its own language
        for parsed in jobs:
            parsed.set_inputs([InputFile(entry.name, where.get(entry.name, entry.source)) for entry in parsed.inputs])
        return unparse(jobs)

    @hookimpl
    def act_retrieve_results(self, context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
        source = self._results_dir(job)
        if not source.is_dir():
            return ResultLocation(job.id, str(source))
        files = sorted(path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file())
        context.progress.expect(files=len(files), nbytes=sum((source / name).stat().st_size for name in files))
        written: list[Path] = []
        try:
            for name in files:
                target = inside(destination, name)
                if target is None:
                    raise StorageError(f"job {job.id}: result {name!r} would leave {destination}")
                _copy(source / name, target, context.progress)
                written.append(target)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return ResultLocation(job.id, str(source), tuple(files))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        removed = False
        for directory in (self._inputs_dir(job), self._results_dir(job)):
            if directory.exists():
                try:
                    shutil.rmtree(directory)
                except OSError as exc:
                    raise StorageError(f"removing {directory}: {exc.strerror or exc}") from None
                removed = True
        return removed
