"""VMs still running for a state dir that was deleted: found when an engine starts, and reported with
the commands that stop them.

A VM's disk is a loop device backed by `<state dir>/vms/<vm id>/disk.img`, mounted at `…/disk` in the
engine's mount namespace and in the VM's (vmdisk.py). When an engine stops (its VMs keep running, to
be adopted at its next start) and its state dir is then deleted (`rm -rf`, pytest's old temp dirs),
everything goes but those mount points: the VMs run on, and each keeps its loop device, which the
kernel now shows as backed by `… (deleted)`. No engine can adopt them any more (adopting reads the
VM's marker in its state dir), so they hold loop devices and memory until someone stops them.

A starting engine lists them: the VM id and state dir from the loop device, its init (catatonit, pid
1 of the VM's pid namespace) found by the hostname the VM was booted with (`vm-<id[:8]>`, read in the
init's UTS namespace, which belongs to the host's user namespace: the VM cannot rename itself). It
stops nothing itself: such an init is no child of this engine, and it may belong to a live engine
whose state dir was deleted under it. Killing the init stops the whole VM; unmounting its disk (the
disk, then the bind below it) frees the loop device (autoclear).
"""

from __future__ import annotations

import os
import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from vmtui.local import nshelper
from vmtui.local.sandbox import INIT_PROGRAMS

DELETED_DISK_RE = re.compile(r"^(?P<state_dir>/.*)/vms/(?P<vm_id>[^/]+)/disk\.img \(deleted\)$")
SYS_BLOCK = Path("/sys/block")
PROC = Path("/proc")


@dataclass(frozen=True)
class OrphanVm:
    """A VM whose state dir is gone, still running and holding `loop_device`."""

    vm_id: str
    state_dir: str
    loop_device: str
    init_pid: int | None
    """None unless exactly one VM init on the host has the VM's hostname (none: the VM has stopped)."""

    def warning(self) -> str:
        disk = shlex.quote(f"{self.state_dir}/vms/{self.vm_id}/disk")
        free = f"umount {disk}; umount {disk}"
        where = f"VM {self.vm_id} of the deleted state dir {self.state_dir} still holds {self.loop_device}"
        if self.init_pid is None:
            hostname = hostname_of_vm(self.vm_id)
            return f"{where}; no single VM init has its hostname {hostname}: stop the VM if it runs, then: {free}"
        return f"{where} (init pid {self.init_pid}); stop it with: kill -KILL {self.init_pid}; {free}"


def find_orphan_vms() -> list[OrphanVm]:
    """The VMs of deleted state dirs that still run on this host (empty without root: such VMs
    have no loop device, and other users' namespaces cannot be read)."""
    disks = _deleted_disks()
    if not disks:
        return []
    inits = _vm_inits_by_hostname()
    orphans = []
    for device, (state_dir, vm_id) in sorted(disks.items()):
        named = inits.get(hostname_of_vm(vm_id), [])
        orphans.append(OrphanVm(vm_id, state_dir, device, named[0] if len(named) == 1 else None))
    return orphans


def hostname_of_vm(vm_id: str) -> str:
    """The hostname the engine boots a VM with."""
    return f"vm-{vm_id[:8]}"


def _deleted_disks() -> dict[str, tuple[str, str]]:
    """Loop device -> (state dir, VM id), for every VM disk whose image file was deleted."""
    disks = {}
    for backing in SYS_BLOCK.glob("loop*/loop/backing_file"):
        try:
            match = DELETED_DISK_RE.match(backing.read_text().strip())
        except OSError:
            continue
        if match:
            disks[f"/dev/{backing.parent.parent.name}"] = (match["state_dir"], match["vm_id"])
    return disks


def _vm_inits_by_hostname() -> dict[str, list[int]]:
    """Hostname -> pids of the VM inits on the host (catatonit as pid 1 of its own pid namespace)."""
    programs = {os.path.realpath(path) for path in INIT_PROGRAMS}
    inits: dict[str, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "exe") not in programs or not _heads_own_pid_namespace(entry):
                continue
            hostname = _hostname_of(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        inits.setdefault(hostname, []).append(int(entry.name))
    return inits


def _heads_own_pid_namespace(process: Path) -> bool:
    for line in (process / "status").read_text().splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


def _hostname_of(pid: int) -> str:
    """The hostname in `pid`'s UTS namespace. setns() moves only the calling thread, so a short-lived
    thread enters the namespace and reads it; the engine's own threads never change namespace."""
    result: list[str | OSError] = []
    namespace = os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)

    def read() -> None:
        try:
            nshelper.setns(namespace, nshelper.CLONE_NEWUTS)
            result.append(os.uname().nodename)
        except OSError as exc:
            result.append(exc)

    try:
        reader = threading.Thread(target=read, name="vmtui-uts")
        reader.start()
        reader.join()
    finally:
        os.close(namespace)
    if isinstance(result[0], OSError):
        raise result[0]
    return result[0]
