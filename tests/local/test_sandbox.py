"""Real sandboxes: boot, isolation, exec, pause, capture/layers, stop/destroy, crash cleanup, TCP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyseccomp
import pytest
import pytest_asyncio

from tests.local.conftest import make_spec
from vmtui.local import cgroups
from vmtui.local.nshelper import process_start_time
from vmtui.local.sandbox import Sandbox, SandboxError

pytestmark = pytest.mark.root
shared_loop = pytest.mark.asyncio(loop_scope="module")  # for tests using the module-scoped `vms`


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vms(tmp_path_factory: pytest.TempPathFactory):
    """Two VMs shared by the read-mostly tests of this module."""
    base = tmp_path_factory.mktemp("vms")
    first = await Sandbox.boot(make_spec(base, "one", env={"GREETING": "hello", "SHARED": "from-spec"}))
    second = await Sandbox.boot(make_spec(base, "two"))
    yield first, second
    for sandbox in (first, second):
        await sandbox.destroy()


async def sh(sandbox: Sandbox, script: str, **kwargs) -> str:
    code, out, err = await sandbox.exec(["sh", "-c", script], **kwargs)
    assert code == 0, (script, code, err)
    return out.decode()


async def eventually(attempt, timeout: float = 120.0):
    """Retry `await attempt()` until it stops raising (busy CI machines start servers slowly)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await attempt()
        except (AssertionError, SandboxError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    return process_start_time(pid) is not None


def mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line]


