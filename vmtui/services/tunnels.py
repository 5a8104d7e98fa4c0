"""Tunnels: a local port forwarded into a VM (`ssh -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`) over the SSH
connection the provider offers (TLS gateway with SNI). No Textual.

A `Tunnel` keeps its forward up until closed: when the SSH connection drops it reconnects (after
`retry_delay`, doubling up to `max_retry_delay`) and listens again on the same local port. It only
ever listens on 127.0.0.1. `Tunnels` is the list the app keeps while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmtui.core.errors import ProviderError
from vmtui.services.known_hosts import TofuKnownHosts

if TYPE_CHECKING:
    from vmtui.services.ssh import SshProvider, SshSession

LOOPBACK = "127.0.0.1"


class TunnelState(enum.StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True)
class PortSpec:
    """`LOCAL:REMOTE` (or just `PORT` for both); LOCAL 0 picks a free port."""

    local: int
    remote: int

    @classmethod
    def parse(cls, text: str) -> PortSpec:
        local, sep, remote = text.strip().partition(":")
        try:
            spec = cls(int(local), int(remote if sep else local))
        except ValueError:
            raise ValueError(f"ports must be LOCAL:REMOTE numbers, not {text!r}") from None
        if not (0 <= spec.local <= 65535 and 1 <= spec.remote <= 65535):
            raise ValueError(f"ports out of range in {text!r} (local 0-65535, remote 1-65535)")
        return spec


@dataclass
class Tunnel:
    provider: SshProvider
    vm_id: str
    vm_name: str
    ports: PortSpec
    known_hosts: TofuKnownHosts
    on_change: Callable[[Tunnel], None] = lambda _tunnel: None
    retry_delay: float = 1.0
    max_retry_delay: float = 30.0
    state: TunnelState = TunnelState.CONNECTING
    local_port: int = 0
    """The port listened on (known once up; fixed from then on, also across reconnects)."""
    error: str | None = None
    reconnects: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    session: SshSession | None = field(default=None, repr=False)
    _up: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def label(self) -> str:
        return f"{LOOPBACK}:{self.local_port or self.ports.local} → {self.vm_name}:{self.ports.remote}"

    def start(self) -> None:
        self.local_port = self.ports.local
        self.task = asyncio.create_task(self._keep_up(), name=f"tunnel-{self.vm_id}-{self.ports.remote}")

    async def wait_up(self) -> None:
        """Until the forward listens (raises the reason if the tunnel closes first)."""
        waiter = asyncio.create_task(self._up.wait())
        assert self.task is not None
        done, _ = await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            raise ProviderError(self.error or "the tunnel closed")

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self._set(TunnelState.CLOSED)

    async def _keep_up(self) -> None:
        """Reconnect after every drop once the tunnel has been up; a first attempt that fails closes it
        (a port in use, a VM that is gone or refuses SSH: waiting would not help)."""
        delay = self.retry_delay
        try:
            while True:
                try:
                    await self._serve_once()
                    delay = self.retry_delay
                    self.error = "connection dropped"
                except ProviderError as exc:
                    self.error = exc.message
                    if not self._up.is_set():
                        self._set(TunnelState.CLOSED)
                        return
                self.reconnects += 1
                self._set(TunnelState.RECONNECTING)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
        finally:
            await self._disconnect()

    async def _serve_once(self) -> None:
        from vmtui.services.ssh import SshSession  # asyncssh loads with the first tunnel

        session = SshSession(self.provider, self.vm_id, known_hosts=self.known_hosts, resume_paused=False)
        self.session = session
        await session.connect()
        try:
            listener = await session.forward_local(self.local_port, self.ports.remote, local_host=LOOPBACK)
            self.local_port = listener.get_port()
            self.error = None
            self._set(TunnelState.UP)
            self._up.set()
            await session.connection.wait_closed()
            listener.close()
        finally:
            await self._disconnect()

    async def _disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(Exception):  # it is going away either way
                await session.close()

    def _set(self, state: TunnelState) -> None:
        self.state = state
        self.on_change(self)


class Tunnels:
    """The app's open tunnels."""

    def __init__(self, known_hosts: TofuKnownHosts, on_change: Callable[[Tunnel], None] = lambda _t: None):
        self.known_hosts = known_hosts
        self.on_change = on_change
        self.open_tunnels: list[Tunnel] = []

    async def open(self, provider: SshProvider, vm_id: str, vm_name: str, ports: PortSpec) -> Tunnel:
        """Open a tunnel and wait until it listens (raises why it could not)."""
        tunnel = Tunnel(
            provider,
            vm_id,
            vm_name,
            ports,
            self.known_hosts,
            on_change=lambda changed: self.on_change(changed),
        )
        tunnel.start()
        try:
            await tunnel.wait_up()
        except BaseException:
            await tunnel.close()
            raise
        self.open_tunnels.append(tunnel)
        self.on_change(tunnel)
        return tunnel

    async def close(self, tunnel: Tunnel) -> None:
        await tunnel.close()
        if tunnel in self.open_tunnels:
            self.open_tunnels.remove(tunnel)
        self.on_change(tunnel)

    async def close_all(self) -> None:
        for tunnel in list(self.open_tunnels):
            await self.close(tunnel)
