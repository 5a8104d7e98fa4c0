"""Helpers shared by the SSH tests (client, gateway, terminal transport)."""

from __future__ import annotations

import asyncio

import asyncssh

from vmtui.core.errors import NotFound, Unsupported
from vmtui.core.models import SshEndpoint, SshKey, Vm
from vmtui.local.sandbox import Sandbox
from vmtui.local.sshd import Gateway


async def read_until(shell, marker: bytes, timeout: float = 120) -> bytes:
    """Output of an `SshShell` up to and including `marker`; fails if the shell closes first."""
    seen = b""

    async def collect() -> None:
        nonlocal seen
        while marker not in seen:
            chunk = await shell.read()
            assert chunk, f"shell closed before {marker!r}; got {seen!r}"
            seen += chunk

    await asyncio.wait_for(collect(), timeout)
    return seen


class GatewayBackend:
    """The engine side of the SSH gateway: booted sandboxes and one key pair per VM."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, Sandbox] = {}
        self.keys: dict[str, asyncssh.SSHKey] = {}

    def add(self, sandbox: Sandbox) -> None:
        self.sandboxes[sandbox.spec.vm_id] = sandbox
        self.keys[sandbox.spec.vm_id] = asyncssh.generate_private_key("ssh-ed25519")

    async def sandbox_for(self, vm_id: str) -> Sandbox:
        if vm_id not in self.sandboxes:
            raise NotFound("vm not found")
        return self.sandboxes[vm_id]

    def ssh_public_key(self, vm_id: str) -> str:
        if vm_id not in self.keys:
            raise NotFound("vm not found")
        return self.keys[vm_id].export_public_key().decode()


class GatewayProvider:
    """The client side: what SshSession asks a provider for, signing in with `key`."""

    def __init__(self, gateway: Gateway, key: asyncssh.SSHKey):
        self.gateway = gateway
        self.key = key

    async def ssh_key(self, vm_id: str) -> SshKey:
        return SshKey(private_key_pem=self.key.export_private_key().decode())

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
        return SshEndpoint(
            host="127.0.0.1",
            port=self.gateway.port,
            server_name=self.gateway.server_name(vm_id),
            ca_path=str(self.gateway.ca_path),
        )

    async def get_vm(self, vm_id: str) -> Vm:
        raise Unsupported("the gateway tests check VM state on the server side")

    async def resume_vm(self, vm_id: str) -> None:
        raise Unsupported("not here")
