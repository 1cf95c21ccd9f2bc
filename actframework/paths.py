"""Keeping names that come from outside under the directory they belong to.

Names in job descriptions, CE session listings, server listings and WebDAV
listings are not trusted: ``..``, an absolute path or a symlink could lead a
download or an upload elsewhere on the machine. Every place that joins such
a name to a directory asks :func:`inside` and refuses the name with its own
message when the answer is None.
"""

from __future__ import annotations

import os
from pathlib import Path


def inside(root: Path, name: str | os.PathLike[str]) -> Path | None:
    """``root / name`` with symlinks resolved, or None when that leaves ``root``."""
    target = (root / name).resolve()
    return target if target.is_relative_to(root.resolve()) else None
