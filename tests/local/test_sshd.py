"""The SSH-over-TLS gateway against real sandboxed VMs, driven by the real client (SshSession).

The engine is replaced by a tiny backend object implementing the gateway's Protocol
(`sandbox_for`, `ssh_public_key`) over real `Sandbox`es booted here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import site
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh
import pytest
import pytest_asyncio

from tests.ssh_helpers import GatewayBackend, GatewayProvider, read_until
from vmtui.core.models import SshEndpoint
from vmtui.local import sshd
from vmtui.local.sandbox import Sandbox, SandboxSpec
from vmtui.local.sshd import HOST_KEY_FILE, Gateway, start_gateway
from vmtui.local.tls import EngineTls
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshError, SshSession

pytestmark = [
    pytest.mark.root,
    pytest.mark.asyncio(loop_scope="module"),
]

VM_A = f"aaaaaaaa-{os.getpid()}"  # unique per run: VM ids name cgroups
VM_B = f"bbbbbbbb-{os.getpid()}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vms(tmp_path_factory):
    root = tmp_path_factory.mktemp("vms")
    backend = GatewayBackend()
    for vm_id in (VM_A, VM_B):
        spec = SandboxSpec(
            vm_id=vm_id,
            vm_dir=root / vm_id,
            layers=[],
            image=None,
            hostname=f"vm-{vm_id[:4]}",
            env={"GREETING": "hello from the VM"},
        )
        backend.add(await Sandbox.boot(spec))
    yield backend
    for sandbox in backend.sandboxes.values():
        await sandbox.destroy()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory, vms):
    gw = await start_gateway(vms, tmp_path_factory.mktemp("engine"), "127.0.0.1", 0)
    yield gw
    await gw.close()


@pytest.fixture
def known_hosts(tmp_path):
    return TofuKnownHosts(tmp_path / "known_hosts")


def connect(
    gateway: Gateway,
    vms: GatewayBackend,
    vm_id: str,
    known_hosts: TofuKnownHosts,
    key: asyncssh.SSHKey | None = None,
) -> SshSession:
    return SshSession(GatewayProvider(gateway, key or vms.keys[vm_id]), vm_id, known_hosts=known_hosts)


async def test_pty_shell_runs_inside_the_vm(gateway, vms, known_hosts):
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        shell = await ssh.open_shell(100, 30)
        shell.write(b'echo "[$(hostname)] [$TERM] [$GREETING] [$(tty)] [$(cat /proc/1/comm)]"\n')
        seen = await read_until(shell, b"[$(cat")  # our own echo first
        seen = await read_until(shell, b"]\r\n")
        assert b"[vm-aaaa] [xterm-256color] [hello from the VM] [/dev/" in seen, seen
        shell.write(b"stty size\n")
        await read_until(shell, b"30 100")
        shell.resize(132, 43)
        shell.write(b"stty size\n")
        await read_until(shell, b"43 132")
        shell.write(b"exit 5\n")
        assert await asyncio.wait_for(shell.wait(), 10) == 5


async def test_ctrl_c_interrupts_sleep(gateway, vms, known_hosts):
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        shell = await ssh.open_shell(80, 24)
        shell.write(b"sleep 3600; echo slept-$?\n")
        await read_until(shell, b"slept-$?\r\n")
        sandbox = vms.sandboxes[VM_A]
        while b"sleep 3600" not in (await sandbox.exec(["ps", "-e", "-o", "args="]))[1]:
            await asyncio.sleep(0.05)
        shell.write(b"\x03")
        shell.write(b"echo after-$((40+2))\n")
        await read_until(shell, b"after-42")  # within read_until's wait: the hour-long sleep was interrupted


async def test_exec_status_and_stderr_inside_the_vm(gateway, vms, known_hosts):
    async with connect(gateway, vms, VM_B, known_hosts) as ssh:
        result = await ssh.exec("hostname; echo oops >&2; exit 9")
    assert (result.exit_code, result.stdout, result.stderr) == (9, "vm-bbbb\n", "oops\n")


async def test_sftp_10mb_round_trip(tmp_path, gateway, vms, known_hosts):
    payload = os.urandom(10 * 1024 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    (tmp_path / "big.bin").write_bytes(payload)
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        await ssh.put(tmp_path / "big.bin", "/root/big.bin")
        inside = await ssh.exec("sha256sum /root/big.bin")
        await ssh.get("/root/big.bin", tmp_path / "back.bin")
    assert inside.stdout.split()[0] == digest
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == digest
    assert not Path("/root/big.bin").exists() or Path("/root/big.bin").read_bytes() != payload


async def test_sftp_cannot_escape_through_symlinks(tmp_path, gateway, vms, known_hosts):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        made = await ssh.exec(f"ln -sfn {secret} /root/leak && ln -sfn {tmp_path} /root/leakdir && echo ok")
        assert made.stdout == "ok\n"
        async with ssh.connection.start_sftp_client() as sftp:  # reads resolve the links in the VM
            for remote in ("/root/leak", "/root/leakdir/host-secret.txt", f"../../../..{secret}"):
                with pytest.raises(asyncssh.SFTPError):
                    async with sftp.open(remote, "rb") as stolen:
                        await stolen.read()
        (tmp_path / "overwrite.txt").write_text("from the VM")
        with pytest.raises(SshError):  # writing through the symlinked dir must not reach the host
            await ssh.put(tmp_path / "overwrite.txt", "/root/leakdir/host-secret.txt")
    assert secret.read_text() == "host only"


async def test_local_forward_reaches_a_server_in_the_vm(gateway, vms, known_hosts):
    port = 18931
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        await ssh.exec(
            f"mkdir -p /srv && echo inside-vm > /srv/index.html && "
            f"(cd /srv && nohup python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &)"
        )
        listener = await ssh.forward_local(0, port, remote_host="localhost")  # as `ssh -L` users write it
        body = b""
        deadline = time.monotonic() + 120  # the server needs a moment to bind
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
                writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
                body = await asyncio.wait_for(reader.read(), 60)
                writer.close()
            except (ConnectionError, asyncio.IncompleteReadError):
                body = b""
            if b"inside-vm" in body:
                break
            await asyncio.sleep(0.1)
        listener.close()
        assert b"inside-vm" in body
        with pytest.raises(OSError):  # the same port on the host is not that server
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_vm_a_key_cannot_open_vm_b(gateway, vms, known_hosts):
    with pytest.raises(SshError, match=f"not VM {VM_B}'s key"):
        await connect(gateway, vms, VM_B, known_hosts, key=vms.keys[VM_A]).connect()


async def test_unknown_and_foreign_server_names_refused(gateway, vms, known_hosts):
    with pytest.raises(SshError, match="vm not found"):
        await connect(gateway, vms, "cccccccc-404", known_hosts, key=vms.keys[VM_A]).connect()

    class ForeignName(GatewayProvider):
        def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
            return SshEndpoint(
                host="127.0.0.1",
                port=self.gateway.port,
                server_name=f"{vm_id}.vm.example.org",
                insecure_tls=True,
            )

    foreign = SshSession(ForeignName(gateway, vms.keys[VM_A]), VM_A, known_hosts=known_hosts)
    with pytest.raises(SshError, match="unknown server name"):
        await foreign.connect()


async def test_paused_vm_refused_with_reason(gateway, vms, known_hosts):
    sandbox = vms.sandboxes[VM_B]
    await sandbox.pause()
    try:
        with pytest.raises(SshError, match="paused"):
            await connect(gateway, vms, VM_B, known_hosts).connect()
    finally:
        await sandbox.resume()
    async with connect(gateway, vms, VM_B, known_hosts) as ssh:
        assert (await ssh.exec("echo back")).stdout == "back\n"


async def test_tls_and_host_key_material_is_private_and_stable(tmp_path, vms):
    state = tmp_path / "engine"
    first = await start_gateway(vms, state)
    ca, host_key = (state / "ca.pem").read_bytes(), (state / HOST_KEY_FILE).read_bytes()
    await first.close()
    second = await start_gateway(vms, state)
    await second.close()
    assert (state / "ca.pem").read_bytes() == ca and (state / HOST_KEY_FILE).read_bytes() == host_key
    tls = EngineTls(state)
    for private in (tls.ca_key_path, tls.key_path, state / HOST_KEY_FILE):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    server_cert = tls.cert_path.read_bytes()
    renamed = EngineTls(state, "example.test").ensure()  # another domain: new server cert, same CA
    assert renamed.ca_path.read_bytes() == ca and renamed.cert_path.read_bytes() != server_cert


async def test_sftp_is_frozen_with_its_vm(tmp_path, gateway, vms, known_hosts):
    sandbox = vms.sandboxes[VM_A]
    async with connect(gateway, vms, VM_A, known_hosts) as ssh, ssh.connection.start_sftp_client() as sftp:
        assert await sftp.exists("/root")
        await sandbox.pause()  # e.g. the engine committing: the file system must hold still
        try:
            listing = asyncio.ensure_future(sftp.listdir("/root"))
            done, _ = await asyncio.wait([listing], timeout=1.0)
            assert not done, "the SFTP server kept working in a paused VM"
        finally:
            await sandbox.resume()
        assert isinstance(await asyncio.wait_for(listing, 60), list)


ROOTLESS_SCRIPT = """
import asyncio, hashlib, json, os, sys
from pathlib import Path
import asyncssh
from vmtui.core.errors import Unsupported
from vmtui.core.models import SshEndpoint, SshKey
from vmtui.local import sshd
from vmtui.local.sandbox import Sandbox, SandboxSpec
from vmtui.local.sshd import start_gateway
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession

