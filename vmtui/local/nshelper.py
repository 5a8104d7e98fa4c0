"""Namespace plumbing for sandboxes; also runs as a standalone stdlib-only script.

    python -I -S nshelper.py init          (JSON config on stdin)
    python -I -S nshelper.py enter CONFIG_JSON -- ARGV...
    python -I -S nshelper.py socket CONFIG_JSON    (the socket goes back over the fd CONFIG names)

`init` is launched by `Sandbox.boot`. The launcher process unshares a pid namespace and forks the
VM's init (pid 1 inside), which unshares mount/uts/ipc/net/cgroup namespaces, mounts the overlay
root, /dev (tmpfs with host device nodes bound in, a private devpts), /proc (sensitive files masked
read-only), /sys (read-only) and /run, pivots into the root, sets the hostname, brings `lo` up,
prints `ready <host pid of init>` on stdout and then only reaps zombies. On SIGTERM it sends SIGTERM
to every process of the VM, waits up to a second and exits, which makes the kernel kill the rest
and drop every mount with the mount namespace. On a setup failure it prints `error: <reason>`.
Mount targets inside the VM's root are opened without following symlinks and mounted through
/proc/self/fd (see `_mount_point`): the root's layers may be VM-written.

`enter` runs a command inside a running VM: it joins the VM's cgroups, enters all its namespaces
and its root, changes to the working directory (resolved inside the VM), then forks the command
with only the VM's environment and a reduced capability bounding set (no CAP_SYS_ADMIN, no
mknod, no module loading...), so root in a VM cannot undo the isolation. It forwards signals to
the command's process group and exits with the command's status (128+N when killed by signal N).
SIGTERM is forwarded, and escalated to SIGKILL of the whole group after a grace period.

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
import time
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
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
_PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

# Capabilities a VM's processes keep (Docker's default set minus mknod); everything else, notably
# CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_MODULE, CAP_SYS_PTRACE and CAP_NET_ADMIN, is dropped.
KEPT_CAPABILITIES = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31})
ENTER_SETUP_FAILED = 125
TERM_GRACE_SECONDS = 2.0
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "keys", "timer_list", "sched_debug")  # files: /dev/null bound over them
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


def _stat_fields(pid: int) -> list[bytes]:
    """Fields of /proc/PID/stat after the command name (state first), or [] if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return []


def process_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process, else None."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def process_state(pid: int) -> str | None:
    """The state letter of a process (R, S, T for stopped, Z...), None if there is none."""
    fields = _stat_fields(pid)
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


def _populate_dev(dev: str, rootless: bool) -> None:
    """Device nodes, devpts, shm and the fd links in the VM's fresh /dev tmpfs."""
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    os.mkdir(f"{dev}/pts")
    tty_group = "" if rootless else ",gid=5"  # only gid 0 is mapped in a rootless VM
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


def _set_identity(hostname: str) -> None:
    """The VM's hostname, in the kernel and in /etc (hosts keeps the VM's own edits: only a missing
    line for the hostname is added)."""
    name = hostname.encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
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


def _setup_vm(cfg: dict) -> None:
    unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.chdir(cfg["vm_dir"])  # lower dirs are short relative symlinks: keeps options under one page
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
        _read_only_bind(f"/{name}", _fd_path(points[name]))
    mount("tmpfs", _fd_path(points["dev"]), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m")
    _populate_dev(f"{root}/dev", rootless)
    mount("proc", _fd_path(points["proc"]), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _restrict_proc(f"{root}/proc")
    mount("sysfs", _fd_path(points["sys"]), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for rel in HIDDEN_DIRS:  # host hardware details (firmware tables, DMI...) stay out of sight
        if os.path.isdir(f"{root}/{rel}"):
            mount("tmpfs", f"{root}/{rel}", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
    mount("tmpfs", _fd_path(points["run"]), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    for fd in (*points.values(), root_fd):
        os.close(fd)
    os.chdir(root)
    _pivot_root()
    _set_identity(cfg["hostname"])
    _loopback_up()


INIT_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _catch_init_signals() -> None:
    """Block and handle the signals init waits for: the kernel drops signals a namespace's init has
    no handler for, so this must be done before anyone learns that the VM is ready."""
    for sig in INIT_SIGNALS:
        signal.signal(sig, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, INIT_SIGNALS)


def _reap_forever() -> None:
    """pid 1's loop: reap every orphan; on SIGTERM/SIGINT/SIGHUP terminate the VM's processes and exit."""
    while True:
        info = signal.sigwaitinfo(INIT_SIGNALS)
        _reap_children()
        if info.si_signo != signal.SIGCHLD:
            break
    try:
        os.kill(-1, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if not _reap_children():
            break
        time.sleep(0.02)
    os._exit(0)


def _reap_children() -> bool:
    """Reap every exited child; True while some children are still running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _init_child(cfg: dict, status_fd: int) -> None:
    host_pid = int(os.readlink("/proc/self"))  # the host's procfs is still mounted here
    _catch_init_signals()
    try:
        _setup_vm(cfg)
    except Exception as exc:  # noqa: BLE001  (anything: report it on the status line, never a traceback)
        os.write(status_fd, f"error: {exc}\n".encode())
        os._exit(1)
    _libc.prctl(PR_SET_NAME, b"init", 0, 0, 0)  # `ps -e` in the VM shows init, not python3
    try:  # when the VM exceeds its memory limit, the OOM killer takes its programs, never its init
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
    except OSError:  # not allowed without root
        pass
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 2):
        os.dup2(null, fd)
    os.write(status_fd, f"ready {host_pid}\n".encode())
    os.dup2(null, status_fd)
    os.close(null)
    _reap_forever()


def _own_user_namespace() -> None:
    """Without root: a user namespace where the caller's uid/gid are root, owning the VM's others."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def run_init() -> None:
    cfg = json.loads(sys.stdin.read())
    for procs in cfg["cgroup_procs"]:  # joined before forking, so all of the VM is inside
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if cfg["rootless"]:
        try:
            _own_user_namespace()
        except OSError as exc:
            print(f"error: cannot create a user namespace (needed without root): {exc}", flush=True)
            sys.exit(1)
    unshare(CLONE_NEWPID)
    child = os.fork()
    if child == 0:
        _init_child(cfg, 1)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signo, _frame: os.kill(child, signal.SIGTERM))
    _, status = os.waitpid(child, 0)
    sys.exit(_exit_code(status))


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
    try:
        names = ["user"] if cfg["rootless"] else []
        names += ["cgroup", "ipc", "uts", "net", "pid", "mnt"]
        namespaces = [os.open(f"/proc/{pid}/ns/{n}", os.O_RDONLY) for n in names]
        root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
        for fd in namespaces:
            setns(fd, 0)
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


def _exec_command(argv: list[str], env: dict[str, str]) -> None:
    """In the forked child: new session, no privileges beyond the kept set, then exec."""
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
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        _fail(f"{argv[0]}: command not found", 127)
    except OSError as exc:
        _fail(f"{argv[0]}: {exc.strerror}", 126)


def run_enter(cfg: dict, argv: list[str]) -> None:
    if not argv:
        _fail("no command given")
    _enter_vm(cfg)
    child = os.fork()
    if child == 0:
        try:
            _exec_command(argv, cfg["env"])
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
