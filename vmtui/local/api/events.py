"""`GET /api/v1/events`: the engine's changes pushed as Server-Sent Events.

One event per stored change of a VM or commit of the Vers API (`event: vm` or `event: commit`, data
`{"kind", "id", "change"}` with change `created`, `updated` or `deleted`), `event: resync` when the
client fell too far behind (re-list everything), and a `: keep-alive` comment every
`KEEPALIVE_SECONDS` so clients and proxies can tell a quiet stream from a dead one. The stream opens
with a `: connected` comment and ends when the engine stops. Clients re-list after (re)connecting:
the stream carries no history.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from vmtui.local.api.deps import EngineDep
from vmtui.local.changes import Change
from vmtui.local.engine import Engine

KEEPALIVE_SECONDS = 15.0

router = APIRouter()


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events, one per change of a VM or commit: `event: vm|commit|resync`, "
            '`data: {"kind": ..., "id": ..., "change": "created|updated|deleted"}`; '
            f"a `: keep-alive` comment every {KEEPALIVE_SECONDS:g} s",
        }
    },
)
async def events(engine: EngineDep) -> StreamingResponse:
    """Push instead of polling: re-list on connect, then after each event."""
    return StreamingResponse(
        _stream(engine),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(engine: Engine) -> AsyncIterator[bytes]:
    with engine.changes.subscribe() as subscription:
        yield b": connected\n\n"
        while True:
            try:
                change = await subscription.next(KEEPALIVE_SECONDS)
            except StopAsyncIteration:
                return
            if change is None:
                yield b": keep-alive\n\n"
            elif _visible(engine, change):
                data = json.dumps({"kind": change.kind, "id": change.id, "change": change.change})
                yield f"event: {change.kind}\ndata: {data}\n\n".encode()


def _visible(engine: Engine, change: Change) -> bool:
    """Changes of the Vers API's own rows only (Swiftor users' VMs and commits are not this caller's)."""
    if engine.store is None:
        return False
    if change.kind == "vm":
        vm = engine.store.get_vm(change.id, include_deleted=True)
        return vm is None or vm.owner is None
    if change.kind == "commit":
        commit = engine.store.get_commit(change.id)
        return commit is None or commit.owner is None
    return True
