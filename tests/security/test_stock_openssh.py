"""Stock OpenSSH clients through an `openssl s_client` ProxyCommand still work against VMs whose
sessions, SFTP and forwards now run entirely inside the VM: ssh, scp, sftp and ssh -L."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.asyncio,
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("ssh", "scp", "sftp", "openssl")),
        reason="needs the OpenSSH clients and openssl",
    ),
]


def _options(tmp_path: Path, gateway, vm_id: str, key: str) -> list[str]:
    key_file = tmp_path / "id_vm"
    key_file.write_text(key)
    key_file.chmod(0o600)
    proxy = (
        f"openssl s_client -quiet -verify_quiet -connect 127.0.0.1:{gateway.port} "
        f"-servername {gateway.server_name(vm_id)} -CAfile {gateway.ca_path}"
    )
    return [
        "-F",
        "/dev/null",
        "-i",
        str(key_file),
        "-o",
        f"ProxyCommand={proxy}",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]


async def _run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return await asyncio.to_thread(subprocess.run, argv, input=stdin, capture_output=True, timeout=60)


async def test_ssh_scp_sftp_and_local_forward(tmp_path, boot_vm, ssh_gateway):
    sandbox = await boot_vm("stock")
    async with ssh_gateway.connect(sandbox):  # registers the VM and its key with the gateway
        pass
    vm_id = sandbox.spec.vm_id
    key = ssh_gateway.backend.keys[vm_id].export_private_key().decode()
    options = _options(tmp_path, ssh_gateway.gateway, vm_id, key)
    target = f"root@{vm_id}"

    shell = await _run(["ssh", *options, target, "hostname; id -u"])
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.decode().split() == ["vm-stock", "0"]

    payload = os.urandom(200_000)
    (tmp_path / "up.bin").write_bytes(payload)
    copied = await _run(["scp", *options, str(tmp_path / "up.bin"), f"{target}:/root/up.bin"])
    assert copied.returncode == 0, copied.stderr
    batch = f"get /root/up.bin {tmp_path / 'down.bin'}\nls -l /root\n".encode()
    listed = await _run(["sftp", *options, "-b", "-", target], stdin=batch)
    assert listed.returncode == 0, listed.stderr
    assert (tmp_path / "down.bin").read_bytes() == payload
    assert b"up.bin" in listed.stdout

    port = 18932
    server = await _run(
        [
            "ssh",
            *options,
            target,
            f"cd /root && nohup python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &",
        ]
    )
    assert server.returncode == 0, server.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    forward = await asyncio.create_subprocess_exec(
        "ssh",
        *options,
        "-N",
        "-L",
        f"{local_port}:127.0.0.1:{port}",
        target,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        body = b""
        for _ in range(100):  # the server and the forward need a moment
            body = await asyncio.to_thread(_fetch, local_port, "/up.bin")
            if body == payload:
                break
            await asyncio.sleep(0.2)
        assert body == payload
    finally:
        forward.terminate()
        await forward.wait()


def _fetch(port: int, path: str) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
    except OSError:
        return b""
    return response.partition(b"\r\n\r\n")[2]
