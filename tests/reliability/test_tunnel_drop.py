"""A tunnel whose server side dies (the daemon and its SSH gateway killed with SIGKILL) reconnects by
itself once the daemon is back, on the same local port, and the VM's service answers through it again."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request

import pytest

from tests.reliability.conftest import API
from vmtui.providers.vers import VersProvider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.tunnels import PortSpec, Tunnels, TunnelState

pytestmark = pytest.mark.root

HTTP_PORT = 8080


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=30) as response:
        return response.read()


async def fetch_when_ready(port: int) -> bytes:
    deadline = time.monotonic() + 120
    while True:
        try:
            return await asyncio.to_thread(fetch, port)
        except OSError:
            assert time.monotonic() < deadline, "nothing answered through the tunnel"
            await asyncio.sleep(0.2)


async def wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_tunnel_comes_back_after_the_daemon_is_killed_and_restarted(serve, tmp_path) -> None:
    state = tmp_path / "state"
    api_port, ssh_port = _free_port(), _free_port()
    daemon = serve(state, "--ssh-port", str(ssh_port), port=api_port)
    line = f"mkdir -p /srv && echo survived > /srv/hello.txt && cd /srv && python3 -m http.server {HTTP_PORT} --bind 127.0.0.1 >/dev/null 2>&1 &"
    with daemon.client() as client:
        vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        started = client.post(f"{API}/vm/{vm_id}/exec", json={"command": ["sh", "-c", line]}).json()
        assert started["exit_code"] == 0, started
    provider = VersProvider(
        "local",
        daemon.api,
        daemon.token,
        ssh_address=("127.0.0.1", ssh_port),
        ca_path=str(state / "ca.pem"),
        memory_snapshots=False,
        timeout=60,
    )
    states: list[TunnelState] = []
    tunnels = Tunnels(TofuKnownHosts(tmp_path / "known_hosts"), lambda tunnel: states.append(tunnel.state))
    try:
        tunnel = await tunnels.open(provider, vm_id, "web", PortSpec(0, HTTP_PORT))
        tunnel.retry_delay, tunnel.max_retry_delay = 0.2, 1.0
        port = tunnel.local_port
        assert await fetch_when_ready(port) == b"survived\n"

        await asyncio.to_thread(daemon.kill9)
        await wait_for(lambda: tunnel.state is TunnelState.RECONNECTING, "the tunnel to notice the drop")
        await asyncio.to_thread(daemon.start)
        await wait_for(lambda: tunnel.state is TunnelState.UP, "the tunnel to reconnect")
        assert tunnel.local_port == port and tunnel.reconnects >= 1
        assert await fetch_when_ready(port) == b"survived\n"
        assert TunnelState.CLOSED not in states
    finally:
        await tunnels.close_all()
        await provider.aclose()
