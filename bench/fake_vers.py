"""A Vers-shaped API on loopback for the fleet benchmarks: `python -m bench.fake_vers --vms N [--rate R]`.

Real HTTP (uvicorn, keep-alive), the shapes of vers-sdk 1.20.0:
- `GET /api/v1/vm`: every VM, without lineage; answers an `ETag` and 304 to a matching `If-None-Match`;
- `GET /api/v1/vm/{id}/metadata`: one VM with ip, parent_commit_id and grandparent_vm_id;
- `GET /api/v1/commits?limit=&offset=`: `{"commits": [...], "total": N}`.

The fleet: N VMs and N/10 commits; commit i was taken from VM i, every later VM was branched from one of
those commits. A token bucket (`rate` requests/s, burst `rate`) guards every API route and answers
`429` with a whole-second `Retry-After`, as rate-limited platforms do.

Benchmark-only routes, never rate-limited: `GET /_bench/stats` (request counters) and
`POST /_bench/change?share=0.01` (flip the state of that share of the VMs, different ones each call).
The server prints its port on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import socket
import sys
import time
import uuid
from collections import Counter
from typing import Any

import uvicorn

API = "/api/v1"
JSON = [(b"content-type", b"application/json")]


def vm_id(index: int) -> str:
    return str(uuid.UUID(int=index + 1))


def commit_id(index: int) -> str:
    return str(uuid.UUID(int=(1 << 64) + index))


def parent_commit(index: int, count: int) -> str | None:
    """The commit VM `index` of a `count`-VM fleet was branched from (the first N/10 VMs are roots)."""
    commits = max(1, count // 10)
    return commit_id(index % commits) if index >= commits else None


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; `take()` answers 0 or the seconds to wait."""

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FakeVers:
    """The fleet and its routes as a bare ASGI app (no framework: its cost is not the client's)."""

    def __init__(self, count: int, rate: float):
        self.count = count
        self.commit_count = max(1, count // 10)
        self.states = ["running" if index % 4 else "paused" for index in range(count)]
        self.bucket = TokenBucket(rate, rate) if rate > 0 else None
        self.stats: Counter[str] = Counter()
        self.changes = 0
        self.commits = [
            {
                "commit_id": commit_id(index),
                "name": f"snapshot {index}",
                "owner_id": "bench-owner",
                "created_at": "2026-04-01T12:00:00Z",
                "is_public": False,
                "parent_vm_id": vm_id(index),
            }
            for index in range(self.commit_count)
        ]
        self.index = {vm_id(index): index for index in range(count)}
        self._encode()

    def _vm(self, index: int) -> dict[str, Any]:
        return {
            "vm_id": vm_id(index),
            "owner_id": "bench-owner",
            "created_at": f"2026-04-{1 + index % 28:02d}T12:{index % 60:02d}:00Z",
            "state": self.states[index],
            "labels": {"team": f"t{index % 7}"} if index % 3 else {},
        }

    def _encode(self) -> None:
        self.list_body = json.dumps([self._vm(index) for index in range(self.count)]).encode()
        self.etag = '"' + hashlib.sha256(self.list_body).hexdigest()[:32] + '"'

    def change(self, share: float) -> int:
        step = max(1, round(1 / share))
        start = self.changes % step
        self.changes += 1
        flipped = 0
        for index in range(start, self.count, step):
            self.states[index] = "paused" if self.states[index] == "running" else "running"
            flipped += 1
        self._encode()
        return flipped

    def route(self, method: str, path: str, query: dict[str, str], headers: dict[bytes, bytes]) -> Any:
        """(status, headers, body) of one request."""
        if path == "/_bench/stats":
            return 200, JSON, json.dumps(dict(self.stats)).encode()
        if path == "/_bench/change" and method == "POST":
            flipped = self.change(float(query.get("share", "0.01")))
            return 200, JSON, json.dumps({"changed": flipped}).encode()
        self.stats["requests"] += 1
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait:
                self.stats["429"] += 1
                retry = [(b"retry-after", str(max(1, math.ceil(wait))).encode())]
                return 429, JSON + retry, b'{"error":"rate limit exceeded"}'
        if method != "GET":
            return 405, JSON, b'{"error":"method not allowed"}'
        if path == f"{API}/vm":
            self.stats["list"] += 1
            if headers.get(b"if-none-match", b"").decode() == self.etag:
                self.stats["list_304"] += 1
                return 304, [(b"etag", self.etag.encode())], b""
            return 200, JSON + [(b"etag", self.etag.encode())], self.list_body
        if path == f"{API}/commits":
            self.stats["commits"] += 1
            offset, limit = int(query.get("offset", "0")), min(int(query.get("limit", "100")), 100)
            page = self.commits[offset : offset + limit]
            return 200, JSON, json.dumps({"commits": page, "total": self.commit_count}).encode()
        parts = path.split("/")
        if len(parts) == 6 and path.startswith(f"{API}/vm/") and parts[5] == "metadata":
            index = self.index.get(parts[4])
            if index is not None:
                self.stats["metadata"] += 1
                body = self._vm(index) | {
                    "ip": f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}",
                    "parent_commit_id": parent_commit(index, self.count),
                    "grandparent_vm_id": None,
                }
                return 200, JSON, json.dumps(body).encode()
        return 404, JSON, b'{"error":"not found"}'

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = dict(pair.split("=", 1) for pair in scope["query_string"].decode().split("&") if "=" in pair)
        status, headers, body = self.route(scope["method"], scope["path"], query, dict(scope["headers"]))
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def listening_socket() -> socket.socket:
    """Loopback, any free port; `IPPROTO_TCP` so asyncio sets TCP_NODELAY on accepted connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_vers")
    parser.add_argument("--vms", type=int, required=True)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (0: unlimited)")
    args = parser.parse_args(argv)
    app = FakeVers(args.vms, args.rate)
    sock = listening_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print(sock.getsockname()[1], flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
