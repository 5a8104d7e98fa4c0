"""Shared helpers of the reliability tests: a real `vmtui serve` child and leak probes.

`ServeProcess` runs the daemon in the foreground as a child of the test (so `kill -9` and `wait()`
work), with stderr appended to `<state_dir>/serve.log` (0600), exactly where `vmtui serve
--background` logs. The probes look at the host the way an operator would: which processes sit in a
VM's cgroup (`/vmtui/<vm_id>`), which mounts anywhere mention the state dir.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from vmtui.local.sandbox import Sandbox

READY = re.compile(r"^vmtui serve ready api=(http://\S+) ssh=(\S+) token-file=(\S+) ca=(\S+)$")
START_TIMEOUT = 60.0
API = "/api/v1"
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ServeProcess:
    """One foreground `vmtui serve` child on `state_dir`; `start()` waits for its ready line."""

    def __init__(self, state_dir: Path, *extra: str, port: int = 0):
        self.state_dir = state_dir
        self.extra = extra
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.api = ""
        self.ssh_port = 0
        self.token = ""
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.state_dir / "serve.log"

    def start(self) -> ServeProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        argv = [
            sys.executable,
            "-m",
            "vmtui",
            "serve",
            "--state-dir",
            str(self.state_dir),
            "--port",
            str(self.port),
            *self.extra,
        ]
        try:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=fd, stdin=subprocess.DEVNULL, text=True
            )
        finally:
            os.close(fd)
        line = _read_line(self.proc, START_TIMEOUT)
        match = READY.match(line)
        if not match:
            self.kill9()
            raise AssertionError(f"vmtui serve did not start: {line!r}\n{self.log_tail()}")
        self.api = match.group(1)
        self.ssh_port = int(match.group(2).rsplit(":", 1)[1]) if match.group(2) != "-" else 0
        self.token = Path(match.group(3)).read_text().strip()
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.api, headers=self.headers(), timeout=timeout)

    def kill9(self) -> None:
        """SIGKILL the daemon (its VMs keep running, as after a real crash) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close_pipes()

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._close_pipes()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _close_pipes(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def destroy_leftovers(state_dir: Path) -> None:
    """Kill and unmount whatever VM of `state_dir` still runs (test teardown after a failure)."""
    vms = state_dir / "vms"
    if vms.is_dir():
        for vm_dir in vms.iterdir():
            Sandbox.cleanup_stale(vm_dir)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """`serve(state_dir=None, *extra, port=0)` starts a daemon; every one is killed and its VMs
    destroyed after the test, whatever happened."""
    started: list[ServeProcess] = []

    def start(state_dir: Path | None = None, *extra: str, port: int = 0) -> ServeProcess:
        daemon = ServeProcess(state_dir or tmp_path / "state", *extra, port=port).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill9()
    for state_dir in {daemon.state_dir for daemon in started}:
        destroy_leftovers(state_dir)


# -- probes -----------------------------------------------------------------------------------------


def cgroup_members() -> dict[str, set[int]]:
    """VM id -> host pids of the processes in its cgroup (`.../vmtui/<vm_id>`), for every VM on the host."""
    members: dict[str, set[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/cgroup").read_text()
        except OSError:
            continue
        for match in re.finditer(r"/vmtui/([^/\n]+)", text):
            members.setdefault(match.group(1), set()).add(int(entry.name))
    return members


def live_processes_of(vm_ids: set[str]) -> dict[str, set[int]]:
    """The VMs among `vm_ids` that still have processes, with their pids (zombies ignored)."""
    found = {}
    for vm_id, pids in cgroup_members().items():
        if vm_id in vm_ids:
            alive = {pid for pid in pids if _state(pid) not in (None, "Z")}
            if alive:
                found[vm_id] = alive
    return found


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def mounts_mentioning(path: Path) -> set[str]:
    """Mount lines (mount point or source) of any process on the host that mention `path`."""
    needle = str(path.resolve())
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/mountinfo").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if needle in line:
                found.add(line.split(" - ")[0].split()[4])
    return found


def processes_rooted_under(path: Path) -> set[int]:
    """Host pids whose root or working directory lies under `path` (e.g. a helper left in a VM dir)."""
    prefix = str(path.resolve())
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        for link in ("root", "cwd"):
            try:
                target = os.readlink(f"/proc/{entry.name}/{link}")
            except OSError:
                continue
            if target == prefix or target.startswith(prefix + "/"):
                found.add(int(entry.name))
    return found


def db_vm_ids(state_dir: Path) -> set[str]:
    """Every VM id the engine's database knows, whatever its phase (read-only peek)."""
    db = sqlite3.connect(f"file:{state_dir / 'engine.db'}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in db.execute("SELECT id FROM vms")}
    finally:
        db.close()


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def vm_frozen(vm_id: str) -> bool:
    """Whether the VM's processes are frozen right now: cgroup v2 `cgroup.events`, v1 `freezer.state`,
    else (SIGSTOP pausing) every process of its cgroup stopped."""
    v2 = CGROUP_ROOT / "vmtui" / vm_id / "cgroup.events"
    v1 = CGROUP_ROOT / "freezer" / "vmtui" / vm_id / "freezer.state"
    try:
        if v2.exists():
            return "frozen 1" in v2.read_text()
        if v1.exists():
            return v1.read_text().strip() == "FROZEN"
    except OSError:
        return False
    pids = cgroup_members().get(vm_id, set())
    return bool(pids) and all(_state(pid) in ("T", "t") for pid in pids)
