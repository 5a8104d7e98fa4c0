"""SSH end to end: the real `vmtui serve` daemon, the Vers provider pointed at it, SshSession and the
`vmtui ssh` / `vmtui cp` commands, all over loopback."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import pytest_asyncio

from vmtui.core.errors import NotFound
from vmtui.core.models import VmConfig
from vmtui.providers.vers import VersProvider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.local_daemon import LocalEndpoint, ensure_daemon
from vmtui.services.ssh import SshError, SshSession

pytestmark = [
    pytest.mark.root,
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> tuple[Path, LocalEndpoint]:
    state = tmp_path_factory.mktemp("engine")
    endpoint = ensure_daemon(state, timeout=120)
    yield state, endpoint
    pid = json.loads((state / "endpoint.json").read_text())["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def provider(daemon):
    _state, endpoint = daemon
    assert endpoint.ssh_port and endpoint.ca_path, "the daemon must run its SSH gateway"
    vers = VersProvider(
        "local",
        endpoint.api_url,
        endpoint.token,
        vm_domain=f"vm.{endpoint.domain}",
        ssh_address=(endpoint.ssh_host, endpoint.ssh_port),
        ca_path=endpoint.ca_path,
        memory_snapshots=False,
        timeout=60,
    )
    created: list[str] = []
    vers.created = created  # type: ignore[attr-defined]
    yield vers
    for vm_id in created:
        await vers.delete_vm(vm_id)
    await vers.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def parent_vm(provider) -> str:
    vm_id = await provider.create_vm(VmConfig(), wait_boot=True)
    provider.created.append(vm_id)
    return vm_id


def open_session(provider, vm_id: str, tmp_path: Path) -> SshSession:
    return SshSession(provider, vm_id, known_hosts=TofuKnownHosts(tmp_path / "known_hosts"))


async def test_branch_has_its_own_key_and_sees_the_parents_files(tmp_path, provider, parent_vm):
    async with open_session(provider, parent_vm, tmp_path) as ssh:
        written = await ssh.exec("head -c 100000 /dev/urandom > /root/data.bin && sha256sum /root/data.bin")
    digest = written.stdout.split()[0]

    [child] = await provider.branch(parent_vm, 1)
    provider.created.append(child)
    assert (await provider.ssh_key(child)).private_key_pem != (
        await provider.ssh_key(parent_vm)
    ).private_key_pem
    async with open_session(provider, child, tmp_path) as ssh:
        seen = await ssh.exec("sha256sum /root/data.bin; hostname")
    assert seen.stdout.split()[0] == digest

    class ParentKeyForChild:
        """The provider, except that it hands out the parent's key for every VM."""

        async def ssh_key(self, vm_id):
            return await provider.ssh_key(parent_vm)

        def ssh_endpoint(self, vm_id):
            return provider.ssh_endpoint(vm_id)

        async def get_vm(self, vm_id):
            return await provider.get_vm(vm_id)

        async def resume_vm(self, vm_id):
            await provider.resume_vm(vm_id)

    with pytest.raises(SshError, match="key"):
        await SshSession(ParentKeyForChild(), child, known_hosts=TofuKnownHosts(tmp_path / "kh2")).connect()


async def test_paused_vm_is_resumed_when_the_caller_agrees(tmp_path, provider, parent_vm):
    await provider.pause_vm(parent_vm)
    with pytest.raises(SshError, match="paused"):
        await open_session(provider, parent_vm, tmp_path).connect()

    async def agree(vm) -> bool:
        return True

    session = SshSession(
        provider,
        parent_vm,
        known_hosts=TofuKnownHosts(tmp_path / "kh"),
        resume_paused=agree,
        poll_interval=0.2,
    )
    async with session as ssh:
        assert (await ssh.exec("echo awake")).stdout == "awake\n"


