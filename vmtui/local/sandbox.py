"""One VM of the local engine: Linux namespaces + an overlayfs root, driven from the daemon.

A VM directory (`SandboxSpec.vm_dir`) holds:

    disk.img, disk/         the VM's disk (`SandboxSpec.disk_mib`, see vmdisk.py): a sparse ext4 image
                            mounted at disk/ (a plain directory when the VM has no quota)
    disk/upper/root, disk/upper/usr   the writable layer (overlayfs upper dirs), kept across stop/boot
    disk/work/root, disk/work/usr     overlayfs work dirs
    lower/0, lower/1 ...    mount points for the spec's layers (lower/image for the image's rootfs,
                            lower/hostusr for the host's /usr), rebuilt at each boot, so long commit
                            chains fit the one-page limit of mount options and odd characters in
                            paths never reach them
    rw/                     mount point for disk/ as the VM sees it (idmapped: upper and work dirs)
    image/                  the default image, built on first boot when `spec.image` is None
    mnt/                    the root's mount point (all these mounts exist only inside the VM's
                            mount namespace)
    run/sandbox.json        marker: init pid + start time, pid namespace, cgroup (adopt/cleanup_stale)

Layer format (what `capture` writes and `SandboxSpec.layers` lists): a directory with `root/` and
`usr/`, each an overlayfs upper-dir tree (deleted files are 0/0 character devices, replaced
directories carry `trusted.overlay.opaque=y`). `root/` stacks over the image's rootfs; `usr/` stacks
over the host's /usr when the image uses it (default image) and is empty otherwise. Layers made by a
daemon without root keep those marks in `user.overlay.*` xattrs and only stack in rootless VMs.

VM root is not host root: with a root daemon, each VM gets a user namespace where its ids 0..65535
are host ids VM_IDS_BASE.., and every layer is an idmapped mount, so files keep host ids on disk
(layers stay portable) while the VM's root owns them. Its other namespaces belong to the host, so
its capabilities reach nothing but its own files and processes. See nshelper.py and SECURITY.md.

All mounts live in the VM's own mount namespace, so they vanish with its last process: stop() only
has to kill processes. The processes themselves are found through the VM's cgroup and its pid
namespace; see nshelper.py for what runs inside. An idle VM is one process, its init (catatonit,
a static C program): the Python launcher exits once the init runs, and the init is a child of the
daemon, which reaps it when it dies (`_reap`; after a daemon restart, the host's init does).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from vmtui.local import images, nshelper
from vmtui.local.cgroups import VmCgroup
from vmtui.local.seccomp_filter import vm_filter_bpf
from vmtui.local.vmdisk import DiskError, VmDisk

HELPER = str(Path(nshelper.__file__).resolve())
INIT_PROGRAMS = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/local/bin/catatonit")
"""Where Debian's (and other distributions') catatonit package puts the VMs' init."""
PYTHON = [sys.executable, "-I", "-S"]
VM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
VM_IDS_BASE = 2_000_000_000
"""Host uid/gid of a VM's root; a VM's ids 0..VM_IDS_COUNT-1 are host ids VM_IDS_BASE + N."""
VM_IDS_COUNT = 65536
SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/lib/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/ssh/sftp-server",
)
"""Where OpenSSH's sftp-server lives (Debian, Alpine, Fedora, ...), in a VM or on the host."""
BOOT_TIMEOUT = 30.0
STOP_GRACE = 3.0
TERM_GRACE = 1.0
"""How long stop() lets the VM's programs exit after SIGTERM before its init goes (and the kernel
kills what is left)."""
ENV_FILE_DIR = Path("/dev/shm")
STOPPED_STATES = ("T", "t", "Z", "X", None)  # stopped, traced, dead or gone
BASE_ENV = {
    "PATH": images.DEFAULT_PATH,
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "LANG": "C.UTF-8",
}


class SandboxError(Exception):
    """A sandbox operation failed; the message is safe to show to users."""


class StorageFull(SandboxError):
    """The state directory's file system has no room left (a commit that does not fit)."""


