"""Where ``act`` and ``actd`` settings come from: six layers, lowest first.

1. built-in defaults;
2. site packages: YAML files that an installed distribution put under
   ``{sys.prefix}/etc/actframework/`` (``<name>.yaml``, then
   ``<name>.d/*.yaml`` in name order), as Jupyter and Dask find theirs;
3. the host: the same files under ``/etc/actframework/``;
4. the user's file (act-client's ``~/.config/act-client/config.yaml``, or
   actd's ``--config``);
5. environment variables ``<PREFIX>_<KEY>``, ``__`` between nested keys,
   values read as YAML (as Dask reads ``DASK_*``);
6. command-line flags.

A mapping in a higher layer is merged key by key into the one below; any
other value replaces what was below. Every value remembers the layer and
the file (or variable, or flag) it came from, which is what ``act config``
and ``actd config`` print, and what a bad value's error message names.

Site packages are plain files rather than an entry-point group so that
finding them costs a directory listing, not a scan of every installed
distribution's metadata (``act`` starts for every command), and so that an
admin can read, diff and ship them in a Debian or RPM package as well.

This module needs PyYAML only when a file or variable is read; it imports
neither the client nor the server.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from actframework.errors import ConfigError

#: The host layer's directory; ``$ACTFRAMEWORK_SYSTEM_CONFIG_DIR`` moves it
#: (a non-standard layout, or tests that cannot write to /etc).
SYSTEM_CONFIG_DIR = Path("/etc/actframework")
SYSTEM_DIR_VARIABLE = "ACTFRAMEWORK_SYSTEM_CONFIG_DIR"
MASK = "********"
#: Keys whose values are secrets wherever they are (passwords in storage
#: options, the JWT secret, tokens given as values).
SECRET_KEY = re.compile(r"secret|passw|(^|_)tokens?$", re.IGNORECASE)

KeyPath = tuple[str, ...]


class Layer(enum.Enum):
    """The six layers, lowest first (their order is their precedence)."""

    DEFAULT = "default"
    SITE_PACKAGE = "site package"
    SYSTEM = "system"
    USER = "user"
    ENVIRONMENT = "environment"
    COMMAND_LINE = "command line"


# Plain classes rather than dataclasses: every `act` command that reads its
# settings imports this module, and making a dataclass costs its start.


class Origin:
    """Where one value came from: its layer and the file, variable or flag."""

    __slots__ = ("layer", "where")

    def __init__(self, layer: Layer, where: str = "") -> None:
        self.layer = layer
        self.where = where

    def __str__(self) -> str:
        return f"{self.layer.value}: {self.where}" if self.where else self.layer.value

    def __repr__(self) -> str:
        return f"Origin({self.layer}, {self.where!r})"


class Consulted:
    """One file a layer looks at, whether or not it exists (``pip config debug``)."""

    __slots__ = ("exists", "layer", "path")

    def __init__(self, layer: Layer, path: Path, exists: bool) -> None:
        self.layer = layer
        self.path = path
        self.exists = exists


class Layered:
    """The merged settings of all layers, and the origin of every leaf value."""

    __slots__ = ("consulted", "data", "origins")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.origins: dict[KeyPath, Origin] = {}
        self.consulted: list[Consulted] = []

    def add(self, values: Mapping[str, Any], origin: Origin) -> None:
        """Merge ``values`` over what is here, as coming from ``origin``."""
        _merge(self.data, values, self.origins, origin, ())

    def origin(self, path: KeyPath) -> Origin | None:
        """Where the value at ``path`` (or the mapping holding it) was set."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return None

    def files(self) -> list[Path]:
        """The files that exist among those consulted, lowest layer first."""
        return [c.path for c in self.consulted if c.exists]


def _merge(
    base: dict[str, Any], overlay: Mapping[str, Any], origins: dict[KeyPath, Origin], origin: Origin, prefix: KeyPath
) -> None:
    for key, value in overlay.items():
        key = str(key)
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            if value or base[key]:
                origins.pop(path, None)
                _merge(base[key], value, origins, origin, path)
            else:
                origins[path] = origin  # an empty mapping over an empty mapping
            continue
        for known in [p for p in origins if p[: len(path)] == path]:
            del origins[known]
        if isinstance(value, Mapping):
            base[key] = {}
            origins[path] = origin  # an empty mapping is a value too
            _merge(base[key], value, origins, origin, path)
            if base[key]:
                del origins[path]
        else:
            base[key] = value
            origins[path] = origin


# --------------------------------------------------------------------------- the layers


def site_package_dir() -> Path:
    """``{sys.prefix}/etc/actframework``: where distributions installed into
    this environment (a venv, or the system Python) put their files."""
    return Path(sys.prefix) / "etc" / "actframework"


def system_dir() -> Path:
    from_env = os.environ.get(SYSTEM_DIR_VARIABLE)
    return Path(from_env) if from_env else SYSTEM_CONFIG_DIR


def layer_files(directory: Path, name: str) -> list[Path]:
    """``<name>.yaml`` and then ``<name>.d/*.yaml`` in name order (those that exist
    are read; the first is listed even when it does not exist)."""
    snippets = directory / f"{name}.d"
    found = sorted(snippets.glob("*.yaml")) if snippets.is_dir() else []
    return [directory / f"{name}.yaml", *found]


