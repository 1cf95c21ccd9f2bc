"""Reading actframework's YAML configuration files, and the paths they share.

Two files, two audiences, each with its own module: the site admin's
``actd`` configuration (:mod:`actframework.server_config`, strict) and a
user's ``act`` configuration (:mod:`actframework.client.config`, read as
act-client 1.0.0 reads it). This module is what both need: reading a YAML
mapping with clear errors, typed and strict access to its keys
(:class:`ConfigSection`, also used for the engine's settings), writing
secrets (tokens, the JWT secret) with mode 0600, and the default locations.
It imports neither the server nor the engine, so that the ``act`` client
starts without them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actframework.errors import ConfigError

if TYPE_CHECKING:
    from actframework.layers import Layered

# --------------------------------------------------------------------------- paths


def xdg_dir(variable: str, fallback: str) -> Path:
    """``$variable`` if set, else ``~/fallback`` (the XDG base directory rule)."""
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def default_proxy_path() -> Path:
    """The grid convention: ``$X509_USER_PROXY``, else ``/tmp/x509up_u<uid>``."""
    from_env = os.environ.get("X509_USER_PROXY")
    return Path(from_env) if from_env else Path(tempfile.gettempdir()) / f"x509up_u{os.getuid()}"


# --------------------------------------------------------------------------- YAML files


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


def normalise_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen address {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class ConfigSection:
    """Typed, strict reading of one mapping of a YAML file, with good messages.

    Every key read is remembered, so :meth:`reject_unknown` can name a key
    that nothing read (a typo, or a key of another version).

    Settings merged from several layers (:mod:`actframework.layers`) pass
    ``layered``: a bad value's message then names the file (or variable, or
    flag) that set it rather than ``where``."""

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        *,
        layered: Layered | None = None,
        keys: tuple[str, ...] = (),
        top: str | None = None,
    ) -> None:
        self.data = data
        self.where = where
        self.used: set[str] = set()
        self._layered = layered
        self._keys = keys
        self._top = where if top is None else top

    def source(self, key: str) -> str:
        """The file (or variable, or flag) that set ``key``; else the top ``where``."""
        if self._layered is not None:
            origin = self._layered.origin((*self._keys, key))
            if origin is not None and origin.where:
                return origin.where
        return self._top

    def _at(self, key: str) -> str:
        """``where`` for a message about ``key``: its file, when layers set it."""
        if self._layered is None:
            return self.where
        return ": ".join((self.source(key), *self._keys))

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        value = self.data.get(key)
        if value is None and required:
            raise ConfigError(f"{self.where}: {key} is not set")
        return value

    def _wrong(self, key: str, kind: str) -> ConfigError:
        return ConfigError(f"{self._at(key)}: {key} must be {kind}")

    def section(self, key: str) -> ConfigSection:
        value = self._get(key, False) or {}
        if not isinstance(value, Mapping):
            raise self._wrong(key, "a mapping")
        return ConfigSection(
            value, f"{self.where}: {key}", layered=self._layered, keys=(*self._keys, key), top=self._top
        )

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

    def mapping_list(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """A list of mappings, each with where it is (``file: key[i]``) for messages about it."""
        value = self._get(key, False) or []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self._wrong(key, "a list of mappings")
        return [(f"{self._at(key)}: {key}[{index}]", dict(item)) for index, item in enumerate(value)]

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self._at(unknown[0])}: unknown key {unknown[0]!r}")