class OneVm:  # gateway backend and client provider at once
    def __init__(self, sandbox):
        self.sandbox, self.key, self.gateway = sandbox, asyncssh.generate_private_key("ssh-ed25519"), None
    async def sandbox_for(self, vm_id): return self.sandbox
    def ssh_public_key(self, vm_id): return self.key.export_public_key().decode()
    async def ssh_key(self, vm_id): return SshKey(private_key_pem=self.key.export_private_key().decode())
    def ssh_endpoint(self, vm_id):
        return SshEndpoint(host="127.0.0.1", port=self.gateway.port, server_name=self.gateway.server_name(vm_id),
                           ca_path=str(self.gateway.ca_path))
    async def get_vm(self, vm_id): raise Unsupported("-")
    async def resume_vm(self, vm_id): raise Unsupported("-")

async def main():
    base = Path(sys.argv[1])
    sandbox = await Sandbox.boot(SandboxSpec("rootless-ssh", base / "vm", [], None, "rootless", {}))
    vm = OneVm(sandbox)
    vm.gateway = await start_gateway(vm, base / "engine")
    report = {}
    try:
        (base / "up.bin").write_bytes(os.urandom(200_000))
        async with SshSession(vm, "rootless-ssh", known_hosts=TofuKnownHosts(base / "kh")) as ssh:
            report["exec"] = (await ssh.exec("id -u; hostname")).stdout.split()
            await ssh.put(base / "up.bin", "/root/up.bin")
            report["inside"] = (await ssh.exec("sha256sum /root/up.bin")).stdout.split()[0]
            await ssh.get("/root/up.bin", base / "down.bin")
            shell = await ssh.open_shell(80, 24)
            shell.write(b"tty; exit\\n")
            seen = b""
            while chunk := await asyncio.wait_for(shell.read(), 120):
                seen += chunk
            report["tty"] = seen.decode(errors="replace").split("tty; exit", 1)[-1]
        report["sent"] = hashlib.sha256((base / "up.bin").read_bytes()).hexdigest()
        report["back"] = hashlib.sha256((base / "down.bin").read_bytes()).hexdigest()
    finally:
        await vm.gateway.close()
        await sandbox.destroy()
    print(json.dumps(report))