def processes_with_root_under(path: Path) -> list[int]:
    """Host pids whose root directory or cwd lies inside `path` (i.e. processes of a VM there)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if any(
                    os.readlink(f"/proc/{entry}/{link}").startswith(str(path)) for link in ("root", "cwd")
                ):
                    found.append(int(entry))
            except OSError:
                pass
    return found


@shared_loop
async def test_hostname_is_the_vms_own(vms):
    one, two = vms
    assert (await sh(one, "hostname")).strip() == "vm-one"
    assert (await sh(two, "cat /etc/hostname")).strip() == "vm-two"
    assert socket.gethostname() not in ("vm-one", "vm-two")


@shared_loop
async def test_ps_shows_only_the_vms_processes(vms):
    one, two = vms
    await sh(two, "cp /usr/bin/sleep /tmp/othermarker && /tmp/othermarker 30 >/dev/null 2>&1 &")
    listing = await sh(one, "ps -e -o pid=,comm=")
    pids = {int(line.split()[0]): line.split()[1] for line in listing.splitlines()}
    assert pids.get(1) == "catatonit", listing
    # only what this module's tests start in VM one (whatever their order), nothing of the host or VM two
    assert set(pids.values()) <= {"catatonit", "sh", "ps", "python3", "sleep"}, listing
    assert "othermarker" in await sh(two, "ps -e -o comm=")


@shared_loop
async def test_writes_land_in_the_vm_not_on_the_host(vms):
    one, two = vms
    name = f"t-write-{os.getpid()}"
    await sh(one, f"echo data > /root/{name} && echo data > /etc/{name} && echo data > /usr/local/bin/{name}")
    for host_path in (Path("/root") / name, Path("/etc") / name, Path("/usr/local/bin") / name):
        assert not host_path.exists()
    upper = one.spec.vm_dir / "disk/upper"
    assert (upper / "root/root" / name).read_text() == "data\n"
    assert (upper / "root/etc" / name).read_text() == "data\n"
    assert (upper / "usr/local/bin" / name).read_text() == "data\n"
    code, _, _ = await two.exec(["test", "-e", f"/root/{name}"])
    assert code == 1


@shared_loop
async def test_host_and_other_vms_are_invisible(vms, tmp_path):
    one, two = vms
    sentinel = tmp_path / "host-secret"
    sentinel.write_text("secret")
    for path in (sentinel, two.spec.vm_dir, one.spec.vm_dir, Path(sys.executable).resolve()):
        code, _, _ = await one.exec(["test", "-e", str(path)])
        assert code == 1, path
    host_root = set(os.listdir("/root")) if os.path.isdir("/root") else set()
    visible = set((await sh(one, "ls -A /root")).split())
    assert not (host_root & visible - {n for n in visible if n.startswith("t-")})
    assert "root:*:" in await sh(one, "cat /etc/shadow")
    assert not (await sh(one, "ls /etc/ssh 2>/dev/null || true")).strip()


@shared_loop
async def test_env_reaches_exec(vms):
    one, _ = vms
    out = await sh(
        one, 'echo "$GREETING $SHARED $EXTRA $HOME $PATH"', env={"EXTRA": "x", "SHARED": "override"}
    )
    assert out.split() == [
        "hello",
        "override",
        "x",
        "/root",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    assert "PYTEST_CURRENT_TEST" not in await sh(one, "env")


@shared_loop
async def test_exit_codes_stderr_stdin_and_cwd(vms):
    one, _ = vms
    assert await one.exec(["sh", "-c", "echo out; echo err >&2; exit 7"]) == (7, b"out\n", b"err\n")
    assert await one.exec(["cat"], stdin=b"piped\x00bytes") == (0, b"piped\x00bytes", b"")
    assert (await one.exec(["pwd"], cwd="/tmp"))[1] == b"/tmp\n"
    code, _, err = await one.exec(["no-such-command"])
    assert code == 127 and b"command not found" in err
    code, _, err = await one.exec(["pwd"], cwd="/no/such/dir")
    assert code == 125 and b"/no/such/dir" in err


@shared_loop
async def test_timeout_kills_the_command(vms):
    one, _ = vms
    with pytest.raises(SandboxError, match="timed out"):  # not after 41 s with exit code 0
        await one.exec(["sh", "-c", "sleep 41; echo never"], timeout=0.5)
    assert "sleep 41" not in await sh(one, "ps -e -o args=")


@shared_loop
async def test_root_in_the_vm_cannot_mount_or_load_modules(vms):
    one, _ = vms
    code, _, err = await one.exec(["mount", "-t", "tmpfs", "x", "/mnt"])
    assert code != 0 and b"permission denied" in err.lower()
    status = await sh(one, "grep CapBnd /proc/self/status")
    bounding = int(status.split()[1], 16)
    assert not bounding & (1 << 21)  # CAP_SYS_ADMIN
    assert not bounding & (1 << 16)  # CAP_SYS_MODULE


@shared_loop
async def test_vm_cannot_read_its_init_or_the_daemons_environment(vms, monkeypatch):
    one, _ = vms
    code, out, _ = await one.exec(["cat", "/proc/1/environ"])
    assert code != 0 and out == b""
    init_env = Path(f"/proc/{one.init_pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in init_env if v.startswith((b"VMTUI_", b"VERS_", b"PYTEST"))]
    assert (await one.exec(["ls", "/proc/1/root/"]))[0] != 0
    if Path("/sys/firmware").is_dir() and os.listdir("/sys/firmware"):
        assert await sh(one, "ls -A /sys/firmware") == ""  # host firmware tables are hidden
    code, _, err = await one.exec(["sh", "-c", "echo x > /proc/sys/kernel/hostname"])
    assert code != 0 and b"Read-only" in err


@shared_loop
async def test_cgroup_limits_are_applied(vms):
    one, _ = vms
    cgroup = one.cgroup
    assert {"memory", "pids", "cpu", "freeze"} <= cgroup.enforced or cgroup.version == 2
    if "memory" in cgroup.enforced and cgroup.version == 1:
        assert (cgroup.dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(512 * 1024 * 1024)
        assert (cgroup.dirs["pids"] / "pids.max").read_text().strip() == "4096"
    assert one.init_pid in cgroup.pids()
    code, out, _ = await one.exec(["cat", "/proc/self/cgroup"])
    assert code == 0 and one.spec.vm_id not in out.decode()  # its own cgroup namespace


@shared_loop
async def test_vm_has_private_ptys_and_only_loopback(vms):
    one, _ = vms
    tty = await sh(one, "python3 -c 'import os; m, s = os.openpty(); print(os.ttyname(s))'")
    assert tty.strip().startswith("/dev/pts/")
    interfaces = (await sh(one, "cat /proc/net/dev")).splitlines()[2:]
    assert [line.split(":")[0].strip() for line in interfaces] == ["lo"]
    assert "UP" in await sh(
        one, 'python3 -c \'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print("UP")\''
    )


@shared_loop
async def test_open_tcp_reaches_a_server_inside_the_vm_only(vms):
    one, _ = vms
    host_server = socket.socket()
    host_server.bind(("127.0.0.1", 0))
    host_server.listen()
    port = host_server.getsockname()[1]
    try:
        await sh(
            one,
            f"mkdir -p /srv/www && echo inside-the-vm > /srv/www/marker.txt && cd /srv/www && "
            f"python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &",
        )
        reader, writer = await eventually(lambda: one.open_tcp(port))
        writer.write(b"GET /marker.txt HTTP/1.0\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 60)
        writer.close()
        assert b"200" in response.split(b"\r\n")[0] and response.endswith(b"inside-the-vm\n")
        host_server.settimeout(60)
        probe = socket.create_connection(("127.0.0.1", port), timeout=60)
        accepted, _ = host_server.accept()  # the host's own listener took it, not the VM's server
        accepted.close()
        probe.close()
    finally:
        host_server.close()
    with pytest.raises(SandboxError, match="cannot connect"):
        await one.open_tcp(1)


async def test_pause_freezes_and_resume_continues(boot_vm):
    await _check_pause(await boot_vm("pause"))


async def test_pause_by_signals_when_no_freezer(boot_vm):
    sandbox = await boot_vm("sigpause")
    sandbox.cgroup.enforced = sandbox.cgroup.enforced - {"freeze"}
    await _check_pause(sandbox)


async def test_pause_with_the_cgroup_v2_freezer(boot_vm, monkeypatch):
    """The v2 code path, on the hybrid host's v2 hierarchy (which has cgroup.freeze but no controllers)."""
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.controllers").exists():
        pytest.skip("no cgroup v2 hierarchy at /sys/fs/cgroup/unified")
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", unified)
    sandbox = await boot_vm("v2pause")
    assert sandbox.cgroup.version == 2 and "freeze" in sandbox.cgroup.enforced
    assert sandbox.init_pid in sandbox.cgroup.pids()
    await _check_pause(sandbox)
    directory = sandbox.cgroup.dirs["unified"]
    await sandbox.destroy()
    assert not directory.exists()


