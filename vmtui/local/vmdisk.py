"""A VM's disk quota: a sparse ext4 image, loop-mounted where the VM's writable layer lives.

    vm_dir/disk.img   sparse file of `size_mib` holding an ext4 file system
    vm_dir/disk/      its mount point (in the daemon's mount namespace); holds the overlays' upper/
                      and work/ dirs, so `Sandbox.capture` copies them from there

A VM that fills its disk gets ENOSPC inside itself, while the state dir's file system holds only the
blocks the VM really uses: the image is sparse, and `discard` punches the holes back when the VM
deletes files. Each image starts as a copy of a per-size template (mkfs.ext4 runs once per size, the
copy skips holes and takes about a millisecond). The loop device is attached with autoclear, so it
vanishes with the last unmount (the daemon's and the VM mount namespace's); deleting the image then
frees the space.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
import stat
import struct
import subprocess
from pathlib import Path

from vmtui.local import nshelper

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LOOP_SET_CAPACITY = 0x4C07
LO_FLAGS_AUTOCLEAR = 4
LOOP_MAJOR = 7
LOOP_INFO64 = struct.Struct("=QQQQQIIII64s64s32sQQ")
MOUNT_OPTIONS = "discard,noinit_itable"
"""discard: files the VM deletes free the image's blocks on the host again. noinit_itable: the inode
tables of a sparse image already read as zeros, so the kernel need not write them in the background."""


class DiskError(Exception):
    """The VM's disk cannot be made or mounted; the message is safe to show to users."""


