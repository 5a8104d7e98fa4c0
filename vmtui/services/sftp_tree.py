"""Copy a file or tree between a VM and this machine over SFTP the way `rsync -a` would (symlinks stay
symlinks), and list a VM directory. `vmtui cp` and the TUI's files screen both go through these.

asyncssh's own recursive `get` refuses any symlink whose target is absolute or leaves the download,
so copying a VM's `/etc` stopped at its first link. Keeping links as links is safe only if nothing is
ever written *through* one: the VM is hostile, and its SFTP server may list a name as a symlink to a
host path and then list it again as a file. So every local entry is created relative to an open
directory descriptor, files are opened with `O_NOFOLLOW`, and a name that is already a link is
unlinked before anything else takes its place. Set-uid/set-gid bits are dropped (a root-owned
set-uid copy of VM-supplied code would hand the VM a way back into the host); devices, sockets and
FIFOs are skipped and counted, as `rsync -a` without `-D` does.

Uploads only read the user's own files; what they write lands inside the VM, whose SFTP server runs
confined there. Both directions report progress after every chunk, and stop at the next chunk when the
task running them is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import os
import posixpath
import stat
from collections.abc import Callable
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


CopyProgress = Callable[[TreeCopyStats], None]
"""Called with the running totals after each chunk and each entry copied."""


@dataclass(frozen=True)
class RemoteEntry:
    """One name in a VM directory listing (the entry itself: a link is not followed)."""

    name: str
    mode: int
    size: int
    mtime: int | None = None
    link_target: str | None = None

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)


async def list_directory(sftp: asyncssh.SFTPClient, path: str) -> list[RemoteEntry]:
    """The entries of `path` on the VM (without `.` and `..`), directories first, then by name."""
    entries: list[RemoteEntry] = []
    async for item in sftp.scandir(path):
        name = item.filename
        assert isinstance(name, str)  # a str path lists str names
        if name in (".", ".."):
            continue
        attrs = item.attrs
        mode = attrs.permissions or 0
        target = None
        if stat.S_ISLNK(mode):
            try:
                target = await sftp.readlink(posixpath.join(path, name))
            except asyncssh.SFTPError:
                target = "?"
        entries.append(RemoteEntry(name, mode, attrs.size or 0, attrs.mtime, target))
    return sorted(entries, key=lambda entry: (not entry.is_dir, entry.name))


class TreeDownload:
    """One download of `remote` (file or directory; a link named here is followed inside the VM) to
    `local`, with `cp -r` placement: into `local` when it is an existing directory, else as `local`.
    Links inside a copied tree stay links."""

    def __init__(self, sftp: asyncssh.SFTPClient, progress: CopyProgress | None = None):
        self.sftp = sftp
        self.stats = TreeCopyStats()
        self.progress = progress or (lambda _stats: None)

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
                    self.progress(self.stats)
            os.chmod(fd, _safe_mode(attrs))
        finally:
            os.close(fd)
        self._set_times(parent_fd, name, attrs)
        self.stats.files += 1

    @staticmethod
    def _set_times(parent_fd: int, name: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        if attrs.atime is not None and attrs.mtime is not None:
            os.utime(name, (attrs.atime, attrs.mtime), dir_fd=parent_fd, follow_symlinks=False)


class TreeUpload:
    """One upload of `local` (file or directory; a link named here is followed, as `cp -H` does) to
    `remote` on the VM, with `cp -r` placement: into `remote` when it is an existing directory, else as
    `remote`. Links inside an uploaded tree stay links; set-uid/set-gid bits are dropped."""

    def __init__(self, sftp: asyncssh.SFTPClient, progress: CopyProgress | None = None):
        self.sftp = sftp
        self.stats = TreeCopyStats()
        self.progress = progress or (lambda _stats: None)

    async def run(self, local: Path | str, remote: str) -> TreeCopyStats:
        source = Path(local)
        info = source.stat()
        target = remote
        if await self.sftp.isdir(remote):
            target = posixpath.join(remote, source.resolve().name or "root")
        await self._copy(source, target, info)
        return self.stats

    async def _copy(self, path: Path, remote: str, info: os.stat_result) -> None:
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            if not await self.sftp.isdir(remote):
                await self._remove(remote)
                await self.sftp.mkdir(remote)
            for child in sorted(os.scandir(path), key=lambda entry: entry.name):
                await self._copy(
                    Path(child.path), posixpath.join(remote, child.name), child.stat(follow_symlinks=False)
                )
            await self._finish(remote, info)
            self.stats.directories += 1
        elif stat.S_ISLNK(mode):
            await self._remove(remote)
            await self.sftp.symlink(os.readlink(path), remote)
            self.stats.symlinks += 1
        elif stat.S_ISREG(mode):
            await self._copy_file(path, remote, info)
        else:
            self.stats.skipped.append(str(path))

    async def _copy_file(self, path: Path, remote: str, info: os.stat_result) -> None:
        if await self.sftp.islink(remote):
            await self.sftp.remove(remote)  # replace a link, never write through it
        with path.open("rb") as source:
            async with self.sftp.open(remote, "wb") as target:
                while chunk := await asyncio.to_thread(source.read, CHUNK):
                    await target.write(chunk)
                    self.stats.bytes += len(chunk)
                    self.progress(self.stats)
        await self._finish(remote, info)
        self.stats.files += 1

    async def _finish(self, remote: str, info: os.stat_result) -> None:
        await self.sftp.chmod(remote, stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
        await self.sftp.utime(remote, (int(info.st_atime), int(info.st_mtime)))

    async def _remove(self, remote: str) -> None:
        """Clear a non-directory at `remote` (a link or file in the way of what replaces it)."""
        try:
            attrs = await self.sftp.lstat(remote)
        except asyncssh.SFTPNoSuchFile:
            return
        if stat.S_ISDIR(attrs.permissions or 0):
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way", remote)
        await self.sftp.remove(remote)


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
