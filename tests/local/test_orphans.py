"""A starting engine reports the VMs of a deleted state dir that still run (holding loop devices),
with the command that stops them, and touches neither them nor the VMs of another live engine."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from vmtui.local.engine import Engine
from vmtui.local.nshelper import process_start_time
from vmtui.local.orphans import find_orphan_vms, hostname_of_vm
from vmtui.local.vmdisk import _loop_device_of

pytestmark = pytest.mark.root


def backing_file(device: str) -> str:
    try:
        return (Path("/sys/block") / Path(device).name / "loop" / "backing_file").read_text().strip()
    except OSError:
        return ""  # detached


async def wait_until(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_starting_engine_names_the_vms_of_a_deleted_state_dir_and_stops_nothing(tmp_path, caplog):
    gone_dir = (tmp_path / "gone").resolve()
    gone = Engine(gone_dir)
    await gone.start()
    orphan = await gone.create_vm()
    pid = gone.get_vm(orphan.id).init_pid
    assert pid is not None
    started = process_start_time(pid)
    disk = gone_dir / "vms" / orphan.id / "disk.img"
    device = _loop_device_of(disk)
    assert device is not None
    await gone.close()  # its VMs keep running, to be adopted at its next start; then its dir goes
    shutil.rmtree(gone_dir, ignore_errors=True)  # as pytest drops old temp dirs: all but mount points
    assert backing_file(device) == f"{disk} (deleted)"
    mount_point = gone_dir / "vms" / orphan.id / "disk"

    live = Engine(tmp_path / "live")
    await live.start()
    fresh = Engine(tmp_path / "fresh")
    try:
        kept = await live.create_vm()
        # a VM of the live engine tries to pass for the orphan (to be named, and killed, instead)
        code, _, err = await live.exec(kept.id, ["hostname", hostname_of_vm(orphan.id)])
        assert code != 0 and b"root" in err  # its UTS namespace is the host's to name
        caplog.set_level(logging.WARNING, logger="vmtui.local.engine")
        caplog.clear()  # what the live engine's start reported too
        await fresh.start()

        warnings = [record.getMessage() for record in caplog.records if record.name == "vmtui.local.engine"]
        ours = [message for message in warnings if orphan.id in message]
        stop = f"kill -KILL {pid}; umount {mount_point}; umount {mount_point}"
        held = f"VM {orphan.id} of the deleted state dir {gone_dir} still holds {device} (init pid {pid})"
        assert ours == [f"{held}; stop it with: {stop}"]
        assert not any(kept.id in message for message in warnings)  # another live engine's VM
        assert process_start_time(pid) == started  # the orphan runs on: the engine stopped nothing
        assert (await live.exec(kept.id, ["true"]))[0] == 0

        # what the warning says frees the loop device; the init is this test process's child: reap it
        kill, unmount = stop.split("; ", 1)
        await asyncio.to_thread(subprocess.run, ["sh", "-c", kill], check=True)
        await asyncio.to_thread(os.waitpid, pid, 0)
        [stopped] = [found for found in find_orphan_vms() if found.vm_id == orphan.id]
        assert stopped.init_pid is None  # the engine's own mounts still hold the loop device
        assert stopped.warning() == (
            f"VM {orphan.id} of the deleted state dir {gone_dir} still holds {device}; no single VM init "
            f"has its hostname {hostname_of_vm(orphan.id)}: stop the VM if it runs, then: {unmount}"
        )
        await asyncio.to_thread(subprocess.run, ["sh", "-c", unmount], check=True)
        await wait_until(lambda: backing_file(device) != f"{disk} (deleted)", "the loop device to be freed")
        assert not [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(gone_dir) in line
        ]
        assert orphan.id not in {found.vm_id for found in find_orphan_vms()}
    finally:
        if process_start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)
        for _ in range(2):  # the disk, then the bind below it
            await asyncio.to_thread(subprocess.run, ["umount", str(mount_point)], capture_output=True)
        for vm in live.list_vms():
            await live.delete_vm(vm.id)
        await live.close()
        await fresh.close()