async def _advanced(counter: Path, before: str) -> None:
    assert int(counter.read_text()) > int(before)


async def _check_pause(sandbox: Sandbox) -> None:
    counter = sandbox.spec.vm_dir / "disk/upper/root/tmp/counter"
    await sh(
        sandbox,
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/counter; "
        "sleep 0.02; done >/dev/null 2>&1 &",
    )
    while not counter.exists():
        await asyncio.sleep(0.02)
    await sandbox.pause()
    assert sandbox.paused
    frozen_at = counter.read_text()
    await asyncio.sleep(0.5)
    assert counter.read_text() == frozen_at
    with pytest.raises(SandboxError, match="paused"):
        await sandbox.exec(["true"])
    await sandbox.resume()
    assert not sandbox.paused
    await eventually(lambda: _advanced(counter, frozen_at))


async def test_capture_then_boot_a_second_vm_on_the_layer(boot_vm, tmp_path):
    parent = await boot_vm("parent")
    digest = await sh(
        parent,
        "head -c 3000000 /dev/urandom > /root/data.bin && sha256sum /root/data.bin && "
        "mkdir -p /usr/local/share/t && echo usr > /usr/local/share/t/file && "
        "rm /etc/os-release && rm -rf /var/log && mkdir /var/log && touch /var/log/fresh",
    )
    await parent.pause()
    await parent.capture(tmp_path / "layers" / "c1")
    await parent.resume()
    assert not [p for p in (tmp_path / "layers").iterdir() if p.name.startswith(".")]
    await sh(parent, "echo later > /root/later")
    child = await boot_vm("child", layers=[tmp_path / "layers" / "c1"])
    assert await sh(child, "sha256sum /root/data.bin") == digest
    assert await sh(child, "cat /usr/local/share/t/file") == "usr\n"
    assert await sh(child, "ls -A /var/log") == "fresh\n"
    assert (await child.exec(["test", "-e", "/etc/os-release"]))[0] == 1
    assert (await child.exec(["test", "-e", "/root/later"]))[0] == 1
    await sh(child, "echo child > /root/data.bin")
    assert await sh(parent, "sha256sum /root/data.bin") == digest
    with pytest.raises(SandboxError, match="already exists"):
        await parent.capture(tmp_path / "layers" / "c1")


async def test_the_memory_limit_kills_a_hog_but_not_the_vm(boot_vm):
    sandbox = await boot_vm("hog", mem_size_mib=64)
    if "memory" not in sandbox.cgroup.enforced:
        pytest.skip("the memory controller is not available to this host's cgroups")
    code, _, _ = await sandbox.exec(["python3", "-c", "data = b'x' * (300 * 1024 * 1024)"])
    assert code == 137  # SIGKILLed by the OOM killer of the VM's cgroup
    assert sandbox.running
    assert await sh(sandbox, "echo still-here") == "still-here\n"


