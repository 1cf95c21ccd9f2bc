"""A third-party storage backend: job files kept in a directory on this machine.

Small on purpose: it shows everything a backend author writes (a factory that
takes ``options``, four hook implementations over the typed records, progress
reports, nothing left behind on failure), passes actframework's storage
contract (``actframework.testing.storage_contract``), and the tests use it to
prove that a pip-installed backend is found by name.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actframework import xrsl
from actframework.errors import ConfigError, StorageError
from actframework.hookspecs import (
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    TransferProgress,
    hookimpl,
)

BLOCK = 1024 * 1024


def _copy(source: Path, target: Path, progress: TransferProgress) -> int:
    """Copy in blocks, telling ``progress``; a failure (or a stop raised by
    ``progress``) removes the partial copy."""
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
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    progress.file_done()
    return size


class LocalDirBackend:
    """Inputs of job N live in ``<root>/N/``, its results in ``<root>/N/results/``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if "root" not in options:
            raise ConfigError("storage backend localdir needs the option root")
        self.root = Path(options["root"])

    def _job_dir(self, job: StorageJob) -> Path:
        return self.root / str(job.id)

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        local = [entry for entry in job.inputs if entry.is_local]
        for entry in local:  # check all before storing any
            if not entry.local_path.is_file():
                raise StorageError(f"input file {entry.local_path} does not exist")
        context.progress.expect(files=len(local), nbytes=sum(e.local_path.stat().st_size for e in local))
        staged = []
        for entry in local:
            target = self._job_dir(job) / entry.name
            size = _copy(entry.local_path, target, context.progress)
            staged.append(StagedFile(entry.name, target.as_uri(), size))
        return staged

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        where = {item.name: item.location for item in staged}
        jobs = xrsl.parse(job.description)
        for parsed in jobs:
            parsed.set_inputfiles([(name, where.get(name, source)) for name, source in parsed.inputfiles])
        return xrsl.unparse(jobs)

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        source = self._job_dir(job) / "results"
        files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
        context.progress.expect(files=len(files), nbytes=sum((source / f).stat().st_size for f in files))
        try:
            for name in files:
                _copy(source / name, destination / name, context.progress)
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise
        return ResultLocation(job.id, destination.as_uri(), tuple(files))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        if not self._job_dir(job).exists():
            return False
        shutil.rmtree(self._job_dir(job))
        return True
