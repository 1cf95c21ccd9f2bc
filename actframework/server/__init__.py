"""The aCT REST API that ``act`` clients talk to (``actd serve``).

Wire-compatible with the aCT server that act-client 1.0.0 talks to, and with
the older API of the seed design; routes live at the root, as aCT's do.
:func:`create_app` builds the FastAPI application from a
:class:`~actframework.server_config.ServerConfig`.
"""

from actframework.server.app import create_app

__all__ = ["create_app"]