@dataclass(frozen=True)
class SandboxSpec:
    """What to run: `layers` are immutable layer dirs (see module docstring), NEWEST FIRST, stacked
    over `image` (None = the default host-derived image, built in vm_dir/image); `env` applies to
    every command started in the VM; cpu/memory/pids limits are best effort (see `Sandbox.cgroup`);
    `disk_mib` bounds the writable layer (None: no quota; rootless VMs never have one)."""

    vm_id: str
    vm_dir: Path
    layers: list[Path]
    image: Path | None
    hostname: str
    env: dict[str, str] = field(repr=False)
    vcpu_count: int = 1
    mem_size_mib: int = 512
    pids_max: int = 4096
    disk_mib: int | None = None
    disk_templates: Path | None = None
    """Where empty disk images of each size are kept (default: `.disk-templates` beside vm_dir)."""


class Sandbox:
    """A running VM. Create with `await Sandbox.boot(spec)` or `Sandbox.adopt(spec, pid)`."""

    def __init__(
        self,
        spec: SandboxSpec,
        init_pid: int,
        init_start: int,
        pidns: str,
        cgroup: VmCgroup,
    ):
        self.spec = spec
        self.init_pid = init_pid
        self._init_start = init_start
        self._pidns = pidns
        self.cgroup = cgroup
        self._init_exit = _exit_watch(self, init_pid)

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    async def boot(cls, spec: SandboxSpec) -> Sandbox:
        """Mount the VM's root and start its init in new namespaces; returns once it runs."""
        _check_spec(spec)
        init_program = _init_program()
        marker = _read_marker(spec.vm_dir)
        if marker.get("init_pid") and nshelper.process_start_time(marker["init_pid"]) == marker["init_start"]:
            raise SandboxError(f"VM {spec.vm_id} is already running")
        try:
            config = await asyncio.to_thread(_prepare_vm_dir, spec)
        except (OSError, DiskError) as exc:
            raise SandboxError(f"cannot prepare the directory of VM {spec.vm_id}: {exc}") from exc
        cgroup = VmCgroup.create(
            spec.vm_id, vcpu_count=spec.vcpu_count, mem_size_mib=spec.mem_size_mib, pids_max=spec.pids_max
        )
        _write_marker(spec.vm_dir, {"vm_id": spec.vm_id, "cgroup": cgroup.to_json()})
        config["cgroup_procs"] = cgroup.procs_files
        config["init"] = init_program
        launcher = await asyncio.create_subprocess_exec(
            *PYTHON,
            HELPER,
            "init",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            # Host processes get neither the daemon's environment nor the VM's (a user's LD_PRELOAD
            # must not reach a root process on the host); spec.env applies to commands in the VM.
            env=BASE_ENV,
        )
        report = _LauncherReport()
        try:
            await asyncio.wait_for(report.collect(launcher, config), BOOT_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            report.status = f"error: no answer from the VM's init ({exc or 'timed out'})"
        except BaseException:  # cancelled: leave nothing running behind
            await _abort_boot(launcher, cgroup, report.init_pid)
            raise
        if report.status != "ready" or report.init_pid is None:
            await _abort_boot(launcher, cgroup, report.init_pid)
            reason = report.status.removeprefix("error: ") or f"init exited with code {launcher.returncode}"
            raise SandboxError(f"cannot boot VM {spec.vm_id}: {reason}")
        init_pid = report.init_pid
        init_start = nshelper.process_start_time(init_pid)
        if init_start is None:
            _reap(init_pid, None)
            raise SandboxError(f"the init of VM {spec.vm_id} died right after booting")
        pidns = os.readlink(f"/proc/{init_pid}/ns/pid")
        _write_marker(
            spec.vm_dir,
            {
                "vm_id": spec.vm_id,
                "cgroup": cgroup.to_json(),
                "init_pid": init_pid,
                "init_start": init_start,
                "pidns": pidns,
            },
        )
        return cls(spec, init_pid, init_start, pidns, cgroup)

    @classmethod
    def adopt(cls, spec: SandboxSpec, init_pid: int) -> Sandbox | None:
        """Reattach to a VM booted by an earlier daemon, if `init_pid` is still that VM's init."""
        marker = _read_marker(spec.vm_dir)
        if marker.get("init_pid") != init_pid or marker.get("vm_id") != spec.vm_id:
            return None
        if nshelper.process_start_time(init_pid) != marker["init_start"]:
            return None
        cgroup = VmCgroup.from_json(marker["cgroup"])
        try:
            sandbox = cls(spec, init_pid, marker["init_start"], marker["pidns"], cgroup)
        except ProcessLookupError:
            return None
        # checked again with the pidfd open: the pid may have been reused in between
        return sandbox if nshelper.process_start_time(init_pid) == marker["init_start"] else None

    @property
    def enforced(self) -> frozenset[str]:
        """The limits the host really applies: the cgroup's, and "disk" when the VM has its own disk."""
        has_disk = os.path.ismount(self.spec.vm_dir / "disk")
        return self.cgroup.enforced | ({"disk"} if has_disk else set())

    @property
    def running(self) -> bool:
        if not self._init_exit.poll(0):  # ~1 µs, against ~30 µs to read /proc/PID/stat
            return True
        _reap(self.init_pid, self._init_start)
        return False

    @property
    def paused(self) -> bool:
        if self.cgroup.can_freeze:
            return self.cgroup.frozen
        return nshelper.process_state(self.init_pid) == "T"

    async def pause(self) -> None:
        """Freeze every process of the VM (cgroup freezer, else SIGSTOP of its pid namespace)."""
        self._require_running()
        if self.cgroup.can_freeze:
            await asyncio.to_thread(self.cgroup.freeze)
            return
        deadline = time.monotonic() + STOP_GRACE
        while running := {
            pid for pid in self.processes() if nshelper.process_state(pid) not in STOPPED_STATES
        }:
            for pid in running:  # repeat: a process may fork while we stop the others
                _signal(pid, signal.SIGSTOP)
            if time.monotonic() > deadline:
                raise SandboxError(f"processes {sorted(running)} of VM {self.spec.vm_id} do not stop")
            await asyncio.sleep(0.005)

    async def resume(self) -> None:
        self._require_running()
        if self.cgroup.can_freeze:
            await asyncio.to_thread(self.cgroup.thaw)
            return
        for pid in self.processes():
            _signal(pid, signal.SIGCONT)

    async def capture(self, dest: Path) -> None:
        """Copy the writable layer to a new immutable layer at `dest` (atomic). Pause the VM around it."""
        if dest.exists():
            raise SandboxError(f"layer {dest.name} already exists")
        disk = self.spec.vm_dir / "disk"
        out_of_reach = (self.spec.vm_dir / "disk.img").exists() and not os.path.ismount(disk)
        if out_of_reach or not (disk / "upper").is_dir():  # or booted by a daemon before disk quotas
            raise SandboxError(f"the disk of VM {self.spec.vm_id} is not mounted here; stop and start it")
        tmp = dest.parent / f".{dest.name}.partial-{os.urandom(4).hex()}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        copy = await asyncio.create_subprocess_exec(
            "cp",
            "-a",
            "--reflink=auto",
            "-T",
            str(self.spec.vm_dir / "disk" / "upper"),
            str(tmp),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await copy.communicate()
        try:
            if copy.returncode != 0:
                if b"No space left on device" in err:
                    raise StorageFull(
                        f"cannot capture VM {self.spec.vm_id}: no space left on device for the new layer"
                    )
                last = err.decode(errors="replace").strip().splitlines()[-1:] or ["cp failed"]
                raise SandboxError(
                    f"cannot capture VM {self.spec.vm_id}: {_without_paths(last[0], tmp, self.spec.vm_dir)}"
                )
            await asyncio.to_thread(images.sync_tree, tmp)
            os.rename(tmp, dest)
            images.fsync_dir(dest.parent)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise

    async def stop(self) -> None:
        """Terminate every process (SIGTERM, then SIGKILL); the writable layer stays for the next boot.

        The VM's programs get SIGTERM and `TERM_GRACE` seconds to exit; then its init gets SIGTERM
        and exits, and the kernel kills whatever is left in the pid namespace."""
        if self.running:
            if self.paused:
                await self.resume()
            await self._terminate_programs()
            _signal(self.init_pid, signal.SIGTERM)
            if not await self._wait_init_exit(STOP_GRACE):
                _signal(self.init_pid, signal.SIGKILL)
                await self._wait_init_exit(STOP_GRACE)
        await asyncio.to_thread(Sandbox.cleanup_stale, self.spec.vm_dir)

    async def destroy(self) -> None:
        """stop() and remove the VM directory entirely."""
        await self.stop()
        await asyncio.to_thread(_remove_vm_dir, self.spec.vm_dir)

    @staticmethod
    def cleanup_stale(vm_dir: Path) -> None:
        """Kill whatever is left of a VM (e.g. after the daemon was SIGKILLed) and drop its mounts. Idempotent."""
        marker = _read_marker(vm_dir)
        if marker:
            cgroup = VmCgroup.from_json(marker["cgroup"])
            if cgroup.can_freeze and cgroup.frozen:
                cgroup.thaw()
            pid = marker.get("init_pid")
            deadline = time.monotonic() + 5.0
            if pid and nshelper.process_start_time(pid) == marker["init_start"]:
                _signal(pid, signal.SIGKILL)  # pid 1 of its namespace: the kernel kills all the others
                while nshelper.process_start_time(pid) == marker["init_start"]:
                    _raise_after(deadline, f"the init of {vm_dir.name} refuses to die")
                    time.sleep(0.01)
            if pid:
                _reap(pid, marker["init_start"])
            while remaining := cgroup.pids():  # helpers outside the pid namespace (enter, launcher)
                for leftover in remaining:
                    _signal(leftover, signal.SIGKILL)
                _raise_after(deadline, f"processes {sorted(remaining)} of {vm_dir.name} refuse to die")
                time.sleep(0.01)
            cgroup.remove()
        _unmount_under(vm_dir)
        (vm_dir / "run" / "sandbox.json").unlink(missing_ok=True)
        for leftover in (vm_dir / "run").glob("env-*.json"):
            leftover.unlink(missing_ok=True)
        if _env_dir(vm_dir) != vm_dir / "run":
            shutil.rmtree(_env_dir(vm_dir), ignore_errors=True)

    # -- running things inside -------------------------------------------------------------------

    def enter_argv(
        self, argv: list[str], *, env: dict[str, str] | None = None, cwd: str = "/root"
    ) -> list[str]:
        """argv (for asyncio.create_subprocess_exec) running `argv` inside the VM with the VM's env."""
        return self._enter_argv(argv, env=env, cwd=cwd)

    def sftp_argv(self) -> list[str]:
        """argv serving SFTP on stdin/stdout entirely inside the VM, entered like a shell: the VM's own
        sftp-server, else the host's binary (opened before entering, exec'd from that fd) running
        with the VM's namespaces, cgroup, ids and filter. None of it runs with host privileges."""
        host_server = next((path for path in SFTP_SERVERS if os.access(path, os.X_OK)), None)
        return self._enter_argv(
            ["sftp-server", "-d", "/root"], env=None, cwd="/", programs=SFTP_SERVERS, host_program=host_server
        )

    def _enter_argv(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None,
        cwd: str,
        programs: tuple[str, ...] = (),
        host_program: str | None = None,
    ) -> list[str]:
        full_env = {**BASE_ENV, "HOSTNAME": self.spec.hostname, **self.spec.env, **(env or {})}
        config = {
            "pid": self.init_pid,
            "start": self._init_start,
            "cwd": cwd,
            "env_file": _write_env_file(self.spec.vm_dir, full_env),
            "cgroup_procs": self.cgroup.procs_files,
            "rootless": rootless(),
            "seccomp": vm_filter_bpf().hex(),
            "programs": list(programs),
            "host_program": host_program,
        }
        return [*PYTHON, HELPER, "enter", json.dumps(config), "--", *argv]

    async def exec(
        self,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: str = "/root",
        timeout: float | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run a command inside the VM and collect (exit code, stdout, stderr); a timeout kills it."""
        self._require_running()
        if self.paused:
            raise SandboxError(f"VM {self.spec.vm_id} is paused")
        proc = await asyncio.create_subprocess_exec(
            *self.enter_argv(argv, env=env, cwd=cwd),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError:
            await _kill_process(proc)
            raise SandboxError(f"command timed out after {timeout} s and was killed") from None
        except BaseException:
            await _kill_process(proc)
            raise
        assert proc.returncode is not None
        return proc.returncode, out, err

    async def open_tcp(
        self, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to `host:port` from inside the VM's network namespace."""
        self._require_running()
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:
            raise SandboxError(f"not an IP address: {host!r}") from None
        if rootless():
            sock = await self._socket_from_helper(family)
        else:
            sock = await _socket_in_netns(f"/proc/{self.init_pid}/ns/net", family)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError as exc:
            sock.close()
            raise SandboxError(
                f"cannot connect to {host}:{port} in VM {self.spec.vm_id}: {exc.strerror}"
            ) from exc
        return await asyncio.open_connection(sock=sock)

    def processes(self) -> set[int]:
        """Host pids of every process of the VM (its pid namespace plus helpers in its cgroup)."""
        members = self.cgroup.pids()
        if self.running:  # a dead namespace's inode number can be reused by a new one
            members |= _pidns_members(self._pidns)
        return members

    # -- internals -------------------------------------------------------------------------------

    async def _socket_from_helper(self, family: int) -> socket.socket:
        """A socket made in the VM's network namespace by a helper process, received over SCM_RIGHTS."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {
            "pid": self.init_pid,
            "start": self._init_start,
            "family": family,
            "rootless": True,
            "fd": theirs.fileno(),
        }
        try:
            with theirs:
                helper = await asyncio.create_subprocess_exec(
                    *PYTHON,
                    HELPER,
                    "socket",
                    json.dumps(config),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    pass_fds=(theirs.fileno(),),
                )
            _, err = await helper.communicate()
            ours.setblocking(False)
            try:
                _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            except BlockingIOError:
                fds = []
            if helper.returncode != 0 or not fds:
                raise SandboxError(f"cannot enter the VM's network: {err.decode(errors='replace').strip()}")
            return socket.socket(fileno=fds[0])
        finally:
            ours.close()

    def _require_running(self) -> None:
        if not self.running:
            raise SandboxError(f"VM {self.spec.vm_id} is not running")

    async def _terminate_programs(self) -> None:
        """SIGTERM to every process of the VM but its init; wait up to TERM_GRACE for them to exit."""
        programs = self.processes() - {self.init_pid}
        for pid in programs:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE
        while programs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            programs = {pid for pid in programs if nshelper.process_start_time(pid) is not None}

    async def _wait_init_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def rootless() -> bool:
    """Without root, VMs run in a user namespace of their own (see nshelper.py for what that limits)."""
    return os.geteuid() != 0


def _init_program() -> str:
    """The VMs' init binary (catatonit), or a clear error naming the package that provides it."""
    for path in INIT_PROGRAMS:
        if os.access(path, os.X_OK):
            return path
    raise SandboxError("VMs need catatonit as their init: install it (Debian: apt-get install catatonit)")


def _exit_watch(owner: object, pid: int) -> select.poll:
    """A poll object that reports the process `pid` as readable once it has exited: a pidfd, which
    keeps naming that process even if its pid is reused, closed when `owner` is garbage."""
    pidfd = os.pidfd_open(pid)
    weakref.finalize(owner, os.close, pidfd)
    watch = select.poll()
    watch.register(pidfd, select.POLLIN)
    return watch


def _reap(pid: int, start: int | None) -> None:
    """Collect the exit status of a dead VM init that is the daemon's child (see nshelper.py), so it
    leaves no zombie behind. Only a zombie with the init's start time (any, when `start` is None) is
    waited for: its pid may belong to another process by now. An init adopted from an earlier daemon
    is not our child; the host's init reaps it."""
    fields = nshelper.stat_fields(pid)
    if fields[:1] == [b"Z"] and (start is None or int(fields[19]) == start):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _check_spec(spec: SandboxSpec) -> None:
    if not VM_ID_RE.match(spec.vm_id):
        raise SandboxError(f"invalid VM id {spec.vm_id!r}")
    if not HOSTNAME_RE.match(spec.hostname):
        raise SandboxError(f"invalid hostname {spec.hostname!r}")
    if sys.platform != "linux":
        raise SandboxError("sandboxes need Linux (namespaces and overlayfs)")
    if rootless():
        try:
            allowed = int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
        except (OSError, ValueError):
            allowed = False
        if not allowed:
            raise SandboxError(
                "sandboxes need root or user namespaces, and this kernel allows no user namespaces"
            )


def _prepare_vm_dir(spec: SandboxSpec) -> dict:
    """Create the VM's directories and return the init config (see nshelper._setup_vm)."""
    vm_dir = spec.vm_dir
    if spec.disk_mib is not None and not rootless():
        templates = spec.disk_templates or vm_dir.parent / ".disk-templates"
        VmDisk(vm_dir, spec.disk_mib, templates).attach()
    _move_legacy_layer(vm_dir)
    for rel in ("disk/upper/root", "disk/upper/usr", "disk/work/root", "disk/work/usr", "mnt", "run", "rw"):
        (vm_dir / rel).mkdir(parents=True, exist_ok=True)
    image_dir = spec.image
    if image_dir is None:
        image_dir = vm_dir / "image"
        if not image_dir.exists():
            images.build_default_image(image_dir)
    try:
        image = images.open_image(image_dir)
    except images.ImageError as exc:
        raise SandboxError(str(exc)) from exc
    for i, layer in enumerate(spec.layers):
        if not (layer / "root").is_dir() or not (layer / "usr").is_dir():
            raise SandboxError(f"layer {layer.name} is missing or incomplete")
    names = [f"lower/{i}" for i in range(len(spec.layers))]
    layers = [(name, str(layer.resolve())) for name, layer in zip(names, spec.layers, strict=True)]
    layers.append(("lower/image", str(image.rootfs.resolve())))
    if image.host_usr:
        layers.append(("lower/hostusr", "/usr"))
    lower = vm_dir / "lower"  # mount points only: relative, short, comma-free mount options
    shutil.rmtree(lower, ignore_errors=True)
    lower.mkdir()
    for name, _source in layers:
        (vm_dir / name).mkdir()
    return {
        "vm_dir": str(vm_dir.resolve()),
        "hostname": spec.hostname,
        "layers": layers,
        "writable": "disk",
        "root": {
            "lower": [f"{n}/root" for n in names] + ["lower/image"],
            "upper": "rw/upper/root",
            "work": "rw/work/root",
        },
        "usr": {
            "lower": [f"{n}/usr" for n in names] + ["lower/hostusr"],
            "upper": "rw/upper/usr",
            "work": "rw/work/usr",
        }
        if image.host_usr
        else None,
        "host_binds": list(image.host_binds),
        "rootless": rootless(),
        "ids": None if rootless() else {"base": VM_IDS_BASE, "count": VM_IDS_COUNT},
    }


def _move_legacy_layer(vm_dir: Path) -> None:
    """A VM made before disk quotas kept its writable layer in vm_dir/upper: move it onto its disk
    (across file systems with cp -a, which keeps overlayfs whiteouts and xattrs), so upgrading loses
    nothing."""
    legacy, upper = vm_dir / "upper", vm_dir / "disk" / "upper"
    if not legacy.is_dir() or upper.exists():
        return
    shutil.rmtree(vm_dir / "work", ignore_errors=True)
    if not os.path.ismount(vm_dir / "disk"):
        os.rename(legacy, upper)
        return
    tmp = upper.with_name(".upper.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    copy = subprocess.run(
        ["cp", "-a", "-T", str(legacy), str(tmp)], check=False, capture_output=True, text=True
    )
    if copy.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(f"cannot move the writable layer onto the VM's disk: {copy.stderr.strip()}")
    os.rename(tmp, upper)
    shutil.rmtree(legacy)


class _LauncherReport:
    """What `nshelper.py init` and the VM's init print while it boots: `init PID` (the init's host
    pid, from the launcher) and the init's status, `ready` or `error: ...`. The pid is known as soon
    as the init exists, so a failed or cancelled boot can kill and reap it."""

    def __init__(self) -> None:
        self.init_pid: int | None = None
        self.status = ""

    async def collect(self, launcher: asyncio.subprocess.Process, config: dict) -> None:
        """Hand the launcher its config and read until end of file (the init binary runs, or died)."""
        assert launcher.stdin is not None and launcher.stdout is not None
        launcher.stdin.write(json.dumps(config).encode())
        await launcher.stdin.drain()
        launcher.stdin.close()
        while line := (await launcher.stdout.readline()).decode(errors="replace"):
            word, _, rest = line.strip().partition(" ")
            if word == "init" and rest.isdigit():
                self.init_pid = int(rest)
            elif line.strip():
                self.status = line.strip()
        await launcher.wait()


async def _abort_boot(launcher: asyncio.subprocess.Process, cgroup: VmCgroup, init_pid: int | None) -> None:
    await _kill_process(launcher)
    cgroup.kill_all()
    if init_pid is not None:  # our child until reaped here, so the pid is still the init's
        _signal(init_pid, signal.SIGKILL)
        await asyncio.to_thread(_wait_child, init_pid)
    cgroup.remove()


def _wait_child(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


async def _kill_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after a grace period; always reaps."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            proc.kill()
    await proc.wait()


async def _socket_in_netns(ns_path: str, family: int) -> socket.socket:
    """A socket created inside another network namespace.

    setns() moves only the calling thread, so a short-lived thread enters the namespace, creates the
    socket (a socket stays bound to the namespace it was created in) and exits; the daemon's own
    threads never change namespace.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        try:
            result: socket.socket | BaseException = _create_socket_in(ns_path, family)
        except Exception as exc:  # noqa: BLE001  (handed to the awaiting coroutine)
            result = exc
        loop.call_soon_threadsafe(_settle, done, result)

    threading.Thread(target=work, name="vmtui-netns", daemon=True).start()
    return await done


def _create_socket_in(ns_path: str, family: int) -> socket.socket:
    vm_ns = os.open(ns_path, os.O_RDONLY)
    own_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        nshelper.setns(vm_ns, nshelper.CLONE_NEWNET)
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            nshelper.setns(own_ns, nshelper.CLONE_NEWNET)
    finally:
        os.close(vm_ns)
        os.close(own_ns)


def _settle(future: asyncio.Future, result: object) -> None:
    if future.cancelled():
        if isinstance(result, socket.socket):
            result.close()
    elif isinstance(result, BaseException):
        future.set_exception(SandboxError(f"cannot enter the VM's network: {result}"))
    else:
        future.set_result(result)


def _raise_after(deadline: float, message: str) -> None:
    if time.monotonic() > deadline:
        raise SandboxError(message)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _pidns_members(pidns: str) -> set[int]:
    """Host pids of the processes in the (live) pid namespace named like 'pid:[4026532281]'."""
    members = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/ns/pid") == pidns:
                    members.add(int(entry.name))
            except OSError:
                pass
    return members


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in the daemon's mount namespace, deepest first."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _unmount_under(path: Path) -> None:
    for point in _mounts_under(path):
        try:
            nshelper.umount(point, nshelper.MNT_DETACH)
        except OSError as exc:
            raise SandboxError(f"cannot unmount {point}: {exc}") from exc


def _remove_vm_dir(vm_dir: Path) -> None:
    if _mounts_under(vm_dir):
        raise SandboxError(f"refusing to delete {vm_dir}: something is still mounted there")
    if rootless():  # overlayfs leaves mode-000 work dirs that only root could enter
        for top, dirs, _files in os.walk(vm_dir):
            for name in dirs:
                if not os.path.islink(os.path.join(top, name)):
                    os.chmod(os.path.join(top, name), 0o700)
    shutil.rmtree(vm_dir, ignore_errors=not vm_dir.exists())


def _read_marker(vm_dir: Path) -> dict:
    try:
        return json.loads((vm_dir / "run" / "sandbox.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_marker(vm_dir: Path, data: dict) -> None:
    path = vm_dir / "run" / "sandbox.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.rename(tmp, path)


def _write_env_file(vm_dir: Path, env: dict[str, str]) -> str:
    """Hand the VM's environment (which may hold secrets) to the helper through a 0600 file it reads
    and deletes at once, never through its command line, which every host user can read in `ps`.
    The file goes to memory (/dev/shm) when there is one: exec must work with the state disk full."""
    run_dir = _env_dir(vm_dir)
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="env-", suffix=".json", dir=run_dir)
    with os.fdopen(fd, "w") as handle:
        json.dump(env, handle)
    return path


def _env_dir(vm_dir: Path) -> Path:
    """Where the VM's env files go: a private folder of this VM in /dev/shm, else its run/ folder."""
    if not ENV_FILE_DIR.is_dir():
        return vm_dir / "run"
    key = hashlib.sha256(str(vm_dir.resolve()).encode()).hexdigest()[:16]
    return ENV_FILE_DIR / f"vmtui-env-{key}"


def _without_paths(message: str, layer: Path, vm_dir: Path) -> str:
    """Error text for users: the host's state-dir paths say nothing to them and reveal its layout."""
    return message.replace(str(layer), "the new layer").replace(str(vm_dir), "the VM's directory")
