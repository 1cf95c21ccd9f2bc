"""Configuration of the aCT host: ``actd serve``, ``actd engine`` and ``actd run``.

:class:`ServerConfig` is the site admin's YAML file. ``actd init`` writes it
with every key explained (:func:`render_server_config`); it holds the JWT
secret, so it is written with mode 0600. Unknown keys are errors: a misspelt
key would otherwise be silently ignored. The ``engine:`` section is read by
:class:`~actframework.engine_settings.EngineSettings`; neither module imports
the engine itself.

The file is one layer of several (:mod:`actframework.layers`): below it the
built-in defaults, what site packages installed
(``{sys.prefix}/etc/actframework/actd.yaml``, ``actd.d/*.yaml``) and the
host's ``/etc/actframework/``; above it ``ACTD_*`` variables
(``ACTD_AUTH__JWT_SECRET``) and ``--set KEY=VALUE`` flags.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actframework.config import ConfigSection, normalise_listen, xdg_dir
from actframework.engine_settings import ENGINE_CONFIG_TEMPLATE, EngineSettings
from actframework.errors import ConfigError
from actframework.layers import Layered, load_layers
from actframework.trusted_issuers import TrustedIssuer

#: ``ACTD_<SECTION>__<KEY>`` variables set keys; ``$ACTD_CONFIG`` names the
#: file and ``$ACTD_SET`` carries ``--set`` flags to worker processes.
ENV_PREFIX = "ACTD"
ENV_NOT_SETTINGS = ("ACTD_CONFIG", "ACTD_SET")

# --------------------------------------------------------------------------- paths


def default_server_config_path() -> Path:
    """Where ``actd`` looks without ``--config`` or ``$ACTD_CONFIG``: per user."""
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "actd" / "config.yaml"


def default_data_dir() -> Path:
    """Default data directory of ``actd``: per user, next to other user data."""
    return xdg_dir("XDG_DATA_HOME", ".local/share") / "actd"


def resolve_server_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config PATH``, else ``$ACTD_CONFIG``, else the per-user default."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get("ACTD_CONFIG")
    if from_env:
        return Path(from_env).expanduser()
    return default_server_config_path()


def server_defaults() -> dict[str, Any]:
    """The built-in layer: the defaults of every key, as ``actd init``
    documents them; the keys a site must choose are unset."""
    engine = yaml.safe_load(ENGINE_CONFIG_TEMPLATE.format())["engine"]
    return {
        "data_dir": None,
        "database": {"url": None, "outage_wait": ServerConfig.database_outage_wait},
        "server": {
            "listen": ServerConfig.listen,
            "workers": ServerConfig.workers,
            "tls_cert": None,
            "tls_key": None,
            "max_upload_bytes": ServerConfig.max_upload_bytes,
        },
        "auth": {"jwt_secret": None, "ca_dir": str(ServerConfig.ca_dir), "require_voms": False, "token_issuers": []},
        "clusters": [],
        "storage": {"backend": ServerConfig.storage_backend, "options": {}},
        "engine": engine,
        "logging": {"level": ServerConfig.log_level},
    }


def parse_set(assignments: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` flags (``server.listen=0.0.0.0:8443``; values are
    YAML) as one mapping per flag text, for :func:`load_layers`."""
    from actframework.layers import nest

    flags: dict[str, Any] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {text!r} is not KEY=VALUE")
        try:
            parsed = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            raise ConfigError(f"--set {text!r}: the value is not valid YAML") from None
        flags[f"--set {key.strip()}"] = nest(key.strip(), parsed, separator=".")
    return flags


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class ServerConfig:
    """Settings of ``actd serve``, ``actd engine`` and ``actd run``.

    The documentation of each key is in :data:`SERVER_CONFIG_TEMPLATE`, which
    is what ``actd init`` writes; keep the two in step.
    """

    path: Path | None
    """The file of the user layer (``--config``), None if only other layers
    set the configuration."""
    database_url: str
    data_dir: Path
    database_outage_wait: float = 60.0
    listen: str = "127.0.0.1:8080"
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_upload_bytes: int = 10 * 1024**3
    metrics_listen: str = ""
    jwt_secret: str = field(default="", repr=False)
    ca_dir: Path = Path("/etc/grid-security/certificates")
    require_voms: bool = False
    token_issuers: tuple[TrustedIssuer, ...] = ()
    """Issuers whose bearer tokens users may hand over (none: proxies only)."""
    clusters: tuple[str, ...] = ()
    storage_backend: str = "actstore"
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    engine: EngineSettings = field(default_factory=EngineSettings)
    layered: Layered = field(default_factory=Layered, compare=False, repr=False)
    """Every layer's contribution and each value's origin (``actd config``)."""
    assignments: tuple[str, ...] = ()
    """The ``--set`` flags, for processes started with this configuration."""

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
    def load(cls, path: str | os.PathLike[str] | None = None, *, assignments: Sequence[str] = ()) -> ServerConfig:
        """Read and check the settings of every layer; ``path`` (``--config``)
        or ``$ACTD_CONFIG`` names the user layer's file, which must then
        exist; ``assignments`` are ``--set KEY=VALUE`` flags."""
        named = path is not None or bool(os.environ.get("ACTD_CONFIG"))
        where = resolve_server_config_path(path)
        layered = load_layers(
            "actd",
            defaults=server_defaults(),
            user_file=where,
            user_file_required=named,
            env_prefix=ENV_PREFIX,
            env_exclude=ENV_NOT_SETTINGS,
            flags=parse_set(assignments),
        )
        if not layered.files():
            raise ConfigError(f"config file {where} does not exist; create it with `actd init`")
        path = where if where.is_file() else None
        raw = layered.data
        reader = ConfigSection(raw, str(where), layered=layered)
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
            database_outage_wait=database.number("outage_wait", default=cls.database_outage_wait, minimum=0.0),
            data_dir=data_dir,
            listen=server.string("listen", default=cls.listen),
            workers=server.integer("workers", default=cls.workers, minimum=1),
            tls_cert=server.path("tls_cert"),
            tls_key=server.path("tls_key"),
            max_upload_bytes=server.integer("max_upload_bytes", default=cls.max_upload_bytes, minimum=0),
            metrics_listen=server.string("metrics_listen", default=""),
            jwt_secret=auth.string("jwt_secret", required=True),
            ca_dir=auth.path("ca_dir") or cls.ca_dir,
            require_voms=auth.boolean("require_voms", default=False),
            token_issuers=tuple(
                TrustedIssuer.from_mapping(raw, where) for where, raw in auth.mapping_list("token_issuers")
            ),
            clusters=tuple(reader.string_list("clusters")),
            storage_backend=storage.string("backend", default=cls.storage_backend),
            storage_options=storage.mapping("options"),
            log_level=logging_.choice("level", ("debug", "info", "warning", "error"), default=cls.log_level),
            engine=engine,
            layered=layered,
            assignments=tuple(assignments),
        )
        for section in (reader, database, server, auth, storage, logging_):
            section.reject_unknown()
        if len(config.jwt_secret) < 32:
            raise ConfigError(f"{auth.source('jwt_secret')}: auth.jwt_secret must be at least 32 characters")
        if (config.tls_cert is None) != (config.tls_key is None):
            raise ConfigError(f"{server.source('tls_cert')}: server.tls_cert and server.tls_key go together")
        normalise_listen(config.listen)
        if config.metrics_listen and normalise_listen(config.metrics_listen) in (
            normalise_listen(config.listen),
            normalise_listen(engine.metrics_listen) if engine.metrics_listen else None,
        ):
            raise ConfigError(f"{path}: server.metrics_listen must differ from server.listen and engine.metrics_listen")
        return config


