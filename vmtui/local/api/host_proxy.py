"""Host-routed reverse proxy into Swiftor VMs (pure ASGI, in front of the engine's app).

`{name}-{vmid}.<domain>` reaches the port of networking mapping `name`, `{vmid}.<domain>` the ports its
distribution serves (seed 003: the default port, and an extra route's port for paths under it, e.g.
`/manage` on 3000 for emulatorjs); every other host goes on to the app. The request travels over a connection the sandbox
opens in the VM's own network namespace; h11 frames one HTTP/1.1 exchange. These URLs are public by
design (the service in the VM decides who may use it), so nothing here authenticates; a body with a
declared length streams through, one without is read up to MAX_PROXY_BODY, and a larger one is 413.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import h11
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from vmtui.core.errors import ProviderError
from vmtui.core.swiftor_plans import DISTRIBUTIONS
from vmtui.local.api.guards import Asgi, Receive, Scope, Send
from vmtui.local.api.swiftor import SwiftorContext, SwiftorFailure, detail_response
from vmtui.local.sandbox import SandboxError

MAX_PROXY_BODY = 64 * 1024 * 1024
PROXY_TIMEOUT = 60.0
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
_VMID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class HostProxy:
    def __init__(self, app: Asgi, context: SwiftorContext):
        self.app = app
        self.ctx = context
        self._host = re.compile(
            rf"^(?:(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-)?(?P<vmid>{_VMID})\.{re.escape(context.domain)}$"
        )

    def target(self, host_header: str | None) -> tuple[str | None, str] | None:
        host = (host_header or "").lower().rsplit(":", 1)[0] if host_header else ""
        match = self._host.match(host)
        return (match["name"], match["vmid"]) if match else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.target(Headers(scope=scope).get("host")) if scope["type"] == "http" else None
        if target is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await self._forward(Request(scope, receive), *target)
        except SwiftorFailure as exc:
            response = detail_response(exc.status, exc.detail)
        await response(scope, receive, send)

    async def _forward(self, request: Request, name: str | None, vmid: str) -> Response:
        vm = await asyncio.to_thread(self.ctx.store.find_vm, vmid)
        if vm is None:
            raise SwiftorFailure(404, "VM not found")
        if name is None:
            port = _route_port(vm.distribution, request.url.path)
        else:
            mapping = await asyncio.to_thread(self.ctx.store.mapping, vmid, name)
            if mapping is None:
                raise SwiftorFailure(404, f"No mapping {name!r} on this VM")
            port = mapping.port
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_PROXY_BODY):
            raise SwiftorFailure(413, "request body too large")
        try:
            sandbox = await self.ctx.engine.sandbox_for(vmid)
        except ProviderError:
            raise SwiftorFailure(502, "VM is not running") from None
        try:
            reader, writer = await asyncio.wait_for(sandbox.open_tcp(port), PROXY_TIMEOUT)
        except (TimeoutError, OSError, SandboxError):
            raise SwiftorFailure(502, f"nothing answers on port {port} in the VM") from None
        relay = _Relay(reader, writer)
        try:
            await relay.send_request(request, int(declared) if declared is not None else None)
            status, headers = await asyncio.wait_for(relay.response_head(), PROXY_TIMEOUT)
        except SwiftorFailure:
            relay.close()
            raise
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            relay.close()
            raise SwiftorFailure(
                502, f"the service on port {port} in the VM gave no valid HTTP answer"
            ) from None
        response = StreamingResponse(relay.body(), status_code=status)
        response.raw_headers = headers
        return response


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
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _NOT_RELAYED]
        client = request.client.host if request.client else "127.0.0.1"
        headers += [
            (b"host", request.headers.get("host", "").encode("latin-1")),
            (b"content-length", str(length).encode()),
            (b"connection", b"close"),
            (b"x-forwarded-for", client.encode()),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
            (b"x-forwarded-proto", request.url.scheme.encode()),
        ]
        target = request.scope.get("raw_path") or request.url.path.encode()
        if request.scope.get("query_string"):
            target += b"?" + request.scope["query_string"]
        await self._write(self._conn.send(h11.Request(method=request.method, target=target, headers=headers)))
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
