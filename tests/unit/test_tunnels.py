"""Tunnel port specs, and a tunnel whose first connection fails closes with the reason."""

from __future__ import annotations

import pytest

from vmtui.core.errors import NotFound, ProviderError
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.tunnels import PortSpec, Tunnels, TunnelState


def test_port_specs():
    assert PortSpec.parse("8080:80") == PortSpec(8080, 80)
    assert PortSpec.parse(" 5432 ") == PortSpec(5432, 5432)
    assert PortSpec.parse("0:22") == PortSpec(0, 22)
    for bad in ("", "a:b", "1:2:3", "70000:80", "80:0", "-1:80"):
        with pytest.raises(ValueError):
            PortSpec.parse(bad)


class GoneVm:
    """A provider whose VM was deleted: every question about it is a 404."""

    async def get_vm(self, vm_id):
        raise NotFound(f"VM {vm_id} not found", status=404)

    async def ssh_key(self, vm_id):
        raise AssertionError("never asked: the VM is gone")

    def ssh_endpoint(self, vm_id):
        raise AssertionError("never asked")

    async def resume_vm(self, vm_id):
        raise AssertionError("never asked")


async def test_a_tunnel_that_cannot_connect_at_first_closes_with_the_reason(tmp_path):
    changes = []
    tunnels = Tunnels(TofuKnownHosts(tmp_path / "kh"), lambda tunnel: changes.append(tunnel.state))
    with pytest.raises(ProviderError, match="VM vm-1 not found"):
        await tunnels.open(GoneVm(), "vm-1", "gone", PortSpec(0, 80))
    assert tunnels.open_tunnels == [] and changes[-1] is TunnelState.CLOSED
