"""Dependencies of the Vers routes: the engine the app was built over."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vmtui.local.engine import Engine


async def get_engine(request: Request) -> Engine:
    """`async` on purpose: FastAPI runs a plain `def` dependency in its threadpool, a thread hop on
    every request for an attribute lookup."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
