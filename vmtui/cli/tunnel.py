"""`vmtui tunnel <vm> LOCAL:REMOTE`: forward 127.0.0.1:LOCAL to port REMOTE inside a VM (`ssh -L` over
the provider's SSH gateway) until Ctrl-C, reconnecting after drops.

LOCAL 0 picks a free port (printed); one port alone means the same port on both sides. Only loopback
is ever listened on. Ctrl-C (or SIGTERM) closes the tunnel and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from vmtui import paths
from vmtui.cli.common import find_vm, provider_for
from vmtui.cli.ssh import KNOWN_HOSTS_FILE
from vmtui.config import ConfigError, load_settings
from vmtui.core.errors import ProviderError
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.tunnels import PortSpec, Tunnel, Tunnels, TunnelState

FAILED = 255


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tunnel", help="forward a local port into a VM until Ctrl-C (ssh -L)")
    parser.add_argument("vm", help="VM id, unique id prefix or label")
    parser.add_argument("ports", help="LOCAL:REMOTE (LOCAL 0 picks a free port), or PORT for both")
    parser.add_argument("-p", "--profile", help="profile to use (default: the active one)")
    parser.set_defaults(func=run_tunnel)


def run_tunnel(args: argparse.Namespace) -> int:
    try:
        ports = PortSpec.parse(args.ports)
    except ValueError as exc:
        print(f"vmtui tunnel: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_tunnel(args, ports))
    except (ConfigError, ProviderError) as exc:
        print(f"vmtui tunnel: {exc}", file=sys.stderr)
        return FAILED


def _report(tunnel: Tunnel) -> None:
    if tunnel.state is TunnelState.RECONNECTING:
        print(
            f"vmtui tunnel: {tunnel.error or 'connection dropped'}; reconnecting…",
            file=sys.stderr,
            flush=True,
        )
    elif tunnel.state is TunnelState.UP and tunnel.reconnects:
        print(f"vmtui tunnel: reconnected ({tunnel.reconnects}×)", file=sys.stderr, flush=True)


async def _tunnel(args: argparse.Namespace, ports: PortSpec) -> int:
    settings = load_settings()
    provider = await provider_for(settings, args.profile, "has_ssh", "SSH")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tunnels = Tunnels(TofuKnownHosts(paths.state_dir() / KNOWN_HOSTS_FILE), _report)
    try:
        vm = await find_vm(provider, args.vm)
        tunnel = await tunnels.open(provider, vm.id, vm.display_name, ports)
        print(f"Forwarding {tunnel.label} (Ctrl-C stops)", flush=True)
        await stop.wait()
    finally:
        await tunnels.close_all()
        await provider.aclose()
    return 0
