"""Root filesystem images for sandboxes.

An image is a directory holding:

    image.json   {"format": 1, "kind": "default" | "rootfs", "host_usr": bool, "host_binds": [...]}
    rootfs/      the tree that becomes the bottom (read-only) layer of the VM's root overlay

The default image ("kind": "default") is tiny: a generated private /etc (passwd/group with root, hosts,
resolv.conf, profile, os-release, plus a few public host files programs need to run, such as the
dynamic linker cache and /etc/alternatives), empty /root, /home, /tmp, /var, and the usr-merge symlinks
(bin -> usr/bin ...) as on the host. Its /usr is the HOST's /usr, mounted by the sandbox as the lowest
layer of a separate /usr overlay (`host_usr`); on a host that is not usr-merged, real top-level dirs
such as /bin are bound read-only (`host_binds`). Nothing secret from the host is copied: no shadow
file, no SSH host keys, nothing of /root or /home.

An imported image ("kind": "rootfs") is an uploaded rootfs tarball, extracted after validation.
Both are written to a temporary directory beside `dest` and renamed into place, so a crash never
leaves half an image under the final name.
"""

from __future__ import annotations

import json
import os
import posixpath
import secrets
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from vmtui.local import nshelper

IMAGE_FORMAT = 1
DEFAULT_MAX_IMAGE_BYTES = 8 * 1024**3
ENGINE_MOUNT_POINTS = frozenset({*nshelper.MOUNT_POINTS, "usr"})
"""Top-level names where the sandbox mounts (or creates) directories: an uploaded image must hold a
directory or nothing there (boot replaces anything else too, see nshelper._mount_point)."""
USR_MERGE_NAMES = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Public, non-secret host files that programs from the host's /usr expect to find in /etc.
HOST_ETC_ALLOWLIST = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "protocols",
    "services",
    "rpc",
    "ethertypes",
    "debian_version",
    "inputrc",
    "login.defs",
    "host.conf",
    "mime.types",
    "bash.bashrc",
    "environment",
    "ca-certificates.conf",
    "ssl/openssl.cnf",
)


class ImageError(ValueError):
    """An image could not be built, read or imported; the message is safe to show to users."""


@dataclass(frozen=True)
class ImageInfo:
    rootfs: Path
    host_usr: bool
    host_binds: tuple[str, ...]


def open_image(path: Path) -> ImageInfo:
    """Read an image directory made by build_default_image or import_rootfs_tarball."""
    try:
        meta = json.loads((path / "image.json").read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path} is not a vmtui image: {exc}") from exc
    if meta.get("format") != IMAGE_FORMAT or not (path / "rootfs").is_dir():
        raise ImageError(f"{path} is not a vmtui image of format {IMAGE_FORMAT}")
    return ImageInfo(path / "rootfs", bool(meta["host_usr"]), tuple(meta["host_binds"]))


def build_default_image(dest: Path) -> None:
    """Write the default host-derived image to `dest` (which must not exist), atomically."""
    with _PartialDir(dest) as tmp:
        rootfs = tmp / "rootfs"
        host_binds = _make_skeleton(rootfs)
        _write_etc(rootfs / "etc")
        _write_meta(tmp, kind="default", host_usr=True, host_binds=host_binds)


