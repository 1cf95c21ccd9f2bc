"""Finding the user's bearer token as WLCG Bearer Token Discovery says.

In order, the first that is set wins:

1. ``$BEARER_TOKEN``: the token itself;
2. ``$BEARER_TOKEN_FILE``: a file holding it;
3. ``$XDG_RUNTIME_DIR/bt_u<uid>``;
4. ``/tmp/bt_u<uid>``.

A variable that is set but empty counts as not set; a file named by
``BEARER_TOKEN_FILE`` that cannot be read is an error (the user asked for
it), while the two default places are simply skipped when absent. The token
is the file's content with surrounding white space removed; a token with
white space inside it is refused (it would be several tokens). The token
is never printed or logged; what is reported is where it came from.

``act token`` also reads secrets from files the user names
(:func:`read_secret`): ``--token-file`` instead of the discovery, and the
refresh token and client secret of a refresh grant, which must be private
to the user (no permission for group or others), as ssh insists for keys:
unlike an access token, they stay valid for long.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from actframework.errors import ConfigError


@dataclass(frozen=True)
class DiscoveredToken:
    """A token and where it was found (for messages; never the token itself)."""

    token: str = field(repr=False)
    source: str


def discovery_places(environ: Mapping[str, str] | None = None, uid: int | None = None) -> list[tuple[str, Path]]:
    """The files the discovery looks at after the variables, in order."""
    env = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    places: list[tuple[str, Path]] = []
    if env.get("BEARER_TOKEN_FILE"):
        places.append(("BEARER_TOKEN_FILE", Path(env["BEARER_TOKEN_FILE"])))
    if env.get("XDG_RUNTIME_DIR"):
        places.append(("XDG_RUNTIME_DIR", Path(env["XDG_RUNTIME_DIR"]) / f"bt_u{uid}"))
    places.append(("default", Path(f"/tmp/bt_u{uid}")))
    return places


def discover_token(environ: Mapping[str, str] | None = None, uid: int | None = None) -> DiscoveredToken:
    """The user's token; ConfigError saying where it looked when there is none."""
    env = os.environ if environ is None else environ
    if env.get("BEARER_TOKEN", "").strip():
        return DiscoveredToken(_checked(env["BEARER_TOKEN"], "$BEARER_TOKEN"), "$BEARER_TOKEN")
    looked: list[str] = ["$BEARER_TOKEN"]
    for kind, path in discovery_places(env, uid):
        looked.append(str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if kind == "BEARER_TOKEN_FILE":
                raise ConfigError(f"BEARER_TOKEN_FILE names {path}, which does not exist") from None
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        if not text.strip():
            if kind == "BEARER_TOKEN_FILE":
                raise ConfigError(f"the token file {path} (BEARER_TOKEN_FILE) is empty")
            continue
        return DiscoveredToken(_checked(text, str(path)), str(path))
    raise ConfigError(
        "no bearer token found (looked at " + ", ".join(looked) + "); get one from your "
        "token issuer, e.g. with oidc-token, and put it in one of those places"
    )


def read_secret(path: Path, what: str, *, private: bool = False) -> str:
    """The one word in the file ``path`` (a token or a secret, called
    ``what`` in messages); ConfigError if it is missing, unreadable, empty
    or, with ``private``, open to group or others."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"the {what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if private and mode & 0o077:
        raise ConfigError(f"the {what} {path} may be read by others; make it private first: chmod 600 {path}")
    if not text.strip():
        raise ConfigError(f"the {what} {path} is empty")
    return _checked(text, str(path))


def _checked(text: str, where: str) -> str:
    token = text.strip()
    if any(character.isspace() for character in token):
        raise ConfigError(f"{where} holds more than one word; a bearer token is one")
    return token
