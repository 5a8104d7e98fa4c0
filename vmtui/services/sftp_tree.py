"""Download a file or tree from a VM over SFTP the way `rsync -a` would: symlinks stay symlinks.

asyncssh's own recursive `get` refuses any symlink whose target is absolute or leaves the download,
so copying a VM's `/etc` stopped at its first link. Keeping links as links is safe only if nothing is
ever written *through* one: the VM is hostile, and its SFTP server may list a name as a symlink to a
host path and then list it again as a file. So every local entry is created relative to an open
directory descriptor, files are opened with `O_NOFOLLOW`, and a name that is already a link is
unlinked before anything else takes its place. Set-uid/set-gid bits are dropped (a root-owned
set-uid copy of VM-supplied code would hand the VM a way back into the host); devices, sockets and
FIFOs are skipped and counted, as `rsync -a` without `-D` does.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

CHUNK = 1 << 22  # asyncssh splits a large read into parallel requests
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeName(Exception):
    """The server listed a name that cannot be a single path component."""


@dataclass
class TreeCopyStats:
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


class TreeDownload:
    """One download of `remote` (file or directory; a link named here is followed inside the VM) to
    `local`, with `cp -r` placement: into `local` when it is an existing directory, else as `local`.
    Links inside a copied tree stay links."""

    def __init__(self, sftp: asyncssh.SFTPClient):
        self.sftp = sftp
        self.stats = TreeCopyStats()

    async def run(self, remote: str, local: Path | str) -> TreeCopyStats:
        source = os.fsencode(remote)
        attrs = await self.sftp.stat(source)  # a named link is followed (in the VM), as scp and cp -H do
        target = Path(local)
        if target.is_dir():
            parent, name = target, posixpath.basename(source.rstrip(b"/")) or b"root"
        else:
            parent, name = target.parent, os.fsencode(target.name)
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the user's own path
        try:
            await self._copy(parent_fd, name, source, attrs)
        finally:
            os.close(parent_fd)
        return self.stats

    async def _copy(self, parent_fd: int, name: bytes, remote: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        if not name or b"/" in name or b"\0" in name or name in (b".", b".."):
            raise UnsafeName(
                f"the VM listed an unusable file name {name!r} in {remote.decode(errors='replace')}"
            )
        mode = attrs.permissions or 0
        if stat.S_ISDIR(mode):
            await self._copy_dir(parent_fd, name, remote, attrs)
        elif stat.S_ISLNK(mode):
            target = await self.sftp.readlink(remote)
            _remove_unless_dir(parent_fd, name)
            os.symlink(target, name, dir_fd=parent_fd)
            self._set_times(parent_fd, name, attrs)
            self.stats.symlinks += 1
        elif stat.S_ISREG(mode):
            await self._copy_file(parent_fd, name, remote, attrs)
        else:
            self.stats.skipped.append(remote.decode(errors="replace"))

    async def _copy_dir(self, parent_fd: int, name: bytes, remote: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(name, dir_fd=parent_fd).st_mode):
                os.unlink(name, dir_fd=parent_fd)  # a file or link the listing put there first
                os.mkdir(name, 0o700, dir_fd=parent_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            async for entry in self.sftp.scandir(remote):
                child = entry.filename
                assert isinstance(child, bytes)  # a bytes path lists bytes names
                if child in (b".", b".."):
                    continue
                await self._copy(fd, child, posixpath.join(remote, child), entry.attrs)
            os.chmod(fd, _safe_mode(attrs))
            self._set_times(parent_fd, name, attrs)
        finally:
            os.close(fd)
        self.stats.directories += 1

    async def _copy_file(self, parent_fd: int, name: bytes, remote: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        fd = _open_no_follow(parent_fd, name)
        try:
            async with self.sftp.open(remote, "rb") as source:
                while chunk := await source.read(CHUNK):
                    assert isinstance(chunk, bytes)  # opened "rb"
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                    self.stats.bytes += len(chunk)
            os.chmod(fd, _safe_mode(attrs))
        finally:
            os.close(fd)
        self._set_times(parent_fd, name, attrs)
        self.stats.files += 1

    @staticmethod
    def _set_times(parent_fd: int, name: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        if attrs.atime is not None and attrs.mtime is not None:
            os.utime(name, (attrs.atime, attrs.mtime), dir_fd=parent_fd, follow_symlinks=False)


def _open_no_follow(parent_fd: int, name: bytes) -> int:
    """A fresh or truncated regular file at `name`; a link or directory there is replaced, never followed."""
    try:
        return os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EISDIR):
            raise
    _remove_unless_dir(parent_fd, name, even_dir=True)
    return os.open(name, _FILE_FLAGS | os.O_EXCL, 0o600, dir_fd=parent_fd)


def _remove_unless_dir(parent_fd: int, name: bytes, *, even_dir: bool = False) -> None:
    try:
        info = os.lstat(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        if not even_dir:
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way", os.fsdecode(name))
        os.rmdir(name, dir_fd=parent_fd)  # only an empty one; a full directory stays and the open fails
    else:
        os.unlink(name, dir_fd=parent_fd)


def _safe_mode(attrs: asyncssh.SFTPAttrs) -> int:
    return stat.S_IMODE(attrs.permissions or 0o644) & ~(stat.S_ISUID | stat.S_ISGID)
