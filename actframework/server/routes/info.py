"""``GET /info``: the configured clusters and the job columns users can select."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from actframework.db import JobStore
from actframework.server.deps import Caller, current_caller, get_config, get_store
from actframework.server_config import ServerConfig

router = APIRouter()


@router.get("/info")
def info(
    caller: Caller = Depends(current_caller),
    config: ServerConfig = Depends(get_config),
    store: JobStore = Depends(get_store),
) -> dict[str, Any]:
    """Clusters as configured (aCT returns them unnormalised) and the column
    names of ``arcjobs`` and ``clientjobs`` (for ``act stat --get-cols``)."""
    columns = store.column_names()
    return {"clusters": list(config.clusters), "arc": columns["arc"], "client": columns["client"]}
