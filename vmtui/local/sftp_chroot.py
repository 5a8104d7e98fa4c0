"""SFTP server on stdin/stdout, confined to one VM's root by a real chroot(2).

The gateway runs `main([import_path, init_pid, *cgroup_procs_files])` in a fresh interpreter for every
SFTP session and relays the channel's bytes to it. It joins the VM's cgroup(s) (so pausing the VM freezes it too,
and the VM's limits and teardown cover it), enters the VM's mount namespace and chroots into the VM's
root, and exits when that init exits, so a deleted VM leaves no SFTP server behind.

asyncssh's own `chroot=` option only rewrites path strings, so a symlink inside the VM pointing at
`/etc/shadow` would be followed on the host; here the kernel resolves every path (symlinks and `..`
included) inside the VM's root instead.

Everything the server needs is imported BEFORE the chroot: the host's Python library is not visible
afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import asyncssh
from asyncssh.logging import logger as ssh_logger
from asyncssh.sftp import MIN_SFTP_VERSION, run_sftp_server  # asyncssh's server loop over byte streams

from vmtui.local.nshelper import setns


class _StdioChannel:
    """The few channel methods asyncssh's SFTP server uses, for a session that is a pair of pipes."""

    logger = ssh_logger.get_child("sftp-chroot")

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    def get_environment(self) -> dict[str, str]:
        return {}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


class _StdinReader:
    def __init__(self, reader: asyncio.StreamReader, channel: _StdioChannel):
        self._reader = reader
        self.channel = channel
        self.logger = channel.logger

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _StdoutWriter:
    def __init__(self, writer: asyncio.StreamWriter, channel: _StdioChannel):
        self._writer = writer
        self.channel = channel
        self.logger = channel.logger

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def write_eof(self) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()
        self._writer.close()


async def _serve(vm_init: int) -> None:
    loop = asyncio.get_running_loop()
    vm_gone = asyncio.Event()
    loop.add_reader(vm_init, vm_gone.set)  # a pidfd turns readable when its process exits
    channel = _StdioChannel()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", 0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    server = asyncssh.SFTPServer(channel)  # type: ignore[arg-type]
    serving = asyncio.ensure_future(
        run_sftp_server(
            server, _StdinReader(reader, channel), _StdoutWriter(writer, channel), MIN_SFTP_VERSION
        )  # type: ignore[arg-type]
    )
    stopped = asyncio.ensure_future(vm_gone.wait())
    await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[1].isdigit():
        print("usage: python -m vmtui.local.sftp_chroot VM_INIT_PID [CGROUP_PROCS_FILE...]", file=sys.stderr)
        return 2
    for procs in argv[2:]:
        with open(procs, "w") as joined:
            joined.write(str(os.getpid()))
    vm_init = os.pidfd_open(int(argv[1]))
    _enter_vm_root(int(argv[1]))
    os.chdir("/root" if os.path.isdir("/root") else "/")
    asyncio.run(_serve(vm_init))
    return 0


def _enter_vm_root(pid: int) -> None:
    """Join the VM's mount namespace (and its user namespace when the daemon runs without root, so
    the chroot is allowed there), then make the VM's root our root."""
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    namespaces = ["mnt"]
    if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
        namespaces.insert(0, "user")
    for name in namespaces:
        fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
        try:
            setns(fd, 0)
        finally:
            os.close(fd)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
