"""A user's ``act`` configuration, read as act-client 1.0.0 reads it.

:class:`ClientConfig` reads the file act-client reads, where it reads it
(same keys, default paths, ``~``/``$VAR`` expansion), so an existing file
keeps working, plus our ``storage``, ``storage_options`` and
``ca_certificates`` keys. Unknown keys are ignored, as act-client does.

That file is one layer of several (:mod:`actframework.layers`): below it
what the site installed (``{sys.prefix}/etc/actframework/act.yaml``,
``act.d/*.yaml``) and the host's ``/etc/actframework/``; above it ``ACT_*``
variables and the command line. With a site package a user needs no file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from actframework.config import ConfigSection, default_proxy_path, xdg_dir
from actframework.errors import ConfigError
from actframework.layers import Layered, load_layers

#: ``ACT_SERVER``, ``ACT_STORAGE_OPTIONS__URL``, ...
ENV_PREFIX = "ACT"


def default_client_config_path() -> Path:
    """act-client's location: ``$XDG_CONFIG_HOME/act-client/config.yaml``."""
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "act-client" / "config.yaml"


def default_token_path() -> Path:
    """act-client's token file: ``$XDG_DATA_HOME/act-client/token``."""
    return xdg_dir("XDG_DATA_HOME", ".local/share") / "act-client" / "token"


def client_defaults() -> dict[str, Any]:
    """The built-in layer: every key, unset where act-client has no default."""
    return {
        "server": None,
        "token": str(default_token_path()),
        "proxy": str(default_proxy_path()),
        "webdav": None,
        "clusters": {},
        "storage": "actstore",
        "storage_options": {},
        "ca_certificates": None,
    }


def _expand(value: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(value)))


@dataclass(frozen=True)
class ClientConfig:
    """A user's ``act`` configuration (act-client 1.0.0 compatible)."""

    path: Path
    server: str | None = None
    token: Path = field(default_factory=default_token_path)
    proxy: Path = field(default_factory=default_proxy_path)
    webdav: str | None = None
    clusters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    storage: str = "actstore"
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    """Settings for the storage backend (as the server's ``storage.options``)."""
    ca_certificates: Path | None = None
    """Trusted CAs of the server and the storage: a PEM bundle or a hashed
    directory; unset, the HTTP layer's rule (``$X509_CERT_DIR``, ...)."""
    layered: Layered = field(default_factory=Layered, compare=False, repr=False)
    """Every layer's contribution and each value's origin (``act config``)."""

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, flags: Mapping[str, Mapping[str, Any] | None] | None = None
    ) -> ClientConfig:
        """The settings of all layers; ``path`` (``--conf``, which must exist)
        replaces act-client's default user file, and ``flags`` maps each
        command-line flag given to the settings it sets."""
        where = Path(path).expanduser() if path else default_client_config_path()
        layered = load_layers(
            "act",
            defaults=client_defaults(),
            user_file=where,
            user_file_required=path is not None,
            env_prefix=ENV_PREFIX,
            flags=flags,
        )
        raw = layered.data
        reader = ConfigSection(raw, str(where), layered=layered)
        server = reader.string("server") or None
        token = reader.string("token")
        proxy = reader.string("proxy")
        webdav = reader.string("webdav") or None
        storage = reader.string("storage") or "actstore"
        storage_options = reader.mapping("storage_options")
        ca_certificates = reader.string("ca_certificates")
        groups = reader.mapping("clusters")
        clusters: dict[str, tuple[str, ...]] = {}
        for group, urls in groups.items():
            if isinstance(urls, str):
                urls = [urls]
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                origin = layered.origin(("clusters", str(group)))
                raise ConfigError(
                    f"{origin.where if origin and origin.where else where}: clusters: {group} must be a list of URLs"
                )
            clusters[str(group)] = tuple(urls)
        return cls(
            path=where,
            server=server.rstrip("/") if server else None,
            token=_expand(token) if token else default_token_path(),
            proxy=_expand(proxy) if proxy else default_proxy_path(),
            webdav=webdav,
            clusters=clusters,
            storage=storage,
            storage_options=storage_options,
            ca_certificates=_expand(ca_certificates) if ca_certificates else None,
            layered=layered,
        )

    def trust(self) -> dict[str, Path | None]:
        """``ca_file``/``ca_dir`` for the HTTP clients, from ``ca_certificates``."""
        where = self.ca_certificates
        if where is None:
            return {"ca_file": None, "ca_dir": None}
        return {"ca_dir": where, "ca_file": None} if where.is_dir() else {"ca_file": where, "ca_dir": None}

    def require(self, key: str) -> Any:
        """The value of ``key``, or act-client's error when it is not configured."""
        value = getattr(self, key, None)
        if value in (None, "", {}):
            if not self.layered.files():
                raise ConfigError(
                    f"Config key {key} not configured: config file {self.path} does not exist "
                    "and no site configuration is installed"
                )
            raise ConfigError(f"Config key {key} not configured")
        return value

    def resolve_clusterlist(self, value: str = "default") -> list[str]:
        """A configured group name gives its URLs; anything else is a comma list of URLs."""
        if value in self.clusters:
            return list(self.clusters[value])
        urls = [item.strip() for item in value.split(",") if item.strip()]
        if not urls:
            raise ConfigError(f"no clusters given in {value!r}")
        for url in urls:
            if urlparse(url).scheme not in ("http", "https") and "." not in url:
                groups = ", ".join(sorted(self.clusters)) or "none"
                raise ConfigError(
                    f"cluster group {url!r} is not in {self.path} (groups: {groups}), and it is not a cluster URL"
                )
        return urls