def from_environment(prefix: str, exclude: Iterable[str] = ()) -> dict[str, tuple[str, Any]]:
    """``{variable: (key path, value)}`` of the ``<prefix>_*`` variables:
    ``ACTD_AUTH__JWT_SECRET`` is ``auth.jwt_secret``; values are YAML."""
    import yaml

    found: dict[str, tuple[str, Any]] = {}
    start = prefix + "_"
    for variable, text in sorted(os.environ.items()):
        if not variable.startswith(start) or variable in exclude or variable == start:
            continue
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            raise ConfigError(f"environment variable {variable} is not a valid YAML value") from None
        found[variable] = (variable[len(start) :].lower(), value)
    return found


def nest(dotted: str, value: Any, separator: str = "__") -> dict[str, Any]:
    """``a__b`` and a value as ``{"a": {"b": value}}``."""
    keys = [k for k in dotted.split(separator) if k]
    if not keys:
        raise ConfigError(f"{dotted!r} names no setting")
    nested: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        nested = {key: nested}
    return nested


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path`` (``{}`` for an empty
    file); a missing or malformed file is a :class:`ConfigError` naming it."""
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


def load_layers(
    name: str,
    *,
    defaults: Mapping[str, Any],
    user_file: Path,
    user_file_required: bool,
    env_prefix: str,
    env_exclude: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> Layered:
    """All six layers of the settings called ``name`` (``act`` or ``actd``),
    merged. A file that exists but is not a YAML mapping is an error naming
    it; a missing ``user_file`` is one only if ``user_file_required``
    (it was named on the command line)."""
    layered = Layered()
    layered.add(defaults, Origin(Layer.DEFAULT))
    for layer, directory in ((Layer.SITE_PACKAGE, site_package_dir()), (Layer.SYSTEM, system_dir())):
        for path in layer_files(directory, name):
            exists = path.is_file()
            layered.consulted.append(Consulted(layer, path, exists))
            if exists:
                layered.add(_relative_to(read_yaml_mapping(path), path), Origin(layer, str(path)))
    exists = user_file.is_file()
    layered.consulted.append(Consulted(Layer.USER, user_file, exists))
    if exists or user_file_required:
        layered.add(_relative_to(read_yaml_mapping(user_file), user_file), Origin(Layer.USER, str(user_file)))
    for variable, (dotted, value) in from_environment(env_prefix, env_exclude).items():
        layered.add(nest(dotted, value), Origin(Layer.ENVIRONMENT, variable))
    for flag, value in (flags or {}).items():
        if value is not None:
            layered.add(value, Origin(Layer.COMMAND_LINE, flag))
    return layered


#: Keys whose relative paths are relative to the file that sets them (a
#: site package's CA bundle sits next to its YAML file, wherever pip put it).
FILE_RELATIVE_KEYS = frozenset({"ca_certificates"})


def _relative_to(data: dict[str, Any], path: Path) -> dict[str, Any]:
    for key in FILE_RELATIVE_KEYS & set(data):
        value = data[key]
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(os.path.expandvars(value))):
            data[key] = str(path.parent / value)
    return data


# --------------------------------------------------------------------------- printing


def mask_url_password(value: str) -> str:
    """``scheme://user:password@host/...`` with the password masked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or parts.password is None:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:{MASK}@{host}", parts.path, parts.query, parts.fragment))


def flatten(data: Mapping[str, Any], prefix: KeyPath = ()) -> list[tuple[KeyPath, Any]]:
    """Every leaf of ``data`` with its key path (an empty mapping is a leaf)."""
    leaves: list[tuple[KeyPath, Any]] = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            leaves.extend(flatten(value, path))
        else:
            leaves.append((path, value))
    return leaves


def shown(path: KeyPath, value: Any, not_secret: frozenset[KeyPath] = frozenset()) -> str:
    """One value as printed: secrets masked, the rest as YAML flow text."""
    import json

    if value is None or value == "":
        return "(not set)"
    if path not in not_secret and any(SECRET_KEY.search(key) for key in path):
        return MASK
    if isinstance(value, str):
        return mask_url_password(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(mask_url_password(str(v)) for v in value) + "]"
    return json.dumps(value) if isinstance(value, (bool, dict)) else str(value)


def describe(
    layered: Layered, effective: Mapping[str, Any], title: str, not_secret: frozenset[KeyPath] = frozenset()
) -> str:
    """What ``act config`` and ``actd config`` print: the files each layer
    consulted (as ``pip config debug`` lists them), then every effective
    setting with its origin. Secrets are masked."""
    lines = [f"{title} configuration layers, lowest first:", f"  {Layer.DEFAULT.value}: built in"]
    for layer in (Layer.SITE_PACKAGE, Layer.SYSTEM, Layer.USER):
        for item in (c for c in layered.consulted if c.layer is layer):
            lines.append(f"  {layer.value}: {item.path}{'' if item.exists else ' (absent)'}")
    variables = sorted({o.where for o in layered.origins.values() if o.layer is Layer.ENVIRONMENT})
    lines.append(f"  {Layer.ENVIRONMENT.value}: {', '.join(variables) or '(none set)'}")
    flags = sorted({o.where for o in layered.origins.values() if o.layer is Layer.COMMAND_LINE})
    lines.append(f"  {Layer.COMMAND_LINE.value}: {', '.join(flags) or '(none given)'}")
    lines.append("settings:")
    leaves = flatten(effective)
    width = max((len(".".join(p)) for p, _ in leaves), default=0)
    for path, value in leaves:
        origin = layered.origin(path) or Origin(Layer.DEFAULT)
        lines.append(f"  {'.'.join(path):<{width}}  {shown(path, value, not_secret)}  [{origin}]")
    return "\n".join(lines) + "\n"