asyncio.run(main())
"""


def _system_python_like_ours() -> Path | None:
    """/usr/bin/python3 if it has our major.minor (so the venv's compiled packages load in it)."""
    python = Path("/usr/bin/python3")
    if not python.exists():
        return None
    check = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
    return python if subprocess.run([str(python), "-c", check], check=False).returncode == 0 else None


async def test_gateway_without_root(tmp_path):
    """`vmtui serve` as a normal user (rootless sandbox): shells, exec and chrooted SFTP still work."""
    python = await asyncio.to_thread(_system_python_like_ours)
    repo = Path(__file__).resolve().parents[2]
    if python is None or (os.stat(repo).st_mode & 0o005) != 0o005:
        pytest.skip("needs a /usr/bin/python3 like ours and a world-readable checkout to run as user nobody")
    base = Path(tempfile.mkdtemp(prefix="vmtui-rootless-ssh-"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, 65534, 65534)
        import_path = os.pathsep.join([str(repo), *site.getsitepackages()])
        argv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            str(python),
            "-c",
            ROOTLESS_SCRIPT,
        ]
        result = await asyncio.to_thread(
            subprocess.run,
            [*argv, str(base)],
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
            env={"PYTHONPATH": import_path, "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert report["exec"] == ["0", "rootless"]
    assert report["inside"] == report["sent"] == report["back"]
    assert "/dev/pts/" in report["tty"]


async def test_pty_output_survives_a_client_far_behind_at_exit(gateway, vms, known_hosts, monkeypatch):
    """`exec cat` on a PTY exits long before a slow client has read its output (most of it still queued
    in the gateway): the gateway relays every byte before it closes the channel."""
    monkeypatch.setattr(sshd, "DRAIN_AFTER_EXIT", 0.1)  # a lagging client must not depend on this grace
    sandbox = vms.sandboxes[VM_A]
    lines = 50_000  # 450 KB: more than the client's window, less than the gateway buffers
    await sandbox.exec(["sh", "-c", f"rm -f /root/started; seq -f %08g 1 {lines} > /root/lag.txt"])
    async with connect(gateway, vms, VM_A, known_hosts) as ssh:
        process = await ssh.connection.create_process(
            "touch /root/started; exec cat /root/lag.txt", term_type="xterm", encoding=None, window=64 * 1024
        )
        process.channel.pause_reading()  # the client falls behind: its window fills, the gateway queues

        async def cat_exited() -> bool:
            started = (await sandbox.exec(["test", "-e", "/root/started"]))[0] == 0
            running = b"cat /root/lag.txt" in (await sandbox.exec(["ps", "-e", "-o", "args="]))[1]
            return started and not running

        while not await cat_exited():
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # well past the patched grace: output still queued must not be dropped
        process.channel.resume_reading()
        output = await asyncio.wait_for(process.stdout.read(), 60)
        await asyncio.wait_for(process.wait_closed(), 60)
    assert output.count(b"\r\n") == lines, len(output)
    assert output.endswith(f"{lines:08d}\r\n".encode())
    assert process.exit_status == 0