def cli(state: Path, home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    config = home / "config.toml"
    config.write_text(
        f'active = "local"\n[profiles.local]\nkind = "local"\nstate_dir = "{state}"\n'
        f'[profiles.desk]\nkind = "local-swiftor"\nstate_dir = "{state}"\nemail = "cli@example.com"\n'
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "VMTUI_CONFIG_FILE": str(config),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "vmtui", *args],
        input=stdin,
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


async def test_cli_ssh_command_and_cp_both_ways(tmp_path, daemon, parent_vm):
    state, _endpoint = daemon
    run = await asyncio.to_thread(
        cli, state, tmp_path, "ssh", parent_vm, "--", "echo", "out;", "echo err >&2;", "exit 4"
    )
    assert (run.returncode, run.stdout, run.stderr) == (4, b"out\n", b"err\n")
    piped = await asyncio.to_thread(
        cli, state, tmp_path, "ssh", parent_vm, "--", "tr a-z A-Z", stdin=b"shout\n"
    )
    assert (piped.returncode, piped.stdout) == (0, b"SHOUT\n")

    source = tmp_path / "upload.txt"
    source.write_bytes(b"copied through SFTP\n")
    up = await asyncio.to_thread(cli, state, tmp_path, "cp", str(source), f"{parent_vm[:8]}:/root/upload.txt")
    assert up.returncode == 0, up.stderr
    down = await asyncio.to_thread(
        cli, state, tmp_path, "cp", f"{parent_vm}:/root/upload.txt", str(tmp_path / "back.txt")
    )
    assert down.returncode == 0, down.stderr
    assert (
        hashlib.sha256((tmp_path / "back.txt").read_bytes()).digest()
        == hashlib.sha256(source.read_bytes()).digest()
    )

    missing = await asyncio.to_thread(cli, state, tmp_path, "ssh", "no-such-vm", "--", "true")
    assert missing.returncode == 255 and b"no VM named 'no-such-vm'" in missing.stderr


async def test_cli_cp_copies_a_tree_keeping_links_as_links(tmp_path, daemon, provider, parent_vm):
    """`vmtui cp VM:/etc ./dir` copies every entry (it stopped at the first absolute link before), and
    a tree with absolute, relative and dangling links, a FIFO and a set-uid file arrives as rsync -a
    would bring it: links as links (never followed), the FIFO skipped and named, set-uid dropped."""
    state, _endpoint = daemon
    setup = (
        "mkdir -p /root/tree/sub && echo data > /root/tree/sub/file && chmod 4755 /root/tree/sub/file"
        " && ln -s /etc/passwd /root/tree/abs && ln -s sub/file /root/tree/rel"
        " && ln -s /nonexistent /root/tree/dangling && mkfifo /root/tree/fifo"
        " && find /etc | wc -l"
    )
    made = await provider.exec(parent_vm, ["/bin/sh", "-c", setup])
    assert made.exit_code == 0, made.stderr
    etc_entries = int(made.stdout.strip())

    etc = await asyncio.to_thread(cli, state, tmp_path, "cp", f"{parent_vm}:/etc", str(tmp_path / "etc-copy"))
    assert etc.returncode == 0, etc.stderr
    copied = 1 + sum(len(dirs) + len(files) for _root, dirs, files in os.walk(tmp_path / "etc-copy"))
    assert copied == etc_entries

    (tmp_path / "into").mkdir()
    tree = await asyncio.to_thread(
        cli, state, tmp_path, "cp", f"{parent_vm}:/root/tree", str(tmp_path / "into")
    )
    assert tree.returncode == 0, tree.stderr
    assert b"skipped 1 special file" in tree.stderr and b"/root/tree/fifo" in tree.stderr
    root = tmp_path / "into" / "tree"
    assert os.readlink(root / "abs") == "/etc/passwd"
    assert os.readlink(root / "rel") == "sub/file" and (root / "rel").read_text() == "data\n"
    assert os.readlink(root / "dangling") == "/nonexistent"
    assert not (root / "fifo").exists()
    assert (root / "sub" / "file").stat().st_mode & 0o7777 == 0o755


async def test_cli_reaches_local_swiftor_vms_like_the_tui(tmp_path, daemon):
    """The TUI opens shells on local-swiftor VMs; `vmtui ssh` and `vmtui cp` follow the same rule
    (the provider's has_ssh), so they work there too."""
    from pydantic import SecretStr

    from vmtui.providers.swiftor import SwiftorProvider
    from vmtui.services.local_daemon import local_swiftor_token

    state, endpoint = daemon
    swiftor = SwiftorProvider(
        "desk",
        f"{endpoint.api_url}/swiftor",
        local_swiftor_token(state, "cli@example.com"),
        local_engine=True,
    )
    vm = await swiftor.create_desktop("cli-desk", "US", "debian", "kde", 1, 1, SecretStr("pw"))
    try:
        await swiftor.start_vm(vm.id)
        run = await asyncio.to_thread(
            cli, state, tmp_path, "ssh", "--profile", "desk", vm.id, "--", "echo hi"
        )
        assert (run.returncode, run.stdout) == (0, b"hi\n"), run.stderr
        source = tmp_path / "f.txt"
        source.write_text("over sftp\n")
        up = await asyncio.to_thread(
            cli, state, tmp_path, "cp", "--profile", "desk", str(source), f"{vm.id}:/root/f"
        )
        assert up.returncode == 0, up.stderr
    finally:
        await swiftor.delete_vm(vm.id)
        await swiftor.aclose()


def _spawn_on_pty(
    argv: list[str], env: dict[str, str], cols: int, rows: int
) -> tuple[subprocess.Popen, int, int]:
    """Start argv as a terminal session leader on a fresh pty (like a terminal emulator would)."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    # setsid --ctty: a new session whose controlling terminal is this pty, so it gets SIGWINCH
    proc = subprocess.Popen(
        ["setsid", "--ctty", "--wait", *argv], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    return proc, master, slave


def _read_until(master: int, marker: bytes, timeout: float = 120) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([master], [], [], remaining)
        if ready:
            seen += os.read(master, 65536)
    return seen


async def test_cli_interactive_session_in_a_terminal(tmp_path, daemon, parent_vm):
    state, _endpoint = daemon
    config = tmp_path / "config.toml"
    config.write_text(f'active = "local"\n[profiles.local]\nkind = "local"\nstate_dir = "{state}"\n')
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VMTUI_CONFIG_FILE": str(config),
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    proc, master, slave = _spawn_on_pty([sys.executable, "-m", "vmtui", "ssh", parent_vm], env, 90, 25)
    before = termios.tcgetattr(slave)
    try:
        await asyncio.to_thread(_read_until, master, b"# ")  # the VM's prompt
        os.write(master, b"stty size; echo $TERM; tty\n")
        seen = await asyncio.to_thread(_read_until, master, b"/dev/pts/")
        assert b"25 90" in seen and b"xterm" in seen
        fcntl.ioctl(
            master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0)
        )  # the kernel sends SIGWINCH
        sizes = b""
        deadline = time.monotonic() + 120
        while b"40 120" not in sizes:  # the resize travels: SIGWINCH, the client, the SSH channel
            assert time.monotonic() < deadline, sizes
            os.write(master, b"stty size; echo size-$((6*7))\n")
            sizes = await asyncio.to_thread(_read_until, master, b"size-42")
        os.write(master, b"exit 3\n")
        assert await asyncio.to_thread(proc.wait, 120) == 3
        assert termios.tcgetattr(slave) == before  # raw mode undone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


async def test_deleting_a_vm_ends_its_sessions_and_refuses_new_ones(tmp_path, provider):
    vm_id = await provider.create_vm(VmConfig(), wait_boot=True)
    session = open_session(provider, vm_id, tmp_path)
    await session.connect()
    try:
        shell = await session.open_shell(80, 24)
        shell.write(b"echo ready\n")
        seen = b""
        while b"ready\r\n" not in seen:
            seen += await asyncio.wait_for(shell.read(), 15)
        await provider.delete_vm(vm_id)
        await asyncio.wait_for(shell.wait(), 15)  # the shell's processes died with the VM
    finally:
        await session.close()
    with pytest.raises(NotFound):
        await open_session(provider, vm_id, tmp_path).connect()
