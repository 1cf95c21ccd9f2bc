"""Everything a storage backend may import from actframework, in one module.

A backend (``plugins/*``, or a third party's distribution) imports from
here and from :mod:`actframework.testing` (the contract tests, in its own
tests): nothing else of actframework, so that the core can change behind
it. CI checks the in-tree backends against that rule (``lint-imports``,
``[tool.importlinter]`` in ``pyproject.toml``). ``docs/plugins.md`` is the
guide.

What is here:

- the hook marker :data:`hookimpl`, and the records the hooks receive and
  return (:class:`StorageContext`, :class:`StorageJob`, :class:`InputFile`,
  :class:`StagedFile`, :class:`ResultLocation`, :class:`Credentials`,
  :class:`Caller`), the :class:`TransferProgress` a backend reports to
  (:data:`SILENT` when nobody listens) and the :class:`ServerFiles` of the
  aCT server, for a backend that stores there;
- the errors a backend raises: :class:`StorageError` for what went wrong
  with its storage, :class:`ConfigError` for bad options; it lets
  :class:`TransferCancelled` through; :class:`ActError` is their base, and
  :class:`TransportError` what the HTTP helpers raise when a server cannot
  be reached;
- job descriptions as a model, for ``act_rewrite_description``:
  :func:`parse` and :func:`unparse` (xRSL and ADL, each written back in its
  own language), :class:`JobDescription` (``inputs``, ``set_inputs``,
  ``outputs``, ``set_outputs``), :class:`OutputFile`, :class:`Language`;
- HTTP with verified TLS, grid CAs, X.509 proxies or bearer tokens and safe
  retries: :class:`HTTPClient`, :class:`RetryPolicy`, :func:`save_body`
  (a streamed download written whole or not at all), :func:`tls_context`
  (for a backend that speaks HTTP on its own socket);
- :func:`inside`: ``root / name`` for an untrusted name, or None when that
  would leave ``root``.
"""

from __future__ import annotations

from actframework.errors import ActError, ConfigError, StorageError, TransferCancelled, TransportError
from actframework.hookspecs import (
    SILENT,
    Caller,
    Credentials,
    InputFile,
    ResultLocation,
    ServerFiles,
    StagedFile,
    StorageContext,
    StorageJob,
    TransferProgress,
    hookimpl,
)
from actframework.http import HTTPClient, RetryPolicy, save_body
from actframework.httpbase import tls_context
from actframework.jobdesc import parse, unparse
from actframework.jobdesc.model import JobDescription, Language, OutputFile
from actframework.paths import inside

__all__ = [
    "SILENT",
    "ActError",
    "Caller",
    "ConfigError",
    "Credentials",
    "HTTPClient",
    "InputFile",
    "JobDescription",
    "Language",
    "OutputFile",
    "ResultLocation",
    "RetryPolicy",
    "ServerFiles",
    "StagedFile",
    "StorageContext",
    "StorageError",
    "StorageJob",
    "TransferCancelled",
    "TransferProgress",
    "TransportError",
    "hookimpl",
    "inside",
    "parse",
    "save_body",
    "tls_context",
    "unparse",
]
