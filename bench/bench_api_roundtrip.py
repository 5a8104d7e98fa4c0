"""Engine API request round trip over real loopback TCP, on one keep-alive httpx client per server.

Servers, each its own process as in real use: a real `vmtui serve` (its own listening socket, the
SSH gateway beside it) answering `GET /api/v1/vms` with no VMs; the baseline, a bare uvicorn app
answering `[]`; and a bare FastAPI app with one route (how much of the gap the framework takes).
Requests go round-robin, one to each server per turn, so load from the rest of the machine falls on
all of them alike; each row is a median.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

REQUESTS = 400
WARMUP = 30
START_TIMEOUT = 60.0
REPO = Path(__file__).resolve().parent.parent


async def bare_app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    """The baseline: the least an ASGI app under uvicorn can do for a JSON answer."""
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"[]"})


bare_fastapi = FastAPI()


@bare_fastapi.get("/")
async def _empty_list() -> list[str]:
    return []


@contextlib.contextmanager
def _uvicorn(app: str) -> Iterator[httpx.Client]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen([*argv, "--no-access-log"], cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"uvicorn {app} did not start") from None
                    time.sleep(0.05)
            yield client
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def _engine() -> Iterator[httpx.Client]:
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-rt-") as tmp:
        argv = [sys.executable, "-m", "vmtui", "serve", "--state-dir", f"{tmp}/state"]
        argv += ["--rate-limit", "100000", "--burst", "100000"]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True
        )
        try:
            assert proc.stdout is not None
            ready = re.search(r"api=(\S+) .*token-file=(\S+)", proc.stdout.readline())
            if ready is None:
                raise RuntimeError("vmtui serve did not start")
            token = Path(ready.group(2)).read_text().strip()
            with httpx.Client(
                base_url=ready.group(1), headers={"Authorization": f"Bearer {token}"}
            ) as client:
                yield client
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()


def run() -> list[dict]:
    with (
        _engine() as engine,
        _uvicorn("bench.bench_api_roundtrip:bare_app") as bare,
        _uvicorn("bench.bench_api_roundtrip:bare_fastapi") as fastapi,
    ):
        targets = {"engine": (engine, "/api/v1/vms"), "bare": (bare, "/"), "fastapi": (fastapi, "/")}
        times: dict[str, list[float]] = {name: [] for name in targets}
        for turn in range(WARMUP + REQUESTS):
            for name, (client, path) in targets.items():
                started = time.perf_counter()
                client.get(path).raise_for_status()
                if turn >= WARMUP:
                    times[name].append((time.perf_counter() - started) * 1000)
    median = {name: statistics.median(values) for name, values in times.items()}
    return [
        {
            "name": "API round trip, keep-alive GET /vms (vs bare uvicorn app), median",
            "value": round(median["engine"], 3),
            "unit": "ms",
            "baseline": round(median["bare"], 3),
        },
        {
            "name": "bare FastAPI app round trip (vs bare uvicorn app), median",
            "value": round(median["fastapi"], 3),
            "unit": "ms",
            "baseline": round(median["bare"], 3),
        },
    ]
