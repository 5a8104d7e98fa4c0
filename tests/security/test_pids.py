"""Engine-wide caps: the VMs' pids together stay below the host's pid_max and threads-max with a
reserve for the host, a fork bomb stays inside its VM, and starts beyond the cap get a clear 429."""

from __future__ import annotations

import asyncio

import pytest

from tests.security.conftest import V1, new_vm, sh
from vmtui.core.errors import ProviderError
from vmtui.local.cgroups import CGROUP_ROOT, HOST_PIDS_RESERVE_MIN, PIDS_PER_VM_SLOT, vm_pid_budget

BOMB = """
import os
n = 0
try:
    while True:
        if os.fork() == 0:
            os.closerange(0, 1024)
            os.execv("/usr/bin/sleep", ["sleep", "600"])
        n += 1
except OSError as exc:
    print(n, exc.errno)
"""


def _host_limit() -> int:
    with open("/proc/sys/kernel/pid_max") as pid_max, open("/proc/sys/kernel/threads-max") as threads:
        return min(int(pid_max.read()), int(threads.read()))


def test_all_vms_together_stay_below_the_hosts_pid_limits() -> None:
    per_vm, vms, total = vm_pid_budget()
    limit = _host_limit()
    assert total <= limit - max(HOST_PIDS_RESERVE_MIN, limit // 4)
    assert vms * PIDS_PER_VM_SLOT <= total and 64 <= per_vm <= total


@pytest.mark.root
async def test_the_vms_parent_cgroup_caps_the_pids_of_all_vms_together(api):
    await new_vm(api)
    parents = [CGROUP_ROOT / "pids" / "vmtui" / "pids.max", CGROUP_ROOT / "vmtui" / "pids.max"]
    limits = [int(path.read_text()) for path in parents if path.exists()]
    assert limits == [vm_pid_budget()[2]], "many VMs forking at once could exhaust the host's pids"


@pytest.mark.root
async def test_a_fork_bomb_is_contained_in_its_vm(api, engine):
    bomb, other = await new_vm(api), await new_vm(api)
    result = await sh(api, bomb, f"python3 -c '{BOMB}'")
    forked, error = map(int, result["stdout"].split())
    assert error == 11, result  # EAGAIN: the VM's pids.max, not the host's pid_max
    assert forked < engine.pids_per_vm <= vm_pid_budget()[0]

    assert (await sh(api, other, "echo fine"))["stdout"] == "fine\n"
    host = await asyncio.create_subprocess_exec("true")
    assert await host.wait() == 0, "the host cannot start processes"
    assert (await api.delete(f"{V1}/vm/{bomb}")).status_code == 200
    assert (await sh(api, other, "echo still fine"))["stdout"] == "still fine\n"


@pytest.mark.root
async def test_starts_beyond_the_running_vm_cap_get_429(api, engine, monkeypatch):
    monkeypatch.setattr(engine, "max_running_vms", 2)
    first = await new_vm(api)
    await new_vm(api)
    refused = await api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": {}})
    assert refused.status_code == 429, refused.text
    assert "stop or delete a VM" in refused.json()["error"]
    assert float(refused.headers["retry-after"]) > 0, "a client cannot tell when to try again"
    assert len((await api.get(f"{V1}/vms")).json()) == 2, "the refused VM was kept"

    await engine.stop_vm(first)
    started = await api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": {}})
    assert started.status_code == 201, started.text
    with pytest.raises(ProviderError, match="stop or delete a VM") as refused_start:
        await engine.start_vm(first)
    assert refused_start.value.status == 429
