"""A tiny HTTP/1.1 server on 127.0.0.1 that speaks the Vers list routes and injects faults on demand.

Raw asyncio rather than a framework, so it can also send what no framework would: a body shorter than
its Content-Length, a connection closed without an answer, bytes that are not HTTP at all. Set
`server.fault` to one of `FAULTS` (or None for healthy answers); `server.requests` counts what arrived.
The `slow` fault never answers: it waits for the client to give up and counts that in `server.abandoned`
(so a test proves the client's timeout without measuring time).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

FAULTS = ("429", "503", "slow", "truncated", "malformed", "wrong_type", "drop", "not_http", "schema")
HEALTHY_VMS = [
    {
        "vm_id": "vm-1",
        "owner_id": "o",
        "created_at": "2026-01-01T00:00:00Z",
        "state": "running",
        "labels": {},
    },
    {"vm_id": "vm-2", "owner_id": "o", "created_at": "2026-01-01T00:00:00Z", "state": "paused", "labels": {}},
]


@dataclass
class FaultServer:
    fault: str | None = None
    retry_after: str = "7"
    requests: list[str] = field(default_factory=list)
    abandoned: int = 0
    _server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode()
            self.requests.append(request_line)
            await self._answer(request_line.split()[1], reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fault = self.fault
        if fault == "drop":
            return
        if fault == "not_http":
            writer.write(b"SSH-2.0-surprise\r\n\r\n")
            return
        if fault == "slow":
            await reader.read()  # until the client hangs up
            self.abandoned += 1
            return
        if fault == "429":
            self._send(
                writer,
                429,
                {"success": False, "error": "rate limit exceeded"},
                extra={"Retry-After": self.retry_after},
            )
        elif fault == "503":
            self._send(writer, 503, {"success": False, "error": "upstream unavailable"})
        elif fault == "truncated":
            body = json.dumps(HEALTHY_VMS).encode()
            writer.write(_head(200, "application/json", len(body)) + body[: len(body) // 3])
        elif fault == "malformed":
            self._send_raw(writer, 200, "application/json", b'[{"vm_id": "vm-1", "state": ')
        elif fault == "wrong_type":
            self._send_raw(writer, 200, "text/html", b"<html><body>\x1b[31mmaintenance</body></html>")
        elif fault == "schema":
            self._send(writer, 200, [{"vm_id": 42, "state": ["running"]}])
        elif target.startswith("/api/v1/commits"):
            self._send(writer, 200, {"commits": [], "total": 0, "limit": 100, "offset": 0})
        else:
            self._send(writer, 200, HEALTHY_VMS)
        await writer.drain()

    def _send(
        self, writer: asyncio.StreamWriter, status: int, body: object, extra: dict[str, str] | None = None
    ) -> None:
        self._send_raw(writer, status, "application/json", json.dumps(body).encode(), extra)

    @staticmethod
    def _send_raw(
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: bytes,
        extra: dict[str, str] | None = None,
    ) -> None:
        writer.write(_head(status, content_type, len(body), extra) + body)


def _head(status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} X",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
