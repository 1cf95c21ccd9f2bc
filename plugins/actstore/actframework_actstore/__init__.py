"""Storage backend ``actstore``: input files live on the aCT server itself.

The client uploads each local input file with ``PUT /jobs/<id>/data/<name>``
(``PUT /data`` on older servers); the engine copies them from the server's
data directory into the CE session when it submits the job; results are
listed and downloaded from ``/jobs/<id>/results/``. It needs no storage of
its own, which is why it is the default.

The transfers are not built yet in this version: every hook raises
:class:`~actframework.errors.StorageError` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from actframework.errors import ConfigError, StorageError
from actframework.hookspecs import (
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    hookimpl,
)

NAME = "actstore"


class ActStoreBackend:
    """Keeps job files in the aCT server's data directory. Takes no options."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError(f"storage backend {NAME} takes no options, got: {', '.join(options)}")

    def _not_built(self, what: str) -> NoReturn:
        raise StorageError(f"the {NAME} storage backend cannot {what} yet in this version")

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        self._not_built("stage input files")

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        self._not_built("rewrite job descriptions")

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        self._not_built("retrieve results")

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        self._not_built("clean up")
