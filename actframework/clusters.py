"""Cluster URLs as the server compares and stores them.

Users write the same CE in several ways (``https://ce.example.org/batch``,
``https://ce.example.org:443/batch/``); aCT dev2 normalises both the URLs a
job asks for and the configured ``clusters`` to ``https://<host>:<port><path>``
before comparing them, and stores the normalised form in ``clusterlist``.
We do the same, and also drop trailing slashes of the path: the path only
names the queue, and ``/batch/`` names the same queue as ``/batch``
(:func:`actframework.arc.rest.split_cluster_url` strips them too). Anything
that is not an https URL with a host cannot be a cluster and normalises to
None.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def normalise_cluster_url(url: str) -> str | None:
    """``https://<host>:<port or 443><path without trailing />``, or None when
    ``url`` is not an https URL with a host (or its port is not a number).

    Query and fragment are dropped, as in aCT; the host is lower-cased (host
    names are case-insensitive, and the stored form must compare equal).
    """
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"https://{host}:{port or 443}{parts.path.rstrip('/')}"


def normalised_clusters(urls: Iterable[str]) -> frozenset[str]:
    """The normalised forms of the configured clusters (invalid ones dropped)."""
    return frozenset(n for n in (normalise_cluster_url(url) for url in urls) if n is not None)
