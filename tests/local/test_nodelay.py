"""Every TCP listener of the engine answers with Nagle off (TCP_NODELAY on the accepted socket).

Checked on the server's own side of a real loopback connection: the test finds the accepted socket
among this process's descriptors (its local and peer addresses mirror the client's) and reads the
option with getsockopt, so the check does not depend on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable

import httpx
import uvicorn
from fastapi import FastAPI

from vmtui.local.daemon import listen_socket
from vmtui.local.engine import Engine
from vmtui.local.sshd import start_gateway


def _server_side_nodelay(client_address: tuple[str, int], server_address: tuple[str, int]) -> int:
    """TCP_NODELAY of the socket in this process that accepted the connection from `client_address`."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError):
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            probe = socket.socket(fileno=os.dup(int(name)))
            try:
                if probe.type != socket.SOCK_STREAM:
                    continue
                if probe.getsockname()[:2] == server_address and probe.getpeername()[:2] == client_address:
                    return probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                probe.close()
    raise AssertionError(f"no accepted socket for {client_address} in this process")


async def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_api_listener_accepts_with_nodelay():
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    sock = listen_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await _wait_for(lambda: server.started)
        port = sock.getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ping")).json() == {"ok": True}
            writer = next(iter(server.server_state.connections)).transport
            client_address = writer.get_extra_info("peername")[:2]
            assert _server_side_nodelay(client_address, ("127.0.0.1", port)) != 0
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_ssh_gateway_accepts_with_nodelay(tmp_path):
    engine = Engine(tmp_path / "state")
    await engine.start()
    gateway = await start_gateway(engine, tmp_path / "state", "127.0.0.1", 0, "localhost")
    try:
        context = ssl.create_default_context(cafile=str(gateway.ca_path))
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", gateway.port, ssl=context, server_hostname=gateway.server_name("x")
        )
        try:
            client_address = writer.get_extra_info("sockname")[:2]
            assert _server_side_nodelay(client_address, ("127.0.0.1", gateway.port)) != 0
        finally:
            writer.close()
    finally:
        await gateway.close()
        await engine.close()