async def test_a_thirty_layer_chain_boots(boot_vm, tmp_path):
    # Long layer paths: 30 of them would not fit one page of mount options without the short links.
    base = tmp_path / ("deep-" + "x" * 150)
    layers = []
    for i in range(30):
        layer = base / f"layer-{i:02d}-{'y' * 100}"
        (layer / "root/root").mkdir(parents=True)
        (layer / "usr").mkdir()
        (layer / f"root/root/f{i}").write_text(str(i))
        (layer / "root/root/shared").write_text(str(i))
        layers.append(layer)
    assert sum(len(str(p)) for p in layers) > 4096
    sandbox = await boot_vm("deep", layers=list(reversed(layers)))  # newest first
    assert await sh(sandbox, "cat /root/shared") == "29"
    assert sorted((await sh(sandbox, "ls /root")).split()) == sorted(
        [f"f{i}" for i in range(30)] + ["shared"]
    )


async def test_stop_then_boot_keeps_the_writable_layer(tmp_path):
    spec = make_spec(tmp_path, "restart")
    sandbox = await Sandbox.boot(spec)
    try:
        await sh(
            sandbox,
            "echo kept > /root/kept && echo '10.1.2.3 mine' >> /etc/hosts && sleep 60 >/dev/null 2>&1 &",
        )
        init_pid = sandbox.init_pid
        await sandbox.stop()
        assert not sandbox.running and not sandbox.processes()
        assert not alive(init_pid)
        assert not mounts_under(spec.vm_dir)
        sandbox = await Sandbox.boot(spec)
        assert await sh(sandbox, "cat /root/kept") == "kept\n"
        hosts = await sh(sandbox, "cat /etc/hosts")
        assert "10.1.2.3 mine" in hosts and f"127.0.1.1\t{spec.hostname}" in hosts  # edits survive
    finally:
        await sandbox.destroy()


ORPHAN_A_ZOMBIE = """
import os, time
child = os.fork()
if child == 0:
    os._exit(0)
while open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.01)
print(child)  # exits without waiting for it: the zombie goes to the VM's pid 1
"""


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


