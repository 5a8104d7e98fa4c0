"""Pure-ASGI guards in front of the engine's routes.

Order (outermost first): `AccessGate` (rate limit, then authentication from the headers alone, so
an unauthenticated request is answered before one byte of its body is read), `BodyLimit` (413 on a
declared or streamed body over the route's limit), the idempotency middleware (which needs the
caller the gate found), then `InternalErrors` (the last-resort 500).
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from vmtui.local.ratelimit import RateLimiter

log = logging.getLogger("vmtui.local.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorRenderer = Callable[[int, str], Response]
"""Builds an error answer in the API's own shape (Vers `{"success": false, ...}`, Swiftor `{"detail"}`)."""

CALLER_KEY = "vmtui.caller"
"""Scope key under which the gate leaves the authenticated `Caller` for the layers below."""


@dataclass(frozen=True)
class Caller:
    """Who sent an authenticated request. `identity` keys everything kept per caller (idempotency)."""

    identity: str
    email: str | None = None
    plan: str | None = None


@dataclass(frozen=True)
class Rejection:
    status: int
    message: str


Authenticator = Callable[[dict[bytes, bytes]], "Caller | Rejection"]
"""Decides from the request headers alone (lower-case names) who is calling, or why not."""


def caller_of(scope: Scope) -> Caller | None:
    caller = scope.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


class AccessGate:
    """Rate limit per client address (when given a limiter), then authenticate every path but the
    public ones and those under `delegated` (a mounted app with a gate of its own)."""

    def __init__(
        self,
        app: Asgi,
        *,
        authenticate: Authenticator,
        error: ErrorRenderer,
        limiter: RateLimiter | None = None,
        public: frozenset[str] = frozenset(),
        delegated: tuple[str, ...] = (),
    ):
        self.app = app
        self._authenticate = authenticate
        self._error = error
        self._limiter = limiter
        self._public = public
        self._delegated = delegated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # a WebSocket handshake is a request too
            await self.app(scope, receive, send)
            return
        if self._limiter is not None:
            client = (scope.get("client") or ("local", 0))[0]
            wait = self._limiter.acquire(client)
            if wait is not None:
                answer = self._error(429, "rate limit exceeded")
                answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                await answer(scope, receive, send)
                return
        path = scope["path"]
        if path in self._public or (self._delegated and path.startswith(self._delegated)):
            await self.app(scope, receive, send)
            return
        verdict = self._authenticate(_headers(scope))
        if isinstance(verdict, Rejection):
            await self._error(verdict.status, verdict.message)(scope, receive, send)
            return
        scope[CALLER_KEY] = verdict
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """Refuse bodies over `limit_for(scope)` bytes (None: no limit here): at once when Content-Length
    says so, else as soon as the streamed bytes pass it (`BodyTooLarge` raised from `receive`, which
    the routes' HTTP error handling renders as 413; answered here if it escapes before a response
    started)."""

    def __init__(self, app: Asgi, *, limit_for: Callable[[Scope], int | None], error: ErrorRenderer):
        self.app = app
        self._limit_for = limit_for
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit_for(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _headers(scope).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._error(400, "bad Content-Length")(scope, receive, send)
            return
        if declared is not None and int(declared) > limit:
            await self._error(413, BodyTooLarge(limit).detail)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._error(413, str(exc.detail))(scope, receive, send)


class InternalErrors:
    """Turn an unexpected exception into a 500 and one log line: the frames, then the message with
    the engine's secrets blanked out (exception messages may quote anything). Nothing propagates,
    so no server logs the raw message."""

    def __init__(self, app: Asgi, *, secrets: list[str], error: ErrorRenderer):
        self.app = app
        self._secrets = [secret for secret in secrets if secret]
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BodyTooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, answer 500
            message = f"{type(exc).__name__}: {exc}"
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("internal error on %s %s\n%s%s", scope["method"], scope["path"], frames, message)
            if not started:
                await self._error(500, "internal error")(scope, receive, send)
