"""Root inside a VM is not root on the host: attacks from inside a VM on host objects, the VM's own
limits and the kernel, each of which must fail."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.asyncio]

# x86_64 numbers; each call gets harmless arguments, only the errno matters.
SYSCALL_PROBE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    return 0 if result >= 0 else ctypes.get_errno()
print(json.dumps({
    "unshare_user": call(272, 0x10000000),
    "unshare_mount": call(272, 0x00020000),
    "add_key": call(248, 0, 0, 0, 0, -2),
    "keyctl": call(250, 0, -3, 1),
    "bpf": call(321, 0, 0, 0),
    "userfaultfd": call(323, 0),
    "perf_event_open": call(298, 0, 0, -1, -1, 0),
    "open_by_handle_at": call(304, -100, 0, 0),
    "name_to_handle_at": call(303, -100, 0, 0, 0, 0),
    "init_module": call(175, 0, 0, 0),
    "finit_module": call(313, -1, 0, 0),
    "delete_module": call(176, 0, 0),
    "kexec_load": call(246, 0, 0, 0, 0),
    "mount": call(165, 0, 0, 0, 0, 0),
    "reboot": call(169, 0, 0, 0, 0),
    "setns": call(308, 0, 0),
    "fsopen": call(430, 0, 0),
}))
"""
EPERM = 1


async def _python(sandbox, code: str) -> str:
    status, out, err = await sandbox.exec(["python3", "-c", code])
    assert status == 0, err
    return out.decode()


