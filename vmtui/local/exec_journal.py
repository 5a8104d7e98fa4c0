"""Exec sessions that outlive their HTTP stream: today's Vers `exec/stream`, `exec/stream/attach` and
`logs`.

`ExecJournal.start` takes a running command's events (`Engine.exec_stream`), pumps them in a task of
its own and keeps the last `backlog_bytes` of them per session with increasing cursors, so a client
whose stream broke re-attaches by `exec_id` and gets what it missed (from a cursor, the whole
retained backlog, or only what comes next). Output chunks also go to the VM's exec log, an NDJSON
file under the engine's state dir (never inside the VM's own file system), read back by byte offset.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmtui.core.errors import BadRequest, Conflict, NotFound, ProviderError
from vmtui.local.store import utc_now

BACKLOG_BYTES = 4 * 1024 * 1024
"""Output retained per session for re-attaching (oldest chunks are dropped first)."""
SESSIONS_KEPT = 256
"""Finished sessions remembered for a late attach (oldest forgotten first)."""
LOG_MAX_BYTES = 64 * 1024 * 1024
"""A VM's exec log stops growing here; later output is streamed but not logged."""
STREAMS = ("stdout", "stderr")

Event = dict[str, Any]
Events = AsyncGenerator[tuple[str, bytes | int], None]
"""What `Engine.exec_stream` yields: ("stdout"|"stderr", chunk) events, then ("exit", code)."""


@dataclass
class _Session:
    vm_id: str
    exec_id: str
    events: list[Event] = field(default_factory=list)
    size: int = 0
    cursor: int = 0
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class ExecJournal:
    """Running and recent exec sessions of one engine, and the VMs' exec logs."""

    def __init__(self, log_dir: Path, *, backlog_bytes: int = BACKLOG_BYTES):
        self.log_dir = log_dir
        self.backlog_bytes = backlog_bytes
        self._sessions: dict[str, _Session] = {}

    async def start(self, vm_id: str, exec_id: str, events: Events) -> str:
        """Run the session in the background; errors before its first event (VM paused, gone) are
        raised here so the caller can answer with their status."""
        if exec_id in self._sessions and not self._sessions[exec_id].done:
            raise Conflict(f"exec session {exec_id} is still running")
        try:
            first = await anext(events)
        except StopAsyncIteration:
            raise ProviderError("the command produced no events") from None
        session = _Session(vm_id, exec_id)
        self._sessions.pop(exec_id, None)
        self._sessions[exec_id] = session
        self._forget_old()
        self._add(session, first)
        session.task = asyncio.create_task(self._pump(session, events), name=f"exec-{exec_id}")
        return exec_id

    async def follow(
        self, vm_id: str, exec_id: str, *, cursor: int | None = None, from_latest: bool = False
    ) -> AsyncIterator[Event]:
        """The session's events after `cursor` (all retained ones when None; only new ones with
        `from_latest`), then live ones until it ends. Breaking off leaves the command running."""
        session = self._sessions.get(exec_id)
        if session is None or session.vm_id != vm_id:
            raise NotFound(f"exec session not found: {exec_id}")
        seen = session.cursor if from_latest else (cursor or 0)
        while True:
            fresh = [event for event in session.events if event["cursor"] > seen]
            for event in fresh:
                seen = event["cursor"]
                yield event
            if session.done and seen >= session.cursor:
                return
            session.changed.clear()
            if session.cursor > seen:
                continue
            await session.changed.wait()

    def logs(
        self, vm_id: str, *, offset: int = 0, max_entries: int = 1000, stream: str | None = None
    ) -> tuple[list[Event], int, bool]:
        """(entries, next offset, eof) of the VM's exec log from byte `offset`."""
        if stream is not None and stream not in STREAMS:
            raise BadRequest("stream must be stdout or stderr")
        path = self._log_path(vm_id)
        entries: list[Event] = []
        if not path.exists():
            return entries, 0, True
        with path.open("rb") as handle:
            handle.seek(offset)
            if offset and not self._at_line_start(handle, offset):
                raise BadRequest(f"offset {offset} is not the start of a log entry")
            while len(entries) < max_entries:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    return entries, offset, True
                offset += len(line)
                entry = json.loads(line)
                if stream is None or entry["stream"] == stream:
                    entries.append(entry)
            eof = handle.read(1) == b""
        return entries, offset, eof

    async def close(self) -> None:
        """Stop every running session (their commands are killed)."""
        tasks = [s.task for s in self._sessions.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def forget_vm(self, vm_id: str) -> None:
        """A deleted VM's log goes with it."""
        with contextlib.suppress(FileNotFoundError):
            self._log_path(vm_id).unlink()

    # -- internals ----------------------------------------------------------------------------

    async def _pump(self, session: _Session, events: Events) -> None:
        try:
            async for kind, data in events:
                self._add(session, (kind, data))
        except ProviderError as exc:
            code = "timeout" if exc.status == 408 else "exec_failed"
            self._append(session, {"type": "error", "code": code, "message": exc.message})
        finally:
            await events.aclose()
            session.done = True
            session.changed.set()

    def _add(self, session: _Session, event: tuple[str, bytes | int]) -> None:
        kind, data = event
        if isinstance(data, int):
            self._append(session, {"type": "exit", "exit_code": data})
            return
        encoded = base64.b64encode(data).decode()
        self._append(session, {"type": "chunk", "stream": kind, "data_b64": encoded})
        self._log(session, kind, encoded)

    def _append(self, session: _Session, event: Event) -> None:
        session.cursor += 1
        event = {**event, "exec_id": session.exec_id, "cursor": session.cursor}
        session.events.append(event)
        session.size += len(event.get("data_b64", ""))
        while session.size > self.backlog_bytes and len(session.events) > 1:
            session.size -= len(session.events.pop(0).get("data_b64", ""))
        session.changed.set()

    def _log(self, session: _Session, stream: str, data_b64: str) -> None:
        path = self._log_path(session.vm_id)
        entry = {"exec_id": session.exec_id, "stream": stream, "data_b64": data_b64, "timestamp": utc_now()}
        line = json.dumps(entry).encode() + b"\n"
        self.log_dir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            if os.fstat(fd).st_size + len(line) <= LOG_MAX_BYTES:
                os.write(fd, line)
        finally:
            os.close(fd)

    def _log_path(self, vm_id: str) -> Path:
        return self.log_dir / f"{vm_id}.ndjson"

    @staticmethod
    def _at_line_start(handle: Any, offset: int) -> bool:
        handle.seek(offset - 1)
        at_start: bool = handle.read(1) == b"\n"
        return at_start

    def _forget_old(self) -> None:
        finished = [exec_id for exec_id, s in self._sessions.items() if s.done]
        for exec_id in finished[: max(0, len(self._sessions) - SESSIONS_KEPT)]:
            del self._sessions[exec_id]
