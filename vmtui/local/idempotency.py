"""`X-Idempotency-Key` for mutating routes: a repeated request gets the first answer replayed.

Pure ASGI middleware (request bodies still stream through untouched). Answers are kept in the
store for an hour; a duplicate that arrives while the first is still running waits for it.
Server errors (5xx), auth failures and rate-limit answers are not kept: retrying those must act.
Nor are answers over MAX_STORED_BYTES (long exec streams): those are not held in memory twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from vmtui.local.store import Store, StoredResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-idempotency-key"
MAX_AGE_SECONDS = 3600.0
MAX_STORED_BYTES = 1024 * 1024
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_NOT_KEPT = {401, 403, 429}


class IdempotencyMiddleware:
    def __init__(self, app: App, store: Store, *, max_age: float = MAX_AGE_SECONDS):
        self.app = app
        self.store = store
        self.max_age = max_age
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiters: dict[tuple[str, str], int] = {}
        self._purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _idempotency_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        self._purge_expired()
        where = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode('latin-1')}"
        slot = (key, where)
        self._waiters[slot] = self._waiters.get(slot, 0) + 1
        lock = self._locks.setdefault(slot, asyncio.Lock())
        try:
            async with lock:
                stored = self.store.get_response(key, where, max_age=self.max_age)
                if stored is not None:
                    await _replay(stored, send)
                    return
                await self._run_and_keep(scope, receive, send, key, where)
        finally:
            self._waiters[slot] -= 1
            if not self._waiters[slot]:
                del self._waiters[slot]
                del self._locks[slot]

    def _purge_expired(self) -> None:
        """Drop expired answers now and then (at most every tenth of their lifetime)."""
        now = time.time()
        if now - self._purged_at >= self.max_age / 10:
            self.store.purge_responses(older_than=now - self.max_age)
            self._purged_at = now

    async def _run_and_keep(self, scope: Scope, receive: Receive, send: Send, key: str, where: str) -> None:
        status = 0
        content_type: str | None = None
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body" and size <= MAX_STORED_BYTES:
                chunk = message.get("body", b"")
                size += len(chunk)
                chunks.append(chunk)
                if size > MAX_STORED_BYTES:
                    chunks.clear()
                keep = size <= MAX_STORED_BYTES and status < 500 and status not in _NOT_KEPT
                if not message.get("more_body", False) and keep:
                    self.store.put_response(
                        key, where, StoredResponse(status, b"".join(chunks), content_type, time.time())
                    )
            await send(message)

        await self.app(scope, receive, capture)


def _idempotency_key(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] not in _MUTATING:
        return None
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER:
            key = value.decode("latin-1").strip()
            return key[:255] or None
    return None


async def _replay(stored: StoredResponse, send: Send) -> None:
    headers = [(b"content-length", str(len(stored.body)).encode()), (b"idempotent-replayed", b"true")]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
