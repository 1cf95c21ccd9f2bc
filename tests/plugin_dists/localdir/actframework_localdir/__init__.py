"""A third-party storage backend: job files kept in a directory on this machine.

Small on purpose: it shows everything a backend author writes (a factory that
takes ``options``, four hook implementations over the typed records), and the
tests use it to prove that a pip-installed backend is found by name.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actframework.errors import ConfigError, StorageError
from actframework.hookspecs import (
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    hookimpl,
)


class LocalDirBackend:
    """Files of job N live in ``<root>/N/``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if "root" not in options:
            raise ConfigError("storage backend localdir needs the option root")
        self.root = Path(options["root"])

    def _job_dir(self, job: StorageJob) -> Path:
        return self.root / str(job.id)

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        staged = []
        for entry in job.inputs:
            if not entry.is_local:
                continue
            if not entry.local_path.is_file():
                raise StorageError(f"input file {entry.local_path} does not exist")
            target = self._job_dir(job) / entry.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry.local_path, target)
            staged.append(StagedFile(entry.name, target.as_uri(), target.stat().st_size))
        return staged

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        text = job.description
        for entry, where in zip([i for i in job.inputs if i.is_local], staged):
            text = text.replace(f'"{entry.source}"', f'"{where.location}"')
        return text

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        source = self._job_dir(job) / "results"
        shutil.copytree(source, destination, dirs_exist_ok=True)
        files = tuple(sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()))
        return ResultLocation(job.id, destination.as_uri(), files)

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        if not self._job_dir(job).exists():
            return False
        shutil.rmtree(self._job_dir(job))
        return True
