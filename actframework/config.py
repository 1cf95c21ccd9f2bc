"""Configuration of the aCT host (``actd``) and of the ``act`` client.

Two files, two audiences:

* :class:`ServerConfig` is the site admin's YAML file for ``actd`` (server and
  engine). ``actd init`` writes it with every key explained
  (:func:`render_server_config`); it holds the JWT secret, so it is written
  with mode 0600. Unknown keys are errors: a misspelt key would otherwise be
  silently ignored.
* :class:`ClientConfig` is a user's ``config.yaml``, read exactly where and as
  act-client 1.0.0 reads it (same keys, default paths, ``~``/``$VAR``
  expansion) so an existing file keeps working, plus our ``storage`` key.
  Unknown keys are ignored there, as act-client does.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from actframework.engine.settings import ENGINE_CONFIG_TEMPLATE, EngineSettings
from actframework.errors import ConfigError

# --------------------------------------------------------------------------- paths


def _xdg_dir(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def default_server_config_path() -> Path:
    """Where ``actd`` looks without ``--config`` or ``$ACTD_CONFIG``: per user."""
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / "actd" / "config.yaml"


def default_data_dir() -> Path:
    """Default data directory of ``actd``: per user, next to other user data."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share") / "actd"


def resolve_server_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config PATH``, else ``$ACTD_CONFIG``, else the per-user default."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get("ACTD_CONFIG")
    if from_env:
        return Path(from_env).expanduser()
    return default_server_config_path()


# --------------------------------------------------------------------------- YAML files


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600.

    The file is created 0600 from the start (never world-readable for an
    instant) and renamed into place, so readers see the old or the new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- server


