"""actframework: an independent, modern ARC Control Tower.

The package holds the core: the storage hook contract (:mod:`actframework.hookspecs`;
backends import :mod:`actframework.storage`),
the plugin manager (:mod:`actframework.plugins`), configuration
(:mod:`actframework.server_config` for ``actd``, :mod:`actframework.client.config`
for ``act``), the job store (:mod:`actframework.db`) and the ``actd`` and
``act`` commands. Storage backends are separate distributions
under ``plugins/``.
"""

__version__ = "0.1.0"
"""The release; ``pyproject.toml`` reads it from here. A constant, not a look-up
in the installed distributions' metadata, which would cost every ``act``
command tens of milliseconds (its User-Agent header names the version)."""