async def test_an_idle_vm_is_one_small_init_process(boot_vm):
    """No Python stays beside a VM: its only process is catatonit, pid 1, a child of the daemon."""
    sandbox = await boot_vm("idle")
    assert sandbox.processes() == {sandbox.init_pid}  # the launcher is gone from the VM's cgroup
    assert Path(os.readlink(f"/proc/{sandbox.init_pid}/exe")).name == "catatonit"
    assert int(Path(f"/proc/{sandbox.init_pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
    assert _rss_kib(sandbox.init_pid) < 3 * 1024
    assert (await sh(sandbox, "cat /proc/1/comm")).strip() == "catatonit"


async def test_the_init_reaps_orphaned_zombies(boot_vm):
    sandbox = await boot_vm("reaper")
    code, out, err = await sandbox.exec(["python3", "-c", ORPHAN_A_ZOMBIE])
    assert code == 0, err
    zombie = out.decode().strip()
    assert zombie.isdigit()

    async def reaped() -> None:
        code, _, _ = await sandbox.exec(["test", "-e", f"/proc/{zombie}"])
        assert code != 0, f"orphaned zombie {zombie} was not reaped by the VM's init"

    await eventually(reaped, timeout=60)


async def test_stop_lets_programs_exit_cleanly_first(tmp_path):
    spec = make_spec(tmp_path, "graceful")
    sandbox = await Sandbox.boot(spec)
    try:
        await sh(
            sandbox,
            'sh -c \'trap "echo bye > /root/bye; exit 0" TERM; touch /root/trapped; '
            "while :; do sleep 0.05; done' >/dev/null 2>&1 &",
        )
        await eventually(lambda: sh(sandbox, "test -e /root/trapped"))
        await sandbox.stop()
        sandbox = await Sandbox.boot(spec)
        assert await sh(sandbox, "cat /root/bye") == "bye\n"
    finally:
        await sandbox.destroy()


async def test_a_dead_init_leaves_no_zombie(boot_vm):
    """The daemon is the init's parent: it reaps an init that died (here: killed from the host)."""
    sandbox = await boot_vm("killed")
    init_pid = sandbox.init_pid
    os.kill(init_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while sandbox.running:
        assert time.monotonic() < deadline, "the init did not die"
        await asyncio.sleep(0.02)
    assert not Path(f"/proc/{init_pid}").exists()


async def test_destroy_leaves_no_mounts_processes_or_cgroups(tmp_path):
    spec = make_spec(tmp_path, "gone")
    sandbox = await Sandbox.boot(spec)
    await sh(sandbox, "sleep 60 >/dev/null 2>&1 &")
    members = sandbox.processes()
    assert len(members) >= 2
    cgroup_dirs = list(sandbox.cgroup.dirs.values())
    await sandbox.destroy()
    assert not spec.vm_dir.exists()
    assert not mounts_under(spec.vm_dir)
    assert not [pid for pid in members if alive(pid)]
    assert not processes_with_root_under(tmp_path)
    assert not [d for d in cgroup_dirs if d.exists()]


CRASHING_DAEMON = """
import asyncio, os, sys
from pathlib import Path
from vmtui.local.sandbox import Sandbox, SandboxSpec
async def main():
    sandbox = await Sandbox.boot(SandboxSpec({vm_id!r}, Path({vm_dir!r}), [], None, "crashy", {{}}))
    await sandbox.exec(["sh", "-c", "sleep 120 >/dev/null 2>&1 &"])
    print(sandbox.init_pid, flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
"""


def _crashed_vm(tmp_path: Path, name: str):
    """Boot a VM from a separate 'daemon' process and SIGKILL that process."""
    spec = make_spec(tmp_path, name, hostname="crashy")
    daemon = subprocess.Popen(
        [sys.executable, "-c", CRASHING_DAEMON.format(vm_id=spec.vm_id, vm_dir=str(spec.vm_dir))],
        stdout=subprocess.PIPE,
        cwd=str(Path(__file__).parents[2]),
    )
    init_pid = int(daemon.stdout.readline())
    daemon.kill()
    daemon.wait()
    return spec, init_pid


async def test_adopt_after_a_daemon_crash(tmp_path):
    spec, init_pid = _crashed_vm(tmp_path, "adopted")
    assert Sandbox.adopt(spec, init_pid + 100000) is None
    sandbox = Sandbox.adopt(spec, init_pid)
    assert sandbox is not None
    try:
        assert await sh(sandbox, "hostname") == "crashy\n"
        await sandbox.pause()
        assert Sandbox.adopt(spec, init_pid).paused
        await sandbox.resume()
    finally:
        await sandbox.destroy()
    assert Sandbox.adopt(spec, init_pid) is None


async def test_cleanup_stale_after_init_sigkill_and_daemon_crash(tmp_path):
    spec, init_pid = _crashed_vm(tmp_path, "stale")
    sandbox = Sandbox.adopt(spec, init_pid)
    members = sandbox.processes()
    assert len(members) >= 2
    os.kill(init_pid, signal.SIGKILL)
    Sandbox.cleanup_stale(spec.vm_dir)
    Sandbox.cleanup_stale(spec.vm_dir)  # idempotent
    assert not [pid for pid in members if alive(pid)]
    assert not mounts_under(spec.vm_dir) and not processes_with_root_under(spec.vm_dir)
    assert not [d for d in sandbox.cgroup.dirs.values() if d.exists()]
    again = await Sandbox.boot(spec)  # the writable layer is intact and bootable
    await again.destroy()


async def test_cleanup_stale_with_the_vm_still_running(tmp_path):
    spec, init_pid = _crashed_vm(tmp_path, "orphan")
    members = Sandbox.adopt(spec, init_pid).processes()
    Sandbox.cleanup_stale(spec.vm_dir)
    assert not [pid for pid in members if alive(pid)]
    assert Sandbox.adopt(spec, init_pid) is None


async def test_a_failed_boot_says_why_and_leaves_nothing_running(tmp_path):
    layers = []
    for i in range(320):  # more than one page of overlay mount options even with short names
        layer = tmp_path / "layers" / str(i)
        (layer / "root").mkdir(parents=True)
        (layer / "usr").mkdir()
        layers.append(layer)
    spec = make_spec(tmp_path, "toodeep", layers=layers)
    with pytest.raises(SandboxError, match="layer chain too deep"):
        await Sandbox.boot(spec)
    marker = json.loads((spec.vm_dir / "run/sandbox.json").read_text())
    assert "init_pid" not in marker
    assert not [d for d in marker["cgroup"]["dirs"].values() if Path(d).exists()]  # emptied and removed
    assert not processes_with_root_under(tmp_path)


async def test_bad_specs_are_refused_clearly(tmp_path):
    with pytest.raises(SandboxError, match="invalid VM id"):
        await Sandbox.boot(make_spec(tmp_path, "bad", vm_id="../escape"))
    with pytest.raises(SandboxError, match="missing"):
        await Sandbox.boot(make_spec(tmp_path, "nolayer", layers=[tmp_path / "nope"]))
    with pytest.raises(SandboxError, match="not a vmtui image"):
        await Sandbox.boot(make_spec(tmp_path, "noimage", image=tmp_path))
    with pytest.raises(SandboxError, match="invalid hostname"):
        await Sandbox.boot(make_spec(tmp_path, "badhost", hostname="a b"))
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "disk").write_text("a file where a directory must be")
    with pytest.raises(SandboxError, match="cannot prepare"):
        await Sandbox.boot(make_spec(tmp_path, "blocked"))


ROOTLESS_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from vmtui.local.sandbox import Sandbox, SandboxSpec
async def main():
    base = Path(sys.argv[1])
    first = await Sandbox.boot(SandboxSpec("rootless-a", base / "a", [], None, "rootless", {"X": "1"}))
    report = {"enforced": sorted(first.cgroup.enforced)}
    report["a"] = (await first.exec(["sh", "-c", "id -u; hostname; echo $X; echo kept > /root/f; rm /etc/os-release; "
                                                 "touch /usr/local/x 2>/dev/null || echo usr-read-only"]))[1].decode()
    await first.exec(["sh", "-c", "cd /etc && python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &"])
    deadline = time.monotonic() + 120  # the server may take a while to start on a busy machine
    while True:
        try:
            reader, writer = await first.open_tcp(8765)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
    writer.write(b"GET /hostname HTTP/1.0\\r\\n\\r\\n")
    report["http"] = (await reader.read()).decode().rsplit("\\n", 2)[-2]
    writer.close()
    await first.pause()
    report["paused"] = first.paused
    await first.resume()
    await first.capture(base / "layer")
    second = await Sandbox.boot(SandboxSpec("rootless-b", base / "b", [base / "layer"], None, "second", {}))
    report["b"] = (await second.exec(["sh", "-c", "cat /root/f; test -e /etc/os-release || echo whiteout-kept"]))[1].decode()
    for sandbox in (second, first):
        await sandbox.destroy()
    report["left"] = sorted(p.name for p in base.iterdir())
    print(json.dumps(report))
asyncio.run(main())
"""


def test_without_root_vms_run_in_a_user_namespace(tmp_path):
    """`vmtui serve` as a normal user: the same sandbox, in a user namespace, with signals for pause."""
    python = Path("/usr/bin/python3")
    repo = Path(__file__).resolve().parents[2]
    if (
        not python.exists()
        or not os.access(repo, os.R_OK | os.X_OK)
        or (os.stat(repo).st_mode & 0o005) != 0o005
    ):
        pytest.skip("needs /usr/bin/python3 and a world-readable checkout to run as user nobody")
    base = Path(tempfile.mkdtemp(prefix="vmtui-rootless-"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, 65534, 65534)
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                str(python),
                "-c",
                ROOTLESS_SCRIPT,
                str(base),
            ],
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
            env={
                "PYTHONPATH": f"{repo}{os.pathsep}{Path(pyseccomp.__file__).parent}",
                "PATH": "/usr/bin:/bin",
            },
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert report["enforced"] == []  # no cgroup is delegated to nobody: nothing pretends otherwise
    assert report["a"].split() == ["0", "rootless", "1", "usr-read-only"]
    assert report["http"] == "rootless"
    assert report["paused"] is True
    assert report["b"].split() == ["kept", "whiteout-kept"]
    assert report["left"] == ["layer"]


@pytest.mark.root
async def test_vm_environment_never_on_a_command_line(boot_vm):
    """Secrets in the VM's env must not be readable by host users through `ps` (argv is world-readable)."""
    vm = await boot_vm("envfile", env={"PLANTED_SECRET": "s3cr3t-value-123"})
    argv = vm.enter_argv(["sleep", "5"])
    assert not any("s3cr3t-value-123" in part for part in argv)
    proc = await asyncio.create_subprocess_exec(*argv)
    try:
        await asyncio.sleep(0.5)
        cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
        assert not any(b"s3cr3t-value-123" in c for c in cmdlines)
        code, out, _ = await vm.exec(["sh", "-c", "echo $PLANTED_SECRET"])
        assert (code, out) == (0, b"s3cr3t-value-123\n")
        assert list((vm.spec.vm_dir / "run").glob("env-*.json")) == []
    finally:
        proc.kill()
        await proc.wait()
