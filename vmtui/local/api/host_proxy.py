"""Host-routed reverse proxy into VMs (pure ASGI, in front of the engine's app).

Two ways pick the target, one relay carries the traffic. Swiftor: `{name}-{vmid}.<domain>` reaches the
port of networking mapping `name`, `{vmid}.<domain>` the ports its distribution serves (seed 003: the
default port, and an extra route's port for paths under it, e.g. `/manage` on 3000 for emulatorjs).
Vers: a Host registered through `/api/v1/domains` reaches DOMAIN_PORT of the VM it points to (the
domain record names no port). Every other host goes on to the app, so nothing but those ports is ever
reachable. The traffic travels over a connection the sandbox opens in the VM's own network namespace:
h11 frames one HTTP/1.1 exchange, whose response streams back chunk by chunk as it arrives (chunked,
server-sent events); a WebSocket upgrade is relayed message by message (wsproto on the VM's side),
close frames included. These URLs are public by design (the service in the VM decides who may use
it), so nothing here authenticates; a body with a declared length streams through, one without is
read up to MAX_PROXY_BODY, and a larger one is 413. A response silent for PROXY_TIMEOUT between two
chunks is cut (like nginx's proxy_read_timeout: event streams send keep-alives); a WebSocket has no
idle limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import h11
import wsproto
import wsproto.events as ws
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from vmtui.core.errors import ProviderError
from vmtui.core.swiftor_plans import DISTRIBUTIONS
from vmtui.local.api.guards import Asgi, Receive, Scope, Send
from vmtui.local.api.swiftor import SwiftorContext, SwiftorFailure, detail_response
from vmtui.local.catalog import DOMAIN_RE
from vmtui.local.engine import Engine
from vmtui.local.sandbox import SandboxError

MAX_PROXY_BODY = 64 * 1024 * 1024
PROXY_TIMEOUT = 60.0
DOMAIN_PORT = 80
"""Where a Vers domain's traffic goes in its VM: the HTTP port its visitors' browsers use."""
MAX_WS_MESSAGE = 16 * 1024 * 1024
"""The largest WebSocket message relayed from a VM (uvicorn's own limit the other way)."""
CLOSE_GRACE = 10.0
"""How long a closed WebSocket side waits for the other side's close frame."""
_NOT_RELAYED = frozenset(  # hop-by-hop headers, and the framing/host headers the relay sets itself
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
_WS_HANDSHAKE = frozenset(  # set by each side's WebSocket library for its own connection
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
)
_VMID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class _Target:
    vmid: str
    port: int


class HostProxy:
    def __init__(self, app: Asgi, engine: Engine, swiftor: SwiftorContext | None = None):
        self.app = app
        self.engine = engine
        self.swiftor = swiftor
        self._swiftor_host = (
            re.compile(
                rf"^(?:(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-)?(?P<vmid>{_VMID})\.{re.escape(swiftor.domain)}$"
            )
            if swiftor is not None
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = (Headers(scope=scope).get("host") or "").lower().rsplit(":", 1)[0]
        try:
            target = await self._target(host, scope["path"])
            if target is None:
                await self.app(scope, receive, send)
                return
            if scope["type"] == "websocket":
                await self._relay_websocket(WebSocket(scope, receive, send), target)
                return
            response = await self._forward(Request(scope, receive), target)
        except SwiftorFailure as exc:
            response = detail_response(exc.status, exc.detail)
        await _answer(scope, receive, send, response)

    async def _target(self, host: str, path: str) -> _Target | None:
        """The VM and port `host` routes to; None for a host that is not a VM's (the API's own)."""
        match = self._swiftor_host.match(host) if self._swiftor_host is not None else None
        if match is not None:
            return await self._swiftor_target(match["name"], match["vmid"], path)
        if self.engine.store is not None and DOMAIN_RE.fullmatch(host):
            domain = await asyncio.to_thread(self.engine.catalog.domain_for_host, host)
            if domain is not None:
                return _Target(domain.vm_id, DOMAIN_PORT)
        return None

    async def _swiftor_target(self, name: str | None, vmid: str, path: str) -> _Target:
        assert self.swiftor is not None
        vm = await asyncio.to_thread(self.swiftor.store.find_vm, vmid)
        if vm is None:
            raise SwiftorFailure(404, "VM not found")
        if name is None:
            return _Target(vmid, _route_port(vm.distribution, path))
        mapping = await asyncio.to_thread(self.swiftor.store.mapping, vmid, name)
        if mapping is None:
            raise SwiftorFailure(404, f"No mapping {name!r} on this VM")
        return _Target(vmid, mapping.port)

    async def _connect(self, target: _Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            sandbox = await self.engine.sandbox_for(target.vmid)
        except ProviderError:
            raise SwiftorFailure(502, "VM is not running") from None
        try:
            return await asyncio.wait_for(sandbox.open_tcp(target.port), PROXY_TIMEOUT)
        except (TimeoutError, OSError, SandboxError):
            raise SwiftorFailure(502, f"nothing answers on port {target.port} in the VM") from None

    async def _forward(self, request: Request, target: _Target) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_PROXY_BODY):
            raise SwiftorFailure(413, "request body too large")
        relay = _Relay(*await self._connect(target))
        try:
            await relay.send_request(request, int(declared) if declared is not None else None)
            status, headers = await asyncio.wait_for(relay.response_head(), PROXY_TIMEOUT)
        except SwiftorFailure:
            relay.close()
            raise
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            relay.close()
            raise SwiftorFailure(
                502, f"the service on port {target.port} in the VM gave no valid HTTP answer"
            ) from None
        response = StreamingResponse(relay.body(), status_code=status)
        response.raw_headers = headers
        return response

    async def _relay_websocket(self, client: WebSocket, target: _Target) -> None:
        """Open the same WebSocket to the VM; if it accepts, accept the client and relay messages both
        ways until either side closes; if it refuses, pass its HTTP answer on. Raises SwiftorFailure
        (before accepting) when the VM gives no WebSocket answer."""
        upstream = _WebSocketUpstream(*await self._connect(target))
        try:
            try:
                answer = await asyncio.wait_for(upstream.handshake(client.scope), PROXY_TIMEOUT)
            except (
                TimeoutError,
                OSError,
                LocalProtocolError,
                RemoteProtocolError,
                asyncio.IncompleteReadError,
            ):
                detail = f"the service on port {target.port} in the VM gave no valid WebSocket answer"
                raise SwiftorFailure(502, detail) from None
            if isinstance(answer, Response):
                await _answer(client.scope, client.receive, client.send, answer)
                return
            await client.accept(subprotocol=answer.subprotocol, headers=answer.extra_headers)
            await upstream.pump(client)
        finally:
            upstream.close()


class _Relay:
    """One HTTP/1.1 exchange with a server inside a VM (h11 does the framing)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._conn = h11.Connection(h11.CLIENT)

    async def send_request(self, request: Request, length: int | None) -> None:
        """Send the request: a declared body streams through; an undeclared one (chunked from the
        client) is read first, up to MAX_PROXY_BODY, and sent with its length."""
        chunks: AsyncIterator[bytes] = request.stream()
        if length is None:
            body = await _read_bounded(chunks)
            length, chunks = len(body), _once(body)
        headers = _forwarded_headers(request.scope, _NOT_RELAYED)
        headers += [
            (b"host", request.headers.get("host", "").encode("latin-1")),
            (b"content-length", str(length).encode()),
            (b"connection", b"close"),
        ]
        await self._write(
            self._conn.send(
                h11.Request(method=request.method, target=_target_of(request.scope), headers=headers)
            )
        )
        async for chunk in chunks:
            if chunk:
                await self._write(self._conn.send(h11.Data(data=chunk)))
        await self._write(self._conn.send(h11.EndOfMessage()))

    async def response_head(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The response status and headers (repeated ones kept)."""
        event = await self._next_event()
        while not isinstance(event, h11.Response):
            if not isinstance(event, h11.InformationalResponse):
                raise h11.RemoteProtocolError("no response")
            event = await self._next_event()
        kept = [
            (key, value)
            for key, value in event.headers
            if key.decode("latin-1") not in _NOT_RELAYED or key == b"content-length"
        ]
        return event.status_code, kept

    async def body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                event = await asyncio.wait_for(self._next_event(), PROXY_TIMEOUT)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return
        finally:
            self.close()

    async def _write(self, data: bytes | None) -> None:
        if data:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), PROXY_TIMEOUT)

    async def _next_event(self) -> Any:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._conn.receive_data(await self._reader.read(65536))

    def close(self) -> None:
        self._writer.close()


class _WebSocketUpstream:
    """The WebSocket to the server inside a VM (wsproto does the framing), relayed to the client's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._events: deque[ws.Event] = deque()

    async def handshake(self, scope: Scope) -> ws.AcceptConnection | Response:
        """Send the upgrade request; the server's acceptance, or its refusal as an HTTP response."""
        headers = Headers(scope=scope)
        request = ws.Request(
            host=headers.get("host", ""),
            target=_target_of(scope).decode("latin-1"),
            extra_headers=_forwarded_headers(scope, _NOT_RELAYED | _WS_HANDSHAKE),
            subprotocols=list(scope.get("subprotocols", [])),
        )
        await self._send(request)
        event = await self._next_event()
        if isinstance(event, ws.AcceptConnection):
            return event
        if not isinstance(event, ws.RejectConnection):
            raise RemoteProtocolError("no handshake answer")
        body = bytearray()
        more = event.has_body
        while more:
            data = await self._next_event()
            if not isinstance(data, ws.RejectData):
                raise RemoteProtocolError("no refusal body")
            body += data.data
            if len(body) > MAX_PROXY_BODY:
                raise RemoteProtocolError("refusal body too large")
            more = not data.body_finished
        response = Response(bytes(body), status_code=event.status_code)
        response.raw_headers = [
            *((key, value) for key, value in event.headers if key.decode("latin-1") not in _NOT_RELAYED),
            (b"content-length", str(len(body)).encode()),
        ]
        return response

    async def pump(self, client: WebSocket) -> None:
        """Relay until either side closes; the side that closed first gets the other's close frame
        relayed back (within CLOSE_GRACE)."""
        to_vm = asyncio.create_task(self._client_to_vm(client))
        to_client = asyncio.create_task(self._vm_to_client(client))
        done, _ = await asyncio.wait({to_vm, to_client}, return_when=asyncio.FIRST_COMPLETED)
        if to_vm in done:
            await asyncio.wait({to_client}, timeout=CLOSE_GRACE)
        for task in (to_vm, to_client):
            task.cancel()
        for task in (to_vm, to_client):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _client_to_vm(self, client: WebSocket) -> None:
        try:
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    code = _sendable(message.get("code", 1000), fallback=1001)
                    await self._send(ws.CloseConnection(code=code, reason=message.get("reason") or None))
                    return
                if message.get("text") is not None:
                    await self._send(ws.TextMessage(data=message["text"]))
                elif message.get("bytes") is not None:
                    await self._send(ws.BytesMessage(data=message["bytes"]))
        except (OSError, TimeoutError, LocalProtocolError):
            return  # the VM's side is gone; the other task closes the client

    async def _vm_to_client(self, client: WebSocket) -> None:
        parts: list[Any] = []
        size = 0
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, ws.Message):
                    parts.append(event.data)
                    size += len(event.data)
                    if size > MAX_WS_MESSAGE:
                        await client.close(1009, "message too big")
                        return
                    if event.message_finished:
                        if isinstance(event, ws.TextMessage):
                            await client.send_text("".join(parts))
                        else:
                            await client.send_bytes(b"".join(parts))
                        parts, size = [], 0
                elif isinstance(event, ws.Ping):
                    await self._send(event.response())
                elif isinstance(event, ws.CloseConnection):
                    with contextlib.suppress(OSError, TimeoutError, LocalProtocolError):
                        await self._send(event.response())
                    await client.close(_sendable(event.code, fallback=1011), event.reason)
                    return
        except (OSError, TimeoutError, RemoteProtocolError, asyncio.IncompleteReadError):
            with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
                await client.close(1011, "the VM's side of the WebSocket failed")
        except (RuntimeError, WebSocketDisconnect):
            return  # the client is gone (Starlette refuses sends after a close)

    async def _send(self, event: ws.Event) -> None:
        self._writer.write(self._conn.send(event))
        await asyncio.wait_for(self._writer.drain(), PROXY_TIMEOUT)

    async def _next_event(self) -> ws.Event:
        while not self._events:
            data = await self._reader.read(65536)
            self._conn.receive_data(data or None)
            self._events.extend(self._conn.events())
            if not data and not self._events:
                raise asyncio.IncompleteReadError(b"", None)
        return self._events.popleft()

    def close(self) -> None:
        self._writer.close()