async def test_vm_root_is_an_unprivileged_host_user(boot_vm):
    sandbox = await boot_vm("userns")
    status, out, _ = await sandbox.exec(["cat", "/proc/self/uid_map", "/proc/self/gid_map"])
    assert status == 0
    for line in out.decode().splitlines():
        inside, outside, _count = (int(x) for x in line.split())
        assert inside == 0 and outside != 0, f"VM root maps to host id {outside}"
    background = await sandbox.exec(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo started"])
    assert background[1] == b"started\n"
    sleepers = [pid for pid in sandbox.processes() if Path(f"/proc/{pid}/comm").read_text() == "sleep\n"]
    assert sleepers, "the VM's sleep is visible from the host"
    status_lines = Path(f"/proc/{sleepers[0]}/status").read_text().splitlines()
    uids = next(line for line in status_lines if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids, "a VM process runs as host uid 0"
    assert os.readlink(f"/proc/{sleepers[0]}/ns/user") != os.readlink("/proc/self/ns/user")


async def test_vm_root_cannot_use_host_capabilities(boot_vm):
    sandbox = await boot_vm("caps")
    checks = {
        "hostname": "hostname evil",
        "link": "python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'",
        "sysctl": "echo 1 > /proc/sys/kernel/sysrq",
        "kill_host": f"kill -9 {os.getpid()}",
        "mknod": "mknod /tmp/disk b 8 0",
        "chroot_escape": "mkdir -p /tmp/jail && chroot /tmp/jail /nothing",
    }
    for name, command in checks.items():
        status, _, _ = await sandbox.exec(["sh", "-c", command])
        assert status != 0, f"{name}: {command!r} succeeded inside the VM"
    # Inside, the VM's root still owns its tree and its network's ports.
    status, out, err = await sandbox.exec(
        [
            "sh",
            "-c",
            "touch /root/f && chown 1000:1000 /root/f && stat -c %u:%g /root/f && ls -ln /etc/hostname",
        ]
    )
    assert status == 0, err
    assert out.decode().splitlines()[0] == "1000:1000"
    assert " 0 0 " in out.decode().splitlines()[1], "the image's files belong to the VM's root"
    bind_80 = "import socket; socket.socket().bind(('127.0.0.1', 80)); print('bound')"
    assert await _python(sandbox, bind_80) == "bound\n", "the VM's root binds low ports in its own network"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64's")
async def test_seccomp_denies_what_a_vm_has_no_business_doing(boot_vm):
    sandbox = await boot_vm("seccomp")
    results = json.loads(await _python(sandbox, SYSCALL_PROBE))
    assert {name: errno for name, errno in results.items() if errno != EPERM} == {}
    status = await _python(sandbox, "print(open('/proc/self/status').read())")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Seccomp"].strip() == "2" and fields["NoNewPrivs"].strip() == "1"


async def test_a_vm_cannot_lift_its_own_cgroup_limits(boot_vm):
    sandbox = await boot_vm("limits", pids_max=64, mem_size_mib=256)
    if not {"pids", "memory"} <= sandbox.cgroup.enforced:
        pytest.skip("this host enforces no pids/memory limits")
    before = {path: Path(path).read_text() for path in _limit_files(sandbox)}
    attack = (
        "mkdir -p /tmp/cg; "
        "for c in pids memory cpu; do "
        '  unshare -UrmC sh -c "mount -t cgroup -o $c none /tmp/cg && '
        "for f in pids.max memory.limit_in_bytes cpu.cfs_quota_us; do "
        '[ -e /tmp/cg/\\$f ] && echo -1 > /tmp/cg/\\$f && echo lifted \\$f; done"; '
        "  mount -t cgroup -o $c none /tmp/cg && echo mounted $c; "
        "done; mount -t cgroup2 none /tmp/cg && echo mounted v2; true"
    )
    status, out, err = await sandbox.exec(["sh", "-c", attack])
    assert status == 0, err
    assert b"lifted" not in out and b"mounted" not in out, out
    assert {path: Path(path).read_text() for path in _limit_files(sandbox)} == before
    await sandbox.exec(
        ["sh", "-c", "for i in $(seq 100); do sleep 30 >/dev/null 2>&1 & done 2>/dev/null; true"]
    )
    assert 0 < len(sandbox.cgroup.pids()) <= 64, "the pids limit still holds"


def _limit_files(sandbox) -> list[str]:
    dirs = sandbox.cgroup.dirs
    if "unified" in dirs:
        return [str(dirs["unified"] / name) for name in ("pids.max", "memory.max", "cpu.max")]
    return [
        str(dirs["pids"] / "pids.max"),
        str(dirs["memory"] / "memory.limit_in_bytes"),
        *([str(dirs["cpu"] / "cpu.cfs_quota_us")] if "cpu" in dirs else []),
    ]


async def test_ptrace_and_proc_root_stay_inside_the_vm(tmp_path, boot_vm):
    secret = tmp_path / "host-only"
    secret.write_text("host secret")
    sandbox = await boot_vm("ptrace")
    probe = f"""
import ctypes, glob, os
libc = ctypes.CDLL(None, use_errno=True)
found = []
for root in glob.glob("/proc/[0-9]*/root"):
    try:
        found.append(open(root + {str(secret)!r}).read())
    except OSError:
        pass
print("seen" if found else "unseen")
print(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())  # PTRACE_ATTACH to the VM's init
"""
    out = await _python(sandbox, probe)
    seen, attach = out.splitlines()
    assert seen == "unseen"
    assert attach.split()[0] == "-1", "a VM process may trace the VM's init"


INIT_BINARY_PROBE = """
import os
for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
    try:
        os.close(os.open("/proc/1/exe", flags))
        print("opened", flags)
    except OSError as exc:
        print("refused", flags, exc.errno)
"""


async def test_vm_root_cannot_reach_the_host_binary_of_its_init(boot_vm):
    """The VM's init runs the host's catatonit through an fd: /proc/1/exe leads to that host file,
    which VM root must neither open (to read it, or to overwrite it as in runc's CVE-2019-5736) nor
    change."""
    sandbox = await boot_vm("initexe")
    binary = Path(os.readlink(f"/proc/{sandbox.init_pid}/exe"))
    before = binary.read_bytes()
    out = await _python(sandbox, INIT_BINARY_PROBE)
    assert "opened" not in out, out
    assert len(out.splitlines()) == 3
    assert binary.read_bytes() == before
