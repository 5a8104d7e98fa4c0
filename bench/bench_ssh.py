"""SSH into a local-engine VM: connect time, and `cat` of 50 MB through the session next to raw
loopback TLS throughput measured in the same run (the ratio is what the SSH layer costs).

Needs root (a real sandboxed VM); returns no rows otherwise.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from tests.ssh_helpers import GatewayBackend, GatewayProvider
from vmtui.local.sandbox import Sandbox, SandboxSpec
from vmtui.local.sshd import Gateway, start_gateway
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession

SIZE = 50 * 1024 * 1024
CONNECTS = 5


async def _raw_tls(gateway: Gateway) -> tuple[float, float]:
    """Loopback TLS with the gateway's own certificate, the floor/ceiling for SSH-over-TLS:
    (median handshake ms, MB/s of a SIZE-byte stream)."""
    chunk = os.urandom(1024 * 1024)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.read(1) == b"s":  # the throughput run; handshake-only clients send "h"
            for _ in range(SIZE // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=gateway.tls.server_context())
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(gateway.ca_path))

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=gateway.server_name("bench")
        )

    handshakes = []
    for _ in range(CONNECTS):
        started = time.perf_counter()
        _, writer = await connect()
        handshakes.append((time.perf_counter() - started) * 1000)
        writer.write(b"h")
        writer.close()
    started = time.perf_counter()
    reader, writer = await connect()
    writer.write(b"s")
    received = 0
    while data := await reader.read(1 << 20):
        received += len(data)
    elapsed = time.perf_counter() - started
    writer.close()
    server.close()
    assert received == SIZE
    return statistics.median(handshakes), SIZE / elapsed / 1e6


async def _measure(workdir: Path) -> list[dict]:
    spec = SandboxSpec(
        vm_id=f"bench-ssh-{os.getpid()}",
        vm_dir=workdir / "vm",
        layers=[],
        image=None,
        hostname="bench",
        env={},
    )
    sandbox = await Sandbox.boot(spec)
    backend = GatewayBackend()
    backend.add(sandbox)
    gateway = await start_gateway(backend, workdir / "engine")
    vm = GatewayProvider(gateway, backend.keys[spec.vm_id])
    try:
        known_hosts = TofuKnownHosts(workdir / "known_hosts")
        connects = []
        for _ in range(CONNECTS):
            started = time.perf_counter()
            async with SshSession(vm, spec.vm_id, known_hosts=known_hosts) as ssh:
                connects.append((time.perf_counter() - started) * 1000)
        async with SshSession(vm, spec.vm_id, known_hosts=known_hosts) as ssh:
            await ssh.exec(f"head -c {SIZE} /dev/urandom > /root/big.bin")
            started = time.perf_counter()
            result = await ssh.connection.run("cat /root/big.bin", encoding=None)
            ssh_mbps = SIZE / (time.perf_counter() - started) / 1e6
        assert len(result.stdout) == SIZE
        tls_connect_ms, tls_mbps = await _raw_tls(gateway)
    finally:
        await gateway.close()
        await sandbox.destroy()
    return [
        {
            "name": "ssh connect (TLS + SSH handshake + auth) vs TLS handshake, median",
            "value": statistics.median(connects),
            "unit": "ms",
            "baseline": tls_connect_ms,
            "ratio": statistics.median(connects) / tls_connect_ms,
        },
        {
            "name": "ssh cat 50 MB through the session",
            "value": ssh_mbps,
            "unit": "MB/s",
            "baseline": tls_mbps,
            "ratio": ssh_mbps / tls_mbps,
        },
    ]


def run() -> list[dict]:
    if os.geteuid() != 0:
        return []
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_measure(Path(workdir)))


if __name__ == "__main__":
    for row in run():
        print(row)