def new_jwt_secret() -> str:
    """A fresh random secret for signing the REST tokens (HS256)."""
    return secrets.token_urlsafe(48)


def _scalar(value: Any) -> str:
    """Render one YAML scalar (quoted where YAML needs it)."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("\n...")
        .removesuffix("...")
        .strip()
    )


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
  # HOST:PORT for Prometheus metrics of the REST API (request latency per
  # route, method and status class, summed over all workers); empty: none.
  metrics_listen: ""

# How users authenticate: they delegate an X.509 proxy (act proxy) or hand
# over a bearer token (act token), and get a token of this server.
auth:
  # HMAC secret of the user tokens (JWT, HS256). Changing it logs everybody out.
  jwt_secret: {jwt_secret}
  # Trusted grid CAs (hashed certificate directory, like X509_CERT_DIR):
  # delegated proxies must chain to one of them, and CEs are verified against it.
  ca_dir: {ca_dir}
  # Refuse proxies without VOMS attributes.
  require_voms: false
  # Issuers whose bearer tokens (WLCG profile JWTs) users may hand over: a
  # token's iss must equal `issuer` exactly (a trailing slash counts), its aud
  # must hold `audience`, its scope every one of `scopes`; `identity_claim`
  # (default sub) names the user. None: proxies only.
  token_issuers: []
  #  - issuer: https://iam.example.org/
  #    audience: https://actd.example.org
  #    scopes: [compute.create, compute.read]

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