def normalise_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen address {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ServerConfig:
    """Settings of ``actd serve``, ``actd engine`` and ``actd run``.

    The documentation of each key is in :data:`SERVER_CONFIG_TEMPLATE`, which
    is what ``actd init`` writes; keep the two in step.
    """

    path: Path
    database_url: str
    data_dir: Path
    database_outage_wait: float = 60.0
    listen: str = "127.0.0.1:8080"
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_upload_bytes: int = 10 * 1024**3
    jwt_secret: str = field(default="", repr=False)
    ca_dir: Path = Path("/etc/grid-security/certificates")
    require_voms: bool = False
    clusters: tuple[str, ...] = ()
    storage_backend: str = "actstore"
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    engine: EngineSettings = EngineSettings()

    @property
    def inputs_dir(self) -> Path:
        """Uploaded input files, as ``<inputs_dir>/<job id>/<name>``."""
        return self.data_dir / "inputs"

    @property
    def results_dir(self) -> Path:
        """Fetched job outputs, as ``<results_dir>/<CE job id>/...``."""
        return self.data_dir / "results"

    @property
    def proxies_dir(self) -> Path:
        """Delegated user proxies (mode 0700 directory, 0600 files)."""
        return self.data_dir / "proxies"

    @property
    def listen_address(self) -> tuple[str, int]:
        return normalise_listen(self.listen)

    @classmethod
    def load(cls, path: Path) -> ServerConfig:
        """Read and check the YAML file at ``path``."""
        raw = _read_yaml_mapping(path)
        reader = ConfigSection(raw, str(path))
        database = reader.section("database")
        server = reader.section("server")
        auth = reader.section("auth")
        storage = reader.section("storage")
        logging_ = reader.section("logging")
        engine = EngineSettings.from_section(reader.section("engine"))
        data_dir = reader.path("data_dir", required=True)
        assert data_dir is not None
        config = cls(
            path=path,
            database_url=database.string("url", required=True),
            database_outage_wait=database.number(
                "outage_wait", default=cls.database_outage_wait, minimum=0.0
            ),
            data_dir=data_dir,
            listen=server.string("listen", default=cls.listen),
            workers=server.integer("workers", default=cls.workers, minimum=1),
            tls_cert=server.path("tls_cert"),
            tls_key=server.path("tls_key"),
            max_upload_bytes=server.integer(
                "max_upload_bytes", default=cls.max_upload_bytes, minimum=0
            ),
            jwt_secret=auth.string("jwt_secret", required=True),
            ca_dir=auth.path("ca_dir") or cls.ca_dir,
            require_voms=auth.boolean("require_voms", default=False),
            clusters=tuple(reader.string_list("clusters")),
            storage_backend=storage.string("backend", default=cls.storage_backend),
            storage_options=storage.mapping("options"),
            log_level=logging_.choice(
                "level", ("debug", "info", "warning", "error"), default=cls.log_level
            ),
            engine=engine,
        )
        for section in (reader, database, server, auth, storage, logging_):
            section.reject_unknown()
        if len(config.jwt_secret) < 32:
            raise ConfigError(f"{path}: auth.jwt_secret must be at least 32 characters")
        if (config.tls_cert is None) != (config.tls_key is None):
            raise ConfigError(f"{path}: server.tls_cert and server.tls_key go together")
        normalise_listen(config.listen)
        return config


class ConfigSection:
    """Typed, strict reading of one mapping of a YAML file, with good messages.

    Every key read is remembered, so :meth:`reject_unknown` can name a key
    that nothing read (a typo, or a key of another version)."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        value = self.data.get(key)
        if value is None and required:
            raise ConfigError(f"{self.where}: {key} is not set")
        return value

    def _wrong(self, key: str, kind: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key} must be {kind}")

    def section(self, key: str) -> ConfigSection:
        value = self._get(key, False) or {}
        if not isinstance(value, Mapping):
            raise self._wrong(key, "a mapping")
        return ConfigSection(value, f"{self.where}: {key}")

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, False) or {}
        if not isinstance(value, Mapping):
            raise self._wrong(key, "a mapping")
        return dict(value)

    def string(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise self._wrong(key, "a string")
        return str(value)

    def path(self, key: str, *, required: bool = False) -> Path | None:
        value = self.string(key, required=required)
        return Path(os.path.expandvars(value)).expanduser() if value else None

    def integer(self, key: str, *, default: int, minimum: int) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._wrong(key, f"a whole number >= {minimum}")
        return value

    def number(self, key: str, *, default: float, minimum: float) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < minimum:
            raise self._wrong(key, f"a number >= {minimum}")
        return float(value)

    def keys(self) -> list[str]:
        """Every key of this mapping (for sections keyed by user-chosen names)."""
        return [str(key) for key in self.data]

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def choice(self, key: str, choices: Sequence[str], *, default: str) -> str:
        value = self.string(key, default=default).lower()
        if value not in choices:
            raise self._wrong(key, "one of " + ", ".join(choices))
        return value

    def string_list(self, key: str) -> list[str]:
        value = self._get(key, False) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, "a list of strings")
        return list(value)

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.where}: unknown key {unknown[0]!r}")


def new_jwt_secret() -> str:
    """A fresh random secret for signing the REST tokens (HS256)."""
    return secrets.token_urlsafe(48)


def _scalar(value: Any) -> str:
    """Render one YAML scalar (quoted where YAML needs it)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix(
        "\n..."
    ).removesuffix("...").strip()


def _block_list(values: Sequence[str], indent: str = "  ") -> str:
    if not values:
        return " []"
    return "".join(f"\n{indent}- {_scalar(v)}" for v in values)


SERVER_CONFIG_TEMPLATE = """\
# actd configuration: the aCT REST server (actd serve) and engine (actd engine).
# `actd run` runs both on one machine. Paths may use ~ and $VARIABLES.
# This file holds the secret that signs user tokens: keep it mode 0600.

# Where actd keeps its files: inputs/ (files users upload for their jobs),
# results/ (job outputs fetched from the CEs) and proxies/ (delegated user
# proxies, mode 0700). On a multi-host site, share it or use WebDAV/dCache
# storage for inputs.
data_dir: {data_dir}

# The job store shared by the server and the engine.
database:
  # SQLAlchemy URL of the job store. Supported:
  #   sqlite:////absolute/path/actd.sqlite            (one machine; the default)
  #   postgresql+psycopg://user:password@host/dbname  (several hosts)
  #   mysql+pymysql://user:password@host/dbname       (MariaDB/MySQL, several hosts)
  # After upgrading actframework run `actd db upgrade`.
  url: {database_url}
  # Seconds each database operation of the server and the engine waits for
  # a database that cannot be reached (a restart), or for an SQLite file
  # that stays locked, before it fails (the server then answers 503, the
  # engine retries later).
  outage_wait: 60

# The REST API (actd serve).
server:
  # HOST:PORT the REST API listens on. Users put this URL in their act
  # client config (`server:`).
  listen: {listen}
  # Number of uvicorn worker processes.
  workers: 1
  # TLS certificate (PEM) for HTTPS; leave it and tls_key empty to speak
  # plain HTTP behind a TLS-terminating proxy.
  tls_cert:
  # The private key of tls_cert (PEM, mode 0600).
  tls_key:
  # Largest input file a user may upload, in bytes (larger uploads get 413).
  max_upload_bytes: 10737418240

# How users authenticate: they delegate an X.509 proxy and get a token.
auth:
  # HMAC secret of the user tokens (JWT, HS256). Changing it logs everybody out.
  jwt_secret: {jwt_secret}
  # Trusted grid CAs (hashed certificate directory, like X509_CERT_DIR):
  # delegated proxies must chain to one of them, and CEs are verified against it.
  ca_dir: {ca_dir}
  # Refuse proxies without VOMS attributes.
  require_voms: false

# ARC CEs users may submit to, as https://host[:port]/<queue>.
clusters:{clusters}

# Where job input and output files are kept.
storage:
  # Storage backend for job input and output files; `actd plugins` lists the
  # installed ones (actstore keeps files in data_dir on this host).
  backend: actstore
  # Settings passed to the backend (see its documentation), e.g. url: for webdav.
  options: {{}}

{engine}
# Log output of actd.
logging:
  # debug, info, warning or error.
  level: info
"""


def render_server_config(
    *,
    data_dir: Path,
    database_url: str,
    listen: str,
    clusters: Sequence[str],
    ca_dir: Path,
    jwt_secret: str,
) -> str:
    """The commented configuration that ``actd init`` writes."""
    return SERVER_CONFIG_TEMPLATE.format(
        data_dir=_scalar(str(data_dir)),
        database_url=_scalar(database_url),
        listen=_scalar(listen),
        clusters=_block_list(clusters),
        ca_dir=_scalar(str(ca_dir)),
        jwt_secret=_scalar(jwt_secret),
        engine=ENGINE_CONFIG_TEMPLATE.format(),
    )


# --------------------------------------------------------------------------- client


def default_client_config_path() -> Path:
    """act-client's location: ``$XDG_CONFIG_HOME/act-client/config.yaml``."""
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / "act-client" / "config.yaml"


def default_token_path() -> Path:
    """act-client's token file: ``$XDG_DATA_HOME/act-client/token``."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share") / "act-client" / "token"


def default_proxy_path() -> Path:
    """The grid convention: ``$X509_USER_PROXY``, else ``/tmp/x509up_u<uid>``."""
    from_env = os.environ.get("X509_USER_PROXY")
    return Path(from_env) if from_env else Path(tempfile.gettempdir()) / f"x509up_u{os.getuid()}"


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

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ClientConfig:
        """Read the file at ``path`` (``--conf``) or at act-client's default location."""
        where = Path(path).expanduser() if path else default_client_config_path()
        raw = _read_yaml_mapping(where)
        reader = ConfigSection(raw, str(where))
        server = reader.string("server") or None
        token = reader.string("token")
        proxy = reader.string("proxy")
        webdav = reader.string("webdav") or None
        storage = reader.string("storage") or "actstore"
        storage_options = reader.mapping("storage_options")
        groups = reader.mapping("clusters")
        clusters: dict[str, tuple[str, ...]] = {}
        for group, urls in groups.items():
            if isinstance(urls, str):
                urls = [urls]
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ConfigError(f"{where}: clusters: {group} must be a list of URLs")
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
        )

    def require(self, key: str) -> Any:
        """The value of ``key``, or act-client's error when it is not configured."""
        value = getattr(self, key, None)
        if value in (None, "", {}):
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
                raise ConfigError(f"cluster group {url!r} is not in {self.path} (groups: {groups}), "
                                  "and it is not a cluster URL")
        return urls
