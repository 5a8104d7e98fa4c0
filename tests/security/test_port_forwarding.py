"""Port forwards (`ssh -L`, direct-tcpip) connect from inside the VM's network: the host's loopback
services are out of reach."""

from __future__ import annotations

import asyncio
import socket

import asyncssh
import pytest

from vmtui.services.ssh import SshError

pytestmark = [pytest.mark.root, pytest.mark.asyncio]


async def test_direct_tcpip_cannot_reach_the_hosts_loopback(boot_vm, ssh_gateway):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    listener.setblocking(False)
    sandbox = await boot_vm("forward")
    async with ssh_gateway.connect(sandbox) as ssh:
        for host in ("127.0.0.1", "localhost"):
            try:
                reader, writer = await ssh.connection.open_connection(host, port)
            except (asyncssh.Error, OSError, SshError):
                continue
            writer.write(b"hello host\n")
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            assert data == b"", f"the forward to {host}:{port} reached something"
        try:
            accepted.append(listener.accept()[0])
        except BlockingIOError:
            pass
    listener.close()
    assert accepted == [], "a VM's port forward reached a host loopback listener"
