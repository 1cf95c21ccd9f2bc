"""Finding, choosing and calling storage backends.

Two libraries share the work, each doing what it is made for: stevedore finds
the backend a configuration names among the installed distributions (entry
point group :data:`ENTRY_POINT_GROUP`) and constructs it; pluggy holds the
constructed backend in a plugin manager, checks it against the hook
specifications of :mod:`actframework.hookspecs` and calls its hooks.

Nothing in the core names a backend: ``actstore``, ``webdav`` and ``dcache``
are found exactly as a site's own backend would be.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
from stevedore import DriverManager

from actframework import hookspecs
from actframework.errors import (
    ActError,
    BackendLoadError,
    DuplicateBackendError,
    StorageError,
    UnknownBackendError,
)
from actframework.hookspecs import (
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
)

ENTRY_POINT_GROUP = "actframework.storage"
"""The entry-point group in which storage backend distributions register."""

HOOK_NAMES: tuple[str, ...] = (
    "act_stage_inputs",
    "act_rewrite_description",
    "act_retrieve_results",
    "act_clean_up",
)
"""Every backend implements all of these; a missing one is a load error."""


@dataclass(frozen=True)
class BackendInfo:
    """One installed storage backend, as ``actd plugins`` lists it."""

    name: str
    distribution: str
    version: str
    target: str
    """The entry point's ``module:attribute``."""


def installed_backends() -> list[BackendInfo]:
    """List every storage backend entry point that is installed, sorted by name.

    The same distribution seen twice on ``sys.path`` counts once; two
    different distributions with the same backend name are both listed (see
    :func:`find_conflicts`).
    """
    seen: set[tuple[str, str, str]] = set()
    found: list[BackendInfo] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else "?"
        dist_version = dist.version if dist is not None else "?"
        key = (ep.name, dist_name, ep.value)
        if key in seen:
            continue
        seen.add(key)
        found.append(BackendInfo(ep.name, dist_name, dist_version, ep.value))
    return sorted(found, key=lambda b: (b.name, b.distribution))


def find_conflicts(backends: Iterable[BackendInfo]) -> dict[str, list[str]]:
    """Map each backend name claimed by more than one distribution to those distributions."""
    owners: dict[str, set[str]] = defaultdict(set)
    for backend in backends:
        owners[backend.name].add(backend.distribution)
    return {name: sorted(dists) for name, dists in owners.items() if len(dists) > 1}


class StorageManager:
    """One configured storage backend behind a pluggy plugin manager.

    Callers use the typed methods below rather than ``pm.hook`` so that a
    backend that answers nothing is an error here, not a ``None`` somewhere
    downstream.
    """

    def __init__(self, name: str, backend: object) -> None:
        self.name = name
        self.backend = backend
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        try:
            self.pm.register(backend, name=name)
            # Catches methods marked @hookimpl whose names match no hook (typos).
            self.pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise BackendLoadError(f"storage backend {name!r} is not valid: {exc}") from exc
        missing = [h for h in HOOK_NAMES if not getattr(self.pm.hook, h).get_hookimpls()]
        if missing:
            raise BackendLoadError(f"storage backend {name!r} does not implement: {', '.join(missing)}")

    def _call(self, hook: str, **kwargs: Any) -> Any:
        result = getattr(self.pm.hook, hook)(**kwargs)
        if result is None:
            raise StorageError(f"storage backend {self.name!r} returned nothing from {hook}")
        return result

    def stage_inputs(self, context: StorageContext, job: StorageJob) -> list[StagedFile]:
        """See :func:`actframework.hookspecs.act_stage_inputs`."""
        return list(self._call("act_stage_inputs", context=context, job=job))

    def rewrite_description(self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]) -> str:
        """See :func:`actframework.hookspecs.act_rewrite_description`."""
        text = self._call("act_rewrite_description", context=context, job=job, staged=staged)
        if not isinstance(text, str):
            raise StorageError(
                f"storage backend {self.name!r} returned {type(text).__name__}, not the description's"
                " text, from act_rewrite_description"
            )
        return text

    def retrieve_results(self, context: StorageContext, job: StorageJob, destination: Path) -> ResultLocation:
        """See :func:`actframework.hookspecs.act_retrieve_results`."""
        location = self._call("act_retrieve_results", context=context, job=job, destination=destination)
        if not isinstance(location, ResultLocation):
            raise StorageError(
                f"storage backend {self.name!r} returned {type(location).__name__}, not a"
                " ResultLocation, from act_retrieve_results"
            )
        return location

    def clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        """See :func:`actframework.hookspecs.act_clean_up`."""
        return bool(self._call("act_clean_up", context=context, job=job))


def load_backend(name: str, options: Mapping[str, Any] | None = None) -> StorageManager:
    """Find the installed backend called ``name``, construct it with ``options``
    and return it behind a :class:`StorageManager`.

    Raises :class:`UnknownBackendError` (listing what is installed),
    :class:`DuplicateBackendError` or :class:`BackendLoadError`.
    """
    installed = installed_backends()
    owners = [b.distribution for b in installed if b.name == name]
    if not owners:
        raise UnknownBackendError(name, {b.name for b in installed})
    if len(set(owners)) > 1:
        raise DuplicateBackendError(name, owners)

    def fail(_manager: object, entrypoint: object, exc: BaseException) -> None:
        if isinstance(exc, ActError):  # e.g. the backend's own ConfigError about its options
            raise exc
        raise BackendLoadError(f"storage backend {name!r} failed to load: {exc}") from exc

    driver: DriverManager[object] = DriverManager(
        namespace=ENTRY_POINT_GROUP,
        name=name,
        invoke_on_load=True,
        invoke_kwds={"options": dict(options or {})},
        on_load_failure_callback=fail,
    )
    return StorageManager(name, driver.driver)
