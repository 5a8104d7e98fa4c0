"""Namespace plumbing for sandboxes; also runs as a standalone stdlib-only script.

    python -I -S nshelper.py init          (JSON config on stdin)
    python -I -S nshelper.py enter CONFIG_JSON -- ARGV...
    python -I -S nshelper.py socket CONFIG_JSON    (the socket goes back over the fd CONFIG names)

`init` is launched by `Sandbox.boot`. The launcher process creates the VM's user namespace (its ids
0..count-1 are host ids base.., `cfg["ids"]`), unshares a pid namespace and clones the VM's init
(pid 1 inside) as a sibling, a child of the daemon (CLONE_PARENT), prints `init <its host pid>` and
exits: no process of the engine stays beside a running VM. The init unshares
mount/uts/ipc/net/cgroup namespaces (owned by the host's user namespace, so the VM's root has no
capability over them), mounts every layer as an idmapped mount of the VM's user namespace (files
keep host ids on disk and belong to the VM's ids inside), the overlay root (created as the VM's
root: `_act_as`), /dev (tmpfs with host device nodes bound in, a private devpts), /proc (sensitive
files masked or read-only), /sys (read-only) and /run, pivots into the root, sets the hostname,
brings `lo` up, joins the VM's user namespace as its root, prints `ready` on stdout and execs
`cfg["init"]`: catatonit in pause mode (`-P`), a static C init of under 1 MB that runs no program,
reaps every orphan and exits on SIGTERM or SIGINT, after which the kernel kills the rest of the VM
and drops every mount with the mount namespace (`Sandbox.stop` first gives the VM's programs a
SIGTERM and a grace period). The init binary is opened before the pivot and run from that fd: it
need not exist in the VM's image. On a setup failure the init prints `error: <reason>`; the line is
on a close-on-exec fd, so the daemon reads until end of file and the last line tells whether the
init runs.
Mount targets inside the VM's root are opened without following symlinks and mounted through
/proc/self/fd (see `_mount_point`): the root's layers may be VM-written.

`enter` runs a command inside a running VM: it joins the VM's cgroups, enters all its namespaces
(the user namespace last, becoming the VM's root) and its root, changes to the working directory
(resolved inside the VM), then forks the command with only the VM's environment, a reduced
capability bounding set (no CAP_SYS_ADMIN, no mknod, no module loading...), no_new_privs and the
seccomp filter the daemon compiled (`seccomp_filter.py`), so root in a VM cannot undo the isolation.
From the moment it has entered, the helper holds nothing but the VM's privileges. It forwards
signals to the command's process group and exits with the command's status (128+N when killed by
signal N). SIGTERM is forwarded, and escalated to SIGKILL of the whole group after a grace period.

Without root (`"rootless": true`), the launcher first creates a user namespace mapping the caller's
uid/gid to root, and every helper joins it before the VM's other namespaces; overlayfs then keeps
its whiteouts/opaque marks in `user.overlay.*` xattrs (`userxattr`). Such a VM has a single uid:
files of other owners (the host's /usr) are read-only to it, and no cgroup limits apply.

Python 3.11 has no os.unshare/os.setns, hence ctypes. Importing this module has no side effects;
`setns` and the CLONE_* constants are reused by the daemon (`Sandbox.open_tcp`).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import platform
import signal
import socket
import stat
import struct
import sys
import termios
import warnings  # noqa: F401  (os.execvpe imports it lazily, which fails once inside the VM root)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SECBIT_NO_SETUID_FIXUP = 1 << 2
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_IDMAP = 0x00100000
# The new mount API has one syscall table for every architecture (asm-generic numbers).
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
_PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

# Capabilities a VM's processes keep (Docker's default set minus mknod); everything else, notably
# CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_MODULE, CAP_SYS_PTRACE and CAP_NET_ADMIN, is dropped.
KEPT_CAPABILITIES = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31})
TTY_GID = 5
ENTER_SETUP_FAILED = 125
TERM_GRACE_SECONDS = 2.0
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "kallsyms", "keys", "timer_list", "sched_debug")  # files: /dev/null bound over them
HIDDEN_DIRS = ("proc/acpi", "proc/scsi", "proc/asound", "sys/firmware", "sys/devices/virtual/powercap")
OVERLAY_OPTIONS_MAX = 4000  # the kernel copies mount options into one page
MOUNT_POINTS = {"dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755, "tmp": 0o1777}
"""Directories right under every VM's root that the engine mounts onto or creates (name -> mode of a
new one); `usr` and `host_binds` names too when the image uses the host's."""

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace behind `fd` (a /proc/PID/ns/* file)."""
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def stat_fields(pid: int) -> list[bytes]:
    """Fields of /proc/PID/stat after the command name (state first), or [] if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return []


def process_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process, else None."""
    fields = stat_fields(pid)
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def process_state(pid: int) -> str | None:
    """The state letter of a process (R, S, T for stopped, Z...), None if there is none."""
    fields = stat_fields(pid)
    return fields[0].decode() if fields else None


# -- init ------------------------------------------------------------------------------------------


def _overlay(target: str, lower: list[str], upper: str, work: str, rootless: bool) -> None:
    # No directory redirects, no index, no metacopy: layers are plain upper-dir trees anyone can copy.
    # (userxattr implies redirect_dir=nofollow, the same thing, and refuses an explicit "off".)
    features = "userxattr,index=off,metacopy=off" if rootless else "redirect_dir=off,index=off,metacopy=off"
    options = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work},{features}"
    if len(options) > OVERLAY_OPTIONS_MAX:
        raise OSError(f"layer chain too deep for one overlay mount ({len(lower)} layers)")
    mount("overlay", target, "overlay", MS_NODEV, options)


def _read_only_bind(source: str, target: str, flags: int = 0) -> None:
    """Bind `source` read-only at `target`; `flags` repeats the source's nosuid/nodev/noexec, which a
    user namespace may not clear."""
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def _attach(source: str, target: str, userns_fd: int | None, read_only: bool) -> None:
    """Make the host directory `source` appear at `target`. With `userns_fd` (a VM's user namespace)
    it is an idmapped mount: host uid/gid N shows as the VM's N, so the VM's root owns its image and
    layers while on disk every file keeps host ids (root stays 0), as in layers made before."""
    if userns_fd is None:
        if read_only:
            _read_only_bind(source, target)
        else:
            mount(source, target, None, MS_BIND | MS_REC)
        return
    tree = _syscall(SYS_OPEN_TREE, AT_FDCWD, source.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    try:
        attrs = MOUNT_ATTR_IDMAP | (MOUNT_ATTR_RDONLY if read_only else 0)
        mount_attr = ctypes.create_string_buffer(struct.pack("QQQQ", attrs, 0, 0, userns_fd))
        try:
            _syscall(SYS_MOUNT_SETATTR, tree, b"", AT_EMPTY_PATH, mount_attr, len(mount_attr.raw))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot idmap {source}: {exc.strerror}") from None
        _syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH)
    finally:
        os.close(tree)


def _mount_point(root_fd: int, name: str, mode: int) -> int:
    """An fd of the directory `name` right under the VM's root, to mount onto through /proc/self/fd.

    Never follows a symlink: an image or a VM's own writable layer (committed, then booted) may hold
    a symlink or a file where the engine mounts, and a mount through it would land on the host. Such
    an entry is replaced by a new directory (in the VM's writable layer); a missing one is created."""
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=root_fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=root_fd)
            raise FileNotFoundError(name)
    except FileNotFoundError:
        os.mkdir(name, mode, dir_fd=root_fd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
        os.fchmod(fd, mode)
        return fd
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)


def _fd_path(fd: int) -> str:
    """A mount target naming exactly the directory behind `fd` (resolved by the kernel, not by path)."""
    return f"/proc/self/fd/{fd}"


def _populate_dev(dev: str, tty_group: str) -> None:
    """Device nodes, devpts, shm and the fd links in the VM's fresh /dev tmpfs."""
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    os.mkdir(f"{dev}/pts")
    mount(
        "devpts",
        f"{dev}/pts",
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        f"newinstance,ptmxmode=0666,mode=0620{tty_group}",
    )
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    os.mkdir(f"{dev}/shm")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    os.symlink("/proc/self/fd", f"{dev}/fd")


def _restrict_proc(proc: str) -> None:
    """Sensitive files of the VM's fresh procfs: read-only or masked."""
    for name in PROC_READ_ONLY:
        if os.path.exists(f"{proc}/{name}"):
            _read_only_bind(f"{proc}/{name}", f"{proc}/{name}", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_MASKED:
        if os.path.exists(f"{proc}/{name}"):
            mount("/dev/null", f"{proc}/{name}", None, MS_BIND)


def _pivot_root() -> None:
    """Make the current directory the root; the old root is detached, unreachable from the VM."""
    number = _PIVOT_ROOT_SYSCALL.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unsupported architecture {platform.machine()}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    umount(".", MNT_DETACH)
    os.chdir("/")


def _loopback_up() -> None:
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))


def _write_identity_files(hostname: str) -> None:
    """The VM's hostname in /etc (hosts keeps the VM's own edits: only a missing line for the
    hostname is added), and a root account when the image has no /etc/passwd. Run as the VM's root:
    these paths are the VM's to point anywhere."""
    if not os.path.isdir("/etc"):
        return
    with open("/etc/hostname", "w") as f:
        f.write(f"{hostname}\n")
    try:
        with open("/etc/hosts") as f:
            hosts = f.read()
    except FileNotFoundError:
        hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    if hostname not in hosts.split():
        with open("/etc/hosts", "w") as f:
            f.write(f"{hosts.rstrip()}\n127.0.1.1\t{hostname}\n".lstrip())
    for name, line in (("passwd", "root:x:0:0:root:/root:/bin/sh"), ("group", "root:x:0:")):
        if not os.path.lexists(f"/etc/{name}"):  # tools such as sftp-server need a name for uid 0
            with open(f"/etc/{name}", "w") as f:
                f.write(f"{line}\n")


def _setup_vm(cfg: dict, userns_fd: int | None) -> None:
    unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    ids = cfg["ids"]
    if ids is not None:
        # The VM's root is not the host's, so it cannot take ports below 1024 in a network
        # namespace the host owns; in its own network that protection has no point.
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
            f.write("0")
        _act_as(ids["base"])
    os.chdir(cfg["vm_dir"])  # layers are mounted on short relative paths: options fit in one page
    for target, source in cfg["layers"]:
        _attach(source, target, userns_fd, read_only=True)
    # The writable layer (upper and work dirs, on the VM's disk) as one mount, as overlayfs wants.
    _attach(cfg["writable"], "rw", userns_fd, read_only=False)
    root, rootless = "mnt", cfg["rootless"]
    _overlay(root, cfg["root"]["lower"], cfg["root"]["upper"], cfg["root"]["work"], rootless)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    points = {name: _mount_point(root_fd, name, mode) for name, mode in MOUNT_POINTS.items()}
    if cfg["usr"] is not None:
        points["usr"] = _mount_point(root_fd, "usr", 0o755)
        _overlay(
            _fd_path(points["usr"]), cfg["usr"]["lower"], cfg["usr"]["upper"], cfg["usr"]["work"], rootless
        )
    for name in cfg["host_binds"]:
        points[name] = _mount_point(root_fd, name, 0o755)
        _attach(f"/{name}", _fd_path(points[name]), userns_fd, read_only=True)
    # tmpfs roots belong to the VM's root; only gid 0 is mapped in a rootless VM (no tty group there)
    owner = "" if ids is None else f",uid={ids['base']},gid={ids['base']}"
    mount("tmpfs", _fd_path(points["dev"]), "tmpfs", MS_NOSUID | MS_NOEXEC, f"mode=755,size=1m{owner}")
    _populate_dev(f"{root}/dev", "" if ids is None else f",gid={ids['base'] + TTY_GID}")
    mount("proc", _fd_path(points["proc"]), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _restrict_proc(f"{root}/proc")
    mount("sysfs", _fd_path(points["sys"]), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for rel in HIDDEN_DIRS:  # host hardware details (firmware tables, DMI...) stay out of sight
        if os.path.isdir(f"{root}/{rel}"):
            mount("tmpfs", f"{root}/{rel}", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
    mount("tmpfs", _fd_path(points["run"]), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=755,size=64m{owner}")
    for fd in (*points.values(), root_fd):
        os.close(fd)
    os.chdir(root)
    _pivot_root()
    name = cfg["hostname"].encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
    _loopback_up()


def _act_as(uid: int) -> None:
    """Create files as host `uid` (the VM's root) while keeping every capability, so that what the
    setup writes through idmapped mounts (and the overlay it mounts, which records its mounter) lands
    on disk as the VM's root: host root itself has no identity inside those mounts."""
    _check(_libc.prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0), "keep capabilities")
    _libc.setfsgid(uid)
    _libc.setfsuid(uid)


def _vm_user_namespace(ids: dict) -> int:
    """A new user namespace where 0..count-1 are host base..base+count-1; returns an fd to it.

    A short-lived child creates it (a process cannot map ids beyond its own into a namespace it
    joined itself) and the caller, host root in the parent namespace, writes its maps."""
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            unshare(CLONE_NEWUSER)
            answer = b"1"
        except OSError:
            answer = b"0"
        os.write(ready_write, answer)
        os.read(go_read, 1)
        os._exit(0)
    try:
        if os.read(ready_read, 1) != b"1":
            raise OSError("cannot create the VM's user namespace")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{child}/{name}", "w") as f:
                f.write(f"0 {ids['base']} {ids['count']}")
        return os.open(f"/proc/{child}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.write(go_write, b"1")
        os.waitpid(child, 0)
        for fd in (ready_read, ready_write, go_read, go_write):
            os.close(fd)


def _become_vm_root(userns_fd: int) -> None:
    """Join the VM's user namespace as its root: from here on no capability reaches a host object."""
    setns(userns_fd, CLONE_NEWUSER)
    os.close(userns_fd)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


INIT_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
"""Blocked from the init's first instruction: a signal sent before the init binary runs stays
pending across exec and is read by it, instead of killing the half-made init or being lost."""
INIT_ARGV = ["catatonit", "-P"]
CLONE_PARENT = 0x00008000
SYS_CLONE3 = 435  # the same number on every architecture
CLONE_ARGS_SIZE = 64  # struct clone_args up to `tls` (CLONE_ARGS_SIZE_VER0)


def _clone_sibling() -> int:
    """fork(), but the child's parent is our parent (CLONE_PARENT): the daemon itself reaps the VM's
    init, so this launcher can exit. 0 in the child, its pid in the caller."""
    args = ctypes.create_string_buffer(struct.pack("8Q", CLONE_PARENT, 0, 0, 0, 0, 0, 0, 0), CLONE_ARGS_SIZE)
    return _syscall(SYS_CLONE3, args, ctypes.c_size_t(CLONE_ARGS_SIZE))


def _init_child(cfg: dict, userns_fd: int | None) -> None:
    """The VM's pid 1: set up the VM, report `ready`, become the init binary. Never returns."""
    signal.pthread_sigmask(signal.SIG_BLOCK, INIT_SIGNALS)
    status_fd = os.dup(1)  # close-on-exec: end of file tells the daemon that the init runs
    try:
        init_fd = os.open(cfg["init"], os.O_RDONLY | os.O_CLOEXEC)  # before the host's tree is gone
        _setup_vm(cfg, userns_fd)
        try:  # when the VM exceeds its memory limit, the OOM killer takes its programs, never its init
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("-1000")
        except OSError:  # not allowed without root
            pass
        if userns_fd is not None:
            _become_vm_root(userns_fd)
        _write_identity_files(cfg["hostname"])
    except Exception as exc:  # noqa: BLE001  (anything: report it on the status line, never a traceback)
        os.write(status_fd, f"error: {exc}\n".encode())
        os._exit(1)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.write(status_fd, b"ready\n")
    try:
        os.execve(init_fd, INIT_ARGV, {})
    except OSError as exc:
        os.write(status_fd, f"error: cannot start the VM's init: {exc.strerror}\n".encode())
    os._exit(1)


def _own_user_namespace() -> None:
    """Without root: a user namespace where the caller's uid/gid are root, owning the VM's others."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def run_init() -> None:
    cfg = json.loads(sys.stdin.read())
    for procs in cfg["cgroup_procs"]:  # joined before cloning, so all of the VM is inside
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    userns_fd = None
    try:
        if cfg["rootless"]:
            _own_user_namespace()
        else:
            userns_fd = _vm_user_namespace(cfg["ids"])
        unshare(CLONE_NEWPID)
        child = _clone_sibling()
    except OSError as exc:
        print(f"error: cannot create the VM's namespaces: {exc}", flush=True)
        sys.exit(1)
    if child == 0:
        _init_child(cfg, userns_fd)
    print(f"init {child}", flush=True)


# -- enter -----------------------------------------------------------------------------------------


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _fail(message: str, code: int = ENTER_SETUP_FAILED) -> None:
    os.write(2, f"vmtui: {message}\n".encode())
    os._exit(code)


def _enter_vm(cfg: dict) -> None:
    pid = cfg["pid"]
    if process_start_time(pid) != cfg["start"]:
        _fail("the VM is not running")
    try:
        for procs in cfg["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
    except OSError as exc:
        _fail(f"cannot join the VM's cgroup: {exc}")
    # A rootless VM's namespaces belong to its user namespace: join that first. A VM of a root daemon
    # has namespaces owned by the host and a user namespace that owns nothing: join it last, then
    # become its root (host root has no identity in there).
    names = ["cgroup", "ipc", "uts", "net", "pid", "mnt"]
    names = ["user", *names] if cfg["rootless"] else [*names, "user"]
    try:
        namespaces = [os.open(f"/proc/{pid}/ns/{n}", os.O_RDONLY) for n in names]
        root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
        for fd in namespaces:
            setns(fd, 0)
        if not cfg["rootless"]:
            os.setgroups([])
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        os.fchdir(root)
        os.chroot(".")
    except OSError as exc:
        _fail(f"cannot enter the VM: {exc}")
    for fd in (*namespaces, root):
        os.close(fd)
    try:
        os.chdir(cfg["cwd"])  # resolved inside the VM's root
    except OSError as exc:
        _fail(f"cannot change to {cfg['cwd']}: {exc.strerror}")


def _install_seccomp(program: bytes) -> None:
    """no_new_privs, then the compiled seccomp filter (an array of struct sock_filter)."""

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    code = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(code))
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "install seccomp filter"
    )


def _program(argv: list[str], cfg: dict, host_program: int | None) -> str | int:
    """What to exec: the first of `cfg["programs"]` that is executable in the VM, else the host
    program opened before entering (an fd, for fexecve), else argv[0] looked up in the VM's PATH."""
    for path in cfg.get("programs", []):
        if os.access(path, os.X_OK):
            return path
    if host_program is not None:
        return host_program
    if cfg.get("programs"):
        _fail(f"{argv[0]}: not found in the VM", 127)
    return argv[0]


def _exec_command(argv: list[str], cfg: dict, host_program: int | None) -> None:
    """In the forked child: new session, no privileges beyond the kept set, seccomp, then exec."""
    os.setsid()
    if os.isatty(0):
        try:  # job control and ^C for shells; without it the command still runs
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError:
            pass
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if cap not in KEPT_CAPABILITIES:
            _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    program = _program(argv, cfg, host_program)
    _install_seccomp(bytes.fromhex(cfg["seccomp"]))
    env = cfg["env"]
    try:
        if isinstance(program, int):
            os.execve(program, argv, env)
        os.execvpe(program, argv, env)
    except FileNotFoundError:
        _fail(f"{argv[0]}: command not found", 127)
    except OSError as exc:
        _fail(f"{argv[0]}: {exc.strerror}", 126)


def run_enter(cfg: dict, argv: list[str]) -> None:
    if not argv:
        _fail("no command given")
    host_program = None
    if cfg.get("host_program"):  # opened while the host's tree is still ours to read
        host_program = os.open(cfg["host_program"], os.O_RDONLY | os.O_CLOEXEC)
    _enter_vm(cfg)
    child = os.fork()
    if child == 0:
        try:
            _exec_command(argv, cfg, host_program)
        except Exception as exc:  # noqa: BLE001  (the forked child must never return into the helper)
            _fail(f"cannot start {argv[0]}: {exc}")

    def forward(signo: int, _frame: object) -> None:
        _signal_command(child, signo)
        if signo == signal.SIGTERM:
            signal.alarm(int(TERM_GRACE_SECONDS))

    def escalate(_signo: int, _frame: object) -> None:
        _signal_command(child, signal.SIGKILL)

    for sig in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
    ):
        signal.signal(sig, forward)
    signal.signal(signal.SIGALRM, escalate)
    _, status = os.waitpid(child, 0)
    sys.exit(_exit_code(status))


def _signal_command(child: int, signo: int) -> None:
    """Signal the command's process group (its own session), or the command alone before setsid()."""
    try:
        os.killpg(child, signo)
    except ProcessLookupError:
        try:
            os.kill(child, signo)
        except ProcessLookupError:
            pass


def run_socket(cfg: dict) -> None:
    """Create a TCP socket in the VM's network namespace and send it back over fd `cfg["fd"]` (SCM_RIGHTS).

    Used without root, where the daemon cannot setns() into a namespace owned by the VM's user
    namespace from one of its threads (a multithreaded process cannot join a user namespace)."""
    channel = socket.socket(fileno=cfg["fd"])
    if process_start_time(cfg["pid"]) != cfg["start"]:
        _fail("the VM is not running")
    namespaces = [("user", CLONE_NEWUSER)] if cfg["rootless"] else []
    for name, nstype in namespaces + [("net", CLONE_NEWNET)]:
        fd = os.open(f"/proc/{cfg['pid']}/ns/{name}", os.O_RDONLY)
        setns(fd, nstype)
        os.close(fd)
    sock = socket.socket(cfg["family"], socket.SOCK_STREAM)
    socket.send_fds(channel, [b"s"], [sock.fileno()])


def _with_env(cfg: dict) -> dict:
    """Read the environment from the private file the daemon wrote, and delete it."""
    path = cfg.pop("env_file")
    try:
        with open(path) as handle:
            cfg["env"] = json.load(handle)
        problem = None
    except (OSError, ValueError) as exc:
        problem = exc
    try:
        os.unlink(path)
    except OSError:
        pass
    if problem is not None:
        _fail(f"cannot read the VM environment: {problem}")
    return cfg


def main(args: list[str]) -> None:
    if args[:1] == ["init"]:
        run_init()
    elif args[:1] == ["socket"] and len(args) == 2:
        run_socket(json.loads(args[1]))
    elif args[:1] == ["enter"] and len(args) >= 3 and args[2] == "--":
        run_enter(_with_env(json.loads(args[1])), args[3:])
    else:
        _fail("usage: nshelper.py init | enter CONFIG -- ARGV... | socket CONFIG", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
