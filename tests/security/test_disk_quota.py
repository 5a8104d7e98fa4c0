"""fs_size_mib is a real quota: a VM that fills its disk gets ENOSPC inside itself only; the state dir
holds only the blocks it really wrote; other VMs keep working; deleting the full VM frees the space."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.security.conftest import V1, new_vm, sh

pytestmark = pytest.mark.root

DISK_MIB = 64
MIB = 1024 * 1024


def _allocated(path: Path) -> int:
    """Bytes a file really occupies on the host (sparse files count only their data)."""
    return os.stat(path).st_blocks * 512


def _loop_devices_of(path: Path) -> list[str]:
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        if backing.read_text().strip().startswith(str(path)):
            found.append(backing.parent.parent.name)
    return found


async def test_a_vm_filling_its_disk_gets_enospc_inside_and_delete_frees_it(api, engine):
    full = await new_vm(api, fs_size_mib=DISK_MIB)
    other = await new_vm(api)
    image = engine.state_dir / "vms" / full / "disk.img"

    filled = await sh(api, full, f"head -c {4 * DISK_MIB}M /dev/zero > /root/fill; echo code=$?; sync")
    assert "No space left on device" in filled["stderr"], filled
    assert "code=0" not in filled["stdout"], "the VM wrote past its disk size"
    assert _allocated(image) <= (DISK_MIB + 1) * MIB, "the VM's writes are not bounded by its disk"
    written = int((await sh(api, full, "stat -c %s /root/fill"))["stdout"])
    assert written < DISK_MIB * MIB

    # The full VM still answers (a full disk is its own problem), and so does every other VM.
    assert (await sh(api, full, "echo alive"))["stdout"] == "alive\n"
    assert (await sh(api, other, "echo data > /root/ok && cat /root/ok"))["stdout"] == "data\n"
    meta = (await api.get(f"{V1}/vm/{full}/metadata")).json()
    assert "disk" in meta["enforced_limits"]

    deleted = await api.delete(f"{V1}/vm/{full}")
    assert deleted.status_code == 200, deleted.text
    assert not image.exists()
    deadline = time.monotonic() + 30
    while len(_loop_devices_of(engine.state_dir)) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(_loop_devices_of(engine.state_dir)) == 1, "the deleted VM's loop device is still attached"


async def test_the_disk_follows_the_vm_through_commit_stop_start_and_branch(api, engine):
    vm_id = await new_vm(api, fs_size_mib=DISK_MIB)
    await sh(api, vm_id, "echo kept > /root/kept && sync")
    commit = await api.post(f"{V1}/vm/{vm_id}/commit")
    assert commit.status_code == 201, commit.text

    await engine.stop_vm(vm_id)
    assert not os.path.ismount(engine.state_dir / "vms" / vm_id / "disk"), "stop leaves the disk mounted"
    await engine.start_vm(vm_id)
    assert (await sh(api, vm_id, "cat /root/kept"))["stdout"] == "kept\n"

    branched = await api.post(f"{V1}/vm/{commit.json()['commit_id']}/branch")
    assert branched.status_code == 201, branched.text
    child = branched.json()["vms"][0]["vm_id"]
    assert (await sh(api, child, "cat /root/kept"))["stdout"] == "kept\n"
    assert (engine.state_dir / "vms" / child / "disk.img").exists()


async def test_a_restarted_engine_adopts_the_mounted_disk_and_commits_from_it(tmp_path):
    from vmtui.local.engine import Engine

    first = Engine(tmp_path / "state")
    await first.start()
    vm = await first.create_vm(fs_size_mib=DISK_MIB)
    try:
        code, _, err = await first.exec(vm.id, ["sh", "-c", "echo before > /root/before && sync"])
        assert code == 0, err
        await first.close()  # the VM keeps running, as after a daemon restart
        second = Engine(tmp_path / "state")
        await second.start()
        code, out, _ = await second.exec(vm.id, ["cat", "/root/before"])
        assert (code, out) == (0, b"before\n")
        commit = await second.commit_vm(vm.id)
        child = await second.from_commit(commit.id)
        code, out, _ = await second.exec(child.id, ["cat", "/root/before"])
        assert (code, out) == (0, b"before\n")
        for made in (vm, child):
            await second.delete_vm(made.id)
        await second.close()
    finally:
        from vmtui.local.sandbox import Sandbox

        for vm_dir in (tmp_path / "state" / "vms").iterdir():
            Sandbox.cleanup_stale(vm_dir)