def import_rootfs_tarball(tar_path: Path, dest: Path, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> int:
    """Validate and extract a rootfs tarball (plain, gz, bz2 or xz) as an image at `dest`.

    Rejects absolute member names, `..`, device nodes, members reached through a symlink, non-directory
    members that repeat a name (extraction would write through the first one, e.g. a symlink), hard links
    to anything but an earlier regular file, relative symlinks pointing outside the tree, anything but a
    directory where the engine mounts (`ENGINE_MOUNT_POINTS`), and archives whose content exceeds
    `max_bytes`. Returns the size of the extracted tree in bytes.

    Absolute symlinks are kept (rootfs trees need them, e.g. /etc/localtime): they resolve inside the VM,
    and no host process follows them. Setuid/setgid bits and owners are kept too (the image's own `su`
    or `sudo` need them): they act only inside the VM, and the state dir (0700) is closed to host users.
    """
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = _validated_members(tar.getmembers(), max_bytes)
            with _PartialDir(dest) as tmp:
                rootfs = tmp / "rootfs"
                rootfs.mkdir(mode=0o755)
                tar.extractall(rootfs, members=members, numeric_owner=True, filter="fully_trusted")
                _write_meta(tmp, kind="rootfs", host_usr=False, host_binds=[])
                size = image_size(rootfs)
    except tarfile.ReadError as exc:
        raise ImageError("not a tar archive (plain, gzip, bzip2 or xz)") from exc
    except (tarfile.TarError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"cannot extract the tar archive: {first_line}") from exc
    return size


def image_size(path: Path) -> int:
    """Apparent size in bytes of every file under `path` (hard links counted once, links not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(top, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


class _PartialDir:
    """A temporary directory beside `dest`, synced and renamed to `dest` on success, removed on failure."""

    def __init__(self, dest: Path):
        if dest.exists():
            raise ImageError(f"{dest} already exists")
        self.dest = dest
        self.tmp = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"

    def __enter__(self) -> Path:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(mode=0o755)
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        sync_tree(self.tmp)
        os.rename(self.tmp, self.dest)
        fsync_dir(self.dest.parent)


def sync_tree(path: Path) -> None:
    """fsync every regular file and directory under `path` (not syncfs: that would flush the whole,
    possibly busy, filesystem and take far longer for a small tree)."""
    for top, _dirs, files in os.walk(path):
        for name in files:
            file_path = os.path.join(top, name)
            if stat.S_ISREG(os.lstat(file_path).st_mode):
                fd = os.open(file_path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(Path(top))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_meta(tmp: Path, *, kind: str, host_usr: bool, host_binds: list[str]) -> None:
    meta = {"format": IMAGE_FORMAT, "kind": kind, "host_usr": host_usr, "host_binds": host_binds}
    (tmp / "image.json").write_text(json.dumps(meta) + "\n")


def _make_skeleton(rootfs: Path) -> list[str]:
    """Directories of the default root; returns the top-level host dirs to bind (non-usr-merged hosts)."""
    modes = {
        "": 0o755,
        "etc": 0o755,
        "root": 0o700,
        "home": 0o755,
        "tmp": 0o1777,
        "var": 0o755,
        "var/tmp": 0o1777,
        "var/log": 0o755,
        "var/lib": 0o755,
        "var/cache": 0o755,
        "var/spool": 0o755,
        "usr": 0o755,
        "run": 0o755,
        "proc": 0o555,
        "sys": 0o555,
        "dev": 0o755,
        "mnt": 0o755,
        "opt": 0o755,
        "srv": 0o755,
        "media": 0o755,
    }
    for rel, mode in modes.items():
        path = rootfs / rel
        path.mkdir(exist_ok=True)
        os.chmod(path, mode)
    os.symlink("../run", rootfs / "var/run")
    host_binds = []
    for name in USR_MERGE_NAMES:
        host = Path("/") / name
        if host.is_symlink():
            os.symlink(os.readlink(host), rootfs / name)
        elif host.is_dir():
            (rootfs / name).mkdir()
            host_binds.append(name)
    return host_binds


def _write_etc(etc: Path) -> None:
    shell = "/bin/bash" if Path("/usr/bin/bash").exists() or Path("/bin/bash").exists() else "/bin/sh"
    files = {
        "passwd": (
            f"root:x:0:0:root:/root:{shell}\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "bin:x:2:2:bin:/bin:/usr/sbin/nologin\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        "group": (
            "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nstaff:x:50:\n"
            "users:x:100:\nnogroup:x:65534:\n"
        ),
        "shadow": "".join(f"{u}:*:20000:0:99999:7:::\n" for u in ("root", "daemon", "bin", "sys", "nobody")),
        "hostname": "localhost\n",
        "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "resolv.conf": "# local VMs have only a loopback network\nnameserver 127.0.0.1\n",
        "nsswitch.conf": (
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
            "protocols: files\nservices: files\nethers: files\nrpc: files\n"
        ),
        "shells": "/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n",
        "profile": (
            f'export PATH="{DEFAULT_PATH}"\n'
            'if [ "${PS1-}" ]; then\n'
            '  if [ "${BASH-}" ] && [ "$BASH" != "/bin/sh" ]; then\n'
            "    PS1='\\u@\\h:\\w\\$ '\n"
            "    [ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n"
            "  else\n"
            "    PS1='# '\n"
            "  fi\n"
            "fi\n"
        ),
        "os-release": _os_release(),
    }
    for name, text in files.items():
        (etc / name).write_text(text)
    os.chmod(etc / "shadow", 0o600)
    for rel in HOST_ETC_ALLOWLIST:
        _copy_host_etc(rel, etc)


def _copy_host_etc(rel: str, etc: Path) -> None:
    source, target = Path("/etc") / rel, etc / rel
    if not source.exists() and not source.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)


def _os_release() -> str:
    host: dict[str, str] = {}
    for candidate in (Path("/etc/os-release"), Path("/usr/lib/os-release")):
        if candidate.exists():
            for line in candidate.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    host[key] = value.strip('"')
            break
    base = host.get("PRETTY_NAME", "Linux")
    lines = [f'PRETTY_NAME="vmtui local VM ({base} userland)"', 'NAME="vmtui local VM"']
    lines += [
        f'{key}="{host[key]}"' for key in ("ID", "ID_LIKE", "VERSION_ID", "VERSION_CODENAME") if key in host
    ]
    lines += ['VARIANT="vmtui local VM"', "VARIANT_ID=vmtui"]
    return "\n".join(lines) + "\n"


def _validated_members(members: list[tarfile.TarInfo], max_bytes: int) -> list[tarfile.TarInfo]:
    """The members to extract (the root entry dropped), or ImageError naming the first bad one."""
    symlinks = {_member_path(m) for m in members if m.issym()}
    regular: set[str] = set()
    seen: dict[str, bool] = {}  # path -> is a directory
    kept, total = [], 0
    for member in members:
        path = _member_path(member)
        if path == ".":
            continue
        if member.ischr() or member.isblk():
            raise ImageError(f"device files are not allowed: {member.name}")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk() or member.isfifo()):
            raise ImageError(f"unsupported member type: {member.name}")
        _refuse_through_symlink(path, symlinks, member.name)
        if path in seen and not (seen[path] and member.isdir()):
            raise ImageError(f"duplicate member (would write through what the first one made): {member.name}")
        seen[path] = member.isdir()
        if path in ENGINE_MOUNT_POINTS and not member.isdir():
            raise ImageError(
                f"image entry '{path}' is {_kind(member)}; the engine mounts a filesystem there, "
                "so it must be a directory"
            )
        if member.issym():
            target = member.linkname
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if not target.startswith("/") and (resolved == ".." or resolved.startswith("../")):
                raise ImageError(f"symlink escapes the root: {member.name} -> {target}")
        if member.islnk():
            target = _member_path(tarfile.TarInfo(member.linkname))
            if target not in regular:
                raise ImageError(f"hard link to something that is not an earlier file: {member.name}")
        if member.isreg():
            regular.add(path)
            total += member.size
            if total > max_bytes:
                raise ImageError(f"the image is larger than the limit of {max_bytes} bytes")
        kept.append(member)
    return kept


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symlink"
    if member.islnk():
        return "a hard link"
    return "a fifo" if member.isfifo() else "a file"


def _member_path(member: tarfile.TarInfo) -> str:
    name = member.name
    if name.startswith("/"):
        raise ImageError(f"absolute path in archive: {name}")
    if ".." in name.split("/"):
        raise ImageError(f"'..' in archive path: {name}")
    return posixpath.normpath(name)


def _refuse_through_symlink(path: str, symlinks: set[str], shown: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in symlinks:
            raise ImageError(f"member reached through a symlink: {shown}")
