"""Dependencies of the Vers routes: the engine the app was built over, and the VM list's encoded rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vmtui.local.api.listed_rows import ListedRows
from vmtui.local.engine import Engine


async def get_engine(request: Request) -> Engine:
    """`async` on purpose: FastAPI runs a plain `def` dependency in its threadpool, a thread hop on
    every request for an attribute lookup."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_listed_rows(request: Request) -> ListedRows:
    listed: ListedRows = request.app.state.listed_rows
    return listed


ListedRowsDep = Annotated[ListedRows, Depends(get_listed_rows)]
