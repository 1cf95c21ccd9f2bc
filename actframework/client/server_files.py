"""The aCT server's data area as storage backends see it (:class:`~actframework.hookspecs.ServerFiles`).

A backend whose storage is the aCT server itself (``actstore``) uploads
through this, so that no backend needs the server's API, its older routes
or the user's token: the core keeps all three.
"""

from __future__ import annotations

from pathlib import Path

from actframework.client.api import ACTClient
from actframework.errors import ActError, StorageError, TransferCancelled
from actframework.hookspecs import SILENT, Caller, Credentials, StorageContext, TransferProgress


class ServerFilesOfClient:
    """:class:`~actframework.hookspecs.ServerFiles` over a user's session with the server."""

    def __init__(self, act: ACTClient) -> None:
        self.act = act

    def upload_input(self, job_id: int, name: str, source: Path, progress: TransferProgress = SILENT) -> str:
        """See :meth:`actframework.hookspecs.ServerFiles.upload_input`."""
        try:
            self.act.upload_input(job_id, name, source, progress=progress.advance)
        except TransferCancelled:
            raise
        except ActError as exc:
            raise StorageError(f"Error uploading file {source}: {exc}") from exc
        progress.file_done()
        return f"{self.act.url}/jobs/{int(job_id)}/data/{name}"


def client_storage_context(
    act: ACTClient,
    *,
    proxy: Path | None = None,
    token: str | None = None,
    ca_dir: Path | None = None,
    progress: TransferProgress = SILENT,
) -> StorageContext:
    """The context of hooks that ``act`` (or a program using :class:`ACTClient`)
    calls: the user's proxy or bearer token and trusted CAs for the
    backend's storage, the server's data area through ``act``. The server's
    token is not given to the backend."""
    return StorageContext(
        caller=Caller.CLIENT,
        credentials=Credentials(proxy=proxy, token=token, ca_dir=ca_dir),
        server=ServerFilesOfClient(act),
        progress=progress,
    )
