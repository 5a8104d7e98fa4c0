"""A VM's cgroup: best-effort cpu/memory/pids limits, freezing, and finding/killing every process.

cgroup v2 (a single hierarchy at /sys/fs/cgroup): one directory `vmtui/<vm_id>`.
cgroup v1 (one hierarchy per controller): `<controller>/vmtui/<vm_id>` for freezer, memory, cpu, pids.
Whatever the host does not allow (no cgroupfs, read-only, controller missing) is skipped and simply
not listed in `enforced`, so callers can report it instead of pretending.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("freezer", "memory", "cpu", "cpuacct", "pids")
LIMITS = frozenset({"memory", "cpu", "pids"})
"""The controllers that apply a limit (cpuacct only accounts)."""
CPU_PERIOD_US = 100_000
PIDS_PER_VM = 1024
PIDS_PER_VM_SLOT = 32
"""The VM count cap reserves this many pids of the shared budget for every running VM."""
HOST_PIDS_RESERVE_MIN = 4096
HOST_PIDS_RESERVE_FRACTION = 4
"""A quarter of the host's pids (at least HOST_PIDS_RESERVE_MIN) stays for the host itself."""


def vm_pid_budget() -> tuple[int, int, int]:
    """(pids per VM, VMs running at once, pids of all VMs together).

    All VMs together stay below the host's `pid_max` and `threads-max` (pids.max counts threads)
    minus a reserve for the host's own processes: the shared parent cgroup (`vmtui`) gets that total
    as its pids.max, so even many VMs forking at once cannot exhaust the host. Each VM gets
    PIDS_PER_VM of it (one VM alone cannot take it all), and the VM count is capped so that each
    running VM keeps at least PIDS_PER_VM_SLOT."""
    limit = min(_read_int("/proc/sys/kernel/pid_max"), _read_int("/proc/sys/kernel/threads-max"))
    total = limit - max(HOST_PIDS_RESERVE_MIN, limit // HOST_PIDS_RESERVE_FRACTION)
    per_vm = PIDS_PER_VM if total >= 4 * PIDS_PER_VM else max(64, total // 4)
    return per_vm, max(1, total // PIDS_PER_VM_SLOT), total


def _read_int(path: str) -> int:
    """A kernel limit; Linux's default pid_max (32768) where there is no procfs to read it from."""
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 32768


class VmCgroup:
    """The cgroup directories of one VM (possibly none)."""

    def __init__(self, version: int, dirs: dict[str, Path], enforced: frozenset[str] = frozenset()):
        self.version = version
        self.dirs = dirs
        """v1: controller -> directory; v2: {"unified": directory}; empty when cgroups are unusable."""
        self.enforced = enforced
        """Which of "cpu", "memory", "pids", "freeze" are really applied."""

    @classmethod
    def create(cls, vm_id: str, *, vcpu_count: int, mem_size_mib: int, pids_max: int) -> VmCgroup:
        limits = {
            "memory": str(mem_size_mib * 1024 * 1024),
            "pids": str(pids_max),
            "pids_total": str(vm_pid_budget()[2]),
            "cpu": str(vcpu_count * CPU_PERIOD_US),
        }
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            return cls._create_v2(vm_id, limits)
        return cls._create_v1(vm_id, limits)

    @classmethod
    def _create_v1(cls, vm_id: str, limits: dict[str, str]) -> VmCgroup:
        dirs: dict[str, Path] = {}
        enforced: set[str] = set()
        files = {
            "memory": [("memory.limit_in_bytes", limits["memory"])],
            "pids": [("pids.max", limits["pids"])],
            "cpu": [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", limits["cpu"])],
            "freezer": [],
            "cpuacct": [],
        }
        for controller in V1_CONTROLLERS:
            path = CGROUP_ROOT / controller / "vmtui" / vm_id
            try:
                path.mkdir(parents=True, exist_ok=True)
                for name, value in files[controller]:
                    (path / name).write_text(value)
            except OSError:
                _remove_dir(path)
                continue
            dirs[controller] = path
            if controller == "freezer":
                enforced.add("freeze")
            elif controller in LIMITS:
                enforced.add(controller)
        if "memory" in dirs:
            _write_optional(dirs["memory"] / "memory.memsw.limit_in_bytes", limits["memory"])
        if "pids" in dirs:
            _write_optional(dirs["pids"].parent / "pids.max", limits["pids_total"])
        return cls(1, dirs, frozenset(enforced))

    @classmethod
    def _create_v2(cls, vm_id: str, limits: dict[str, str]) -> VmCgroup:
        parent = CGROUP_ROOT / "vmtui"
        path = parent / vm_id
        try:
            parent.mkdir(exist_ok=True)
            for level in (CGROUP_ROOT, parent):
                for controller in ("cpu", "memory", "pids"):
                    try:
                        (level / "cgroup.subtree_control").write_text(f"+{controller}")
                    except OSError:
                        pass
            path.mkdir(exist_ok=True)
        except OSError:
            return cls(2, {}, frozenset())
        enforced = {"freeze"} if (path / "cgroup.freeze").exists() else set()
        values = {
            "memory": ("memory.max", limits["memory"]),
            "pids": ("pids.max", limits["pids"]),
            "cpu": ("cpu.max", f"{limits['cpu']} {CPU_PERIOD_US}"),
        }
        for controller, (name, value) in values.items():
            try:
                (path / name).write_text(value)
                enforced.add(controller)
            except OSError:
                pass
        if "memory" in enforced:
            _write_optional(path / "memory.swap.max", "0")
        if "pids" in enforced:
            _write_optional(parent / "pids.max", limits["pids_total"])
        return cls(2, {"unified": path}, frozenset(enforced))

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "dirs": {k: str(v) for k, v in self.dirs.items()},
            "enforced": sorted(self.enforced),
        }

    @classmethod
    def from_json(cls, data: dict) -> VmCgroup:
        return cls(
            data["version"], {k: Path(v) for k, v in data["dirs"].items()}, frozenset(data["enforced"])
        )

    @property
    def procs_files(self) -> list[str]:
        """Files a process writes its pid to in order to join (every hierarchy)."""
        return [str(path / "cgroup.procs") for path in self.dirs.values()]

    @property
    def can_freeze(self) -> bool:
        return "freeze" in self.enforced

    @property
    def frozen(self) -> bool:
        if self.version == 1:
            return _read(self.dirs["freezer"] / "freezer.state") in ("FROZEN", "FREEZING")
        return _read(self.dirs["unified"] / "cgroup.freeze") == "1"

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process and wait until the kernel reports them all frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        if self.version == 1:
            state = self.dirs["freezer"] / "freezer.state"
            state.write_text("FROZEN" if frozen else "THAWED")
            done = lambda: _read(state) == ("FROZEN" if frozen else "THAWED")
        else:
            path = self.dirs["unified"]
            (path / "cgroup.freeze").write_text("1" if frozen else "0")
            done = lambda: f"frozen {int(frozen)}" in _read(path / "cgroup.events").splitlines()
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cgroup did not {'freeze' if frozen else 'thaw'} within {timeout} s")
            time.sleep(0.005)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in Path(procs).read_text().split())
            except OSError:
                pass
        return found

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup (thawing first: frozen tasks cannot die)."""
        if self.can_freeze and self.frozen:
            self.thaw()
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def usage(self) -> tuple[int | None, int | None]:
        """(CPU time used in microseconds, memory in use in bytes) of every process of the VM;
        None for what this host does not account."""
        if self.version == 1:
            cpu_ns = _read_optional_int(self.dirs.get("cpuacct"), "cpuacct.usage")
            cpu = cpu_ns // 1000 if cpu_ns is not None else None
            return cpu, _read_optional_int(self.dirs.get("memory"), "memory.usage_in_bytes")
        unified = self.dirs.get("unified")
        stat = _read(unified / "cpu.stat") if unified is not None else ""
        usage = [line.split()[1] for line in stat.splitlines() if line.startswith("usage_usec ")]
        cpu = int(usage[0]) if usage and usage[0].isdigit() else None
        return cpu, _read_optional_int(unified, "memory.current")

    def remove(self) -> None:
        for path in self.dirs.values():
            _remove_dir(path)


def _write_optional(path: Path, value: str) -> None:
    """Limits applied when the host allows them: memory+swap (like a real VM, the memory size is all
    it gets, when the host accounts swap) and the pids of all VMs together."""
    try:
        path.write_text(value)
    except OSError:
        pass


def _read_optional_int(directory: Path | None, name: str) -> int | None:
    text = _read(directory / name) if directory is not None else ""
    return int(text) if text.isdigit() else None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _remove_dir(path: Path) -> None:
    """rmdir a cgroup; it can stay busy for a moment after its last process died."""
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