class VmDisk:
    """The disk image of the VM in `vm_dir`, limited to `size_mib` MiB; `templates` holds one empty
    image per size, shared by every VM."""

    def __init__(self, vm_dir: Path, size_mib: int, templates: Path):
        self.vm_dir = vm_dir
        self.size_mib = size_mib
        self.templates = templates

    @property
    def image(self) -> Path:
        return self.vm_dir / "disk.img"

    @property
    def mount_point(self) -> Path:
        return self.vm_dir / "disk"

    @property
    def mounted(self) -> bool:
        return os.path.ismount(self.mount_point)

    def attach(self) -> None:
        """Make the image on first use (from the template) and mount it unless it already is."""
        self.mount_point.mkdir(parents=True, exist_ok=True)
        if self.mounted:
            return
        if not self.image.exists():
            self._copy_template()
        image_fd = os.open(self.image, os.O_RDWR | os.O_CLOEXEC)
        try:
            loop_fd, device = _attach_loop(image_fd)
        finally:
            os.close(image_fd)
        target = str(self.mount_point)
        try:  # the loop stays open until mounted: autoclear would detach it at the last close
            # A private bind below the disk: on a host whose / is shared (systemd), the disk's mount
            # would otherwise propagate into other mount namespaces and keep it alive after delete.
            nshelper.mount(target, target, None, nshelper.MS_BIND)
            nshelper.mount(None, target, None, nshelper.MS_PRIVATE)
            nshelper.mount(device, target, "ext4", nshelper.MS_NOSUID | nshelper.MS_NODEV, MOUNT_OPTIONS)
        except OSError as exc:
            raise DiskError(f"cannot mount the VM's disk: {exc.strerror or exc}") from exc
        finally:
            os.close(loop_fd)

    def grow(self, size_mib: int) -> None:
        """Make the disk `size_mib` MiB (only ever larger): the sparse image grows, then its file system,
        online while mounted (the loop device learns the new size first), offline otherwise. When the
        file system cannot grow (an online resize needs CAP_SYS_RESOURCE), the image gets its old size
        back and nothing has changed."""
        if size_mib <= self.size_mib:
            raise DiskError(f"the disk can only grow: it has {self.size_mib} MiB, {size_mib} MiB asked")
        resize2fs = shutil.which("resize2fs") or shutil.which("resize2fs", path="/usr/sbin:/sbin")
        if resize2fs is None:
            raise DiskError("resize2fs (e2fsprogs) is needed to grow a VM's disk; install it")
        device = _loop_device_of(self.image) if self.mounted else None
        self._set_size(size_mib, device)
        done = subprocess.run(
            [resize2fs, "-f", device or str(self.image)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            self._set_size(self.size_mib, device)
            reason = (done.stderr.strip().splitlines() or ["resize2fs failed"])[-1]
            raise DiskError(f"cannot grow the disk to {size_mib} MiB: {reason}")
        self.size_mib = size_mib

    def _set_size(self, size_mib: int, device: str | None) -> None:
        with open(self.image, "r+b") as handle:
            handle.truncate(size_mib * 1024 * 1024)
        if device is not None:
            loop_fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.ioctl(loop_fd, LOOP_SET_CAPACITY, 0)
            finally:
                os.close(loop_fd)

    def _copy_template(self) -> None:
        template = self._template()
        tmp = self.image.with_name(f".disk.img.partial-{secrets.token_hex(4)}")
        try:
            _sparse_copy(template, tmp)
            os.rename(tmp, self.image)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _template(self) -> Path:
        """The empty ext4 image of this size, made once (atomically) and shared by every VM."""
        folder = self.templates
        template = folder / f"ext4-{self.size_mib}m.img"
        if template.exists():
            return template
        mkfs = shutil.which("mkfs.ext4") or shutil.which("mkfs.ext4", path="/usr/sbin:/sbin")
        if mkfs is None:
            raise DiskError("mkfs.ext4 (e2fsprogs) is needed to give VMs a disk quota; install it")
        folder.mkdir(mode=0o700, exist_ok=True)
        tmp = folder / f".{template.name}.partial-{secrets.token_hex(4)}"
        try:
            with open(tmp, "wb") as handle:
                handle.truncate(self.size_mib * 1024 * 1024)
            done = subprocess.run(
                [mkfs, "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(tmp)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                reason = (done.stderr.strip().splitlines() or ["mkfs.ext4 failed"])[-1]
                raise DiskError(f"cannot make a {self.size_mib} MiB disk: {reason}")
            os.rename(tmp, template)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return template


def _attach_loop(image_fd: int) -> tuple[int, str]:
    """A free loop device backed by `image_fd` (autoclear); returns its open fd and its path."""
    config = (
        struct.pack("=II", image_fd, 0)
        + LOOP_INFO64.pack(0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR, b"", b"", b"", 0, 0)
        + bytes(64)
    )
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(32):  # another process may take the free device between the two calls
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
            device = f"/dev/loop{number}"
            if not os.path.exists(device):  # a /dev without devtmpfs
                os.mknod(device, stat.S_IFBLK | 0o600, os.makedev(LOOP_MAJOR, number))
            loop_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.ioctl(loop_fd, LOOP_CONFIGURE, config)
            except OSError as exc:
                os.close(loop_fd)
                if exc.errno == errno.EBUSY:
                    continue
                raise DiskError(f"cannot attach a loop device for the VM's disk: {exc.strerror}") from exc
            return loop_fd, device
    except OSError as exc:
        raise DiskError(f"no loop device for the VM's disk: {exc.strerror or exc}") from exc
    finally:
        os.close(control)
    raise DiskError("no free loop device for the VM's disk")


def _loop_device_of(image: Path) -> str | None:
    """The loop device backed by `image`, from sysfs (None when none is)."""
    wanted = str(image.resolve())
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().strip() == wanted:
                return f"/dev/{backing.parent.parent.name}"
        except OSError:
            continue
    return None


def _sparse_copy(source: Path, dest: Path) -> None:
    """Copy only the data extents of `source` (holes stay holes). No fsync of its own: the ext4 on
    top flushes the loop device (an fsync of this file) at its first journal commit, and a VM whose
    create did not complete is discarded at the next start anyway."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(src).st_size
            os.ftruncate(dst, size)
            offset = 0
            while offset < size:
                try:
                    data = os.lseek(src, offset, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # only a hole is left
                        break
                    raise
                hole = os.lseek(src, data, os.SEEK_HOLE)
                while data < hole:
                    data += os.copy_file_range(src, dst, hole - data, data, data)
                offset = hole
        finally:
            os.close(dst)
    finally:
        os.close(src)
