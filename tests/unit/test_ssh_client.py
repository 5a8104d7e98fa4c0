"""SshSession against the real SSH-over-TLS gateway on loopback.

The gateway's backend here runs sessions as plain host processes (a stand-in for a VM sandbox: the
client cannot tell the difference); the in-VM behaviour is tested in tests/local/test_sshd.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from tests.ssh_helpers import read_until
from vmtui.cli.common import find_vm
from vmtui.cli.ssh import _split_remote
from vmtui.core.errors import BadRequest, NotFound, Unsupported
from vmtui.core.models import SshEndpoint, SshKey, Vm, VmState
from vmtui.local.sandbox import SFTP_SERVERS
from vmtui.local.sshd import Gateway, start_gateway
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshError, SshSession, TlsTunnel

VM_ID = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"


# Like the real sandbox's helper: a command whose stdin is a tty makes it its controlling terminal.
CLAIM_TTY_AND_EXEC = (
    "import fcntl, os, sys, termios\n"
    "if os.isatty(0): fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)

SFTP_SERVER = next((p for p in SFTP_SERVERS if os.access(p, os.X_OK)), None)
# The host's sftp-server in the "VM"'s home; killed when the "VM" (its init_pid) dies first.
SFTP_UNTIL_VM_EXITS = (
    "import os, select, signal, sys\n"
    "vm = os.pidfd_open(int(sys.argv[1]))\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    os.chdir(sys.argv[2])\n"
    "    os.execv(sys.argv[3], sys.argv[3:])\n"
    "server = os.pidfd_open(child)\n"
    "if vm in select.select([vm, server], [], [])[0]:\n"
    "    os.kill(child, signal.SIGKILL)\n"
    "sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))\n"
)
needs_sftp_server = pytest.mark.skipif(SFTP_SERVER is None, reason="needs OpenSSH's sftp-server")


class HostProcessSandbox:
    """Runs session processes on the host, in a scratch directory, with the requested environment."""

    paused = False

    def __init__(self, home: Path, init_pid: int):
        self.home = home
        self.init_pid = init_pid  # the "VM": SFTP sessions end when it exits

    def enter_argv(
        self, argv: list[str], *, env: dict[str, str] | None = None, cwd: str = "/root"
    ) -> list[str]:
        variables = {"HOME": str(self.home), "PATH": "/usr/bin:/bin", "PS1": "$ ", **(env or {})}
        return [
            sys.executable,
            "-c",
            CLAIM_TTY_AND_EXEC,
            "env",
            "-i",
            "-C",
            str(self.home),
            *(f"{k}={v}" for k, v in variables.items()),
            *argv,
        ]

    def sftp_argv(self) -> list[str]:
        assert SFTP_SERVER is not None
        return [sys.executable, "-c", SFTP_UNTIL_VM_EXITS, str(self.init_pid), str(self.home), SFTP_SERVER]

    async def open_tcp(self, port: int, host: str = "127.0.0.1"):
        return await asyncio.open_connection(host, port)


class Backend:
    def __init__(self, home: Path, init_pid: int):
        self.keys: dict[str, asyncssh.SSHKey] = {}
        self.home = home
        self.init_pid = init_pid

    def add_vm(self, vm_id: str) -> asyncssh.SSHKey:
        self.keys[vm_id] = asyncssh.generate_private_key("ssh-ed25519")
        return self.keys[vm_id]

    async def sandbox_for(self, vm_id: str) -> HostProcessSandbox:
        if vm_id not in self.keys:
            raise NotFound("vm not found")
        return HostProcessSandbox(self.home, self.init_pid)

    def ssh_public_key(self, vm_id: str) -> str:
        if vm_id not in self.keys:
            raise NotFound("vm not found")
        return self.keys[vm_id].export_public_key().decode()


class FakeProvider:
    """The provider side of SshSession: key + endpoint from the gateway, a scripted VM state."""

    def __init__(
        self,
        gateway: Gateway,
        key: asyncssh.SSHKey,
        states: list[VmState],
        *,
        ca_path: str | None = None,
        insecure: bool = False,
    ):
        self.gateway = gateway
        self.key = key
        self.states = states
        self.resumed = 0
        self.ca_path = str(gateway.ca_path) if ca_path is None else ca_path
        self.insecure = insecure

    async def ssh_key(self, vm_id: str) -> SshKey:
        return SshKey(private_key_pem=self.key.export_private_key().decode())

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
        return SshEndpoint(
            host="127.0.0.1",
            port=self.gateway.port,
            server_name=self.gateway.server_name(vm_id),
            ca_path=self.ca_path,
            insecure_tls=self.insecure,
        )

    async def get_vm(self, vm_id: str) -> Vm:
        if not self.states:
            raise Unsupported("no state")
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return Vm(provider="test", id=vm_id, state=state)

    async def resume_vm(self, vm_id: str) -> None:
        self.resumed += 1
        self.states = [VmState.RUNNING]


@pytest.fixture
def backend(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    jailed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield Backend(home, jailed.pid)
    jailed.kill()
    jailed.wait()


@pytest.fixture
async def gateway(tmp_path, backend):
    gw = await start_gateway(backend, tmp_path / "engine", "127.0.0.1", 0)
    yield gw
    await gw.close()


@pytest.fixture
def known_hosts(tmp_path):
    return TofuKnownHosts(tmp_path / "state" / "known_hosts")


def session(provider, known_hosts, **kwargs) -> SshSession:
    return SshSession(provider, VM_ID, known_hosts=known_hosts, poll_interval=0.05, **kwargs)


async def test_exec_keeps_exit_status_and_stderr_apart(gateway, backend, known_hosts):
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    async with session(provider, known_hosts) as ssh:
        result = await ssh.exec("echo out; echo err >&2; exit 7")
        listed = await ssh.exec(["printf", "%s|", "a b", "c"])
    assert (result.exit_code, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert listed.stdout == "a b|c|"


async def test_shell_echo_round_trip_and_resize(gateway, backend, known_hosts):
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    async with session(provider, known_hosts) as ssh:
        shell = await ssh.open_shell(100, 30)
        shell.write(b"echo $TERM; stty size\n")
        seen = await read_until(shell, b"30 100", timeout=10)
        assert b"xterm-256color" in seen
        ssh.resize(132, 43)
        shell.write(b"stty size; exit 3\n")
        await read_until(shell, b"43 132", timeout=10)
        assert await asyncio.wait_for(shell.wait(), 10) == 3


async def test_host_key_pinned_on_first_use_and_change_refused(tmp_path, gateway, backend, known_hosts):
    key = backend.add_vm(VM_ID)
    async with session(FakeProvider(gateway, key, [VmState.RUNNING]), known_hosts):
        pass
    assert stat.S_IMODE(known_hosts.path.stat().st_mode) == 0o600
    assert known_hosts.pinned(gateway.server_name(VM_ID)) is not None
    async with session(FakeProvider(gateway, key, [VmState.RUNNING]), known_hosts):
        pass  # same key again: accepted

    other = await start_gateway(backend, tmp_path / "other-engine", "127.0.0.1", 0)  # its own host key
    try:
        with pytest.raises(SshError, match="host key of .* changed"):
            await session(FakeProvider(other, key, [VmState.RUNNING]), known_hosts).connect()
    finally:
        await other.close()


async def test_tls_is_verified_unless_insecure(tmp_path, gateway, backend, known_hosts):
    key = backend.add_vm(VM_ID)
    foreign_ca = start_gateway_ca(tmp_path / "foreign")
    with pytest.raises(SshError, match="TLS certificate .* not trusted"):
        await session(
            FakeProvider(gateway, key, [VmState.RUNNING], ca_path=foreign_ca), known_hosts
        ).connect()
    insecure = FakeProvider(gateway, key, [VmState.RUNNING], ca_path=foreign_ca, insecure=True)
    async with session(insecure, known_hosts) as ssh:
        assert (await ssh.exec("true")).exit_code == 0


def start_gateway_ca(state_dir: Path) -> str:
    from vmtui.local.tls import EngineTls

    return str(EngineTls(state_dir).ensure().ca_path)


async def test_tunnel_sends_sni_and_verifies_by_default(gateway):
    endpoint = SshEndpoint(
        host="127.0.0.1",
        port=gateway.port,
        server_name=gateway.server_name("x"),
        ca_path=str(gateway.ca_path),
    )
    tunnel = TlsTunnel(endpoint)
    assert tunnel.context.verify_mode is ssl.CERT_REQUIRED and tunnel.context.check_hostname


async def test_wrong_key_refused_with_reason(gateway, backend, known_hosts):
    backend.add_vm(VM_ID)
    intruder = FakeProvider(gateway, asyncssh.generate_private_key("ssh-ed25519"), [VmState.RUNNING])
    with pytest.raises(SshError, match="not VM .*'s key"):
        await session(intruder, known_hosts).connect()


async def test_unknown_vm_refused_with_reason(gateway, known_hosts):
    stranger = FakeProvider(gateway, asyncssh.generate_private_key("ssh-ed25519"), [VmState.RUNNING])
    with pytest.raises(SshError, match="vm not found"):
        await session(stranger, known_hosts).connect()


async def test_paused_vm_resumed_only_when_allowed(gateway, backend, known_hosts):
    key = backend.add_vm(VM_ID)
    refused = FakeProvider(gateway, key, [VmState.PAUSED])
    with pytest.raises(SshError, match="paused; resume it"):
        await session(refused, known_hosts).connect()
    assert refused.resumed == 0

    asked: list[str] = []

    async def ask(vm: Vm) -> bool:
        asked.append(vm.id)
        return True

    allowed = FakeProvider(gateway, key, [VmState.PAUSED])
    async with session(allowed, known_hosts, resume_paused=ask) as ssh:
        assert (await ssh.exec("echo hi")).stdout == "hi\n"
    assert asked == [VM_ID] and allowed.resumed == 1


async def test_booting_vm_waited_for_and_dead_vm_refused(gateway, backend, known_hosts):
    key = backend.add_vm(VM_ID)
    booting = FakeProvider(gateway, key, [VmState.BOOTING, VmState.BOOTING, VmState.RUNNING])
    async with session(booting, known_hosts):
        pass
    assert booting.states == [VmState.RUNNING]

    with pytest.raises(SshError, match="still booting"):
        await session(FakeProvider(gateway, key, [VmState.BOOTING]), known_hosts, boot_timeout=0.2).connect()
    with pytest.raises(SshError, match="is stopped"):
        await session(FakeProvider(gateway, key, [VmState.STOPPED]), known_hosts).connect()


@needs_sftp_server
async def test_sftp_round_trip_and_local_forward(tmp_path, gateway, backend, known_hosts):
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    payload = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(payload)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong:" + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    remote_port = server.sockets[0].getsockname()[1]
    try:
        async with session(provider, known_hosts) as ssh:
            await ssh.put(tmp_path / "up.bin", "copied.bin")
            assert (backend.home / "copied.bin").read_bytes() == payload  # relative to the VM's home
            await ssh.get("copied.bin", tmp_path / "down.bin")
            with pytest.raises(SshError, match="no such local file"):
                await ssh.put(tmp_path / "missing", "x")
            listener = await ssh.forward_local(0, remote_port)
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
            writer.write(b"ping\n")
            assert await asyncio.wait_for(reader.readline(), 10) == b"pong:ping\n"
            writer.close()
            listener.close()
    finally:
        server.close()
    assert (tmp_path / "down.bin").read_bytes() == payload


async def test_large_input_is_throttled_not_lost(gateway, backend, known_hosts):
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    payload = os.urandom(20 * 1024 * 1024)
    async with session(provider, known_hosts) as ssh:  # the command reads nothing for a while
        result = await ssh.exec("sleep 1; sha256sum", stdin=payload)
    assert result.stdout.split()[0] == hashlib.sha256(payload).hexdigest()


@needs_sftp_server
async def test_sftp_server_ends_with_the_vm(gateway, backend, known_hosts):
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    async with session(provider, known_hosts) as ssh, ssh.connection.start_sftp_client() as sftp:
        assert await sftp.exists("/")
        os.kill(backend.init_pid, signal.SIGKILL)  # the "VM" dies under an open SFTP session

        async def serve_until_gone() -> None:
            while True:
                await sftp.listdir("/")
                await asyncio.sleep(0.05)

        with pytest.raises((asyncssh.SFTPError, asyncssh.ConnectionLost, BrokenPipeError)):
            await asyncio.wait_for(serve_until_gone(), 60)  # a TimeoutError here would fail the test


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("myvm:/root/a.txt", ("myvm", "/root/a.txt")),
        ("0f1e2d3c:relative/b", ("0f1e2d3c", "relative/b")),
        ("myvm:", ("myvm", ".")),
        ("./local:file", (None, "./local:file")),
        ("/abs/path", (None, "/abs/path")),
        ("plain.txt", (None, "plain.txt")),
    ],
)
def test_cp_paths_name_the_vm_side(spec, expected):
    assert _split_remote(spec) == expected


async def test_vm_found_by_id_prefix_or_label():
    class Listing:
        name = "test"

        async def list_vms(self) -> list[Vm]:
            return [
                Vm(provider="test", id="abc-111", label="web"),
                Vm(provider="test", id="abd-222"),
                Vm(provider="test", id="xyz-333", label="abc-111-old"),
            ]

    assert (await find_vm(Listing(), "abc-111")).id == "abc-111"  # exact id wins over a label
    assert (await find_vm(Listing(), "web")).id == "abc-111"
    assert (await find_vm(Listing(), "abd")).id == "abd-222"
    with pytest.raises(BadRequest, match="matches 2 VMs"):
        await find_vm(Listing(), "ab")
    with pytest.raises(NotFound, match="no VM named 'nope'"):
        await find_vm(Listing(), "nope")


async def test_connection_without_sni_refused_with_reason(gateway, backend, known_hosts):
    class ByAddress(FakeProvider):
        def ssh_endpoint(self, vm_id: str) -> SshEndpoint:  # an IP address: TLS sends no SNI at all
            return SshEndpoint(
                host="127.0.0.1", port=self.gateway.port, server_name="127.0.0.1", ca_path=self.ca_path
            )

    with pytest.raises(SshError, match=r"no TLS server name \(SNI\)"):
        await session(ByAddress(gateway, backend.add_vm(VM_ID), [VmState.RUNNING]), known_hosts).connect()


async def test_a_dropped_connection_is_a_typed_error_when_reading():
    import types

    from vmtui.services.ssh import SshError, SshShell

    async def lost(_size):
        raise asyncssh.ConnectionLost("Connection lost")

    process = types.SimpleNamespace(stdout=types.SimpleNamespace(read=lost))
    with pytest.raises(SshError, match="connection lost: Connection lost"):
        await SshShell(process).read()
