"""`X-Idempotency-Key` for mutating routes: a repeated request gets the first answer replayed.

A record belongs to one caller (the `Caller` the access gate authenticated: a token identity, or a
Swiftor user) and one method + path + query + key, and remembers the hash of the request body:
* no caller (unauthenticated, or a path the gate leaves open) → nothing is looked up or kept;
* another caller reusing the key never sees the first caller's answer (a separate record);
* the same caller reusing the key with a different body gets 422 and nothing runs.

Only successful answers (2xx) are kept, for an hour: a refused or failed request changed nothing,
so its retry must act. Nor are answers over MAX_STORED_BYTES (long exec streams) kept, and bodies
over MAX_HASHED_BODY (rootfs uploads, which are replaced whole anyway) stream through unkeyed.
A duplicate that arrives while the first is still running waits for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from vmtui.local.api.guards import Asgi, ErrorRenderer, Message, Receive, Scope, Send, caller_of
from vmtui.local.store import Store, StoredResponse

HEADER = b"x-idempotency-key"
MAX_AGE_SECONDS = 3600.0
MAX_STORED_BYTES = 1024 * 1024
MAX_HASHED_BODY = 16 * 1024 * 1024
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class IdempotencyMiddleware:
    def __init__(self, app: Asgi, store: Store, *, error: ErrorRenderer, max_age: float = MAX_AGE_SECONDS):
        self.app = app
        self.store = store
        self.max_age = max_age
        self._error = error
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiters: dict[tuple[str, str], int] = {}
        self._purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _idempotency_key(scope)
        caller = caller_of(scope)
        if key is None or caller is None:
            await self.app(scope, receive, send)
            return
        chunks, complete = await _read_body(receive, MAX_HASHED_BODY)
        if chunks is None:
            return  # the client went away mid-body: nothing to run, nobody to answer
        replay_receive = _replaying(chunks, complete, receive)
        if not complete:
            await self.app(scope, replay_receive, send)
            return
        body_hash = hashlib.sha256(b"".join(chunks)).hexdigest()
        await self._purge_expired()
        query = scope.get("query_string", b"").decode("latin-1")
        where = f"{caller.identity} {scope['method']} {scope['path']}?{query}"
        slot = (key, where)
        self._waiters[slot] = self._waiters.get(slot, 0) + 1
        lock = self._locks.setdefault(slot, asyncio.Lock())
        try:
            async with lock:
                stored = await asyncio.to_thread(self.store.get_response, key, where, max_age=self.max_age)
                if stored is None:
                    await self._run_and_keep(scope, replay_receive, send, key, where, body_hash)
                elif stored.body_hash != body_hash:
                    message = "X-Idempotency-Key was already used with a different request body"
                    await self._error(422, message)(scope, replay_receive, send)
                else:
                    await _replay(stored, send)
        finally:
            self._waiters[slot] -= 1
            if not self._waiters[slot]:
                del self._waiters[slot]
                del self._locks[slot]

    async def _purge_expired(self) -> None:
        """Drop expired answers now and then (at most every tenth of their lifetime)."""
        now = time.time()
        if now - self._purged_at >= self.max_age / 10:
            self._purged_at = now
            await asyncio.to_thread(self.store.purge_responses, older_than=now - self.max_age)

    async def _run_and_keep(
        self, scope: Scope, receive: Receive, send: Send, key: str, where: str, body_hash: str
    ) -> None:
        status = 0
        content_type: str | None = None
        chunks: list[bytes] = []
        size = 0
        finished = False

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size, finished
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
                finished = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if finished and size <= MAX_STORED_BYTES and 200 <= status < 300:
            record = StoredResponse(status, b"".join(chunks), content_type, time.time(), body_hash)
            await asyncio.to_thread(self.store.put_response, key, where, record)


def _idempotency_key(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] not in _MUTATING:
        return None
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER:
            key = value.decode("latin-1").strip()
            return key[:255] or None
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[bytes] | None, bool]:
    """The request body's chunks, up to about `limit` bytes, and True when that was all of it;
    None when the client disconnected before sending all of it."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return None, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return chunks, True
    return chunks, False


def _replaying(chunks: list[bytes], complete: bool, receive: Receive) -> Receive:
    """A `receive` that hands out the chunks already read, then the rest of the stream."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or not complete}
        return await receive()

    return replay


async def _replay(stored: StoredResponse, send: Send) -> None:
    headers = [(b"content-length", str(len(stored.body)).encode()), (b"idempotent-replayed", b"true")]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
