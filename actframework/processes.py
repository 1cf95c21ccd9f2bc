"""Naming this process so that others on the host can tell whether it still runs.

Engine leases and the server's upload temporaries carry ``<host>:<pid>``:
whoever finds one left behind can tell, on the same host, whether its
process died (a crash, a SIGKILL) and clean up after it at once, while
things of live processes, and of other hosts sharing the database or the
data directory, are left alone.
"""

from __future__ import annotations

import os
import socket


def _host() -> str:
    """This host's name as lease owners carry it (the owner column is 64 wide)."""
    return socket.gethostname()[:48]


def process_owner() -> str:
    """This process's name: ``<host>:<pid>``. The host part lets a restarted
    engine recognise (and free at once) the leases of a dead engine process
    on the same host, and a server the upload temporaries of a dead one."""
    return f"{_host()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != _host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
