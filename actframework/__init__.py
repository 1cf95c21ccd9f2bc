"""actframework: an independent, modern ARC Control Tower.

The package holds the core: the storage hook contract (:mod:`actframework.hookspecs`),
the plugin manager (:mod:`actframework.plugins`), configuration
(:mod:`actframework.config`), the job store (:mod:`actframework.db`) and the
``actd`` and ``act`` commands. Storage backends are separate distributions
under ``plugins/``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("actframework")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
