"""SFTP runs inside the VM with the VM's privileges only: code planted in the VM (a Python module the
server might import, an NSS module glibc might load for `ls -l`) never runs as host root, and the
server sees the VM's kernel view, not the host's."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.asyncio]

# Tries to leave the chroot (the classic trick that works for host root) and drop a marker on the host.
ESCAPE_PY = """
import os
open("/tmp/planted-code-ran", "w").write(str(os.getuid()))
try:
    os.makedirs("/tmp/.escape", exist_ok=True)
    os.chroot("/tmp/.escape")
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    open({marker!r}, "w").write("host root ran planted Python")
except OSError:
    pass
"""

ESCAPE_C = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
    FILE *inside = fopen("/tmp/planted-nss-ran", "w");
    if (inside) { fprintf(inside, "%d", (int)getuid()); fclose(inside); }
    mkdir("/tmp/.escape", 0700);
    if (chroot("/tmp/.escape") == 0) {
        for (int i = 0; i < 64; i++) (void)chdir("..");
        (void)chroot(".");
    }
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("host root ran a planted NSS module", f); fclose(f); }
}
"""


async def _listing(ssh, path: str) -> list[str]:
    async with ssh.connection.start_sftp_client() as sftp:
        return [entry.longname for entry in await sftp.readdir(path)]


async def _read_proc_file(sftp, path: str) -> str:
    """A /proc file's content over SFTP (their size says 0: read until the end instead)."""
    async with sftp.open(path, "rb") as remote:
        chunks = []
        while chunk := await remote.read(65536, offset=sum(len(c) for c in chunks)):
            chunks.append(chunk)
    return b"".join(chunks).decode()


async def test_planted_python_module_does_not_run_as_host_root(tmp_path, boot_vm, ssh_gateway):
    marker = tmp_path / "pwned-by-python"
    sandbox = await boot_vm("plantpy")
    code = ESCAPE_PY.format(marker=str(marker))
    for folder in [p for p in sys.path if p.startswith("/")]:  # where a host Python would look
        for module in ("grp", "pwd"):
            status, _, err = await sandbox.exec(
                ["sh", "-c", 'mkdir -p "$1" && cat > "$1/$2.py"', "sh", folder, module], stdin=code.encode()
            )
            assert status == 0, err
    async with ssh_gateway.connect(sandbox) as ssh:
        try:
            names = await _listing(ssh, "/root")
        finally:
            assert not marker.exists(), "planted Python ran as host root"
    assert names, "the listing works"


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build the planted module")
async def test_planted_nss_module_does_not_run_as_host_root(tmp_path, boot_vm, ssh_gateway):
    marker = tmp_path / "pwned-by-nss"
    source = tmp_path / "planted.c"
    source.write_text(ESCAPE_C)
    library = tmp_path / "libnss_planted.so.2"
    build = ["cc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library), str(source)]
    await asyncio.to_thread(subprocess.run, build, check=True)
    sandbox = await boot_vm("plantnss")
    multiarch = await asyncio.to_thread(
        subprocess.run, ["cc", "-print-multiarch"], check=True, capture_output=True, text=True
    )
    for folder in {f"/usr/lib/{multiarch.stdout.strip()}", "/lib64", "/usr/lib"}:
        status, _, err = await sandbox.exec(
            ["sh", "-c", 'mkdir -p "$1" && cat > "$1/libnss_planted.so.2"', "sh", folder],
            stdin=library.read_bytes(),
        )
        assert status == 0, err
    nsswitch = "passwd: planted files\ngroup: planted files\n"
    assert (await sandbox.exec(["sh", "-c", "cat > /etc/nsswitch.conf"], stdin=nsswitch.encode()))[0] == 0
    await sandbox.exec(["sh", "-c", "touch /root/owned-file && chown 1234:1234 /root/owned-file"])
    async with ssh_gateway.connect(sandbox) as ssh:
        try:
            names = await _listing(ssh, "/root")
        finally:
            assert not marker.exists(), "a planted NSS module ran as host root"
    assert any("owned-file" in name for name in names)
    ran, out, _ = await sandbox.exec(["cat", "/tmp/planted-nss-ran"])
    if ran == 0:  # the VM's own sftp-server may load it: then only as the VM's root, inside the VM
        assert out == b"0"


async def test_sftp_sees_the_vm_kernel_view_not_the_hosts(tmp_path, boot_vm, ssh_gateway):
    sandbox = await boot_vm("procview")
    async with ssh_gateway.connect(sandbox) as ssh, ssh.connection.start_sftp_client() as sftp:
        kallsyms, uid_map, status_text = [
            await _read_proc_file(sftp, path)
            for path in ("/proc/kallsyms", "/proc/self/uid_map", "/proc/self/status")
        ]
    addresses = {line.split()[0] for line in kallsyms.splitlines()}
    assert addresses <= {"0000000000000000", "00000000"}, "kernel addresses leak to the SFTP server"
    host_uid = int(uid_map.split()[1])
    assert host_uid != 0, "the SFTP server's root is the host's root"
    status = dict(line.split(":\t", 1) for line in status_text.splitlines())
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"


async def test_sftp_works_in_an_image_without_an_sftp_server(tmp_path, boot_vm, ssh_gateway):
    from tests.local.test_images import bash_rootfs_tarball, import_rootfs_tarball

    import_rootfs_tarball(bash_rootfs_tarball(tmp_path / "bash.tar"), tmp_path / "images/bash")
    sandbox = await boot_vm("tiny", image=tmp_path / "images/bash", hostname="tiny")
    (tmp_path / "hello.txt").write_text("hello tiny VM\n")
    async with ssh_gateway.connect(sandbox) as ssh:
        await ssh.put(tmp_path / "hello.txt", "/hello.txt")
        await ssh.get("/hello.txt", tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_text() == "hello tiny VM\n"
    status, out, _ = await sandbox.exec(["/bin/bash", "-c", "read line < /hello.txt; echo $line"], cwd="/")
    assert (status, out) == (0, b"hello tiny VM\n")
    assert not Path("/hello.txt").exists()