def _forwarded_headers(scope: Scope, dropped: frozenset[str]) -> list[tuple[bytes, bytes]]:
    """The client's headers minus `dropped`, plus the X-Forwarded-* a VM service needs (the caller
    sends the Host: h11 or wsproto insists on setting it)."""
    host = Headers(scope=scope).get("host", "").encode("latin-1")
    client = scope.get("client")
    scheme = scope.get("scheme", "http")
    proto = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in dropped]
    return [
        *headers,
        (b"x-forwarded-for", (client[0] if client else "127.0.0.1").encode()),
        (b"x-forwarded-host", host),
        (b"x-forwarded-proto", proto.encode()),
    ]


def _target_of(scope: Scope) -> bytes:
    target: bytes = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return target


def _sendable(code: int, fallback: int) -> int:
    """A close code that may go on the wire: 1005 (none given) becomes 1000; 1006 and 1015 (only
    ever reported locally) become `fallback`."""
    return {1005: 1000, 1006: fallback, 1015: fallback}.get(code, code)


async def _answer(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """Send `response`; a WebSocket handshake gets it as its HTTP answer where the server supports
    that (uvicorn does), else a plain refusal (403)."""
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)
    else:
        await WebSocket(scope, receive, send).close(1008)


def _route_port(distribution: str, path: str) -> int:
    """The port of the distribution's route whose path prefixes `path`, else its default port."""
    known = DISTRIBUTIONS.get(distribution)
    if known is None:
        raise SwiftorFailure(404, f"distribution {distribution!r} serves no known port")
    for route in known.extra_routes:
        if path == route.path or path.startswith(route.path + "/"):
            return route.port
    return known.default.port


async def _read_bounded(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_PROXY_BODY:
            raise SwiftorFailure(413, "request body too large")
    return bytes(body)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
