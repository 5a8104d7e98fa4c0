"""SSH dropped mid-session because the server side (the daemon and its SSH gateway) was killed: the
terminal transport ends at once with a "connection lost" reason for the pane instead of hanging, and a
reconnect works after the restart, with the same pinned host key and the VM's files intact."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import API
from vmtui.providers.vers import VersProvider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession
from vmtui.terminal.ssh_transport import ssh_transport_factory

pytestmark = pytest.mark.root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """Stands in for the terminal pane: collects output and the reason the session ended."""

    def __init__(self) -> None:
        self.output = b""
        self.reason: str | None = None
        self.ended = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.output += data

    def closed(self, reason: str) -> None:
        self.reason = reason
        self.ended.set()

    async def wait_for(self, marker: bytes, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            assert not self.ended.is_set(), f"session ended ({self.reason}) before {marker!r}"
            assert time.monotonic() < deadline, f"no {marker!r} in {self.output[-200:]!r}"
            await asyncio.sleep(0.02)


async def test_a_killed_gateway_ends_the_session_visibly_and_reconnect_works(serve, tmp_path: Path) -> None:
    state = tmp_path / "state"
    api_port, ssh_port = _free_port(), _free_port()
    daemon = serve(state, "--ssh-port", str(ssh_port), port=api_port)
    with daemon.client() as client:
        vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
    provider = VersProvider(
        "local",
        daemon.api,
        daemon.token,
        ssh_address=("127.0.0.1", ssh_port),
        ca_path=str(state / "ca.pem"),
        memory_snapshots=False,
        timeout=60,
    )
    known_hosts = TofuKnownHosts(tmp_path / "known_hosts")
    # The same factory the terminal pane uses: every call (a reconnect too) is a fresh session.
    open_transport = ssh_transport_factory(lambda: SshSession(provider, vm_id, known_hosts=known_hosts))
    try:
        sink = Sink()
        transport = await open_transport(sink, 80, 24)
        transport.write(b"echo kept > /root/marker && echo ready-$((6*7))\n")
        await sink.wait_for(b"ready-42")

        await asyncio.to_thread(daemon.kill9)
        started = time.monotonic()
        await asyncio.wait_for(sink.ended.wait(), 60)
        ended_after = time.monotonic() - started
        assert sink.reason is not None and sink.reason.startswith("connection lost"), sink.reason

        await asyncio.to_thread(daemon.start)
        again = Sink()
        transport = await open_transport(again, 80, 24)  # same pinned host key: no HostKeyChanged
        transport.write(b"cat /root/marker; echo done-$((6*7))\n")
        await again.wait_for(b"done-42")
        assert b"kept" in again.output
        transport.close()
        await asyncio.wait_for(again.ended.wait(), 10)
        print(f"ssh drop: session ended {ended_after:.3f} s after the kill ({sink.reason}); reconnected")
    finally:
        await provider.aclose()
